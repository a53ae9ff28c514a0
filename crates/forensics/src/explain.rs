//! "Why are A and B one entity?": the shortest chain of txs that linked them, each step with the
//! heuristic that fired, found by a breadth-first search over the address–tx graph.

use crate::change::{self, ChangeHeuristic};
use crate::cluster::ClusterStore;
use crate::cluster::Facts;
use crate::coinjoin;
use crate::txio::TxIo;
use chainwatch_chain::store::{Store, NONE};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};

/// The outputs of every address, as a compressed sparse row index built from the store.
pub struct AddrOutputs {
    offsets: Vec<u32>,
    outs: Vec<u32>,
    /// The tx that created each entry of `outs` (saves a binary search per look-up).
    txs: Vec<u32>,
}

impl AddrOutputs {
    /// Builds the index by a counting sort over the output-address column.
    pub fn build(store: &Store) -> AddrOutputs {
        let addrs = store.out_addr.as_slice();
        let n = store.addr_kind.len();
        let mut offsets = vec![0u32; n + 1];
        for &a in addrs {
            offsets[a as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut outs = vec![0u32; addrs.len()];
        let mut txs = vec![0u32; addrs.len()];
        let tx_recs = store.tx.as_slice();
        let mut t = 0usize;
        for (o, &a) in addrs.iter().enumerate() {
            // Outputs are in tx order: advance to the tx whose range holds `o`.
            while t + 1 < tx_recs.len() && tx_recs[t + 1].first_out as usize <= o {
                t += 1;
            }
            let k = fill[a as usize] as usize;
            outs[k] = o as u32;
            txs[k] = t as u32;
            fill[a as usize] += 1;
        }
        AddrOutputs { offsets, outs, txs }
    }

    /// Output numbers paying `addr`, in chain order.
    pub fn of(&self, addr: u32) -> &[u32] {
        let a = addr as usize;
        if a + 1 >= self.offsets.len() {
            return &[];
        }
        &self.outs[self.offsets[a] as usize..self.offsets[a + 1] as usize]
    }

    /// The txs that created [`AddrOutputs::of`]`(addr)`, in the same order.
    pub fn txs_of(&self, addr: u32) -> &[u32] {
        let a = addr as usize;
        if a + 1 >= self.offsets.len() {
            return &[];
        }
        &self.txs[self.offsets[a] as usize..self.offsets[a + 1] as usize]
    }
}

/// One link of an explanation.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Address on this side.
    pub from: String,
    /// Address on the other side.
    pub to: String,
    /// The tx that links them.
    pub txid: String,
    /// Its height.
    pub height: u32,
    /// `multi-input` or the change heuristics' names.
    pub heuristic: String,
}

/// The answer of `why`.
#[derive(Clone, Debug, Serialize)]
pub struct Why {
    /// First address.
    pub a: String,
    /// Second address.
    pub b: String,
    /// True if they are in one cluster.
    pub linked: bool,
    /// Cluster id of `a`.
    pub cluster_a: u32,
    /// Cluster id of `b`.
    pub cluster_b: u32,
    /// The shortest chain of links from `a` to `b` (empty when not linked or `a == b`).
    pub steps: Vec<Step>,
}

/// Addresses that existed before tx `t`'s outputs (as the clustering run saw it).
fn known_before(store: &Store, t: u32) -> u32 {
    let h = store.height_of_tx(t);
    let b = &store.blocks.as_slice()[h as usize];
    let addrs = store.out_addr.as_slice();
    let mut known = b.first_addr;
    for prior in b.first_tx..t {
        for o in store.tx_outputs(prior) {
            known = known.max(addrs[o as usize] + 1);
        }
    }
    known
}

/// The change output the clustering would have linked in tx `t`, if any.
fn change_of(store: &Store, change: &[ChangeHeuristic], tx: &TxIo) -> Option<usize> {
    if change.is_empty() || tx.coinbase || coinjoin::detect(tx).is_some() {
        return None;
    }
    let facts = Facts {
        store,
        known_addrs: known_before(store, tx.tx_num),
    };
    change::combined(change, tx, &facts)
}

/// Explains how addresses `a` and `b` came to share a cluster.
pub fn why(store: &Store, clusters: &ClusterStore, index: &AddrOutputs, a: u32, b: u32) -> Why {
    let chain = store.chain();
    let name = |x: u32| store.addr_key(x).display(chain);
    let (ca, cb) = (clusters.cluster_of(a), clusters.cluster_of(b));
    let mut out = Why {
        a: name(a),
        b: name(b),
        linked: ca == cb,
        cluster_a: ca,
        cluster_b: cb,
        steps: Vec::new(),
    };
    if ca != cb || a == b {
        return out;
    }
    let change: Vec<ChangeHeuristic> = clusters
        .meta
        .change
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let change_name = clusters.meta.change.join("+");
    let spenders = store.out_spender.as_slice();
    let n_tx = store.tx.len() as u32;
    // prev[x] = (previous address, tx, heuristic)
    let mut prev: HashMap<u32, (u32, u32, bool)> = HashMap::new();
    prev.insert(a, (a, NONE, false));
    let mut queue = VecDeque::from([a]);
    let mut tx = TxIo::default();
    'bfs: while let Some(x) = queue.pop_front() {
        // Txs where x is an input (multi-input links, and change from x's spends) and txs
        // that paid x as change.
        let mut txs: Vec<(u32, bool)> = Vec::new();
        for &o in index.of(x) {
            let s = spenders[o as usize];
            if s != NONE && s < n_tx {
                txs.push((s, true));
            }
            if !change.is_empty() {
                txs.push((store.tx_of_output(o), false));
            }
        }
        txs.sort_unstable();
        txs.dedup();
        for (t, x_is_input) in txs {
            if clusters.joined.is_empty() {
                break;
            }
            tx.load(store, t);
            let mut links: Vec<(u32, bool)> = Vec::new();
            let cj = coinjoin::detect(&tx).is_some();
            if x_is_input && !cj && !tx.coinbase {
                links.extend(tx.inputs.iter().map(|i| (i.addr, false)));
            }
            if let Some(v) = change_of(store, &change, &tx) {
                let c = tx.outputs[v].addr;
                if x_is_input && tx.inputs.iter().any(|i| i.addr == x) {
                    links.push((c, true));
                }
                if c == x {
                    links.extend(tx.inputs.iter().map(|i| (i.addr, true)));
                }
            }
            for (y, by_change) in links {
                if y == x || prev.contains_key(&y) || clusters.cluster_of(y) != ca {
                    continue;
                }
                prev.insert(y, (x, t, by_change));
                if y == b {
                    break 'bfs;
                }
                queue.push_back(y);
            }
        }
    }
    let txids = store.tx_txid.as_slice();
    let mut cur = b;
    let mut steps = Vec::new();
    while cur != a {
        let Some(&(p, t, by_change)) = prev.get(&cur) else {
            break;
        };
        steps.push(Step {
            from: name(p),
            to: name(cur),
            txid: chainwatch_chain::to_hex(&txids[t as usize]),
            height: store.height_of_tx(t),
            heuristic: if by_change {
                format!("change:{change_name}")
            } else {
                "multi-input".to_string()
            },
        });
        cur = p;
    }
    steps.reverse();
    out.steps = steps;
    out
}
