//! Screening: an address's exposure to reported thefts — direct (it received traced stolen
//! value), cluster (its entity did), or indirect (it was paid, within N hops, by an address
//! that received stolen value) — and a risk level with the reasons.

use crate::cluster::ClusterStore;
use crate::explain::AddrOutputs;
use crate::taint::IdHasher;
use chainwatch_chain::store::{Store, NONE};
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasherDefault;

/// The backward search for indirect exposure looks at this many payments at most, so that
/// screening an exchange's hot wallet (paid thousands of times) stays a bounded, fast request.
pub const MAX_INDIRECT_OUTPUTS: usize = 512;

/// Exposure of all traced reports, by address id.
#[derive(Default)]
pub struct ExposureIndex {
    reports: Vec<String>,
    by_addr: crate::taint::IdMap<u32, Vec<(u32, f64, u32)>>,
    by_cluster: crate::taint::IdMap<u32, Vec<(u32, f64)>>,
}

/// One report's exposure of an address.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Exposure {
    /// The report (or incident) id.
    pub report: String,
    /// Direct and cluster: tainted sats received. Indirect: sats the screened address received
    /// in payments that descend (within the hop limit) from an exposed address.
    pub sats: u64,
    /// Txs between the theft and this address (direct: the trace's hops; indirect: those plus
    /// the hops back to the exposed payer).
    pub hops: u32,
    /// Indirect only: the exposed address that paid this one (directly or through others).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// The result of screening one address.
#[derive(Clone, Debug, Serialize)]
pub struct ScreenExposure {
    /// The address itself received stolen value.
    pub direct: Vec<Exposure>,
    /// Another address of its cluster did (entity-level exposure).
    pub cluster: Vec<Exposure>,
    /// It was paid by an exposed address within the hop limit.
    pub indirect: Vec<Exposure>,
}

impl ExposureIndex {
    /// Adds a report's traced exposure: (addr_id, tainted sats, hops) per address.
    pub fn add(
        &mut self,
        report: &str,
        exposed: &[(u32, f64, u32)],
        clusters: Option<&ClusterStore>,
    ) {
        let r = self.reports.len() as u32;
        self.reports.push(report.to_string());
        let mut per_cluster: HashMap<u32, f64> = HashMap::new();
        for &(a, s, h) in exposed {
            self.by_addr.entry(a).or_default().push((r, s, h));
            if let Some(c) = clusters {
                *per_cluster.entry(c.cluster_of(a)).or_default() += s;
            }
        }
        for (c, s) in per_cluster {
            self.by_cluster.entry(c).or_default().push((r, s));
        }
    }

    /// Number of reports indexed.
    pub fn reports(&self) -> usize {
        self.reports.len()
    }

    /// Screens `addr`: direct, cluster and indirect (up to `max_hops` payments back) exposure.
    pub fn screen(
        &self,
        store: &Store,
        clusters: Option<&ClusterStore>,
        index: &AddrOutputs,
        addr: u32,
        max_hops: u32,
    ) -> ScreenExposure {
        let name = |a: u32| store.addr_key(a).display(store.chain());
        let direct: Vec<Exposure> = self
            .by_addr
            .get(&addr)
            .map(|v| {
                v.iter()
                    .map(|&(r, s, h)| Exposure {
                        report: self.reports[r as usize].clone(),
                        sats: s.round() as u64,
                        hops: h,
                        via: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let direct_reports: HashSet<&str> = direct.iter().map(|e| e.report.as_str()).collect();
        let cluster: Vec<Exposure> = clusters
            .and_then(|c| self.by_cluster.get(&c.cluster_of(addr)))
            .map(|v| {
                v.iter()
                    .filter(|(r, _)| !direct_reports.contains(self.reports[*r as usize].as_str()))
                    .map(|&(r, s)| Exposure {
                        report: self.reports[r as usize].clone(),
                        sats: s.round() as u64,
                        hops: 0,
                        via: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Backwards over payments: outputs paying `addr`, their txs' inputs, and so on.
        let mut indirect: HashMap<u32, Exposure> = HashMap::new();
        if max_hops > 0 && !self.by_addr.is_empty() {
            let addrs = store.out_addr.as_slice();
            let values = store.values();
            let spent = store.in_spent.as_slice();
            let mut seen: HashSet<u32, BuildHasherDefault<IdHasher>> = HashSet::default();
            seen.insert(addr);
            // (address, payments back from `addr`, the output paying `addr` this path started at)
            let mut queue: VecDeque<(u32, u32, u32)> = VecDeque::from([(addr, 0, NONE)]);
            let mut origins: HashMap<u32, HashSet<u32>> = HashMap::new();
            let mut budget = MAX_INDIRECT_OUTPUTS;
            'search: while let Some((x, back, origin)) = queue.pop_front() {
                if back >= max_hops {
                    continue;
                }
                // Txs paying x (most recent first: the likeliest to matter).
                for (&o, &t) in index.of(x).iter().zip(index.txs_of(x)).rev() {
                    if budget == 0 {
                        break 'search;
                    }
                    budget -= 1;
                    let origin = if back == 0 { o } else { origin };
                    for i in store.tx_inputs(t) {
                        let so = spent[i as usize];
                        if so == NONE {
                            continue;
                        }
                        let payer = addrs[so as usize];
                        if !seen.insert(payer) {
                            continue;
                        }
                        if let Some(v) = self.by_addr.get(&payer) {
                            for &(r, _, h) in v {
                                let report = &self.reports[r as usize];
                                if direct_reports.contains(report.as_str()) {
                                    continue;
                                }
                                let e = indirect.entry(r).or_insert(Exposure {
                                    report: report.clone(),
                                    sats: 0,
                                    hops: u32::MAX,
                                    via: Some(name(payer)),
                                });
                                if origins.entry(r).or_default().insert(origin) {
                                    e.sats += values.get(origin);
                                }
                                if h + back + 1 < e.hops {
                                    e.hops = h + back + 1;
                                    e.via = Some(name(payer));
                                }
                            }
                        }
                        queue.push_back((payer, back + 1, origin));
                    }
                }
            }
        }
        let mut indirect: Vec<Exposure> = indirect.into_values().collect();
        indirect.sort_by(|a, b| a.report.cmp(&b.report));
        ScreenExposure {
            direct,
            cluster,
            indirect,
        }
    }
}
