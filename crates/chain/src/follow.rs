//! Follows a node's best chain over JSON-RPC into the chain store, block by block, through
//! reorgs, restarts and crashes.
//!
//! - **Catch-up.** From the store's tip to the node's, blocks are fetched as raw bytes
//!   (`getblockhash` then `getblock HASH 0`, each as one JSON-RPC batch per chunk of
//!   heights) on a few parallel connections, parsed with the blk-file parser
//!   ([`prepare_block`]) on those threads, and appended in height order. Chunks grow or
//!   shrink to about [`FollowOptions::batch_bytes`] of block data.
//! - **Following.** Up to date, the follower waits for the next block with the node's
//!   `waitforblockheight` long poll (at most [`FollowOptions::poll`]; plain polling of
//!   `getbestblockhash` where the node lacks it) and commits every block it appends.
//! - **Reorgs.** A block is appended only if its parent is the store's tip. When the node's
//!   block at the store's tip height is not the store's tip, the follower compares its
//!   stored hashes with `getblockhash h` downwards to the fork point, rolls the store back
//!   to it ([`Store::rollback_to`]), commits, and applies the node's branch.
//! - **Faults.** An unreachable, restarting, warming-up or overloaded node is retried with
//!   exponential back-off (100 ms doubling up to [`FollowOptions::max_backoff`]), reported
//!   through [`Notice::Retrying`]; what was appended before is committed first. Wrong
//!   credentials, a node on another chain ([`FollowError::is_bad_input`]) and other
//!   permanent errors end the run; so does a node down for longer than
//!   [`FollowOptions::give_up_after`], if set.
//!   The store's commit protocol makes a kill at any moment safe: the next start recovers
//!   to the last commit and goes on.
//! - **Events.** Each committed block joining or leaving the chain is published as a
//!   [`ChainEvent`] on the channel given to [`follow`].
//!
//! The library does not print: progress and faults go to the caller's `notice` callback.

use crate::event::ChainEvent;
use crate::hash::{from_hex, to_hex, Hash32};
use crate::ingest::{prepare_block, BlockProblem};
use crate::rpc::{short, RpcClient, RpcError, RPC_METHOD_NOT_FOUND};
use crate::store::{PreparedBlock, Store, StoreError};
use chainwatch_types::Chain;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// JSON-RPC error code for a height above the node's tip (`RPC_INVALID_PARAMETER`).
const RPC_INVALID_PARAMETER: i64 = -8;

/// The genesis block hash of `chain` (internal byte order).
pub fn genesis_hash(chain: Chain) -> Hash32 {
    let hex = match chain {
        Chain::Bitcoin => "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        Chain::BitcoinTestnet => "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
        Chain::BitcoinRegtest => "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
        Chain::Litecoin => "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2",
        Chain::LitecoinTestnet => {
            "4966625a4b2851d9fdee139e56211a0d88575f59ed816ff5e6a63deb4e3e29a0"
        }
        Chain::LitecoinRegtest => {
            "530827f38f93b43ed12af0b3ad25a288dc02ed74d6d7857862df51fc56c416f9"
        }
    };
    from_hex(hex).unwrap_or([0; 32])
}

/// The node's default RPC port for `chain`.
pub fn default_rpc_port(chain: Chain) -> u16 {
    match chain {
        Chain::Bitcoin => 8332,
        Chain::BitcoinTestnet => 18332,
        Chain::BitcoinRegtest => 18443,
        Chain::Litecoin => 9332,
        Chain::LitecoinTestnet => 19332,
        Chain::LitecoinRegtest => 19443,
    }
}

/// Options of a follow run.
#[derive(Clone, Debug)]
pub struct FollowOptions {
    /// The store directory (`<data>/chains/<chain>`).
    pub store_dir: PathBuf,
    /// The chain the node must serve.
    pub chain: Chain,
    /// How long to wait for a new block before asking again (the long poll's timeout, or
    /// the interval between `getbestblockhash` polls).
    pub poll: Duration,
    /// Use the node's `waitforblockheight` long poll when it has it.
    pub long_poll: bool,
    /// Return once the store holds the node's tip instead of following on.
    pub once: bool,
    /// Parallel connections while catching up.
    pub connections: usize,
    /// Target bytes of block data per batch request.
    pub batch_bytes: u64,
    /// Most blocks per batch request.
    pub max_batch: u32,
    /// While catching up, commit at least this often…
    pub commit_interval: Duration,
    /// …and after this many bytes of block data.
    pub commit_bytes: u64,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// Stop retrying (returning the last error) once the node has failed for this long;
    /// `None`: retry for ever.
    pub give_up_after: Option<Duration>,
}

impl FollowOptions {
    /// Defaults: 1 s poll with long poll, 2 connections, batches of at most 16 blocks or
    /// 8 MiB, commits every second or 64 MiB while catching up, back-off up to 10 s.
    ///
    /// (On regtest, 2 connections with batches of 16 caught up fastest: the node spends about
    /// 0.1–0.2 ms per call whether batched or not, so bigger batches only add latency.)
    pub fn new(store_dir: &Path, chain: Chain) -> FollowOptions {
        FollowOptions {
            store_dir: store_dir.to_path_buf(),
            chain,
            poll: Duration::from_millis(1000),
            long_poll: true,
            once: false,
            connections: 2,
            batch_bytes: 8 << 20,
            max_batch: 16,
            commit_interval: Duration::from_secs(1),
            commit_bytes: 64 << 20,
            max_backoff: Duration::from_secs(10),
            give_up_after: None,
        }
    }
}

/// What the follower reports as it goes (for logs and progress; the library never prints).
#[derive(Clone, Debug)]
pub enum Notice {
    /// First answer of the node.
    Node {
        /// The node's network (`main`, `test`, `regtest`).
        network: String,
        /// The node's block count minus one.
        height: u32,
        /// The store's tip height before this run (`None`: empty).
        store_height: Option<u32>,
    },
    /// A commit while catching up.
    Progress {
        /// The store's tip height.
        height: u32,
        /// The node's height when this pass started.
        node_height: u32,
        /// Blocks appended by this run so far.
        blocks_added: u64,
        /// Block bytes appended by this run so far.
        bytes: u64,
    },
    /// The store holds the node's tip: the first time in a run, and after recovering from
    /// node failures (not after every block).
    CaughtUp {
        /// Tip height.
        height: u32,
        /// Tip hash.
        hash: Hash32,
    },
    /// The node's chain left the store's tip; the store was rolled back (and committed).
    Reorg {
        /// Height of the first block removed.
        fork_height: u32,
        /// Blocks removed.
        depth: u32,
        /// The removed tip.
        old_tip: Hash32,
    },
    /// A request failed in a way that may pass; the follower waits and tries again.
    Retrying {
        /// What failed.
        error: String,
        /// Consecutive failures so far.
        attempt: u32,
        /// How long it waits now.
        wait: Duration,
    },
    /// The node answers again after failures.
    Recovered {
        /// Failed attempts.
        attempts: u32,
        /// Time since the first failure.
        after: Duration,
    },
    /// The node has no `waitforblockheight`: polling instead.
    Polling,
}

/// Why a follow run stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// An RPC failure that retrying does not cure (credentials, protocol, pruned blocks).
    #[error("{0}")]
    Rpc(#[from] RpcError),
    /// The store failed (I/O, lock, corruption).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The node serves another chain.
    #[error("the node at {endpoint} serves another chain (network {network}, genesis {genesis}), not {chain}")]
    WrongChain {
        /// The chain asked for.
        chain: Chain,
        /// The node's URL (password masked).
        endpoint: String,
        /// The node's network name.
        network: String,
        /// The node's genesis hash.
        genesis: String,
    },
    /// The node returned a block whose bytes are wrong.
    #[error("block {hash} at height {height} from the node: {problem}")]
    BadBlock {
        /// Height.
        height: u32,
        /// Hash asked for.
        hash: String,
        /// What is wrong.
        problem: BlockProblem,
    },
    /// The node returned a block other than the one asked for.
    #[error("asked the node for block {asked} at height {height}, got {got}")]
    WrongBlock {
        /// Height.
        height: u32,
        /// Hash asked for.
        asked: String,
        /// Hash of the bytes returned.
        got: String,
    },
    /// A block of the node spends what the store does not have: the store was not built
    /// from this node's chain.
    #[error("block {hash} at height {height} does not fit the store: {error}")]
    Spend {
        /// Height.
        height: u32,
        /// Block hash.
        hash: String,
        /// The store's complaint.
        error: StoreError,
    },
}

impl FollowError {
    /// True if the run may succeed later (the node is down, restarting or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, FollowError::Rpc(e) if e.is_transient())
    }

    /// True for wrong credentials or permissions, an unreadable cookie, a node on another
    /// chain and a store not built from the node's chain: bad usage or input rather than a
    /// runtime failure.
    pub fn is_bad_input(&self) -> bool {
        match self {
            FollowError::Rpc(e) => e.is_auth(),
            FollowError::WrongChain { .. } | FollowError::Spend { .. } => true,
            _ => false,
        }
    }
}

/// What a follow run did and where the store is.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FollowSummary {
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
    /// Blocks appended by this run.
    pub blocks_added: u64,
    /// Blocks rolled back by this run.
    pub blocks_rolled_back: u64,
    /// Reorgs seen by this run.
    pub reorgs: u64,
    /// Bytes of block data fetched and appended.
    pub block_bytes: u64,
    /// Requests that failed and were retried.
    pub retries: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A fetched block.
struct Fetched {
    height: u32,
    block: PreparedBlock,
    size: u64,
}

/// Internal outcome of one step.
enum Step {
    /// The store holds the node's tip.
    UpToDate,
    /// Something was done (or the node's chain moved under us): check again.
    Again,
}

struct Follower<'a> {
    client: &'a RpcClient,
    opts: &'a FollowOptions,
    stop: &'a AtomicBool,
    notice: &'a mut dyn FnMut(&Notice),
    store: Store,
    summary: FollowSummary,
    checked: bool,
    long_poll: bool,
    caught_up_reported: bool,
    /// Average block size seen, for sizing chunks.
    avg_block: AtomicU64,
    /// Uncommitted changes.
    changed: bool,
    last_commit: Instant,
    bytes_since_commit: u64,
}

/// Follows the node behind `client` into the store until `stop` is set (or, with
/// [`FollowOptions::once`], until the store holds the node's tip). Each committed block
/// joining or leaving the store's chain is sent on `events`.
pub fn follow(
    client: &RpcClient,
    opts: &FollowOptions,
    events: Option<Sender<ChainEvent>>,
    stop: &AtomicBool,
    notice: &mut dyn FnMut(&Notice),
) -> Result<FollowSummary, FollowError> {
    let started = Instant::now();
    let existed = opts.store_dir.join("COMMIT").exists();
    let mut store = Store::open_writer(&opts.store_dir, opts.chain)?;
    if let Some(tx) = events {
        store.set_events(tx);
    }
    let mut f = Follower {
        client,
        opts,
        stop,
        notice,
        store,
        summary: FollowSummary {
            chain: opts.chain.name().to_string(),
            ..FollowSummary::default()
        },
        checked: false,
        long_poll: opts.long_poll,
        caught_up_reported: false,
        avg_block: AtomicU64::new(0),
        changed: false,
        last_commit: Instant::now(),
        bytes_since_commit: 0,
    };
    let result = f.run();
    // Keep what was appended, whatever ended the run.
    let committed = f.commit();
    let Follower {
        store, mut summary, ..
    } = f;
    store_summary(&store, &mut summary);
    let closed = store.close();
    if result.is_err() && !existed && summary.blocks == 0 {
        // Created by this run and left empty (wrong credentials, another chain): leave no
        // store behind to be mistaken for one.
        let _ = std::fs::remove_dir_all(&opts.store_dir);
    }
    result?;
    committed?;
    closed?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn store_summary(store: &Store, s: &mut FollowSummary) {
    let c = store.committed();
    s.tip_hash = c.tip_hash.clone();
    s.height = c.blocks as i64 - 1;
    s.blocks = c.blocks;
    s.txs = c.txs;
}

/// Sleeps `d`, waking early when `stop` is set.
fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            break;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

fn hash_of(method: &str, v: &Value) -> Result<Hash32, RpcError> {
    v.as_str()
        .filter(|s| s.len() == 64)
        .and_then(from_hex)
        .ok_or_else(|| RpcError::Reply {
            method: method.to_string(),
            result: short(v),
        })
}

fn u32_of(method: &str, v: &Value) -> Result<u32, RpcError> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| RpcError::Reply {
            method: method.to_string(),
            result: short(v),
        })
}

/// The parent hash in a raw header.
fn prev_of(header: &[u8; 80]) -> Hash32 {
    let mut prev = [0u8; 32];
    prev.copy_from_slice(&header[4..36]);
    prev
}

/// Decodes and prepares `getblock HASH 0`'s hex result.
fn decode_block(height: u32, hash: &Hash32, result: &Value) -> Result<Fetched, FollowError> {
    let hex_text = result.as_str().ok_or_else(|| RpcError::Reply {
        method: "getblock".into(),
        result: short(result),
    })?;
    let raw = hex::decode(hex_text).map_err(|_| RpcError::Reply {
        method: "getblock".into(),
        result: short(result),
    })?;
    let block = prepare_block(&raw).map_err(|problem| FollowError::BadBlock {
        height,
        hash: to_hex(hash),
        problem,
    })?;
    if block.hash != *hash {
        return Err(FollowError::WrongBlock {
            height,
            asked: to_hex(hash),
            got: to_hex(&block.hash),
        });
    }
    Ok(Fetched {
        height,
        block,
        size: raw.len() as u64,
    })
}

/// Fetches heights `from..=to` in two batch requests; a height the node no longer has
/// (its chain got shorter) ends the chunk early.
fn fetch_chunk(client: &RpcClient, from: u32, to: u32) -> Result<Vec<Fetched>, FollowError> {
    let calls: Vec<(&str, Value)> = (from..=to).map(|h| ("getblockhash", json!([h]))).collect();
    let mut hashes = Vec::with_capacity(calls.len());
    for r in client.batch(&calls)? {
        match r {
            Ok(v) => hashes.push(hash_of("getblockhash", &v)?),
            Err(RpcError::Rpc {
                code: RPC_INVALID_PARAMETER,
                ..
            }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let calls: Vec<(&str, Value)> = hashes
        .iter()
        .map(|h| ("getblock", json!([to_hex(h), 0])))
        .collect();
    let mut out = Vec::with_capacity(calls.len());
    for (i, r) in client.batch(&calls)?.into_iter().enumerate() {
        out.push(decode_block(from + i as u32, &hashes[i], &r?)?);
    }
    Ok(out)
}

impl Follower<'_> {
    fn run(&mut self) -> Result<(), FollowError> {
        let mut failures = 0u32;
        let mut down_since = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let result = match self.step() {
                Ok(Step::UpToDate) => {
                    if !self.caught_up_reported {
                        self.caught_up_reported = true;
                        if let Some(hash) = self.store.tip() {
                            (self.notice)(&Notice::CaughtUp {
                                height: self.store.block_count() - 1,
                                hash,
                            });
                        }
                    }
                    if self.opts.once {
                        return Ok(());
                    }
                    self.wait()
                }
                Ok(Step::Again) => Ok(()),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    if failures > 0 {
                        (self.notice)(&Notice::Recovered {
                            attempts: failures,
                            after: down_since.elapsed(),
                        });
                        failures = 0;
                        // Say so again when back at the tip.
                        self.caught_up_reported = false;
                    }
                }
                Err(e) if e.is_transient() => {
                    self.commit()?;
                    if failures == 0 {
                        down_since = Instant::now();
                    }
                    if self
                        .opts
                        .give_up_after
                        .is_some_and(|limit| down_since.elapsed() >= limit)
                    {
                        return Err(e);
                    }
                    failures += 1;
                    self.summary.retries += 1;
                    let wait = Duration::from_millis(100)
                        .saturating_mul(1u32 << (failures - 1).min(16))
                        .min(self.opts.max_backoff);
                    (self.notice)(&Notice::Retrying {
                        error: e.to_string(),
                        attempt: failures,
                        wait,
                    });
                    sleep_unless(self.stop, wait);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Checks once per run that the node serves the store's chain.
    fn check_chain(&mut self) -> Result<(), FollowError> {
        let r = self.client.batch(&[
            ("getblockchaininfo", json!([])),
            ("getblockhash", json!([0])),
        ])?;
        let mut r = r.into_iter();
        let info = r.next().unwrap_or(Ok(Value::Null))?;
        let genesis = hash_of("getblockhash", &r.next().unwrap_or(Ok(Value::Null))?)?;
        let network = info["chain"].as_str().unwrap_or("?").to_string();
        if genesis != genesis_hash(self.opts.chain)
            || self.store.block_hash(0).is_some_and(|g| g != genesis)
        {
            return Err(FollowError::WrongChain {
                chain: self.opts.chain,
                endpoint: self.client.endpoint().to_string(),
                network,
                genesis: to_hex(&genesis),
            });
        }
        let height = u32_of("getblockchaininfo", &info["blocks"])?;
        let count = self.store.block_count();
        (self.notice)(&Notice::Node {
            network,
            height,
            store_height: count.checked_sub(1),
        });
        self.checked = true;
        Ok(())
    }

    /// One round: where is the node, does its chain still hold our tip, fetch what is new.
    fn step(&mut self) -> Result<Step, FollowError> {
        if !self.checked {
            self.check_chain()?;
        }
        let count = self.store.block_count();
        let mut calls = vec![
            ("getbestblockhash", json!([])),
            ("getblockcount", json!([])),
        ];
        if count > 0 {
            calls.push(("getblockhash", json!([count - 1])));
        }
        let mut r = self.client.batch(&calls)?.into_iter();
        let best = hash_of("getbestblockhash", &r.next().unwrap_or(Ok(Value::Null))?)?;
        let node_height = u32_of("getblockcount", &r.next().unwrap_or(Ok(Value::Null))?)?;
        let tip = self.store.tip();
        if tip == Some(best) {
            return Ok(Step::UpToDate);
        }
        let ours_at_tip_height = match r.next() {
            None => true, // empty store
            Some(Ok(v)) => Some(hash_of("getblockhash", &v)?) == tip,
            Some(Err(RpcError::Rpc {
                code: RPC_INVALID_PARAMETER,
                ..
            })) => false, // the node's chain is shorter than ours
            Some(Err(e)) => return Err(e.into()),
        };
        let mut next = count;
        if !ours_at_tip_height {
            next = self.roll_back_to_fork(node_height)?;
        }
        if next > node_height {
            return Ok(Step::Again);
        }
        if next == node_height {
            // The usual case when following: one new block, whose hash we already know.
            let r = self.client.call("getblock", json!([to_hex(&best), 0]))?;
            let fetched = decode_block(next, &best, &r)?;
            self.apply(fetched)?;
        } else {
            self.catch_up(next, node_height)?;
        }
        self.commit()?;
        Ok(Step::Again)
    }

    /// Finds the highest height where the store and the node agree, rolls back above it and
    /// commits; returns the new block count.
    fn roll_back_to_fork(&mut self, node_height: u32) -> Result<u32, FollowError> {
        let count = self.store.block_count();
        let mut top = (count - 1).min(node_height);
        let fork = loop {
            let low = top.saturating_sub(63);
            let calls: Vec<(&str, Value)> = (low..=top)
                .rev()
                .map(|h| ("getblockhash", json!([h])))
                .collect();
            let mut found = None;
            for (i, r) in self.client.batch(&calls)?.into_iter().enumerate() {
                let h = top - i as u32;
                match r {
                    Ok(v) => {
                        if Some(hash_of("getblockhash", &v)?) == self.store.block_hash(h) {
                            found = Some(h);
                            break;
                        }
                    }
                    Err(RpcError::Rpc {
                        code: RPC_INVALID_PARAMETER,
                        ..
                    }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if let Some(h) = found {
                break h;
            }
            if low == 0 {
                // Not even the genesis block agrees (checked at start): the node changed.
                self.checked = false;
                return Err(FollowError::WrongChain {
                    chain: self.opts.chain,
                    endpoint: self.client.endpoint().to_string(),
                    network: "?".into(),
                    genesis: "no block in common with the store".into(),
                });
            }
            top = low - 1;
        };
        let keep = fork + 1;
        if keep < count {
            let old_tip = self.store.tip().unwrap_or([0; 32]);
            self.commit()?;
            self.store.rollback_to(keep)?;
            self.changed = true;
            self.commit()?;
            self.summary.reorgs += 1;
            self.summary.blocks_rolled_back += u64::from(count - keep);
            (self.notice)(&Notice::Reorg {
                fork_height: keep,
                depth: count - keep,
                old_tip,
            });
        }
        Ok(keep)
    }

    /// Appends a block if its parent is the tip; false if not (the node's chain moved).
    fn apply(&mut self, f: Fetched) -> Result<bool, FollowError> {
        let expected = self.store.tip().unwrap_or([0; 32]);
        if f.height != self.store.block_count() || prev_of(&f.block.header) != expected {
            return Ok(false);
        }
        match self.store.append(&f.block) {
            Ok(()) => {}
            Err(e @ (StoreError::UnknownOutput { .. } | StoreError::DoubleSpend { .. })) => {
                return Err(FollowError::Spend {
                    height: f.height,
                    hash: to_hex(&f.block.hash),
                    error: e,
                })
            }
            Err(e) => return Err(e.into()),
        }
        self.changed = true;
        self.summary.blocks_added += 1;
        self.summary.block_bytes += f.size;
        self.bytes_since_commit += f.size;
        // Running average of block sizes, for sizing the next chunks.
        let avg = self.avg_block.load(Ordering::Relaxed);
        let next = if avg == 0 {
            f.size
        } else {
            (avg * 15 + f.size) / 16
        };
        self.avg_block.store(next.max(1), Ordering::Relaxed);
        Ok(true)
    }

    /// Commits if anything changed.
    fn commit(&mut self) -> Result<(), FollowError> {
        if self.changed {
            self.store.commit()?;
            self.changed = false;
        }
        self.last_commit = Instant::now();
        self.bytes_since_commit = 0;
        Ok(())
    }

    /// Blocks per chunk for the current average block size.
    fn chunk_len(opts: &FollowOptions, avg: &AtomicU64) -> u32 {
        match avg.load(Ordering::Relaxed) {
            0 => 16.min(opts.max_batch).max(1),
            a => (opts.batch_bytes / a).clamp(1, u64::from(opts.max_batch.max(1))) as u32,
        }
    }

    /// Fetches `from..=to` on parallel connections and appends in order, committing now
    /// and then. Returns early (Ok) when a block does not link (the node's chain moved).
    fn catch_up(&mut self, from: u32, to: u32) -> Result<(), FollowError> {
        let client = self.client;
        let opts = self.opts;
        let stop = self.stop;
        let next = Mutex::new(from);
        let halt = AtomicBool::new(false);
        let blocks = u64::from(to - from + 1);
        let workers = (opts.connections.max(1) as u64)
            .min(blocks.div_ceil(8))
            .max(1) as usize;
        let avg = AtomicU64::new(self.avg_block.load(Ordering::Relaxed));
        std::thread::scope(|scope| -> Result<(), FollowError> {
            type Chunk = (u32, u32, Result<Vec<Fetched>, FollowError>);
            let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(workers * 2);
            for _ in 0..workers {
                let tx = tx.clone();
                let (next, halt, avg) = (&next, &halt, &avg);
                scope.spawn(move || loop {
                    if halt.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (start, end) = {
                        let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                        if *n > to {
                            break;
                        }
                        let start = *n;
                        let end = to.min(start.saturating_add(Self::chunk_len(opts, avg) - 1));
                        *n = end + 1;
                        (start, end)
                    };
                    let result = fetch_chunk(client, start, end);
                    if let Ok(chunk) = &result {
                        let bytes: u64 = chunk.iter().map(|f| f.size).sum();
                        if !chunk.is_empty() {
                            avg.store((bytes / chunk.len() as u64).max(1), Ordering::Relaxed);
                        }
                    }
                    let failed = result.is_err();
                    if tx.send((start, end, result)).is_err() || failed {
                        break;
                    }
                });
            }
            drop(tx);
            let mut ready: BTreeMap<u32, (u32, Vec<Fetched>)> = BTreeMap::new();
            let mut want = from;
            let mut error = None;
            let mut moved = false;
            'receive: for (start, end, result) in rx.iter() {
                match result {
                    Ok(chunk) => {
                        ready.insert(start, (end, chunk));
                    }
                    Err(e) => {
                        halt.store(true, Ordering::Relaxed);
                        error.get_or_insert(e);
                        continue;
                    }
                }
                while let Some((end, chunk)) = ready.remove(&want) {
                    // Fewer blocks than asked for: the node's chain got shorter meanwhile.
                    let short = (chunk.len() as u64) < u64::from(end - want + 1);
                    for f in chunk {
                        if !self.apply(f)? {
                            moved = true;
                            halt.store(true, Ordering::Relaxed);
                            break 'receive;
                        }
                        want += 1;
                        if self.bytes_since_commit >= opts.commit_bytes
                            || self.last_commit.elapsed() >= opts.commit_interval
                        {
                            self.commit()?;
                            (self.notice)(&Notice::Progress {
                                height: want - 1,
                                node_height: to,
                                blocks_added: self.summary.blocks_added,
                                bytes: self.summary.block_bytes,
                            });
                        }
                    }
                    if short {
                        moved = true;
                        halt.store(true, Ordering::Relaxed);
                        break 'receive;
                    }
                }
            }
            drop(rx);
            match error {
                Some(e) if !moved && want <= to => Err(e),
                _ => Ok(()),
            }
        })?;
        self.avg_block
            .store(avg.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(())
    }

    /// Waits for the node's next block: long poll, or a plain sleep.
    fn wait(&mut self) -> Result<(), FollowError> {
        if self.long_poll {
            let next = self.store.block_count();
            let timeout = self.opts.poll.min(Duration::from_secs(60)).as_millis() as u64;
            match self
                .client
                .call("waitforblockheight", json!([next, timeout]))
            {
                Ok(_) => return Ok(()),
                Err(RpcError::Rpc {
                    code: RPC_METHOD_NOT_FOUND,
                    ..
                }) => {
                    self.long_poll = false;
                    (self.notice)(&Notice::Polling);
                }
                Err(e) => return Err(e.into()),
            }
        }
        sleep_unless(self.stop, self.opts.poll);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_hashes_parse() {
        for chain in Chain::ALL {
            assert_ne!(genesis_hash(chain), [0; 32], "{chain}");
        }
        assert_eq!(
            to_hex(&genesis_hash(Chain::Bitcoin)),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
    }

    #[test]
    fn back_off_doubles_up_to_the_cap() {
        let cap = Duration::from_secs(10);
        let waits: Vec<u64> = (1..=10u32)
            .map(|f| {
                Duration::from_millis(100)
                    .saturating_mul(1u32 << (f - 1).min(16))
                    .min(cap)
                    .as_millis() as u64
            })
            .collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000]
        );
    }
}
