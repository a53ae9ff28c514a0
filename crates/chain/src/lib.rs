//! Bitcoin-family chain data on disk: block and transaction parsing, `blk*.dat` reading,
//! the memory-mapped columnar chain store with its indexes, and the live follower that keeps
//! it at a node's tip over JSON-RPC through reorgs ([`follow`], [`rpc`], [`event`]).

pub mod hash;
pub mod tx;

pub use hash::{from_hex, merkle_root, sha256d, to_hex, Hash32};
pub use tx::{
    Block, BlockHeader, BlockRef, InputRef, OutPoint, OutputRef, ParseError, Tx, TxIn, TxOut, TxRef,
};
pub mod blkfile;
pub mod column;
pub mod event;
pub mod follow;
pub mod headers;
pub mod index;
pub mod ingest;
pub mod packed;
pub mod query;
pub mod rpc;
pub mod store;
