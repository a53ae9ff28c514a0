//! The columnar chain store: dense ids in chain order, fixed-width memory-mapped columns,
//! hash indexes for txids and addresses, and a small commit record that makes it durable.
//!
//! Layout of `<data>/chains/<chain>/`:
//! - `COMMIT` — JSON with the committed counts and tip; everything past them is ignored.
//! - `blocks.col` ([`BlockRec`]), `tx.col` ([`TxRec`]: first input, first output, packed
//!   version and lock time), `tx_meta_big.col` (the versions/lock times that do not pack),
//!   `tx_txid.col` (32-byte txids).
//! - `in_spent.col` (u32 `out_num` spent by each input; [`NONE`] for a coinbase input).
//! - `out_value.col` (u32 packed value, see [`crate::packed`]), `out_value_big.col` (u64
//!   values that do not pack), `out_addr.col` (u32 `addr_id`), `out_spender.col` (u32
//!   `tx_num` of the spending tx or [`NONE`]).
//! - `addr_kind.col` (u8), `addr_hash.col` (20 bytes: the whole hash160 of P2PKH/P2SH/P2WPKH
//!   keys; for 32-byte keys the first 16 bytes and a u32 index into `addr_tail.col`, which
//!   holds their last 16 bytes).
//!
//! So the transaction graph costs 4 bytes per input, 12 per output and 12 per tx.
//! - `txid.idx`, `addr.idx` — [`HashIndex`] tables (derived; rebuilt after a crash).
//! - `LOCK` (held by the one writer), `DIRTY` (present from a writer's first change after a
//!   commit until the next commit).
//!
//! Durability: columns and indexes are msynced, then `COMMIT` is replaced atomically
//! (write, fsync, rename, fsync dir). A writer that finds `DIRTY` at open rolls the derived
//! state (spender links, indexes) back to the committed counts before going on.
//!
//! Events: a writer given a channel ([`Store::set_events`]) publishes a
//! [`ChainEvent`] per block appended (`Connected`) or rolled back (`Disconnected`) when the
//! change is committed; a block appended and rolled back between two commits publishes
//! nothing.

use crate::column::Column;
use crate::event::ChainEvent;
use crate::hash::Hash32;
use crate::index::HashIndex;
use crate::packed::{self, Values};
use bytemuck::{Pod, Zeroable};
use chainwatch_types::{AddrKey, AddrKind, Chain};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

/// Marker for "no id" in u32 columns (coinbase inputs, unspent outputs).
pub const NONE: u32 = u32::MAX;

/// Version of the on-disk format.
pub const FORMAT: u32 = 2;

/// Per-block record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockRec {
    /// Block hash, internal order.
    pub hash: [u8; 32],
    /// The raw 80-byte header.
    pub header: [u8; 80],
    /// `tx_num` of the coinbase.
    pub first_tx: u32,
    /// First `addr_id` created by this block.
    pub first_addr: u32,
    /// Serialized size in bytes.
    pub size: u32,
    /// Number of transactions.
    pub n_tx: u32,
}

/// Per-transaction record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct TxRec {
    /// `in_num` of the first input.
    pub first_in: u32,
    /// `out_num` of the first output.
    pub first_out: u32,
    /// `nVersion` and `nLockTime` packed (see [`crate::packed::pack_meta`]); read them with
    /// [`Store::tx_version_lock_time`].
    pub meta: u32,
}

/// What a store file holds, for size accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The transaction graph: tx records, inputs' spent outputs, outputs' values,
    /// addresses and spenders.
    Graph,
    /// Identifiers: block records, txids, address keys.
    Keys,
    /// The hash indexes over txids and address keys.
    Index,
}

/// The committed state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// On-disk format version.
    pub format: u32,
    /// Chain name.
    pub chain: String,
    /// Number of blocks (tip height + 1).
    pub blocks: u32,
    /// Number of transactions.
    pub txs: u32,
    /// Number of inputs (coinbase inputs included).
    pub inputs: u32,
    /// Number of outputs.
    pub outputs: u32,
    /// Number of distinct addresses (scripts).
    pub addrs: u32,
    /// Number of output values in `out_value_big.col`.
    #[serde(default)]
    pub big_values: u32,
    /// Number of records in `tx_meta_big.col`.
    #[serde(default)]
    pub big_metas: u32,
    /// Number of 32-byte address keys (records in `addr_tail.col`).
    #[serde(default)]
    pub addr_tails: u32,
    /// Tip hash, RPC (reversed) hex; empty when no block.
    pub tip_hash: String,
}

/// Store errors, with the context a user needs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// I/O on a path.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// No store at this path.
    #[error("no chain store at {0} (run `chainwatch ingest` first)")]
    Missing(PathBuf),
    /// Another process writes this store.
    #[error("{0}: another chainwatch process is writing this store")]
    Locked(PathBuf),
    /// The store's files disagree with its commit record.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// An input spends an output the store does not have.
    #[error("block {block}: tx {txid} input {input} spends unknown output {prev_txid}:{vout}")]
    UnknownOutput {
        /// Block hash.
        block: String,
        /// Spending txid.
        txid: String,
        /// Input index.
        input: usize,
        /// Spent txid.
        prev_txid: String,
        /// Spent vout.
        vout: u32,
    },
    /// An output spent twice.
    #[error("block {block}: tx {txid} spends {prev_txid}:{vout}, already spent")]
    DoubleSpend {
        /// Block hash.
        block: String,
        /// Spending txid.
        txid: String,
        /// Spent txid.
        prev_txid: String,
        /// Spent vout.
        vout: u32,
    },
    /// A dense id would pass `u32::MAX`.
    #[error("store full: more than 4,294,967,294 {0}")]
    Full(&'static str),
}

/// An I/O error on a store file, named by its file name (errors are rare; the hot path
/// allocates nothing).
fn col_err(name: &'static str) -> impl FnOnce(io::Error) -> StoreError {
    move |source| StoreError::Io {
        path: PathBuf::from(name),
        source,
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A block ready to append: parsed, hashed and classified (see `ingest`).
#[derive(Clone, Debug)]
pub struct PreparedBlock {
    /// Block hash.
    pub hash: Hash32,
    /// Raw header.
    pub header: [u8; 80],
    /// Serialized size.
    pub size: u32,
    /// Transactions.
    pub txs: Vec<PreparedTx>,
    /// All inputs of all txs in order: (prev txid, prev vout).
    pub inputs: Vec<(Hash32, u32)>,
    /// All outputs of all txs in order: (value, script key).
    pub outputs: Vec<(u64, AddrKey)>,
}

/// A transaction within a [`PreparedBlock`].
#[derive(Clone, Copy, Debug)]
pub struct PreparedTx {
    /// Txid.
    pub txid: Hash32,
    /// `nVersion`.
    pub version: i32,
    /// `nLockTime`.
    pub lock_time: u32,
    /// Number of inputs.
    pub n_in: u32,
    /// Number of outputs.
    pub n_out: u32,
}

#[inline]
fn txid_hash(txid: &Hash32) -> u64 {
    u64::from_le_bytes(txid[..8].try_into().expect("8"))
}

/// The index hash of an address key from its kind and first 8 hash bytes.
#[inline]
fn addr_hash(kind: u8, hash: &[u8]) -> u64 {
    u64::from_le_bytes(hash[..8].try_into().expect("8"))
        ^ (kind as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// True for kinds whose keys take 32 bytes (stored as a 16-byte head plus a tail record).
#[inline]
fn is_wide(kind: u8) -> bool {
    AddrKind::from_u8(kind).is_none_or(|k| k.hash_len() > 20)
}

/// The address-key columns, read in place.
#[derive(Clone, Copy)]
struct AddrKeys<'a> {
    kinds: &'a [u8],
    heads: &'a [[u8; 20]],
    tails: &'a [[u8; 16]],
}

impl<'a> AddrKeys<'a> {
    /// The keys held by the three address columns.
    fn new(
        kinds: &'a Column<u8>,
        heads: &'a Column<[u8; 20]>,
        tails: &'a Column<[u8; 16]>,
    ) -> AddrKeys<'a> {
        AddrKeys {
            kinds: kinds.as_slice(),
            heads: heads.as_slice(),
            tails: tails.as_slice(),
        }
    }

    /// True if `addr_id` has this kind and hash.
    #[inline]
    fn is(&self, addr_id: u32, kind: u8, hash: &[u8; 32]) -> bool {
        let j = addr_id as usize;
        // The head first: for a colliding id it almost always differs, one cache miss.
        let Some(head) = self.heads.get(j) else {
            return false;
        };
        if head[..8] != hash[..8] || self.kinds.get(j) != Some(&kind) {
            return false;
        }
        if is_wide(kind) {
            head[..16] == hash[..16]
                && self.tails.get(tail_index(head)).map(|t| &t[..]) == Some(&hash[16..])
        } else {
            head[..] == hash[..20]
        }
    }

    /// The index hash of `addr_id`'s key.
    #[inline]
    fn index_hash(&self, addr_id: u32) -> u64 {
        addr_hash(self.kinds[addr_id as usize], &self.heads[addr_id as usize])
    }

    /// The key of `addr_id`.
    fn key(&self, addr_id: u32) -> AddrKey {
        let j = addr_id as usize;
        let kind = self.kinds[j];
        let head = &self.heads[j];
        let mut hash = [0u8; 32];
        if is_wide(kind) {
            hash[..16].copy_from_slice(&head[..16]);
            hash[16..].copy_from_slice(&self.tails[tail_index(head)]);
        } else {
            hash[..20].copy_from_slice(head);
        }
        AddrKey {
            kind: AddrKind::from_u8(kind).unwrap_or(AddrKind::Script),
            hash,
        }
    }
}

/// The tail record index kept in the last 4 bytes of a wide key's head.
#[inline]
fn tail_index(head: &[u8; 20]) -> usize {
    u32::from_le_bytes(head[16..].try_into().expect("4")) as usize
}

/// The chain store of one chain.
pub struct Store {
    dir: PathBuf,
    chain: Chain,
    writable: bool,
    _lock: Option<File>,
    commit: Commit,
    /// Blocks by height.
    pub blocks: Column<BlockRec>,
    /// Transactions by `tx_num`.
    pub tx: Column<TxRec>,
    /// Versions and lock times that do not pack into [`TxRec::meta`].
    tx_meta_big: Column<[u32; 2]>,
    /// Txids by `tx_num`.
    pub tx_txid: Column<[u8; 32]>,
    /// Spent `out_num` by `in_num`.
    pub in_spent: Column<u32>,
    /// Packed values by `out_num`; read them through [`Store::values`].
    pub out_value: Column<u32>,
    /// Values that do not pack.
    out_value_big: Column<u64>,
    /// `addr_id` by `out_num`.
    pub out_addr: Column<u32>,
    /// Spending `tx_num` by `out_num`.
    pub out_spender: Column<u32>,
    /// Script kind by `addr_id`.
    pub addr_kind: Column<u8>,
    /// Script hash heads by `addr_id`; read keys with [`Store::addr_key`].
    addr_hash: Column<[u8; 20]>,
    /// Last 16 bytes of the 32-byte keys.
    addr_tail: Column<[u8; 16]>,
    txid_idx: HashIndex,
    addr_idx: HashIndex,
    events: Option<Sender<ChainEvent>>,
    /// Events of the uncommitted changes, in order.
    pending: Vec<ChainEvent>,
    /// `DIRTY` exists: changes since the last commit may be on disk.
    dirty: bool,
}

/// The directory of `chain`'s store under a data directory.
pub fn store_dir(data: &Path, chain: Chain) -> PathBuf {
    data.join("chains").join(chain.name())
}

impl Store {
    /// Opens the store for reading.
    pub fn open(dir: &Path, chain: Chain) -> Result<Store, StoreError> {
        if !dir.join("COMMIT").exists() {
            return Err(StoreError::Missing(dir.to_path_buf()));
        }
        Self::open_inner(dir, chain, false, None)
    }

    /// Opens (creating if needed) the store for appending; one writer at a time.
    pub fn open_writer(dir: &Path, chain: Chain) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(dir.to_path_buf()))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::Io {
                    path: lock_path,
                    source: e,
                })
            }
        }
        let mut store = Self::open_inner(dir, chain, true, Some(lock))?;
        if dir.join("DIRTY").exists() {
            store.recover()?;
        }
        Ok(store)
    }

    fn open_inner(
        dir: &Path,
        chain: Chain,
        writable: bool,
        lock: Option<File>,
    ) -> Result<Store, StoreError> {
        let commit_path = dir.join("COMMIT");
        let commit = match std::fs::read(&commit_path) {
            Ok(bytes) => {
                let c: Commit = serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError::Corrupt(format!("{}: {e}", commit_path.display())))?;
                if c.format != FORMAT {
                    return Err(StoreError::Corrupt(format!(
                        "{}: format {} (this build reads {FORMAT}); re-ingest",
                        commit_path.display(),
                        c.format
                    )));
                }
                if c.chain != chain.name() {
                    return Err(StoreError::Corrupt(format!(
                        "{} holds chain {}, not {chain}",
                        dir.display(),
                        c.chain
                    )));
                }
                c
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Commit {
                format: FORMAT,
                chain: chain.name().to_string(),
                ..Commit::default()
            },
            Err(e) => {
                return Err(StoreError::Io {
                    path: commit_path,
                    source: e,
                })
            }
        };
        fn col<T: Pod>(dir: &Path, name: &str, len: u32, w: bool) -> Result<Column<T>, StoreError> {
            let p = dir.join(name);
            Column::open(&p, len as usize, w)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", p.display())))
        }
        let idx = |name: &str| {
            let p = dir.join(name);
            if writable {
                HashIndex::open(&p)
            } else {
                HashIndex::open_read(&p)
            }
            .map_err(io_err(&p))
        };
        let c = &commit;
        Ok(Store {
            dir: dir.to_path_buf(),
            chain,
            writable,
            _lock: lock,
            blocks: col(dir, "blocks.col", c.blocks, writable)?,
            tx: col(dir, "tx.col", c.txs, writable)?,
            tx_meta_big: col(dir, "tx_meta_big.col", c.big_metas, writable)?,
            tx_txid: col(dir, "tx_txid.col", c.txs, writable)?,
            in_spent: col(dir, "in_spent.col", c.inputs, writable)?,
            out_value: col(dir, "out_value.col", c.outputs, writable)?,
            out_value_big: col(dir, "out_value_big.col", c.big_values, writable)?,
            out_addr: col(dir, "out_addr.col", c.outputs, writable)?,
            out_spender: col(dir, "out_spender.col", c.outputs, writable)?,
            addr_kind: col(dir, "addr_kind.col", c.addrs, writable)?,
            addr_hash: col(dir, "addr_hash.col", c.addrs, writable)?,
            addr_tail: col(dir, "addr_tail.col", c.addr_tails, writable)?,
            txid_idx: idx("txid.idx")?,
            addr_idx: idx("addr.idx")?,
            commit,
            events: None,
            pending: Vec::new(),
            dirty: false,
        })
    }

    /// The chain.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last committed state.
    pub fn committed(&self) -> &Commit {
        &self.commit
    }

    /// Publishes a [`ChainEvent`] on `sender` for every block appended or rolled back from
    /// now on, when it is committed. A closed receiver is ignored.
    pub fn set_events(&mut self, sender: Sender<ChainEvent>) {
        self.events = Some(sender);
    }

    /// The hash of the block at `height` (committed or not).
    pub fn block_hash(&self, height: u32) -> Option<Hash32> {
        self.blocks.as_slice().get(height as usize).map(|b| b.hash)
    }

    /// The hash of the last block (committed or not).
    pub fn tip(&self) -> Option<Hash32> {
        self.blocks.as_slice().last().map(|b| b.hash)
    }

    /// Number of blocks appended (committed or not).
    pub fn block_count(&self) -> u32 {
        self.blocks.len() as u32
    }

    /// Bytes of all column records and index files.
    pub fn bytes(&self) -> u64 {
        self.column_bytes() + self.txid_idx.bytes() + self.addr_idx.bytes()
    }

    /// Bytes of the column records only.
    pub fn column_bytes(&self) -> u64 {
        self.part_bytes(Part::Graph) + self.part_bytes(Part::Keys)
    }

    /// Bytes of one part of the store.
    pub fn part_bytes(&self, part: Part) -> u64 {
        self.sizes()
            .iter()
            .filter(|(_, p, _)| *p == part)
            .map(|(_, _, b)| b)
            .sum()
    }

    /// Bytes of every part of the store: file name, what it holds, bytes (the records of
    /// each column, the whole file of each index).
    pub fn sizes(&self) -> Vec<(&'static str, Part, u64)> {
        use Part::*;
        vec![
            ("tx.col", Graph, self.tx.bytes()),
            ("tx_meta_big.col", Graph, self.tx_meta_big.bytes()),
            ("in_spent.col", Graph, self.in_spent.bytes()),
            ("out_value.col", Graph, self.out_value.bytes()),
            ("out_value_big.col", Graph, self.out_value_big.bytes()),
            ("out_addr.col", Graph, self.out_addr.bytes()),
            ("out_spender.col", Graph, self.out_spender.bytes()),
            ("blocks.col", Keys, self.blocks.bytes()),
            ("tx_txid.col", Keys, self.tx_txid.bytes()),
            ("addr_kind.col", Keys, self.addr_kind.bytes()),
            ("addr_hash.col", Keys, self.addr_hash.bytes()),
            ("addr_tail.col", Keys, self.addr_tail.bytes()),
            ("txid.idx", Index, self.txid_idx.bytes()),
            ("addr.idx", Index, self.addr_idx.bytes()),
        ]
    }

    /// Output values by `out_num`.
    #[inline]
    pub fn values(&self) -> Values<'_> {
        Values::new(self.out_value.as_slice(), self.out_value_big.as_slice())
    }

    /// The `(nVersion, nLockTime)` of `tx_num`.
    pub fn tx_version_lock_time(&self, tx_num: u32) -> (i32, u32) {
        packed::unpack_meta(
            self.tx.as_slice()[tx_num as usize].meta,
            self.tx_meta_big.as_slice(),
        )
    }

    fn addr_keys(&self) -> AddrKeys<'_> {
        AddrKeys::new(&self.addr_kind, &self.addr_hash, &self.addr_tail)
    }

    /// SHA-256 over every column's records: equal stores have equal fingerprints.
    pub fn fingerprint(&self) -> Hash32 {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(bytemuck::cast_slice::<BlockRec, u8>(self.blocks.as_slice()));
        h.update(bytemuck::cast_slice::<TxRec, u8>(self.tx.as_slice()));
        h.update(bytemuck::cast_slice::<[u32; 2], u8>(
            self.tx_meta_big.as_slice(),
        ));
        h.update(bytemuck::cast_slice::<[u8; 32], u8>(
            self.tx_txid.as_slice(),
        ));
        h.update(bytemuck::cast_slice::<u32, u8>(self.in_spent.as_slice()));
        h.update(bytemuck::cast_slice::<u32, u8>(self.out_value.as_slice()));
        h.update(bytemuck::cast_slice::<u64, u8>(
            self.out_value_big.as_slice(),
        ));
        h.update(bytemuck::cast_slice::<u32, u8>(self.out_addr.as_slice()));
        h.update(bytemuck::cast_slice::<u32, u8>(self.out_spender.as_slice()));
        h.update(self.addr_kind.as_slice());
        h.update(bytemuck::cast_slice::<[u8; 20], u8>(
            self.addr_hash.as_slice(),
        ));
        h.update(bytemuck::cast_slice::<[u8; 16], u8>(
            self.addr_tail.as_slice(),
        ));
        h.finalize().into()
    }

    /// Looks a txid up.
    pub fn tx_by_txid(&self, txid: &Hash32) -> Option<u32> {
        let txids = self.tx_txid.as_slice();
        self.txid_idx
            .get(txid_hash(txid), |j| txids.get(j as usize) == Some(txid))
    }

    /// Looks an address (script key) up.
    pub fn addr_id(&self, key: &AddrKey) -> Option<u32> {
        let keys = self.addr_keys();
        let k = key.kind as u8;
        self.addr_idx
            .get(addr_hash(k, &key.hash), |j| keys.is(j, k, &key.hash))
    }

    /// The script key of an address id.
    pub fn addr_key(&self, addr_id: u32) -> AddrKey {
        self.addr_keys().key(addr_id)
    }

    /// Outputs of `tx_num` as an `out_num` range.
    pub fn tx_outputs(&self, tx_num: u32) -> std::ops::Range<u32> {
        let txs = self.tx.as_slice();
        let start = txs[tx_num as usize].first_out;
        let end = txs
            .get(tx_num as usize + 1)
            .map(|t| t.first_out)
            .unwrap_or(self.out_value.len() as u32);
        start..end
    }

    /// Inputs of `tx_num` as an `in_num` range.
    pub fn tx_inputs(&self, tx_num: u32) -> std::ops::Range<u32> {
        let txs = self.tx.as_slice();
        let start = txs[tx_num as usize].first_in;
        let end = txs
            .get(tx_num as usize + 1)
            .map(|t| t.first_in)
            .unwrap_or(self.in_spent.len() as u32);
        start..end
    }

    /// The tx that created `out_num`.
    pub fn tx_of_output(&self, out_num: u32) -> u32 {
        self.tx
            .as_slice()
            .partition_point(|t| t.first_out <= out_num) as u32
            - 1
    }

    /// The height of the block holding `tx_num`.
    pub fn height_of_tx(&self, tx_num: u32) -> u32 {
        self.blocks
            .as_slice()
            .partition_point(|b| b.first_tx <= tx_num) as u32
            - 1
    }

    /// Transactions of the block at `height` as a `tx_num` range.
    pub fn block_txs(&self, height: u32) -> std::ops::Range<u32> {
        let b = &self.blocks.as_slice()[height as usize];
        b.first_tx..b.first_tx + b.n_tx
    }

    /// Appends a block. On error nothing of the block remains.
    pub fn append(&mut self, block: &PreparedBlock) -> Result<(), StoreError> {
        let before = self.blocks.len() as u32;
        self.mark_dirty()?;
        let result = self.append_inner(block);
        match result {
            Ok(()) => {
                if self.events.is_some() {
                    self.pending.push(ChainEvent::Connected {
                        height: before,
                        hash: block.hash,
                    });
                }
            }
            // The columns may stop anywhere inside the block: rebuild what is derived.
            Err(_) => self.rollback_inner(before, Rebuild::Full)?,
        }
        result
    }

    fn append_inner(&mut self, block: &PreparedBlock) -> Result<(), StoreError> {
        let io = col_err;
        let first_tx = self.tx.len();
        if first_tx + block.txs.len() >= NONE as usize {
            return Err(StoreError::Full("transactions"));
        }
        if self.in_spent.len() + block.inputs.len() >= NONE as usize {
            return Err(StoreError::Full("inputs"));
        }
        if self.out_value.len() + block.outputs.len() >= NONE as usize {
            return Err(StoreError::Full("outputs"));
        }
        let (n_in, n_out) = block.txs.iter().fold((0usize, 0usize), |(i, o), t| {
            (i + t.n_in as usize, o + t.n_out as usize)
        });
        if n_in != block.inputs.len() || n_out != block.outputs.len() {
            return Err(StoreError::Corrupt(format!(
                "block {}: tx input/output counts disagree with its lists",
                crate::hash::to_hex(&block.hash)
            )));
        }
        self.blocks
            .push(BlockRec {
                hash: block.hash,
                header: block.header,
                first_tx: first_tx as u32,
                first_addr: self.addr_kind.len() as u32,
                size: block.size,
                n_tx: block.txs.len() as u32,
            })
            .map_err(io("blocks.col"))?;
        let outputs = OutputColumns {
            kinds: &mut self.addr_kind,
            heads: &mut self.addr_hash,
            tails: &mut self.addr_tail,
            index: &mut self.addr_idx,
            values: &mut self.out_value,
            big_values: &mut self.out_value_big,
            addrs: &mut self.out_addr,
        };
        let txs = TxColumns {
            tx: &mut self.tx,
            txids: &mut self.tx_txid,
            txid_idx: &mut self.txid_idx,
            metas: &mut self.tx_meta_big,
            spent: &mut self.in_spent,
            spenders: &mut self.out_spender,
        };
        // The outputs (address look-ups, values) need nothing from the txs or inputs: on a
        // second thread from the start while this one adds the txs and resolves the inputs.
        if block.outputs.len() < PARALLEL_OUTPUTS {
            txs.append(block)?;
            return outputs.append(block);
        }
        let (resolved, appended) = std::thread::scope(|scope| {
            let appending = scope.spawn(move || outputs.append(block));
            let resolved = txs.append(block);
            (resolved, appending.join().expect("output thread panicked"))
        });
        resolved?;
        appended
    }

    /// Makes `DIRTY` durable before the first change after a commit.
    fn mark_dirty(&mut self) -> Result<(), StoreError> {
        if !self.dirty {
            let p = self.dir.join("DIRTY");
            File::create(&p)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&p))?;
            sync_dir(&self.dir)?;
            self.dirty = true;
        }
        Ok(())
    }

    fn flush_all(&self) -> Result<(), StoreError> {
        let flush = |r: io::Result<()>, p: &Path| r.map_err(io_err(p));
        flush(self.blocks.flush(), self.blocks.path())?;
        flush(self.tx.flush(), self.tx.path())?;
        flush(self.tx_meta_big.flush(), self.tx_meta_big.path())?;
        flush(self.tx_txid.flush(), self.tx_txid.path())?;
        flush(self.in_spent.flush(), self.in_spent.path())?;
        flush(self.out_value.flush(), self.out_value.path())?;
        flush(self.out_value_big.flush(), self.out_value_big.path())?;
        flush(self.out_addr.flush(), self.out_addr.path())?;
        flush(self.out_spender.flush(), self.out_spender.path())?;
        flush(self.addr_kind.flush(), self.addr_kind.path())?;
        flush(self.addr_hash.flush(), self.addr_hash.path())?;
        flush(self.addr_tail.flush(), self.addr_tail.path())?;
        self.txid_idx
            .flush()
            .map_err(io_err(&self.dir.join("txid.idx")))?;
        self.addr_idx
            .flush()
            .map_err(io_err(&self.dir.join("addr.idx")))?;
        Ok(())
    }

    /// Makes everything appended so far durable and visible to readers.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        // Nothing changed since the last commit (e.g. `close` after `shrink_indexes`).
        if !self.dirty && self.pending.is_empty() && self.dir.join("COMMIT").exists() {
            return Ok(());
        }
        self.flush_all()?;
        let tip_hash = self
            .blocks
            .as_slice()
            .last()
            .map(|b| crate::hash::to_hex(&b.hash))
            .unwrap_or_default();
        let commit = Commit {
            format: FORMAT,
            chain: self.chain.name().to_string(),
            blocks: self.blocks.len() as u32,
            txs: self.tx.len() as u32,
            inputs: self.in_spent.len() as u32,
            outputs: self.out_value.len() as u32,
            addrs: self.addr_kind.len() as u32,
            big_values: self.out_value_big.len() as u32,
            big_metas: self.tx_meta_big.len() as u32,
            addr_tails: self.addr_tail.len() as u32,
            tip_hash,
        };
        let tmp = self.dir.join("COMMIT.tmp");
        let path = self.dir.join("COMMIT");
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&serde_json::to_vec_pretty(&commit).expect("serializable"))
                .map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        self.commit = commit;
        // Everything on disk is now the committed state: a writer killed before its next
        // change needs no recovery. (Only after the rename is durable; if this removal is
        // lost, the next open recovers needlessly but correctly.)
        if self.dirty {
            let p = self.dir.join("DIRTY");
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::Io { path: p, source: e }),
            }
            self.dirty = false;
        }
        if let Some(sender) = &self.events {
            for e in self.pending.drain(..) {
                if sender.send(e).is_err() {
                    break;
                }
            }
        }
        self.pending.clear();
        Ok(())
    }

    /// Commits, then sizes both indexes to 70% load (appending doubles them when 70% full,
    /// so a table at rest would otherwise be 35–70% full). An index file is replaced under
    /// `DIRTY`, so a crash meanwhile rebuilds it at the next open.
    pub fn shrink_indexes(&mut self) -> Result<(), StoreError> {
        self.commit()?;
        if self.txid_idx.can_shrink() || self.addr_idx.can_shrink() {
            self.rebuild_indexes_sized(true)?;
            self.commit()?;
        }
        Ok(())
    }

    /// Commits, drops reserved space and clears the dirty marker.
    pub fn close(mut self) -> Result<(), StoreError> {
        if !self.writable {
            return Ok(());
        }
        self.shrink_indexes()?;
        for r in [
            self.blocks.compact(),
            self.tx.compact(),
            self.tx_meta_big.compact(),
            self.tx_txid.compact(),
            self.in_spent.compact(),
            self.out_value.compact(),
            self.out_value_big.compact(),
            self.out_addr.compact(),
            self.out_spender.compact(),
            self.addr_kind.compact(),
            self.addr_hash.compact(),
            self.addr_tail.compact(),
        ] {
            r.map_err(io_err(&self.dir))?;
        }
        let p = self.dir.join("DIRTY");
        if p.exists() {
            std::fs::remove_file(&p).map_err(io_err(&p))?;
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Brings derived state back to the committed counts after an interrupted writer.
    fn recover(&mut self) -> Result<(), StoreError> {
        let blocks = self.commit.blocks;
        // Uncommitted spender links and index slots may be anywhere: scan and rebuild.
        self.rollback_inner(blocks, Rebuild::Full)?;
        self.commit()
    }

    /// Drops every block at height ≥ `blocks` (a reorg): unlinks the spends those blocks made
    /// and takes their txids and new addresses out of the indexes. Not committed until
    /// [`Store::commit`], which also publishes a `Disconnected` event per dropped block.
    ///
    /// Short rollbacks cost in proportion to what they drop; long ones (more than an eighth
    /// of the txs) rebuild the indexes from the columns.
    pub fn rollback_to(&mut self, blocks: u32) -> Result<(), StoreError> {
        if self.events.is_some() {
            for h in (blocks as usize..self.blocks.len()).rev() {
                let hash = self.blocks.as_slice()[h].hash;
                let connected = ChainEvent::Connected {
                    height: h as u32,
                    hash,
                };
                if self.pending.last() == Some(&connected) {
                    // Never published: forget it.
                    self.pending.pop();
                } else {
                    self.pending.push(ChainEvent::Disconnected {
                        height: h as u32,
                        hash,
                    });
                }
            }
        }
        self.rollback_inner(blocks, Rebuild::Incremental)
    }

    fn rollback_inner(&mut self, blocks: u32, rebuild: Rebuild) -> Result<(), StoreError> {
        self.mark_dirty()?;
        let (txs, inputs, outputs, addrs) = match self.blocks.as_slice().get(blocks as usize) {
            // A failed append may have left the block's record without its first tx record
            // (and so without inputs or outputs): then cut at the current ends.
            Some(b) => match self.tx.as_slice().get(b.first_tx as usize) {
                Some(t) => (b.first_tx, t.first_in, t.first_out, b.first_addr),
                None => (
                    b.first_tx,
                    self.in_spent.len() as u32,
                    self.out_value.len() as u32,
                    b.first_addr,
                ),
            },
            None => (
                self.tx.len() as u32,
                self.in_spent.len() as u32,
                self.out_value.len() as u32,
                self.addr_kind.len() as u32,
            ),
        };
        // Partially appended blocks may hold more txs than the block table says.
        let txs = txs.min(self.tx.len() as u32);
        if rebuild == Rebuild::Incremental
            && self.unlink_incrementally(blocks, txs, inputs, outputs, addrs)?
        {
            self.truncate_columns(blocks, txs, inputs, outputs, addrs);
            return Ok(());
        }
        self.truncate_columns(blocks, txs, inputs, outputs, addrs);
        for s in self.out_spender.as_mut_slice() {
            if *s != NONE && *s >= txs {
                *s = NONE;
            }
        }
        self.rebuild_indexes()
    }

    fn truncate_columns(&mut self, blocks: u32, txs: u32, inputs: u32, outputs: u32, addrs: u32) {
        // The side columns lose as many records as the dropped words refer to (appends keep
        // each side column exactly as long as the words that refer to it).
        let big_metas = self.tx_meta_big.len()
            - self.tx.as_slice().get(txs as usize..).map_or(0, |t| {
                t.iter().filter(|t| packed::is_big_meta(t.meta)).count()
            });
        let big_values = self.out_value_big.len()
            - self
                .out_value
                .as_slice()
                .get(outputs as usize..)
                .map_or(0, |w| {
                    w.iter().filter(|&&w| packed::is_big_value(w)).count()
                });
        let kinds = self.addr_kind.as_slice();
        let tails = self.addr_tail.len()
            - kinds
                .get(addrs as usize..)
                .map_or(0, |k| k.iter().filter(|&&k| is_wide(k)).count());
        self.blocks.truncate(blocks as usize);
        self.tx.truncate(txs as usize);
        self.tx_meta_big.truncate(big_metas);
        self.tx_txid.truncate(txs as usize);
        self.in_spent.truncate(inputs as usize);
        self.out_value.truncate(outputs as usize);
        self.out_value_big.truncate(big_values);
        self.out_addr.truncate(outputs as usize);
        self.out_spender.truncate(outputs as usize);
        self.addr_kind.truncate(addrs as usize);
        self.addr_hash.truncate(addrs as usize);
        self.addr_tail.truncate(tails);
    }

    /// Undoes what the records past the cut points did to the kept ones (spender links,
    /// index slots), touching only the dropped records. Returns false, having changed
    /// nothing, when a full rebuild is needed instead: a long rollback, columns of unequal
    /// lengths (an interrupted append), or a cut below a duplicate txid (Bitcoin's two BIP30
    /// coinbases at heights 91842 and 91880: dropping the later copy would also hide the
    /// kept one it replaced in the index).
    fn unlink_incrementally(
        &mut self,
        blocks: u32,
        txs: u32,
        inputs: u32,
        outputs: u32,
        addrs: u32,
    ) -> Result<bool, StoreError> {
        let n_tx = self.tx.len();
        let consistent = self.tx_txid.len() == n_tx
            && self.out_addr.len() == self.out_value.len()
            && self.out_spender.len() == self.out_value.len()
            && self.addr_hash.len() == self.addr_kind.len()
            && self.addr_idx.len() == self.addr_kind.len();
        let duplicates = n_tx.saturating_sub(self.txid_idx.len());
        let duplicates_kept =
            duplicates == 0 || (self.chain == Chain::Bitcoin && duplicates <= 2 && blocks > 91_880);
        let dropped = n_tx.saturating_sub(txs as usize);
        if !consistent || !duplicates_kept || dropped > n_tx / 8 {
            return Ok(false);
        }
        // Every dropped id must be in its index before anything changes.
        let txids = self.tx_txid.as_slice();
        let keys = AddrKeys::new(&self.addr_kind, &self.addr_hash, &self.addr_tail);
        for j in txs..n_tx as u32 {
            if !self.txid_idx.contains_id(txid_hash(&txids[j as usize]), j) {
                return Ok(false);
            }
        }
        for j in addrs..keys.kinds.len() as u32 {
            if !self.addr_idx.contains_id(keys.index_hash(j), j) {
                return Ok(false);
            }
        }
        let spent: Vec<u32> = self.in_spent.as_slice()[inputs as usize..].to_vec();
        let spenders = self.out_spender.as_mut_slice();
        for out in spent {
            if out != NONE && out < outputs {
                if let Some(s) = spenders.get_mut(out as usize) {
                    *s = NONE;
                }
            }
        }
        // Newest first, so that every removal leaves only older ids behind it.
        let txids = self.tx_txid.as_slice();
        for j in (txs..n_tx as u32).rev() {
            self.txid_idx.remove(txid_hash(&txids[j as usize]), j, |k| {
                txid_hash(&txids[k as usize])
            });
        }
        let keys = AddrKeys::new(&self.addr_kind, &self.addr_hash, &self.addr_tail);
        for j in (addrs..keys.kinds.len() as u32).rev() {
            self.addr_idx
                .remove(keys.index_hash(j), j, |k| keys.index_hash(k));
        }
        Ok(true)
    }

    /// Rebuilds both hash indexes from the columns, with room to grow.
    pub fn rebuild_indexes(&mut self) -> Result<(), StoreError> {
        self.rebuild_indexes_sized(false)
    }

    /// Rebuilds both hash indexes from the columns (reading keys in id order), sized to 70%
    /// load if `fitted`, else to 50% (room for appends).
    fn rebuild_indexes_sized(&mut self, fitted: bool) -> Result<(), StoreError> {
        self.mark_dirty()?;
        let clear = |idx: &mut HashIndex, n: usize| {
            if fitted {
                idx.clear_fitted(n)
            } else {
                idx.clear(n)
            }
        };
        let txids = self.tx_txid.as_slice();
        let keys = AddrKeys::new(&self.addr_kind, &self.addr_hash, &self.addr_tail);
        let (txid_idx, addr_idx) = (&mut self.txid_idx, &mut self.addr_idx);
        // The two tables are independent: one thread each.
        let (by_txid, by_addr) = std::thread::scope(|scope| {
            let by_txid = scope.spawn(|| -> io::Result<()> {
                clear(txid_idx, txids.len())?;
                for (j, txid) in txids.iter().enumerate() {
                    txid_idx.insert(
                        txid_hash(txid),
                        j as u32,
                        |k| txids[k as usize] == *txid,
                        |k| txid_hash(&txids[k as usize]),
                    )?;
                }
                Ok(())
            });
            let by_addr = (|| -> io::Result<()> {
                clear(addr_idx, keys.kinds.len())?;
                for j in 0..keys.kinds.len() as u32 {
                    addr_idx.insert(keys.index_hash(j), j, |_| false, |k| keys.index_hash(k))?;
                }
                Ok(())
            })();
            (by_txid.join().expect("txid index thread"), by_addr)
        });
        by_txid.map_err(io_err(&self.dir.join("txid.idx")))?;
        by_addr.map_err(io_err(&self.dir.join("addr.idx")))?;
        Ok(())
    }
}

/// Blocks with fewer outputs are appended on one thread (a thread costs more than it saves).
const PARALLEL_OUTPUTS: usize = 256;

/// The columns that a block's txs and inputs write.
struct TxColumns<'a> {
    tx: &'a mut Column<TxRec>,
    txids: &'a mut Column<Hash32>,
    txid_idx: &'a mut HashIndex,
    metas: &'a mut Column<[u32; 2]>,
    spent: &'a mut Column<u32>,
    spenders: &'a mut Column<u32>,
}

impl TxColumns<'_> {
    /// Appends the tx records, txids and txid index entries of `block`, a spender slot for
    /// each of its outputs, then resolves its inputs.
    fn append(self, block: &PreparedBlock) -> Result<(), StoreError> {
        let io = col_err;
        let TxColumns {
            tx,
            txids,
            txid_idx,
            metas,
            spent,
            spenders,
        } = self;
        // The block's index slots are known now: ask for them all before the dependent walk.
        for (prev, _) in &block.inputs {
            txid_idx.prefetch(txid_hash(prev));
        }
        let first_tx = tx.len() as u32;
        let mut in_pos = spent.len() as u32;
        let mut out_pos = spenders.len() as u32;
        for ptx in &block.txs {
            let tx_num = tx.len() as u32;
            txids.push(ptx.txid).map_err(io("tx_txid.col"))?;
            {
                let txids = txids.as_slice();
                txid_idx
                    .insert(
                        txid_hash(&ptx.txid),
                        tx_num,
                        |j| txids[j as usize] == ptx.txid,
                        |j| txid_hash(&txids[j as usize]),
                    )
                    .map_err(io("txid.idx"))?;
            }
            let meta = match packed::pack_meta(ptx.version, ptx.lock_time) {
                Some(w) => w,
                None => {
                    let n = metas.len() as u64;
                    if n >= packed::MAX_BIG_METAS {
                        return Err(StoreError::Full("unusual versions/lock times"));
                    }
                    metas
                        .push(packed::meta_record(ptx.version, ptx.lock_time))
                        .map_err(io("tx_meta_big.col"))?;
                    packed::big_meta_word(n as u32)
                }
            };
            if let Err(e) = tx.push(TxRec {
                first_in: in_pos,
                first_out: out_pos,
                meta,
            }) {
                // Keep the big column's length equal to the words that refer to it.
                if packed::is_big_meta(meta) {
                    metas.truncate(metas.len() - 1);
                }
                return Err(io("tx.col")(e));
            }
            in_pos += ptx.n_in;
            out_pos += ptx.n_out;
        }
        // Every output of the block has its spender slot before any input spends one.
        spenders
            .push_n(NONE, block.outputs.len())
            .map_err(io("out_spender.col"))?;
        InputColumns {
            txids: txids.as_slice(),
            txs: tx.as_slice(),
            txid_idx,
            spent,
            spenders,
            out_end: out_pos,
        }
        .resolve(block, first_tx)
    }
}

/// The columns that resolving a block's inputs reads and writes.
struct InputColumns<'a> {
    txids: &'a [Hash32],
    txs: &'a [TxRec],
    txid_idx: &'a HashIndex,
    spent: &'a mut Column<u32>,
    spenders: &'a mut Column<u32>,
    /// One past the block's last `out_num`.
    out_end: u32,
}

impl InputColumns<'_> {
    /// Resolves every input of `block` (whose first tx is `first_tx`; its tx records and
    /// txids are appended) to the output it spends, and links that output to its spender.
    fn resolve(self, block: &PreparedBlock, first_tx: u32) -> Result<(), StoreError> {
        use crate::index::prefetch;
        let InputColumns {
            txids,
            txs,
            txid_idx,
            spent,
            spenders,
            out_end,
        } = self;
        // Two more waves of prefetches (each wave's loads in flight together instead of one
        // miss after another): the txids and tx records the home slots point at, then the
        // spender slots of the outputs spent. Hints only.
        for (prev, _) in &block.inputs {
            if let Some(c) = txid_idx.candidate(txid_hash(prev)) {
                prefetch(txids, c as usize);
                prefetch(txs, c as usize);
            }
        }
        for (prev, vout) in &block.inputs {
            if let Some(c) = txid_idx.candidate(txid_hash(prev)) {
                if let (Some(t), Some(id)) = (txs.get(c as usize), txids.get(c as usize)) {
                    if id == prev {
                        prefetch(
                            spenders.as_slice(),
                            t.first_out.wrapping_add(*vout) as usize,
                        );
                    }
                }
            }
        }
        let mut in_pos = 0usize;
        for (k, ptx) in block.txs.iter().enumerate() {
            let tx_num = first_tx + k as u32;
            for (i, (prev_txid, vout)) in block.inputs[in_pos..in_pos + ptx.n_in as usize]
                .iter()
                .enumerate()
            {
                if *prev_txid == [0; 32] && *vout == u32::MAX {
                    spent.push(NONE).map_err(col_err("in_spent.col"))?;
                    continue;
                }
                let unknown = || StoreError::UnknownOutput {
                    block: crate::hash::to_hex(&block.hash),
                    txid: crate::hash::to_hex(&ptx.txid),
                    input: i,
                    prev_txid: crate::hash::to_hex(prev_txid),
                    vout: *vout,
                };
                // Only earlier txs: the block's later txs are indexed too by now.
                let prev = txid_idx
                    .get(txid_hash(prev_txid), |j| {
                        txids.get(j as usize) == Some(prev_txid)
                    })
                    .filter(|&p| p < tx_num)
                    .ok_or_else(unknown)?;
                let start = txs[prev as usize].first_out;
                let end = txs.get(prev as usize + 1).map_or(out_end, |t| t.first_out);
                if *vout >= end - start {
                    return Err(unknown());
                }
                let out_num = start + vout;
                let spender = &mut spenders.as_mut_slice()[out_num as usize];
                if *spender != NONE {
                    return Err(StoreError::DoubleSpend {
                        block: crate::hash::to_hex(&block.hash),
                        txid: crate::hash::to_hex(&ptx.txid),
                        prev_txid: crate::hash::to_hex(prev_txid),
                        vout: *vout,
                    });
                }
                *spender = tx_num;
                spent.push(out_num).map_err(col_err("in_spent.col"))?;
            }
            in_pos += ptx.n_in as usize;
        }
        Ok(())
    }
}

/// The columns that appending a block's outputs writes.
struct OutputColumns<'a> {
    kinds: &'a mut Column<u8>,
    heads: &'a mut Column<[u8; 20]>,
    tails: &'a mut Column<[u8; 16]>,
    index: &'a mut HashIndex,
    values: &'a mut Column<u32>,
    big_values: &'a mut Column<u64>,
    addrs: &'a mut Column<u32>,
}

impl OutputColumns<'_> {
    /// Appends the outputs of `block`: value, address id (a new id and index entry for a
    /// script not seen before).
    fn append(mut self, block: &PreparedBlock) -> Result<(), StoreError> {
        use crate::index::prefetch;
        for (_, key) in &block.outputs {
            self.index.prefetch(addr_hash(key.kind as u8, &key.hash));
        }
        // The keys the home slots point at (a hint, as for inputs).
        for (_, key) in &block.outputs {
            if let Some(c) = self.index.candidate(addr_hash(key.kind as u8, &key.hash)) {
                prefetch(self.heads.as_slice(), c as usize);
                prefetch(self.kinds.as_slice(), c as usize);
            }
        }
        for (value, key) in &block.outputs {
            let k = key.kind as u8;
            let h = addr_hash(k, &key.hash);
            let found = {
                let keys = AddrKeys::new(self.kinds, self.heads, self.tails);
                self.index.get(h, |j| keys.is(j, k, &key.hash))
            };
            let addr = match found {
                Some(a) => a,
                None => {
                    let id = self.kinds.len() as u32;
                    if id >= NONE - 1 {
                        return Err(StoreError::Full("addresses"));
                    }
                    self.push_key(key)?;
                    let keys = AddrKeys::new(self.kinds, self.heads, self.tails);
                    self.index
                        .insert(h, id, |j| keys.is(j, k, &key.hash), |j| keys.index_hash(j))
                        .map_err(col_err("addr.idx"))?;
                    id
                }
            };
            self.push_value(*value)?;
            self.addrs.push(addr).map_err(col_err("out_addr.col"))?;
        }
        Ok(())
    }

    /// Appends an output value (packed, or a big entry and its word); both or neither.
    fn push_value(&mut self, sats: u64) -> Result<(), StoreError> {
        let word = match packed::pack_value(sats) {
            Some(w) => w,
            None => {
                let n = self.big_values.len() as u64;
                if n >= packed::MAX_BIG_VALUES {
                    return Err(StoreError::Full("large output values"));
                }
                self.big_values
                    .push(sats)
                    .map_err(col_err("out_value_big.col"))?;
                packed::big_value_word(n as u32)
            }
        };
        if let Err(e) = self.values.push(word) {
            if packed::is_big_value(word) {
                self.big_values.truncate(self.big_values.len() - 1);
            }
            return Err(col_err("out_value.col")(e));
        }
        Ok(())
    }

    /// Appends a new address key: kind and head, plus a tail record for 32-byte keys; all
    /// or nothing.
    fn push_key(&mut self, key: &AddrKey) -> Result<(), StoreError> {
        let k = key.kind as u8;
        let mut head = [0u8; 20];
        let wide = is_wide(k);
        if wide {
            let n = self.tails.len();
            if n as u64 >= u32::MAX as u64 {
                return Err(StoreError::Full("32-byte address keys"));
            }
            head[..16].copy_from_slice(&key.hash[..16]);
            head[16..].copy_from_slice(&(n as u32).to_le_bytes());
            let tail: [u8; 16] = key.hash[16..].try_into().expect("16");
            self.tails.push(tail).map_err(col_err("addr_tail.col"))?;
        } else {
            head.copy_from_slice(&key.hash[..20]);
        }
        if let Err(e) = self.heads.push(head) {
            if wide {
                self.tails.truncate(self.tails.len() - 1);
            }
            return Err(col_err("addr_hash.col")(e));
        }
        if let Err(e) = self.kinds.push(k) {
            if wide {
                self.tails.truncate(self.tails.len() - 1);
            }
            self.heads.truncate(self.heads.len() - 1);
            return Err(col_err("addr_kind.col")(e));
        }
        Ok(())
    }
}

/// How a rollback brings the indexes and spender links back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rebuild {
    /// Touch only what the dropped records changed, when the state allows it.
    Incremental,
    /// Scan every output and rebuild both indexes.
    Full,
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coinbase_block(n: u8) -> PreparedBlock {
        let mut header = [0u8; 80];
        header[0] = n;
        PreparedBlock {
            hash: [n; 32],
            header,
            size: 200,
            txs: vec![PreparedTx {
                txid: [n ^ 0x80; 32],
                version: 1,
                lock_time: 0,
                n_in: 1,
                n_out: 1,
            }],
            inputs: vec![([0; 32], u32::MAX)],
            outputs: vec![(50, AddrKey::from_script(&[0x51, n]))],
        }
    }

    /// Block `n` (n ≥ 1): a coinbase paying to a script shared by every seventh block, and a
    /// tx spending the coinbase of block `n - 1` of branch `prev_tag` to a fresh script and to
    /// block 1's script.
    fn spending_block(n: u32, tag: u8, prev_tag: u8) -> PreparedBlock {
        let txid = |n: u32, i: u8| {
            let mut t = [tag; 32];
            t[..4].copy_from_slice(&n.to_le_bytes());
            t[4] = i;
            t
        };
        let mut hash = [tag ^ 0x55; 32];
        hash[..4].copy_from_slice(&n.to_le_bytes());
        let mut header = [0u8; 80];
        header[..4].copy_from_slice(&n.to_le_bytes());
        let mut txs = vec![PreparedTx {
            txid: txid(n, 0),
            version: 1,
            lock_time: 0,
            n_in: 1,
            n_out: 1,
        }];
        let mut inputs = vec![([0; 32], u32::MAX)];
        // Every packed encoding and side column: plain, round and big values; versions and
        // lock times that pack and that do not; 20-byte and 32-byte address keys.
        let coinbase_value = match n % 3 {
            0 => 50,
            1 => 5_000_000_000,
            _ => 9_876_543_210 + n as u64,
        };
        let mut outputs = vec![(coinbase_value, AddrKey::from_script(&[0x51, (n % 7) as u8]))];
        if n > 1 {
            txs.push(PreparedTx {
                txid: txid(n, 1),
                version: if n.is_multiple_of(4) { 3 } else { 2 },
                lock_time: if n.is_multiple_of(5) {
                    1_700_000_000 + n
                } else {
                    n
                },
                n_in: 1,
                n_out: 3,
            });
            let mut prev = [prev_tag; 32];
            prev[..4].copy_from_slice(&(n - 1).to_le_bytes());
            prev[4] = 0;
            inputs.push((prev, 0));
            let mut fresh = vec![0x52, tag];
            fresh.extend_from_slice(&n.to_le_bytes());
            outputs.push((30, AddrKey::from_script(&fresh)));
            outputs.push((19, AddrKey::from_script(&[0x51, 1])));
            let mut p2wpkh = vec![0x00, 20, tag];
            p2wpkh.extend_from_slice(&[(n % 11) as u8; 19]);
            outputs.push((2_222_222_222_222, AddrKey::from_script(&p2wpkh)));
        }
        PreparedBlock {
            hash,
            header,
            size: 300,
            txs,
            inputs,
            outputs,
        }
    }

    fn build(dir: &Path, blocks: impl IntoIterator<Item = PreparedBlock>) -> Store {
        let mut store = Store::open_writer(dir, Chain::LitecoinRegtest).unwrap();
        for b in blocks {
            store.append(&b).unwrap();
        }
        store.commit().unwrap();
        store
    }

    /// Every tx and address of `store` is found by its key at its id; `gone` ones are not.
    fn assert_indexes(store: &Store, gone: &[PreparedBlock]) {
        for (j, txid) in store.tx_txid.as_slice().iter().enumerate() {
            assert_eq!(store.tx_by_txid(txid), Some(j as u32));
        }
        for j in 0..store.addr_kind.len() as u32 {
            assert_eq!(store.addr_id(&store.addr_key(j)), Some(j));
        }
        for b in gone {
            for t in &b.txs {
                assert_eq!(store.tx_by_txid(&t.txid), None);
            }
        }
    }

    /// A short rollback that unlinks spends and removes index entries one by one leaves the
    /// same store as building only the kept blocks, and so does a long one that rebuilds;
    /// both publish one `Disconnected` per dropped block at the commit, and the replacing
    /// blocks a `Connected` each.
    #[test]
    fn short_and_long_rollbacks_equal_a_fresh_build() {
        let tmp = tempfile::tempdir().unwrap();
        let main: Vec<PreparedBlock> = (1..=120).map(|n| spending_block(n, 0x11, 0x11)).collect();
        for (cut, replace) in [(117usize, 5u32), (30, 3), (119, 0)] {
            let dir = tmp.path().join(format!("s{cut}"));
            let mut store = build(&dir, main.iter().cloned());
            let (tx, rx) = std::sync::mpsc::channel();
            store.set_events(tx);
            store.rollback_to(cut as u32).unwrap();
            // The side branch also spends main-branch coinbases below the cut.
            let side: Vec<PreparedBlock> = (cut as u32 + 1..=cut as u32 + replace)
                .map(|n| spending_block(n, 0x22, if n == cut as u32 + 1 { 0x11 } else { 0x22 }))
                .collect();
            assert!(rx.try_recv().is_err(), "published before the commit");
            for b in &side {
                store.append(b).unwrap();
            }
            store.commit().unwrap();
            let events: Vec<ChainEvent> = rx.try_iter().collect();
            let mut expected: Vec<ChainEvent> = (cut..main.len())
                .rev()
                .map(|h| ChainEvent::Disconnected {
                    height: h as u32,
                    hash: main[h].hash,
                })
                .collect();
            expected.extend(side.iter().enumerate().map(|(i, b)| ChainEvent::Connected {
                height: (cut + i) as u32,
                hash: b.hash,
            }));
            assert_eq!(events, expected, "cut {cut}");
            assert_indexes(&store, &main[cut..]);
            let fresh = build(
                &tmp.path().join(format!("f{cut}")),
                main[..cut].iter().chain(&side).cloned(),
            );
            assert_eq!(store.fingerprint(), fresh.fingerprint(), "cut {cut}");
            // Back to the main branch: the same as never leaving it.
            store.rollback_to(cut as u32).unwrap();
            for b in &main[cut..] {
                store.append(b).unwrap();
            }
            store.commit().unwrap();
            assert_indexes(&store, &side);
            let all = build(&tmp.path().join(format!("a{cut}")), main.iter().cloned());
            assert_eq!(store.fingerprint(), all.fingerprint(), "cut {cut}");
            // Appended and rolled back between two commits: nothing to publish.
            rx.try_iter().count();
            store.append(&spending_block(121, 0x11, 0x11)).unwrap();
            store.rollback_to(120).unwrap();
            store.commit().unwrap();
            assert_eq!(rx.try_iter().count(), 0);
            assert_eq!(store.fingerprint(), all.fingerprint());
            store.close().unwrap();
            // Reopened, the indexes are what the rollbacks left.
            let store = Store::open(&dir, Chain::LitecoinRegtest).unwrap();
            assert_indexes(&store, &side);
        }
    }

    /// Values, versions, lock times and address keys read back as appended, across all
    /// encodings, also after reopening.
    #[test]
    fn packed_fields_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let blocks: Vec<PreparedBlock> = (1..=40).map(|n| spending_block(n, 0x11, 0x11)).collect();
        build(tmp.path(), blocks.iter().cloned()).close().unwrap();
        let store = Store::open(tmp.path(), Chain::LitecoinRegtest).unwrap();
        assert!(!store.out_value_big.is_empty());
        assert!(!store.tx_meta_big.is_empty());
        assert!(!store.addr_tail.is_empty());
        assert!(store.addr_tail.len() < store.addr_kind.len());
        let (mut tx_num, mut out_num) = (0u32, 0u32);
        for b in &blocks {
            for t in &b.txs {
                assert_eq!(store.tx_version_lock_time(tx_num), (t.version, t.lock_time));
                tx_num += 1;
            }
            for (value, key) in &b.outputs {
                assert_eq!(store.values().get(out_num), *value);
                let a = store.out_addr.as_slice()[out_num as usize];
                assert_eq!(store.addr_key(a), *key);
                out_num += 1;
            }
        }
        assert_eq!(store.values().iter().count(), out_num as usize);
    }

    /// Blocks large enough for the two-thread append: every input resolves to the output
    /// it spends (also within the block), every output to its value, address and spender.
    #[test]
    fn wide_blocks_link_both_ways() {
        const W: u32 = 2 * PARALLEL_OUTPUTS as u32;
        let tmp = tempfile::tempdir().unwrap();
        let key = |n: u32, i: u32| {
            let mut script = vec![0x00, 20];
            script.extend_from_slice(&[(i % 97) as u8; 16]);
            script.extend_from_slice(&n.to_le_bytes());
            AddrKey::from_script(&script)
        };
        // Block n: a coinbase with W outputs; a tx spending all W outputs of block n-1's
        // coinbase to W outputs; a tx spending that tx's outputs (within the block).
        let block = |n: u32| {
            let txid = |t: u32| {
                let mut id = [0x33; 32];
                id[..4].copy_from_slice(&n.to_le_bytes());
                id[4] = t as u8;
                id
            };
            let mut b = PreparedBlock {
                hash: txid(9),
                header: [n as u8; 80],
                size: 1000,
                txs: vec![PreparedTx {
                    txid: txid(0),
                    version: 1,
                    lock_time: 0,
                    n_in: 1,
                    n_out: W,
                }],
                inputs: vec![([0; 32], u32::MAX)],
                outputs: (0..W).map(|i| (1000 + i as u64, key(n, i))).collect(),
            };
            if n > 0 {
                let mut prev = txid(0);
                prev[..4].copy_from_slice(&(n - 1).to_le_bytes());
                for t in 1..=2u32 {
                    b.txs.push(PreparedTx {
                        txid: txid(t),
                        version: 2,
                        lock_time: 0,
                        n_in: W,
                        n_out: W,
                    });
                    let from = if t == 1 { prev } else { txid(1) };
                    b.inputs.extend((0..W).map(|v| (from, W - 1 - v)));
                    b.outputs
                        .extend((0..W).map(|i| (3_000_000_000 + i as u64, key(n * 10 + t, i))));
                }
            }
            b
        };
        let blocks: Vec<PreparedBlock> = (0..6).map(block).collect();
        let store = build(tmp.path(), blocks.iter().cloned());
        let mut out_num = 0u32;
        for (h, b) in blocks.iter().enumerate() {
            for (value, key) in &b.outputs {
                assert_eq!(store.values().get(out_num), *value);
                assert_eq!(
                    store.addr_key(store.out_addr.as_slice()[out_num as usize]),
                    *key
                );
                out_num += 1;
            }
            let txs = store.block_txs(h as u32);
            for t in txs.clone().skip(1) {
                for (v, i) in store.tx_inputs(t).enumerate() {
                    let o = store.in_spent.as_slice()[i as usize];
                    let from = if t == txs.start + 1 {
                        store.block_txs(h as u32 - 1).start
                    } else {
                        t - 1
                    };
                    assert_eq!(o, store.tx_outputs(from).start + (W - 1 - v as u32));
                    assert_eq!(store.out_spender.as_slice()[o as usize], t);
                }
            }
        }
        // Unspent: the last block's coinbase and every block's last tx.
        let unspent = store
            .out_spender
            .as_slice()
            .iter()
            .filter(|&&s| s == NONE)
            .count();
        assert_eq!(unspent, blocks.len() * W as usize);
        assert_indexes(&store, &[]);
    }

    /// An append that fails after the block record is written but before its first tx
    /// record (an I/O error growing `tx_txid.col` or `txid.idx`) leaves exactly this state;
    /// rolling it back must not look for the missing tx record.
    #[test]
    fn rollback_of_a_block_record_without_txs() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open_writer(tmp.path(), Chain::LitecoinRegtest).unwrap();
        store.append(&coinbase_block(1)).unwrap();
        store.append(&coinbase_block(2)).unwrap();
        let before = store.fingerprint();
        store
            .blocks
            .push(BlockRec {
                hash: [3; 32],
                header: [0; 80],
                first_tx: store.tx.len() as u32,
                first_addr: store.addr_kind.len() as u32,
                size: 200,
                n_tx: 1,
            })
            .unwrap();
        store.tx_txid.push([0x83; 32]).unwrap();
        store.rollback_to(2).unwrap();
        assert_eq!(store.fingerprint(), before);
        assert_eq!(store.tx_by_txid(&[0x83; 32]), None);
        store.append(&coinbase_block(3)).unwrap();
        assert_eq!(store.tx_by_txid(&[0x83; 32]), Some(2));
        store.close().unwrap();
    }
}
