//! Taint tracing: follow stolen value forward through the chain, tx by tx in chain order, until
//! it reaches a service (an endpoint that can freeze it), sits unspent (held), or goes to fees.
//!
//! Methods (ARCHITECTURE.md "Forensics definitions"):
//! - `poison`: any tainted input taints every output and the fee in full — reachability, an
//!   upper bound; its total exceeds the source and the overshoot is reported.
//! - `haircut`: each output (and the fee) gets the tx's taint in proportion to its value; taint
//!   below `min_sats` on an output is dropped and counted as `below_threshold_sats`.
//! - `fifo`: inputs are laid end to end as intervals of sats in input order; outputs consume
//!   them in order; the fee is the last interval. Exact: tainted sat ranges are tracked.
//! - `lifo`: `fifo` with the inputs reversed.
//! - `tiho`: the tx's tainted value fills the highest-value outputs first (ties: lower vout);
//!   the fee takes clean value first and is tainted only when every output is.
//!
//! Deviations: for `fifo`/`lifo`/`tiho`/`poison`, taint smaller than `min_sats` on an output is
//! also dropped into `below_threshold_sats` (default `min_sats` = 0, nothing dropped).

use crate::coinjoin;
use crate::txio::TxIo;
use chainwatch_chain::store::{Store, NONE};
use chainwatch_chain::to_hex;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

pub use chainwatch_types::hash::{IdHasher, IdMap};

/// How taint splits across a tx's outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// First in, first out.
    Fifo,
    /// Last in, first out.
    Lifo,
    /// Taint in, highest out.
    Tiho,
    /// Proportional.
    Haircut,
    /// Reachability.
    Poison,
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fifo" => Ok(Method::Fifo),
            "lifo" => Ok(Method::Lifo),
            "tiho" => Ok(Method::Tiho),
            "haircut" => Ok(Method::Haircut),
            "poison" => Ok(Method::Poison),
            _ => Err(format!(
                "unknown method '{s}' (fifo, lifo, tiho, haircut, poison)"
            )),
        }
    }
}

/// Taint on one output: tainted sat ranges `(start, len)` within it, sorted and disjoint, or a
/// plain amount for the proportional method.
#[derive(Clone, Debug, PartialEq)]
pub enum Taint {
    /// Ranges of tainted sats (fifo, lifo, tiho, poison keep a single range or exact ranges).
    Ranges(Vec<(u64, u64)>),
    /// A fractional amount (haircut).
    Amount(f64),
}

impl Taint {
    /// Tainted sats.
    pub fn sats(&self) -> f64 {
        match self {
            Taint::Ranges(r) => r.iter().map(|&(_, l)| l).sum::<u64>() as f64,
            Taint::Amount(a) => *a,
        }
    }
}

/// Splits the taint of a tx's inputs over its outputs; returns per-output taint and the fee's.
/// `inputs`: (value, taint or None); `outputs`: values.
pub fn split(
    method: Method,
    inputs: &[(u64, Option<&Taint>)],
    outputs: &[u64],
) -> (Vec<Option<Taint>>, f64) {
    let in_total: u64 = inputs.iter().map(|i| i.0).sum();
    let out_total: u64 = outputs.iter().sum();
    let fee = in_total.saturating_sub(out_total);
    match method {
        Method::Poison => {
            let any = inputs.iter().any(|i| i.1.is_some_and(|t| t.sats() > 0.0));
            if !any {
                return (vec![None; outputs.len()], 0.0);
            }
            let outs = outputs
                .iter()
                .map(|&w| (w > 0).then(|| Taint::Ranges(vec![(0, w)])))
                .collect();
            (outs, fee as f64)
        }
        Method::Haircut => {
            let taint: f64 = inputs.iter().filter_map(|i| i.1).map(Taint::sats).sum();
            if taint <= 0.0 || in_total == 0 {
                return (vec![None; outputs.len()], 0.0);
            }
            let outs = outputs
                .iter()
                .map(|&w| {
                    let t = taint * w as f64 / in_total as f64;
                    (t > 0.0).then_some(Taint::Amount(t))
                })
                .collect();
            (outs, taint * fee as f64 / in_total as f64)
        }
        Method::Tiho => {
            let mut left: u64 = inputs
                .iter()
                .filter_map(|i| i.1)
                .map(|t| t.sats() as u64)
                .sum();
            let mut order: Vec<usize> = (0..outputs.len()).collect();
            order.sort_by_key(|&j| (Reverse(outputs[j]), j));
            let mut outs = vec![None; outputs.len()];
            for j in order {
                let t = left.min(outputs[j]);
                if t > 0 {
                    outs[j] = Some(Taint::Ranges(vec![(0, t)]));
                    left -= t;
                }
            }
            (outs, left.min(fee) as f64)
        }
        Method::Fifo | Method::Lifo => {
            // Lay the inputs' tainted ranges on one line.
            let mut line: Vec<(u64, u64)> = Vec::new();
            let mut offset = 0u64;
            let order: Vec<usize> = if method == Method::Fifo {
                (0..inputs.len()).collect()
            } else {
                (0..inputs.len()).rev().collect()
            };
            for i in order {
                let (value, taint) = inputs[i];
                if let Some(Taint::Ranges(r)) = taint {
                    line.extend(r.iter().map(|&(s, l)| (offset + s, l)));
                }
                offset += value;
            }
            let mut outs = Vec::with_capacity(outputs.len());
            let mut start = 0u64;
            let mut k = 0usize;
            for &w in outputs {
                let end = start + w;
                let mut mine = Vec::new();
                while k < line.len() && line[k].0 + line[k].1 <= start {
                    k += 1;
                }
                let mut j = k;
                while j < line.len() && line[j].0 < end {
                    let s = line[j].0.max(start);
                    let e = (line[j].0 + line[j].1).min(end);
                    if e > s {
                        mine.push((s - start, e - s));
                    }
                    j += 1;
                }
                outs.push((!mine.is_empty()).then_some(Taint::Ranges(mine)));
                start = end;
            }
            let fee_taint: u64 = line
                .iter()
                .map(|&(s, l)| {
                    let e = s + l;
                    e.saturating_sub(s.max(out_total))
                })
                .sum();
            (outs, fee_taint as f64)
        }
    }
}

/// A service cluster: where a trace stops.
#[derive(Clone, Debug)]
pub struct Service {
    /// Label (e.g. the exchange's name).
    pub label: String,
    /// Category (exchange, mixer, gambling, …).
    pub category: String,
}

/// What to trace and how.
#[derive(Clone, Debug)]
pub struct TraceOptions {
    /// The method.
    pub method: Method,
    /// Stop following after this many txs from a source (the value is then reported as held).
    pub max_hops: u32,
    /// Taint below this on an output is dropped (counted in `below_threshold_sats`).
    pub min_sats: f64,
    /// Ignore txs above this height (value is held where it was then).
    pub until_height: Option<u32>,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            method: Method::Fifo,
            max_hops: 10_000,
            min_sats: 0.0,
            until_height: None,
        }
    }
}

/// Where taint entered a service.
#[derive(Clone, Debug, Serialize)]
pub struct Arrival {
    /// The tx paying the service (or its deposit address).
    pub txid: String,
    /// Output index.
    pub vout: u32,
    /// Address paid.
    pub address: String,
    /// Tainted sats arriving.
    pub sats: u64,
    /// Height of the tx.
    pub height: u32,
    /// True if this is a customer deposit address swept into the service (deposit-address
    /// heuristic); false if the service's own cluster was paid directly.
    pub via_deposit: bool,
}

/// A service the stolen value reached.
#[derive(Clone, Debug, Serialize)]
pub struct Endpoint {
    /// Service label.
    pub label: String,
    /// Service category.
    pub category: String,
    /// The service's cluster id.
    pub cluster_id: u32,
    /// Tainted sats received.
    pub sats: u64,
    /// Height of the first arrival.
    pub first_height: u32,
    /// Fewest txs from a source to an arrival.
    pub min_hops: u32,
    /// Txids from a source to the first arrival.
    pub path: Vec<String>,
    /// Where the value entered the service (what it would freeze).
    pub arrivals: Vec<Arrival>,
}

/// Value still at untagged addresses, by cluster.
#[derive(Clone, Debug, Serialize)]
pub struct Held {
    /// Cluster id.
    pub cluster_id: u32,
    /// One address of it (the first seen).
    pub address: String,
    /// Tainted sats held.
    pub sats: u64,
    /// Number of outputs.
    pub outputs: u64,
}

/// A laundering pattern seen on the taint's path.
#[derive(Clone, Debug, Serialize)]
pub struct Pattern {
    /// `peel_chain`, `coinjoin`, `mixer_deposit` or `consolidation`.
    pub kind: String,
    /// Txids, in chain order.
    pub txids: Vec<String>,
    /// Tainted sats involved (entering the pattern).
    pub sats: u64,
    /// Peel chains: number of txs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
    /// Peel chains: the peeled amounts and where each went (label, or "held").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peels: Vec<Peel>,
    /// CoinJoins: which detector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector: Option<coinjoin::CoinJoinKind>,
    /// Mixer deposits: the mixer's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// One peel of a peel chain.
#[derive(Clone, Debug, Serialize)]
pub struct Peel {
    /// The peeling tx.
    pub txid: String,
    /// Sats peeled off.
    pub sats: u64,
    /// Address peeled to.
    pub address: String,
    /// Where it went: a service label, or `held`/`onward`.
    pub went_to: String,
}

/// The full result.
#[derive(Clone, Debug, Serialize)]
pub struct TraceResult {
    /// Method used.
    pub method: Method,
    /// Sats at the sources.
    pub source_sats: u64,
    /// Source outputs (`txid:vout`).
    pub sources: Vec<String>,
    /// Services reached, most value first.
    pub endpoints: Vec<Endpoint>,
    /// Value at untagged clusters, most first (top 50).
    pub held: Vec<Held>,
    /// All value held at untagged addresses.
    pub held_sats: u64,
    /// Clusters holding value (all, not just the top 50).
    pub held_clusters: u64,
    /// Value paid as fees.
    pub fees_sats: u64,
    /// Value dropped below `min_sats`.
    pub below_threshold_sats: u64,
    /// Poison only: total tainted minus source (the upper bound's overshoot).
    pub overshoot_sats: u64,
    /// Laundering patterns on the way.
    pub patterns: Vec<Pattern>,
    /// Txs whose taint was computed.
    pub txs_visited: u64,
    /// Seconds in all.
    pub seconds: f64,
    /// Seconds spent following the taint (before building the report).
    pub follow_seconds: f64,
    /// Every address that received tainted value: (addr_id, tainted sats, fewest hops), by
    /// address id. Not serialized (screening builds its exposure index from it).
    #[serde(skip)]
    pub exposed: Vec<(u32, f64, u32)>,
}

/// A source output.
#[derive(Clone, Copy, Debug)]
pub struct Source {
    /// `out_num` in the store.
    pub out_num: u32,
}

struct EndpointAcc {
    sats: f64,
    first_height: u32,
    min_hops: u32,
    first_tx: u32,
    arrivals: BTreeMap<u32, (f64, bool)>,
}

/// Traces taint from `sources`. `services` maps cluster ids to services; `cluster_of` gives an
/// address's cluster.
pub fn trace(
    store: &Store,
    cluster_of: &dyn Fn(u32) -> u32,
    services: &HashMap<u32, Service>,
    sources: &[Source],
    opts: &TraceOptions,
) -> TraceResult {
    let started = std::time::Instant::now();
    let values = store.values();
    let addrs = store.out_addr.as_slice();
    let spenders = store.out_spender.as_slice();
    let txids = store.tx_txid.as_slice();
    let n_tx = store.tx.len() as u32;
    let chain = store.chain();
    let height_limit_tx = opts
        .until_height
        .and_then(|h| {
            store
                .blocks
                .as_slice()
                .get(h as usize + 1)
                .map(|b| b.first_tx)
        })
        .unwrap_or(n_tx);

    // Taint waiting for its spending tx: spender → [(out_num, taint, hops, creating tx)].
    let mut incoming: IdMap<u32, Vec<(u32, Taint, u32, u32)>> = IdMap::default();
    // Txs waiting to be processed, as a bitset over tx_num: every new one lies after the tx
    // being processed, so a forward scan of the words replaces a priority queue.
    let mut queued = vec![0u64; (n_tx as usize).div_ceil(64) + 1];
    let mut queue_from = 0usize; // word index to scan from
    let mut endpoints: IdMap<u32, EndpointAcc> = IdMap::default();
    let mut held: IdMap<u32, (f64, u64, u32)> = IdMap::default();
    let mut fees = 0f64;
    let mut below = 0f64;
    let mut source_sats = 0u64;
    // Visited txs in chain order: (tx, tainted input sats, tainted inputs, previous tx on the
    // fewest-hops path, hops).
    let mut visited: Vec<(u32, f64, u32, u32, u32)> = Vec::new();
    let mut deposit_cache: IdMap<u32, Option<u32>> = IdMap::default();
    let mut exposed: Vec<(u32, f64, u32)> = Vec::new();
    let mut tx = TxIo::default();

    // Is output `o` a deposit into a service: spent by a tx whose outputs all pay one service?
    // Which addresses belong to a service cluster, as a bitset: the per-output test then
    // touches 1 bit per address instead of the cluster array and a hash map.
    let n_addrs = store.addr_kind.len();
    let mut svc_bits = vec![0u64; n_addrs.div_ceil(64)];
    if !services.is_empty() {
        // Cluster ids are address ids: mark the service clusters, then every member.
        let mut svc_clusters = vec![0u64; n_addrs.div_ceil(64)];
        for &c in services.keys() {
            if let Some(w) = svc_clusters.get_mut(c as usize / 64) {
                *w |= 1 << (c % 64);
            }
        }
        for a in 0..n_addrs as u32 {
            let c = cluster_of(a);
            if svc_clusters
                .get(c as usize / 64)
                .is_some_and(|w| w & (1 << (c % 64)) != 0)
            {
                svc_bits[a as usize / 64] |= 1 << (a % 64);
            }
        }
    }
    let is_svc = |a: u32| {
        svc_bits
            .get(a as usize / 64)
            .is_some_and(|w| w & (1 << (a % 64)) != 0)
    };
    let deposit_of = |o: u32, cache: &mut IdMap<u32, Option<u32>>, tx: &mut TxIo| -> Option<u32> {
        let s = spenders[o as usize];
        if s == NONE || s >= height_limit_tx || services.is_empty() {
            return None;
        }
        // Cheap test first: a sweep's first output pays the service.
        let first_out = store.tx.as_slice()[s as usize].first_out as usize;
        if first_out >= addrs.len() || !is_svc(addrs[first_out]) {
            return None;
        }
        *cache.entry(s).or_insert_with(|| {
            tx.load(store, s);
            let first = cluster_of(tx.outputs.first()?.addr);
            let svc = services.contains_key(&first);
            (svc && coinjoin::detect(tx).is_none()
                && tx.outputs.iter().all(|x| cluster_of(x.addr) == first))
            .then_some(first)
        })
    };

    // Settles taint that arrived on output `o` (created by tx `t` with `hops`).
    macro_rules! settle {
        ($o:expr, $taint:expr, $hops:expr, $t:expr) => {{
            let o: u32 = $o;
            let taint: Taint = $taint;
            let amount = taint.sats();
            let hops: u32 = $hops;
            let t: u32 = $t;
            let a = addrs[o as usize];
            let (svc_cluster, via_deposit) = if is_svc(a) {
                (Some(cluster_of(a)), false)
            } else {
                (deposit_of(o, &mut deposit_cache, &mut tx), true)
            };
            if amount >= opts.min_sats && amount > 0.0 {
                exposed.push((a, amount, hops));
            }
            if amount < opts.min_sats || amount <= 0.0 {
                below += amount;
            } else if let Some(sc) = svc_cluster {
                let height = store.height_of_tx(t);
                let e = endpoints.entry(sc).or_insert(EndpointAcc {
                    sats: 0.0,
                    first_height: height,
                    min_hops: hops,
                    first_tx: t,
                    arrivals: BTreeMap::new(),
                });
                e.sats += amount;
                if height < e.first_height {
                    e.first_height = height;
                    e.first_tx = t;
                }
                e.min_hops = e.min_hops.min(hops);
                let a = e.arrivals.entry(o).or_insert((0.0, via_deposit));
                a.0 += amount;
            } else {
                let s = spenders[o as usize];
                if s == NONE || s >= height_limit_tx || hops >= opts.max_hops {
                    let h = held.entry(cluster_of(a)).or_insert((0.0, 0, a));
                    h.0 += amount;
                    h.1 += 1;
                } else {
                    incoming.entry(s).or_default().push((o, taint, hops, t));
                    queued[s as usize / 64] |= 1 << (s % 64);
                }
            }
        }};
    }

    let mut source_names = Vec::new();
    for s in sources {
        let v = values.get(s.out_num);
        source_sats += v;
        let t = store.tx_of_output(s.out_num);
        let vout = s.out_num - store.tx.as_slice()[t as usize].first_out;
        source_names.push(format!("{}:{vout}", to_hex(&txids[t as usize])));
        settle!(s.out_num, Taint::Ranges(vec![(0, v)]), 0, t);
    }

    let mut inputs: Vec<(u64, Option<Taint>)> = Vec::new();
    let mut outs_v: Vec<u64> = Vec::new();
    loop {
        while queue_from < queued.len() && queued[queue_from] == 0 {
            queue_from += 1;
        }
        if queue_from == queued.len() {
            break;
        }
        let bit = queued[queue_from].trailing_zeros();
        queued[queue_from] &= !(1 << bit);
        let t = (queue_from * 64) as u32 + bit;
        let mut waiting = incoming.remove(&t).unwrap_or_default();
        inputs.clear();
        let (mut hops, mut prev) = (u32::MAX, NONE);
        for &(_, _, h, from) in &waiting {
            if h < hops {
                (hops, prev) = (h, from);
            }
        }
        for i in store.tx_inputs(t) {
            let o = store.in_spent.as_slice()[i as usize];
            if o == NONE {
                inputs.push((0, None));
                continue;
            }
            let taint = waiting
                .iter()
                .position(|w| w.0 == o)
                .map(|k| waiting.swap_remove(k).1);
            inputs.push((values.get(o), taint));
        }
        outs_v.clear();
        let outs = store.tx_outputs(t);
        outs_v.extend(outs.clone().map(|o| values.get(o)));
        let refs: Vec<(u64, Option<&Taint>)> =
            inputs.iter().map(|(v, t)| (*v, t.as_ref())).collect();
        let tainted_in: f64 = refs.iter().filter_map(|x| x.1).map(Taint::sats).sum();
        let n_tainted = refs.iter().filter(|x| x.1.is_some()).count() as u32;
        let hops = hops.saturating_add(1);
        visited.push((t, tainted_in, n_tainted, prev, hops));
        let (split_out, fee_taint) = split(opts.method, &refs, &outs_v);
        fees += fee_taint;
        for (k, taint) in split_out.into_iter().enumerate() {
            if let Some(taint) = taint {
                settle!(outs.start + k as u32, taint, hops, t);
            }
        }
    }

    let follow_seconds = started.elapsed().as_secs_f64();
    // Paths and endpoint records.
    let path_to = |t: u32| {
        let mut p = vec![t];
        let mut cur = t;
        // `visited` is in chain order: find each tx's predecessor by binary search.
        while let Ok(k) = visited.binary_search_by_key(&cur, |v| v.0) {
            let prev = visited[k].3;
            if prev == NONE || p.len() > 100_000 {
                break;
            }
            p.push(prev);
            cur = prev;
        }
        p.reverse();
        p.into_iter()
            .map(|t| to_hex(&txids[t as usize]))
            .collect::<Vec<_>>()
    };
    let mut eps: Vec<Endpoint> = endpoints
        .into_iter()
        .map(|(c, e)| {
            let svc = &services[&c];
            let arrivals = e
                .arrivals
                .iter()
                .map(|(&o, &(sats, via_deposit))| {
                    let t = store.tx_of_output(o);
                    Arrival {
                        txid: to_hex(&txids[t as usize]),
                        vout: o - store.tx.as_slice()[t as usize].first_out,
                        address: store.addr_key(addrs[o as usize]).display(chain),
                        sats: sats.round() as u64,
                        height: store.height_of_tx(t),
                        via_deposit,
                    }
                })
                .collect();
            Endpoint {
                label: svc.label.clone(),
                category: svc.category.clone(),
                cluster_id: c,
                sats: e.sats.round() as u64,
                first_height: e.first_height,
                min_hops: e.min_hops,
                path: path_to(e.first_tx),
                arrivals,
            }
        })
        .collect();
    eps.sort_by(|a, b| b.sats.cmp(&a.sats).then(a.label.cmp(&b.label)));
    let held_sats: f64 = held.values().map(|h| h.0).sum();
    let held_clusters = held.len() as u64;
    let mut held_raw: Vec<(u32, (f64, u64, u32))> = held.into_iter().collect();
    held_raw.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    held_raw.truncate(50);
    let held_v: Vec<Held> = held_raw
        .into_iter()
        .map(|(c, (sats, outputs, a))| Held {
            cluster_id: c,
            address: store.addr_key(a).display(chain),
            sats: sats.round() as u64,
            outputs,
        })
        .collect();
    let txs_visited = visited.len() as u64;
    // Patterns are reported for flows that carry at least 0.01% of the source (or --min-sats):
    // proportional methods spread dust over much of the chain, and a peel chain of dust is noise.
    let pattern_min = opts.min_sats.max(source_sats as f64 * 1e-4);
    let significant: Vec<(u32, f64, u32)> = visited
        .iter()
        .filter(|v| v.1 >= pattern_min)
        .map(|v| (v.0, v.1, v.2))
        .collect();
    let patterns = crate::patterns::detect(store, cluster_of, services, &significant, &eps);
    let total: f64 = eps.iter().map(|e| e.sats as f64).sum::<f64>() + held_sats + fees + below;
    TraceResult {
        method: opts.method,
        source_sats,
        sources: source_names,
        endpoints: eps,
        held: held_v,
        held_sats: held_sats.round() as u64,
        held_clusters,
        fees_sats: fees.round() as u64,
        below_threshold_sats: below.round() as u64,
        overshoot_sats: if opts.method == Method::Poison {
            (total - source_sats as f64).max(0.0).round() as u64
        } else {
            0
        },
        patterns,
        txs_visited,
        seconds: started.elapsed().as_secs_f64(),
        follow_seconds,
        exposed: {
            exposed.sort_unstable_by_key(|e| e.0);
            let mut merged: Vec<(u32, f64, u32)> = Vec::with_capacity(exposed.len());
            for (a, s, h) in exposed {
                match merged.last_mut() {
                    Some(m) if m.0 == a => {
                        m.1 += s;
                        m.2 = m.2.min(h);
                    }
                    _ => merged.push((a, s, h)),
                }
            }
            merged
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &[(u64, u64)]) -> Taint {
        Taint::Ranges(v.to_vec())
    }

    fn sats(outs: &[Option<Taint>]) -> Vec<u64> {
        outs.iter()
            .map(|t| t.as_ref().map(|t| t.sats() as u64).unwrap_or(0))
            .collect()
    }

    // A 3-in/3-out tx with a fee of 10: inputs 50 (tainted), 30 (clean), 20 (tainted first 5);
    // outputs 40, 35, 15 (sum 90), fee 10.
    fn case() -> (Vec<(u64, Option<Taint>)>, Vec<u64>) {
        (
            vec![
                (50, Some(r(&[(0, 50)]))),
                (30, None),
                (20, Some(r(&[(0, 5)]))),
            ],
            vec![40, 35, 15],
        )
    }

    fn run(m: Method) -> (Vec<u64>, f64) {
        let (ins, outs) = case();
        let refs: Vec<(u64, Option<&Taint>)> = ins.iter().map(|(v, t)| (*v, t.as_ref())).collect();
        let (o, f) = split(m, &refs, &outs);
        (sats(&o), f)
    }

    #[test]
    fn fifo_by_hand() {
        // Line: tainted [0,50), clean [50,80), tainted [80,85), clean [85,100).
        // Out0 [0,40): 40 tainted. Out1 [40,75): 10 tainted. Out2 [75,90): [80,85) = 5. Fee [90,100): 0.
        assert_eq!(run(Method::Fifo), (vec![40, 10, 5], 0.0));
    }

    #[test]
    fn lifo_by_hand() {
        // Reversed line: input2 [0,20) tainted [0,5); input1 [20,50) clean; input0 [50,100) tainted.
        // Out0 [0,40): 5. Out1 [40,75): [50,75) = 25. Out2 [75,90): 15. Fee [90,100): 10.
        assert_eq!(run(Method::Lifo), (vec![5, 25, 15], 10.0));
    }

    #[test]
    fn tiho_by_hand() {
        // 55 tainted: highest output 40 takes 40, next 35 takes 15, 15 gets 0; fee clean.
        assert_eq!(run(Method::Tiho), (vec![40, 15, 0], 0.0));
    }

    #[test]
    fn haircut_by_hand() {
        // 55 of 100 tainted: outputs 22, 19.25, 8.25; fee 5.5.
        let (ins, outs) = case();
        let refs: Vec<(u64, Option<&Taint>)> = ins.iter().map(|(v, t)| (*v, t.as_ref())).collect();
        let (o, f) = split(Method::Haircut, &refs, &outs);
        let got: Vec<f64> = o.iter().map(|t| t.as_ref().unwrap().sats()).collect();
        assert_eq!(got, vec![22.0, 19.25, 8.25]);
        assert_eq!(f, 5.5);
    }

    #[test]
    fn poison_by_hand() {
        assert_eq!(run(Method::Poison), (vec![40, 35, 15], 10.0));
    }

    #[test]
    fn conservation_in_every_method() {
        for m in [Method::Fifo, Method::Lifo, Method::Tiho, Method::Haircut] {
            let (ins, outs) = case();
            let refs: Vec<(u64, Option<&Taint>)> =
                ins.iter().map(|(v, t)| (*v, t.as_ref())).collect();
            let (o, f) = split(m, &refs, &outs);
            let total: f64 = o.iter().flatten().map(Taint::sats).sum::<f64>() + f;
            assert!((total - 55.0).abs() < 1e-9, "{m:?}: {total}");
        }
    }
}
