//! Screening one address: sanctions and service tags, theft exposure from traced reports
//! (direct, cluster, indirect), and a risk level with the reasons. Shared by
//! `chainwatch screen` and the server's `POST /api/screen`; also the findings a trace leaves
//! for it.

use crate::cluster::ClusterStore;
use crate::explain::AddrOutputs;
use crate::screen::{ExposureIndex, ScreenExposure};
use crate::taint::TraceResult;
use chainwatch_chain::store::Store;
use chainwatch_intel::{SourceKind, TagStore};
use chainwatch_types::AddrKey;
use serde::{Deserialize, Serialize};

/// Saved findings of one report's trace.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Findings {
    /// Report or incident id.
    pub report: String,
    /// The trace as `trace --json` prints it.
    pub trace: serde_json::Value,
    /// Every address that received tainted value: (address, sats, fewest hops).
    pub exposed: Vec<(String, u64, u32)>,
}

impl Findings {
    /// The findings of trace `r` under report id `report`.
    pub fn from_trace(report: &str, store: &Store, r: &TraceResult) -> Findings {
        Findings {
            report: report.to_string(),
            trace: serde_json::to_value(r).unwrap_or_default(),
            exposed: r
                .exposed
                .iter()
                .map(|&(a, s, h)| {
                    (
                        store.addr_key(a).display(store.chain()),
                        s.round() as u64,
                        h,
                    )
                })
                .collect(),
        }
    }

    /// The exposed addresses as (addr_id, sats, hops) in `store` (unknown ones skipped), as
    /// [`ExposureIndex::add`] takes them.
    pub fn exposed_ids(&self, store: &Store) -> Vec<(u32, f64, u32)> {
        self.exposed
            .iter()
            .filter_map(|(a, s, h)| {
                let key = AddrKey::parse(a, store.chain()).ok()?;
                Some((store.addr_id(&key)?, *s as f64, *h))
            })
            .collect()
    }
}

/// A tag as screening shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ScreenTag {
    /// Label (entity name for sanctions).
    pub label: String,
    /// Category.
    pub category: Option<String>,
    /// Source kind (`ofac-sdn`, `ofac-list`, `tagpack`).
    pub source_kind: String,
    /// Source file or pack.
    pub source: String,
    /// Sanctions program(s).
    pub program: Option<String>,
    /// True if this tag is a sanctions listing.
    pub sanction: bool,
}

/// One screened address.
#[derive(Clone, Debug, Serialize)]
pub struct ScreenItem {
    /// The address as given.
    pub address: String,
    /// Why it could not be screened (invalid address); other fields are then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// True if the address appears on the stored chain.
    pub on_chain: bool,
    /// Its cluster id.
    pub cluster_id: Option<u32>,
    /// Tags on the address.
    pub tags: Vec<ScreenTag>,
    /// Theft exposure.
    pub exposure: Option<ScreenExposure>,
    /// `severe` (sanctioned), `high` (received stolen funds), `medium` (entity or indirect
    /// exposure), `low`, or `unknown` (invalid).
    pub risk: String,
    /// Why.
    pub reasons: Vec<String>,
}

/// What screening reads: the chain, its clustering, the tags and the traced exposure.
pub struct Screener<'a> {
    /// The chain store.
    pub store: &'a Store,
    /// Its clustering, when computed.
    pub clusters: Option<&'a ClusterStore>,
    /// Tags (sanctions, services).
    pub tags: Option<&'a TagStore>,
    /// Exposure of traced reports.
    pub index: &'a ExposureIndex,
    /// Outputs by address (for indirect exposure).
    pub outputs: &'a AddrOutputs,
}

impl Screener<'_> {
    /// Screens one address. `visible` says which report ids the caller may see: exposure to
    /// other reports is left out (and does not count towards the risk).
    pub fn screen(
        &self,
        address: &str,
        max_hops: u32,
        visible: &dyn Fn(&str) -> bool,
    ) -> ScreenItem {
        screen_address(self, address, max_hops, visible)
    }
}

fn screen_address(
    sc: &Screener<'_>,
    address: &str,
    max_hops: u32,
    visible: &dyn Fn(&str) -> bool,
) -> ScreenItem {
    let Screener {
        store,
        clusters,
        tags,
        index,
        outputs,
    } = *sc;
    let mut item = ScreenItem {
        address: address.to_string(),
        error: None,
        on_chain: false,
        cluster_id: None,
        tags: Vec::new(),
        exposure: None,
        risk: "low".into(),
        reasons: Vec::new(),
    };
    let key = AddrKey::parse(address, store.chain());
    let mut seen = std::collections::HashSet::new();
    for t in tags.map(|t| t.tags_for(address)).unwrap_or_default() {
        // The same listing from two files (the .txt and .json lists) counts once.
        if !seen.insert((
            t.entity.clone().unwrap_or_else(|| t.label.clone()),
            t.source_kind,
            t.program.clone(),
        )) {
            continue;
        }
        let sanction = matches!(t.source_kind, SourceKind::OfacSdn | SourceKind::OfacList)
            || t.category
                .as_deref()
                .is_some_and(|c| c.contains("sanction"));
        if sanction {
            item.reasons.push(format!(
                "sanctioned: {} ({}{})",
                t.entity.as_deref().unwrap_or(&t.label),
                t.source_kind,
                t.program
                    .as_deref()
                    .map(|p| format!(", program {p}"))
                    .unwrap_or_default()
            ));
        } else if let Some(c) = &t.category {
            item.reasons.push(format!("tagged {c}: {}", t.label));
        }
        item.tags.push(ScreenTag {
            label: t.entity.clone().unwrap_or_else(|| t.label.clone()),
            category: t.category.clone(),
            source_kind: t.source_kind.name().to_string(),
            source: t.source.clone(),
            program: t.program.clone(),
            sanction,
        });
    }
    let key = match key {
        Ok(k) => k,
        Err(e) if item.tags.is_empty() => {
            item.error = Some(format!("not a {} address: {e}", store.chain()));
            item.risk = "unknown".into();
            item.reasons.clear();
            return item;
        }
        Err(_) => {
            // Tagged (e.g. a sanctioned mainnet address) but not of the stored chain.
            item.reasons.push(format!(
                "not a {} address: theft exposure not checked",
                store.chain()
            ));
            item.risk = if item.tags.iter().any(|t| t.sanction) {
                "severe"
            } else {
                "low"
            }
            .into();
            return item;
        }
    };
    if let Some(id) = store.addr_id(&key) {
        item.on_chain = true;
        item.cluster_id = clusters.map(|c| c.cluster_of(id));
        let mut e = index.screen(store, clusters, outputs, id, max_hops);
        e.direct.retain(|x| visible(&x.report));
        e.cluster.retain(|x| visible(&x.report));
        e.indirect.retain(|x| visible(&x.report));
        for x in &e.direct {
            item.reasons.push(format!(
                "received {} sats stolen in report {} ({} hops from the theft)",
                x.sats, x.report, x.hops
            ));
        }
        for x in &e.cluster {
            item.reasons.push(format!(
                "its entity (cluster) received {} sats stolen in report {}",
                x.sats, x.report
            ));
        }
        for x in &e.indirect {
            item.reasons.push(format!(
                "paid {} sats by {} which received funds stolen in report {} ({} hops)",
                x.sats,
                x.via.as_deref().unwrap_or("?"),
                x.report,
                x.hops
            ));
        }
        item.exposure = Some(e);
    } else {
        item.reasons.push("never seen on the stored chain".into());
    }
    let sanctioned = item.tags.iter().any(|t| t.sanction);
    let ex = item.exposure.as_ref();
    item.risk = if sanctioned {
        "severe"
    } else if ex.is_some_and(|e| !e.direct.is_empty()) {
        "high"
    } else if ex.is_some_and(|e| !e.cluster.is_empty() || !e.indirect.is_empty()) {
        "medium"
    } else {
        "low"
    }
    .into();
    item
}

/// What two reports' findings share: the basis of report correlation.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Shared {
    /// Addresses both traces reached (outside service clusters), sorted.
    pub addresses: Vec<String>,
    /// Txids on both traces' recorded paths, sources and arrivals, sorted.
    pub txids: Vec<String>,
    /// Non-service clusters both traces reached (cluster-level correlation), sorted.
    pub clusters: Vec<u32>,
}

impl Shared {
    /// True if nothing is shared.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.txids.is_empty() && self.clusters.is_empty()
    }
}

impl Findings {
    /// Txids the findings name: sources, endpoint paths, arrivals, pattern txs.
    pub fn txids(&self) -> std::collections::BTreeSet<String> {
        let t = &self.trace;
        let mut out = std::collections::BTreeSet::new();
        let strs = |v: &serde_json::Value| {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect::<Vec<_>>()
        };
        for s in strs(&t["sources"]) {
            out.insert(s.split(':').next().unwrap_or_default().to_string());
        }
        for e in t["endpoints"].as_array().into_iter().flatten() {
            out.extend(strs(&e["path"]));
            for a in e["arrivals"].as_array().into_iter().flatten() {
                if let Some(x) = a["txid"].as_str() {
                    out.insert(x.to_string());
                }
            }
        }
        for p in t["patterns"].as_array().into_iter().flatten() {
            out.extend(strs(&p["txids"]));
        }
        out
    }

    /// What these findings share with `other`; addresses and clusters in `is_service` clusters
    /// (exchanges, mixers) do not count — every theft that reached an exchange would match.
    pub fn shared_with(
        &self,
        other: &Findings,
        store: &Store,
        cluster_of: &dyn Fn(u32) -> u32,
        is_service: &dyn Fn(u32) -> bool,
    ) -> Shared {
        use std::collections::BTreeSet;
        let clusters_of = |f: &Findings| -> (BTreeSet<String>, BTreeSet<u32>) {
            let mut addrs = BTreeSet::new();
            let mut cls = BTreeSet::new();
            for (a, _, _) in &f.exposed {
                let id = AddrKey::parse(a, store.chain())
                    .ok()
                    .and_then(|k| store.addr_id(&k));
                let c = id.map(cluster_of);
                if c.is_some_and(is_service) {
                    continue;
                }
                addrs.insert(a.clone());
                if let Some(c) = c {
                    cls.insert(c);
                }
            }
            (addrs, cls)
        };
        let (a1, c1) = clusters_of(self);
        let (a2, c2) = clusters_of(other);
        Shared {
            addresses: a1.intersection(&a2).cloned().collect(),
            txids: self.txids().intersection(&other.txids()).cloned().collect(),
            clusters: c1.intersection(&c2).copied().collect(),
        }
    }
}
