//! `screen`: sanctions, service tags and theft exposure of addresses; and the findings that
//! `trace --save` keeps for it.

use crate::entities::open_store;
use crate::BadInput;
use chainwatch_chain::store::Store;
use chainwatch_forensics::cluster::{cluster_dir, ClusterStore};
use chainwatch_forensics::explain::AddrOutputs;
use chainwatch_forensics::screen::{ExposureIndex, ScreenExposure};
use chainwatch_forensics::taint::TraceResult;
use chainwatch_intel::{SourceKind, TagStore};
use chainwatch_types::{AddrKey, Chain};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Saved findings of one report's trace.
#[derive(Serialize, Deserialize)]
pub struct Findings {
    /// Report or incident id.
    pub report: String,
    /// The trace as `trace --json` prints it.
    pub trace: serde_json::Value,
    /// Every address that received tainted value: (address, sats, fewest hops).
    pub exposed: Vec<(String, u64, u32)>,
}

fn findings_dir(data: &Path, chain: Chain) -> PathBuf {
    data.join("findings").join(chain.name())
}

/// Saves a trace's findings under `id` (replacing earlier ones of that id).
pub fn save(data: &Path, store: &Store, id: &str, r: &TraceResult) -> anyhow::Result<PathBuf> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || id.starts_with('.')
    {
        return Err(BadInput(format!(
            "'{id}': a findings id uses letters, digits, '-', '_', '.'"
        ))
        .into());
    }
    let dir = findings_dir(data, store.chain());
    std::fs::create_dir_all(&dir)?;
    let f = Findings {
        report: id.to_string(),
        trace: serde_json::to_value(r)?,
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
    };
    let path = dir.join(format!("{id}.json"));
    let tmp = dir.join(format!(".{id}.json.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(&f)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// A tag as screening shows it.
#[derive(Serialize)]
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
#[derive(Serialize)]
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

/// `chainwatch screen ADDR…`.
#[allow(clippy::print_stdout)]
pub fn screen(
    data: &Path,
    chain: Option<Chain>,
    addresses: &[String],
    max_hops: u32,
    json: bool,
) -> anyhow::Result<()> {
    if addresses.is_empty() {
        return Err(BadInput("give one or more addresses".into()).into());
    }
    if addresses.len() > 10_000 {
        return Err(BadInput(format!(
            "{} addresses: at most 10,000 per call",
            addresses.len()
        ))
        .into());
    }
    let store = open_store(data, chain)?;
    let clusters = ClusterStore::open(&cluster_dir(data, store.chain()), &store).ok();
    let tags = if data.join("tags").exists() {
        Some(TagStore::open(data.join("tags"))?)
    } else {
        None
    };
    let mut index = ExposureIndex::default();
    let fdir = findings_dir(data, store.chain());
    if fdir.exists() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&fdir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for f in files {
            let found: Findings = serde_json::from_slice(&std::fs::read(&f)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            let exposed: Vec<(u32, f64, u32)> = found
                .exposed
                .iter()
                .filter_map(|(a, s, h)| {
                    let key = AddrKey::parse(a, store.chain()).ok()?;
                    Some((store.addr_id(&key)?, *s as f64, *h))
                })
                .collect();
            index.add(&found.report, &exposed, clusters.as_ref());
        }
    }
    let outputs = AddrOutputs::build(&store);
    let items: Vec<ScreenItem> = addresses
        .iter()
        .map(|a| {
            screen_one(
                &store,
                clusters.as_ref(),
                tags.as_ref(),
                &index,
                &outputs,
                a.trim(),
                max_hops,
            )
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&items)?);
    } else {
        for i in &items {
            println!("{}  risk {}", i.address, i.risk.to_uppercase());
            if let Some(e) = &i.error {
                println!("  error: {e}");
            }
            for r in &i.reasons {
                println!("  - {r}");
            }
        }
        if index.reports() == 0 {
            println!("(no saved findings: run `chainwatch trace --incident F --save ID` to screen for theft exposure)");
        }
    }
    Ok(())
}

fn screen_one(
    store: &Store,
    clusters: Option<&ClusterStore>,
    tags: Option<&TagStore>,
    index: &ExposureIndex,
    outputs: &AddrOutputs,
    address: &str,
    max_hops: u32,
) -> ScreenItem {
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
        let e = index.screen(store, clusters, outputs, id, max_hops);
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
