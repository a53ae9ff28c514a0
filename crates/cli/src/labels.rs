//! Tags joined with the chain store and its clustering (the logic lives in
//! `chainwatch_forensics::labels`, shared with the server).

pub use chainwatch_forensics::labels::Labels;
