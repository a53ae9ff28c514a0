//! Laundering patterns on a trace's path: peel chains, CoinJoins, mixer deposits, consolidations.

use crate::coinjoin;
use crate::taint::{Endpoint, Pattern, Peel, Service};
use crate::txio::TxIo;
use chainwatch_chain::store::{Store, NONE};
use chainwatch_chain::to_hex;
use std::collections::HashMap;

/// Shortest run of 1-in/2-out txs reported as a peel chain.
pub const MIN_PEEL_CHAIN: usize = 3;

/// Finds patterns among the visited txs: `(tx_num, tainted input sats, tainted inputs)`, sorted.
pub fn detect(
    store: &Store,
    cluster_of: &dyn Fn(u32) -> u32,
    services: &HashMap<u32, Service>,
    visited: &[(u32, f64, u32)],
    endpoints: &[Endpoint],
) -> Vec<Pattern> {
    let txids = store.tx_txid.as_slice();
    let chain = store.chain();
    let spenders = store.out_spender.as_slice();
    let mut patterns = Vec::new();
    let mut tx = TxIo::default();
    let taint_of: crate::taint::IdMap<u32, f64> = visited.iter().map(|&(t, s, _)| (t, s)).collect();
    // Where each arrival output went, for peel destinations.
    let mut arrival_label: HashMap<(String, u32), String> = HashMap::new();
    for e in endpoints {
        for a in &e.arrivals {
            arrival_label.insert((a.txid.clone(), a.vout), e.label.clone());
        }
    }
    let mut peel_like: crate::taint::IdMap<u32, bool> = Default::default();
    for &(t, sats, tainted_inputs) in visited {
        let (n_in, n_out) = (store.tx_inputs(t).len(), store.tx_outputs(t).len());
        peel_like.insert(t, n_in == 1 && n_out == 2);
        // Only CoinJoin (≥2 in, ≥3 out) and consolidation (≥3 in, ≤2 out) candidates need a look.
        if n_in < 2 || (n_out < 3 && n_in < 3) {
            continue;
        }
        tx.load(store, t);
        if let Some(kind) = coinjoin::detect(&tx) {
            patterns.push(Pattern {
                kind: "coinjoin".into(),
                txids: vec![to_hex(&txids[t as usize])],
                sats: sats.round() as u64,
                length: None,
                peels: Vec::new(),
                detector: Some(kind),
                service: None,
            });
            continue;
        }
        if tx.inputs.len() >= 3
            && tx.outputs.len() <= 2
            && tainted_inputs as usize == tx.inputs.len()
        {
            patterns.push(Pattern {
                kind: "consolidation".into(),
                txids: vec![to_hex(&txids[t as usize])],
                sats: sats.round() as u64,
                length: Some(tx.inputs.len() as u32),
                peels: Vec::new(),
                detector: None,
                service: None,
            });
        }
    }
    // Peel chains: follow the output of a 1-in/2-out tx that a visited 1-in/2-out tx spends.
    let next_of = |t: u32| -> Option<(u32, u32)> {
        let outs = store.tx_outputs(t);
        outs.clone().find_map(|o| {
            let s = spenders[o as usize];
            (s != NONE && peel_like.get(&s) == Some(&true)).then_some((o, s))
        })
    };
    let mut has_prev: crate::taint::IdMap<u32, bool> = Default::default();
    for (&t, &is_peel) in &peel_like {
        if is_peel {
            if let Some((_, s)) = next_of(t) {
                has_prev.insert(s, true);
            }
        }
    }
    let mut starts: Vec<u32> = peel_like
        .iter()
        .filter(|(t, p)| **p && !has_prev.contains_key(t))
        .map(|(t, _)| *t)
        .collect();
    starts.sort_unstable();
    for start in starts {
        let mut chain_txs = vec![start];
        let mut in_chain: std::collections::HashSet<
            u32,
            std::hash::BuildHasherDefault<crate::taint::IdHasher>,
        > = [start].into_iter().collect();
        let mut peels = Vec::new();
        let mut cur = start;
        loop {
            let next = next_of(cur);
            let outs = store.tx_outputs(cur);
            let cont = next.map(|(o, _)| o);
            for o in outs.clone() {
                if Some(o) == cont {
                    continue;
                }
                let txid = to_hex(&txids[cur as usize]);
                let vout = o - outs.start;
                let addr = store.out_addr.as_slice()[o as usize];
                let went_to = arrival_label
                    .get(&(txid.clone(), vout))
                    .cloned()
                    .or_else(|| services.get(&cluster_of(addr)).map(|s| s.label.clone()))
                    .unwrap_or_else(|| {
                        if spenders[o as usize] == NONE {
                            "held".into()
                        } else {
                            "onward".into()
                        }
                    });
                peels.push(Peel {
                    txid,
                    sats: store.values().get(o),
                    address: store.addr_key(addr).display(chain),
                    went_to,
                });
            }
            match next {
                Some((_, s)) if in_chain.insert(s) => {
                    chain_txs.push(s);
                    cur = s;
                }
                _ => break,
            }
        }
        if chain_txs.len() >= MIN_PEEL_CHAIN {
            patterns.push(Pattern {
                kind: "peel_chain".into(),
                sats: taint_of.get(&start).copied().unwrap_or(0.0).round() as u64,
                length: Some(chain_txs.len() as u32),
                txids: chain_txs
                    .iter()
                    .map(|&t| to_hex(&txids[t as usize]))
                    .collect(),
                peels,
                detector: None,
                service: None,
            });
        }
    }
    for e in endpoints {
        if e.category.contains("mix") {
            patterns.push(Pattern {
                kind: "mixer_deposit".into(),
                txids: e.arrivals.iter().map(|a| a.txid.clone()).collect(),
                sats: e.sats,
                length: None,
                peels: Vec::new(),
                detector: None,
                service: Some(e.label.clone()),
            });
        }
    }
    patterns
}
