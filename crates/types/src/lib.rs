//! Chains, networks and address encoding for chainwatch: pure types, no I/O.
//!
//! The chain store identifies every output script by an [`AddrKey`] (a kind and a
//! 32-byte hash); this crate turns scripts into keys, keys into the strings users
//! read (base58check, bech32, bech32m, or `script:<sha256>` for scripts without an
//! address form) and back.

pub mod address;
pub mod chain;
pub mod hash;

pub use address::{AddrKey, AddrKind, Address, AddressError};
pub use chain::{Chain, ChainParseError};
