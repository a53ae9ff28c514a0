//! Address clustering: the multi-input heuristic (skipping CoinJoins) plus optional change
//! heuristics, with the tx that first linked every address, stored beside the chain store.
//!
//! Cluster ids are deterministic: a cluster's id is the smallest `addr_id` in it (union by
//! minimum id). Files in `<data>/clusters/<chain>/`: `cluster.col` (u32 cluster id per
//! address), `joined.col` (u32 `tx_num` that first linked the address, or `u32::MAX`), and
//! `META` (JSON: how far the chain was processed, with which heuristics). 8 bytes per address.
//!
//! Incremental: when the chain store grew on the same chain, only the new txs are processed;
//! the multi-input and the change heuristics that look only at the tx and the past give the same
//! result as a full run. The `fingerprint` heuristic looks at later spends, so it always
//! recomputes from zero.

use crate::change::{self, ChangeHeuristic, OutputFacts};
use crate::coinjoin;
use crate::txio::TxIo;
use chainwatch_chain::store::{Store, NONE};
use chainwatch_chain::to_hex;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Errors of the cluster store.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// I/O on a path.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No clustering yet.
    #[error("no clustering at {0} (run `chainwatch cluster` first)")]
    Missing(PathBuf),
    /// The files disagree with their META or with the chain store.
    #[error("clustering at {0} is out of date or corrupt: {1} (run `chainwatch cluster`)")]
    Stale(PathBuf, String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How to cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// Change heuristics to apply (all must agree); empty = multi-input only.
    pub change: Vec<ChangeHeuristic>,
    /// Recompute from zero even when an incremental update is possible.
    pub full: bool,
}

/// What the clustering covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Format version.
    pub format: u32,
    /// Chain name.
    pub chain: String,
    /// Blocks processed.
    pub blocks: u32,
    /// Txs processed.
    pub txs: u32,
    /// Addresses covered.
    pub addrs: u32,
    /// Hash of the last processed block.
    pub tip_hash: String,
    /// Change heuristics used, by name, sorted.
    pub change: Vec<String>,
    /// CoinJoins skipped so far.
    pub coinjoins: u64,
    /// Links made by the multi-input heuristic.
    pub multi_input_links: u64,
    /// Links made by change heuristics.
    pub change_links: u64,
}

/// The result of a run.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterSummary {
    /// Chain.
    pub chain: String,
    /// Addresses covered.
    pub addresses: u32,
    /// Clusters with two or more addresses.
    pub multi_address_clusters: u64,
    /// Clusters of one address.
    pub singletons: u64,
    /// Size of the largest cluster.
    pub largest_cluster: u64,
    /// CoinJoin txs skipped.
    pub coinjoins: u64,
    /// Links made by the multi-input heuristic.
    pub multi_input_links: u64,
    /// Links made by change heuristics.
    pub change_links: u64,
    /// Txs processed by this run.
    pub txs_processed: u64,
    /// True if this run only processed new blocks.
    pub incremental: bool,
    /// Change heuristics used.
    pub change: Vec<String>,
    /// Bytes on disk (cluster ids and link txs).
    pub bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The directory of `chain`'s clustering under a data directory.
pub fn cluster_dir(data: &Path, chain: chainwatch_types::Chain) -> PathBuf {
    data.join("clusters").join(chain.name())
}

const FORMAT: u32 = 1;

/// What the change heuristics need from the chain: address first appearances and later spends.
pub(crate) struct Facts<'a> {
    pub(crate) store: &'a Store,
    /// Addresses with id below this existed before the current tx's outputs.
    pub(crate) known_addrs: u32,
}

impl OutputFacts for Facts<'_> {
    fn is_fresh(&self, tx: &TxIo, vout: usize) -> bool {
        let a = tx.outputs[vout].addr;
        // First appearance in this tx, and only once in it.
        a >= self.known_addrs && tx.outputs.iter().filter(|o| o.addr == a).count() == 1
    }
    fn spender_fingerprint(&self, tx: &TxIo, vout: usize) -> Option<(i32, bool)> {
        let out = self.store.tx_outputs(tx.tx_num).start as usize + vout;
        let s = self.store.out_spender.as_slice()[out];
        if s == NONE || s as usize >= self.store.tx.len() {
            return None;
        }
        let (version, lock_time) = self.store.tx_version_lock_time(s);
        Some((version, lock_time == 0))
    }
}

fn read_u32s(path: &Path) -> Result<Vec<u32>, ClusterError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    if bytes.len() % 4 != 0 {
        return Err(ClusterError::Stale(
            path.to_path_buf(),
            "file size not a multiple of 4".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
        .collect())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ClusterError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

#[inline]
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

/// Clusters the chain store's addresses (incrementally when possible) and saves the result.
pub fn run(
    store: &Store,
    dir: &Path,
    opts: &ClusterOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ClusterSummary, ClusterError> {
    let started = Instant::now();
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut change: Vec<ChangeHeuristic> = opts.change.clone();
    change.sort();
    change.dedup();
    let names: Vec<String> = change.iter().map(|h| h.name().to_string()).collect();
    let n_addrs = store.addr_kind.len() as u32;
    let n_tx = store.tx.len() as u32;
    let blocks = store.blocks.as_slice();

    let meta_path = dir.join("META");
    let old: Option<Meta> = std::fs::read(&meta_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let resumable = old.as_ref().filter(|m| {
        !opts.full
            && m.format == FORMAT
            && m.chain == store.chain().name()
            && m.change == names
            && !change.contains(&ChangeHeuristic::Fingerprint)
            && m.blocks as usize <= blocks.len()
            && m.blocks > 0
            && to_hex(&blocks[m.blocks as usize - 1].hash) == m.tip_hash
            && m.txs
                == blocks
                    .get(m.blocks as usize)
                    .map(|b| b.first_tx)
                    .unwrap_or(n_tx)
    });
    let (mut parent, mut joined, mut meta) = match resumable {
        Some(m) => {
            let p = read_u32s(&dir.join("cluster.col"))?;
            let j = read_u32s(&dir.join("joined.col"))?;
            if p.len() != m.addrs as usize || j.len() != m.addrs as usize {
                return Err(ClusterError::Stale(
                    dir.to_path_buf(),
                    "column lengths differ from META".into(),
                ));
            }
            (p, j, m.clone())
        }
        None => (
            Vec::new(),
            Vec::new(),
            Meta {
                format: FORMAT,
                chain: store.chain().name().to_string(),
                change: names.clone(),
                ..Meta::default()
            },
        ),
    };
    let incremental = resumable.is_some();
    let start_tx = meta.txs;
    parent.extend(parent.len() as u32..n_addrs);
    joined.resize(n_addrs as usize, NONE);

    // Addresses existing before `start_tx`: those created by earlier blocks.
    let start_block = store.height_of_tx(start_tx.min(n_tx.saturating_sub(1))) as usize;
    let mut facts = Facts {
        store,
        known_addrs: if start_tx >= n_tx {
            n_addrs
        } else {
            blocks[start_block].first_addr
        },
    };
    let mut tx = TxIo::default();
    let total = (n_tx - start_tx) as u64;
    for t in start_tx..n_tx {
        tx.load(store, t);
        if !tx.coinbase && !tx.inputs.is_empty() {
            if coinjoin::detect(&tx).is_some() {
                meta.coinjoins += 1;
            } else {
                let a0 = tx.inputs[0].addr;
                for i in 1..tx.inputs.len() {
                    if union(&mut parent, &mut joined, a0, tx.inputs[i].addr, t) {
                        meta.multi_input_links += 1;
                    }
                }
                if !change.is_empty() {
                    if let Some(v) = change::combined(&change, &tx, &facts) {
                        if union(&mut parent, &mut joined, a0, tx.outputs[v].addr, t) {
                            meta.change_links += 1;
                        }
                    }
                }
            }
        }
        for o in &tx.outputs {
            facts.known_addrs = facts.known_addrs.max(o.addr + 1);
        }
        if (t - start_tx) % 65_536 == 0 {
            progress((t - start_tx) as u64, total);
        }
    }
    progress(total, total);
    // Roots are cluster minima and parent[x] ≤ x, so one pass in id order flattens every tree.
    for x in 0..parent.len() {
        let p = parent[x] as usize;
        parent[x] = parent[p];
    }
    meta.blocks = blocks.len() as u32;
    meta.txs = n_tx;
    meta.addrs = n_addrs;
    meta.tip_hash = blocks.last().map(|b| to_hex(&b.hash)).unwrap_or_default();
    write_atomic(&dir.join("cluster.col"), bytemuck::cast_slice(&parent))?;
    write_atomic(&dir.join("joined.col"), bytemuck::cast_slice(&joined))?;
    write_atomic(
        &meta_path,
        &serde_json::to_vec_pretty(&meta).expect("serializable"),
    )?;

    let mut sizes = vec![0u32; parent.len()];
    for &c in &parent {
        sizes[c as usize] += 1;
    }
    let multi = sizes.iter().filter(|&&s| s >= 2).count() as u64;
    let singletons = sizes.iter().filter(|&&s| s == 1).count() as u64;
    Ok(ClusterSummary {
        chain: meta.chain.clone(),
        addresses: n_addrs,
        multi_address_clusters: multi,
        singletons,
        largest_cluster: sizes.iter().copied().max().unwrap_or(0) as u64,
        coinjoins: meta.coinjoins,
        multi_input_links: meta.multi_input_links,
        change_links: meta.change_links,
        txs_processed: total,
        incremental,
        change: names,
        bytes: parent.len() as u64 * 8,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn union(parent: &mut [u32], joined: &mut [u32], a: u32, b: u32, tx: u32) -> bool {
    let ra = find(parent, a);
    let rb = find(parent, b);
    if ra == rb {
        return false;
    }
    let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
    parent[child as usize] = root;
    for x in [a, b] {
        if joined[x as usize] == NONE {
            joined[x as usize] = tx;
        }
    }
    true
}

/// A saved clustering, read back.
pub struct ClusterStore {
    /// What it covers.
    pub meta: Meta,
    /// Cluster id per address.
    pub cluster: Vec<u32>,
    /// Tx that first linked each address (`u32::MAX` if never linked).
    pub joined: Vec<u32>,
}

impl ClusterStore {
    /// Loads the clustering in `dir` and checks it still matches the chain store.
    pub fn open(dir: &Path, store: &Store) -> Result<ClusterStore, ClusterError> {
        let meta_path = dir.join("META");
        let bytes =
            std::fs::read(&meta_path).map_err(|_| ClusterError::Missing(dir.to_path_buf()))?;
        let meta: Meta = serde_json::from_slice(&bytes)
            .map_err(|e| ClusterError::Stale(dir.to_path_buf(), e.to_string()))?;
        let blocks = store.blocks.as_slice();
        let same_chain = meta.blocks as usize <= blocks.len()
            && (meta.blocks == 0
                || to_hex(&blocks[meta.blocks as usize - 1].hash) == meta.tip_hash);
        if !same_chain {
            return Err(ClusterError::Stale(
                dir.to_path_buf(),
                "the chain store was rolled back past it".into(),
            ));
        }
        let cluster = read_u32s(&dir.join("cluster.col"))?;
        let joined = read_u32s(&dir.join("joined.col"))?;
        if cluster.len() != meta.addrs as usize || joined.len() != meta.addrs as usize {
            return Err(ClusterError::Stale(
                dir.to_path_buf(),
                "column lengths differ from META".into(),
            ));
        }
        Ok(ClusterStore {
            meta,
            cluster,
            joined,
        })
    }

    /// The cluster of an address (its own id if the clustering predates the address).
    pub fn cluster_of(&self, addr: u32) -> u32 {
        self.cluster.get(addr as usize).copied().unwrap_or(addr)
    }

    /// All addresses of a cluster, in id order.
    pub fn members(&self, cluster: u32) -> Vec<u32> {
        let mut m: Vec<u32> = self
            .cluster
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c == cluster)
            .map(|(a, _)| a as u32)
            .collect();
        if m.is_empty() {
            m.push(cluster);
        }
        m
    }
}
