//! Chain forensics over the chain store: address clustering with explained links, CoinJoin and
//! change detection.

pub mod change;
pub mod cluster;
pub mod coinjoin;
pub mod explain;
pub mod labels;
pub mod patterns;
pub mod screen;
pub mod screening;
pub mod sources;
pub mod taint;
pub mod txio;

pub use cluster::{ClusterOptions, ClusterStore, ClusterSummary};
pub use coinjoin::CoinJoinKind;
pub use txio::{Io, TxIo};
