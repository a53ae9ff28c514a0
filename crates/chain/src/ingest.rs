//! From a `blocks/` directory to the chain store: scan headers, pick the most-work chain,
//! roll back what left it, and append the new blocks (parsing and hashing on one thread; the store resolves inputs and appends outputs on two more).

use crate::blkfile::{BlkError, BlkFiles, BlockLoc};
use crate::hash::{merkle_root, to_hex};
use crate::headers::HeaderTree;
use crate::store::{PreparedBlock, PreparedTx, Store, StoreError};
use crate::tx::{BlockRef, ParseError};
use chainwatch_types::{AddrKey, Chain};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Parses a raw block, checks its merkle root, and computes what the store needs.
pub fn prepare_block(raw: &[u8]) -> Result<PreparedBlock, BlockProblem> {
    let block = BlockRef::parse(raw).map_err(BlockProblem::Parse)?;
    let mut txs = Vec::with_capacity(block.txs.len());
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut txids = Vec::with_capacity(block.txs.len());
    for tx in &block.txs {
        let txid = tx.txid();
        txids.push(txid);
        for i in tx.inputs() {
            inputs.push((*i.prev_txid, i.prev_vout));
        }
        for o in tx.outputs() {
            outputs.push((o.value, AddrKey::from_script(o.script_pubkey)));
        }
        txs.push(PreparedTx {
            txid,
            version: tx.version,
            lock_time: tx.lock_time,
            n_in: tx.n_inputs as u32,
            n_out: tx.n_outputs as u32,
        });
    }
    let header = block.header();
    if merkle_root(&txids) != header.merkle_root {
        return Err(BlockProblem::MerkleMismatch);
    }
    Ok(PreparedBlock {
        hash: block.hash(),
        header: *block.header_raw,
        size: raw.len() as u32,
        txs,
        inputs,
        outputs,
    })
}

/// What is wrong with one block's bytes.
#[derive(Debug, thiserror::Error)]
pub enum BlockProblem {
    /// Not a valid serialization.
    #[error("{0}")]
    Parse(ParseError),
    /// The header's merkle root does not match the transactions.
    #[error("merkle root does not match the transactions")]
    MerkleMismatch,
}

/// Unusable input: reported with file and offset; blocks before it are committed.
#[derive(Debug, thiserror::Error)]
pub enum BadInput {
    /// A problem in the framing of the block files.
    #[error("{0}")]
    Files(#[from] BlkError),
    /// A block whose bytes are wrong.
    #[error("{path}: block at byte {offset}: {problem}")]
    Block {
        /// The file.
        path: PathBuf,
        /// Offset of the block's header.
        offset: u64,
        /// What is wrong.
        problem: BlockProblem,
    },
    /// A block that spends what does not exist, or twice.
    #[error("{path}: block at byte {offset}: {error}")]
    Spend {
        /// The file.
        path: PathBuf,
        /// Offset of the block's header.
        offset: u64,
        /// The store's complaint.
        error: StoreError,
    },
    /// The store's tip is not in these files at all.
    #[error("the store's tip {0} is in none of these block files (another chain or directory?)")]
    ForeignStore(String),
    /// No block connects to a genesis block.
    #[error("no genesis block (a block with an all-zero parent) in these files")]
    NoGenesis,
}

/// Failure of an ingest run.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The input is unusable; `summary` says what was committed before the problem.
    #[error("{error}")]
    BadInput {
        /// What is wrong.
        error: Box<BadInput>,
        /// What the store holds now.
        summary: Box<IngestSummary>,
    },
    /// The store failed (I/O, lock, corruption).
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What an ingest run did and what the store holds.
#[derive(Clone, Debug, Serialize)]
pub struct IngestSummary {
    /// Chain name.
    pub chain: String,
    /// Tip hash (RPC hex); empty when the store has no block.
    pub tip_hash: String,
    /// Tip height (-1 when empty).
    pub height: i64,
    /// Blocks in the store.
    pub blocks: u32,
    /// Transactions in the store.
    pub txs: u32,
    /// Inputs in the store (coinbase inputs included).
    pub inputs: u32,
    /// Outputs in the store.
    pub outputs: u32,
    /// Distinct addresses (scripts) in the store.
    pub addresses: u32,
    /// Bytes of the store (columns and indexes).
    pub store_bytes: u64,
    /// Blocks appended by this run.
    pub blocks_added: u32,
    /// Blocks rolled back by this run (they left the most-work chain).
    pub blocks_rolled_back: u32,
    /// Bytes of block data read by this run.
    pub block_bytes_read: u64,
    /// Blocks seen in the files but not on the most-work chain.
    pub stale_blocks: u64,
    /// Warnings (orphaned blocks and the like).
    pub warnings: Vec<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Progress of a run, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub enum Progress {
    /// Headers scanned so far.
    Scanning {
        /// Headers seen.
        headers: u64,
    },
    /// Blocks appended so far out of those to append.
    Appending {
        /// Blocks done.
        done: u64,
        /// Blocks to do.
        total: u64,
        /// Block bytes done.
        bytes: u64,
    },
}

/// Options of an ingest run.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// The node's `blocks/` directory.
    pub blocks_dir: PathBuf,
    /// Which chain the files hold.
    pub chain: Chain,
    /// The store directory (`<data>/chains/<chain>`).
    pub store_dir: PathBuf,
    /// Commit after this many bytes of block data.
    pub commit_bytes: u64,
    /// Stop (committed) after this many blocks are appended; for tests and benchmarks.
    pub max_blocks: Option<u32>,
}

impl IngestOptions {
    /// Defaults: commit every 64 MiB of block data, no block limit.
    pub fn new(blocks_dir: &Path, chain: Chain, store_dir: &Path) -> IngestOptions {
        IngestOptions {
            blocks_dir: blocks_dir.to_path_buf(),
            chain,
            store_dir: store_dir.to_path_buf(),
            commit_bytes: 64 << 20,
            max_blocks: None,
        }
    }
}

/// Summarises the store's committed state.
pub fn summarize(store: &Store, started: Instant) -> IngestSummary {
    let c = store.committed();
    IngestSummary {
        chain: c.chain.clone(),
        tip_hash: c.tip_hash.clone(),
        height: c.blocks as i64 - 1,
        blocks: c.blocks,
        txs: c.txs,
        inputs: c.inputs,
        outputs: c.outputs,
        addresses: c.addrs,
        store_bytes: store.bytes(),
        blocks_added: 0,
        blocks_rolled_back: 0,
        block_bytes_read: 0,
        stale_blocks: 0,
        warnings: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs an ingest: see the module docs.
pub fn ingest(
    opts: &IngestOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<IngestSummary, IngestError> {
    let started = Instant::now();
    let mut store = Store::open_writer(&opts.store_dir, opts.chain)?;
    let files = match BlkFiles::open(&opts.blocks_dir) {
        Ok(f) => f,
        Err(e) => {
            let summary = Box::new(summarize(&store, started));
            store.close()?;
            return Err(IngestError::BadInput {
                error: Box::new(e.into()),
                summary,
            });
        }
    };
    let mut tree = HeaderTree::default();
    let mut seen = 0u64;
    let scan_error = files
        .scan(opts.chain.magic(), |loc, header| {
            tree.add(loc, header);
            seen += 1;
            if seen.is_multiple_of(4096) {
                progress(Progress::Scanning { headers: seen });
            }
        })
        .err();
    let (chain, orphans) = tree.best_chain();
    let mut warnings: Vec<String> = orphans
        .iter()
        .map(|o| {
            format!(
                "{}: block {} at byte {} skipped: its parent {} is in no file",
                files
                    .path(o.loc.file)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                to_hex(&o.hash),
                o.loc.offset,
                to_hex(&o.missing_parent)
            )
        })
        .collect();
    if tree.duplicates > 0 {
        warnings.push(format!(
            "{} blocks appear more than once in the files; each was used once",
            tree.duplicates
        ));
    }
    let stale_blocks = (tree.len() - chain.len()) as u64;

    let finish = |mut store: Store,
                  error: Option<BadInput>,
                  added: u32,
                  rolled: u32,
                  bytes: u64,
                  warnings: Vec<String>| {
        store.shrink_indexes()?;
        let mut s = summarize(&store, started);
        store.close()?;
        s.blocks_added = added;
        s.blocks_rolled_back = rolled;
        s.block_bytes_read = bytes;
        s.stale_blocks = stale_blocks;
        s.warnings = warnings;
        s.seconds = started.elapsed().as_secs_f64();
        match error {
            Some(error) => Err(IngestError::BadInput {
                error: Box::new(error),
                summary: Box::new(s),
            }),
            None => Ok(s),
        }
    };

    if chain.is_empty() && store.block_count() == 0 {
        let err = scan_error
            .map(BadInput::from)
            .unwrap_or(BadInput::NoGenesis);
        return finish(store, Some(err), 0, 0, 0, warnings);
    }

    // Where does the store leave the files' best chain?
    let have = store.block_count() as usize;
    let stored = |h: usize, store: &Store| store.blocks.as_slice()[h].hash;
    let mut fork = have.min(chain.len());
    if have > 0 && (have > chain.len() || stored(have - 1, &store) != chain[have - 1].hash) {
        fork = (0..have.min(chain.len()))
            .find(|&h| stored(h, &store) != chain[h].hash)
            .unwrap_or(have.min(chain.len()));
    }
    let mut rolled = 0u32;
    if fork < have {
        let tip = stored(have - 1, &store);
        if tree.get(&tip).is_some() {
            rolled = (have - fork) as u32;
            store.rollback_to(fork as u32)?;
            store.commit()?;
        } else if fork == chain.len() {
            // The files hold less than the store (e.g. cut short by a bad record): nothing to add.
        } else {
            return finish(
                store,
                Some(BadInput::ForeignStore(to_hex(&tip))),
                0,
                0,
                0,
                warnings,
            );
        }
    }

    let mut todo: Vec<BlockLoc> = chain
        .iter()
        .skip(store.block_count() as usize)
        .map(|n| n.loc)
        .collect();
    if let Some(max) = opts.max_blocks {
        todo.truncate(max as usize);
    }
    let total = todo.len() as u64;
    let mut added = 0u32;
    let mut bytes = 0u64;
    let mut since_commit = 0u64;
    let mut bad: Option<BadInput> = None;
    std::thread::scope(|scope| -> Result<(), StoreError> {
        let (tx, rx) =
            std::sync::mpsc::sync_channel::<(BlockLoc, Result<PreparedBlock, BlockProblem>)>(64);
        let files = &files;
        let todo = &todo;
        scope.spawn(move || {
            let mut buf = Vec::new();
            for &loc in todo {
                let raw = files.read(loc, &mut buf);
                if tx.send((loc, prepare_block(raw))).is_err() {
                    break;
                }
            }
        });
        for (loc, prepared) in rx {
            let path = files
                .path(loc.file)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let block = match prepared {
                Ok(b) => b,
                Err(problem) => {
                    bad = Some(BadInput::Block {
                        path,
                        offset: loc.offset,
                        problem,
                    });
                    break;
                }
            };
            match store.append(&block) {
                Ok(()) => {}
                Err(e @ (StoreError::UnknownOutput { .. } | StoreError::DoubleSpend { .. })) => {
                    bad = Some(BadInput::Spend {
                        path,
                        offset: loc.offset,
                        error: e,
                    });
                    break;
                }
                Err(e) => return Err(e),
            }
            added += 1;
            bytes += loc.size as u64;
            since_commit += loc.size as u64;
            if since_commit >= opts.commit_bytes {
                store.commit()?;
                since_commit = 0;
            }
            if added.is_multiple_of(64) || added as u64 == total {
                progress(Progress::Appending {
                    done: added as u64,
                    total,
                    bytes,
                });
            }
        }
        Ok(())
    })?;
    if bad.is_none() {
        bad = scan_error.map(BadInput::from);
    }
    finish(store, bad, added, rolled, bytes, warnings)
}
