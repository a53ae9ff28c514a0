//! `cluster` and `why`: address clustering and its explanations.

use crate::{pick_chain, progress_bar, BadInput};
use chainwatch_chain::store::{store_dir, Store};
use chainwatch_forensics::change::ChangeHeuristic;
use chainwatch_forensics::cluster::{self, cluster_dir, ClusterOptions, ClusterStore};
use chainwatch_forensics::explain::{self, AddrOutputs};
use chainwatch_types::{AddrKey, Chain};
use std::path::{Path, PathBuf};

/// Opens the chain store for `chain` (or the only one).
pub fn open_store(data: &Path, chain: Option<Chain>) -> anyhow::Result<Store> {
    let chain = pick_chain(data, chain)?;
    Store::open(&store_dir(data, chain), chain).map_err(|e| BadInput(e.to_string()).into())
}

/// Parses `--change a,b,…`.
pub fn parse_change(list: Option<&str>) -> anyhow::Result<Vec<ChangeHeuristic>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<ChangeHeuristic>()
                .map_err(|e| BadInput(e).into())
        })
        .collect()
}

/// `chainwatch cluster`.
#[allow(clippy::print_stdout)]
pub fn cluster(
    data: &Path,
    chain: Option<Chain>,
    change: Option<&str>,
    full: bool,
    export: Option<&PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    let store = open_store(data, chain)?;
    let opts = ClusterOptions {
        change: parse_change(change)?,
        full,
    };
    let pb = progress_bar(0, "txs");
    let summary = cluster::run(
        &store,
        &cluster_dir(data, store.chain()),
        &opts,
        &mut |done, total| {
            pb.set_length(total);
            pb.set_position(done);
        },
    )?;
    pb.finish_and_clear();
    if let Some(path) = export {
        let clusters = open_clusters(data, &store)?;
        export_csv(&store, &clusters, path)?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("chain                 {}", summary.chain);
        println!("addresses             {}", summary.addresses);
        println!("clusters (≥2 addrs)   {}", summary.multi_address_clusters);
        println!("singletons            {}", summary.singletons);
        println!("largest cluster       {}", summary.largest_cluster);
        println!("coinjoins skipped     {}", summary.coinjoins);
        println!(
            "links                 {} multi-input, {} change",
            summary.multi_input_links, summary.change_links
        );
        println!(
            "change heuristics     {}",
            if summary.change.is_empty() {
                "none".to_string()
            } else {
                summary.change.join(", ")
            }
        );
        println!(
            "run                   {} txs in {:.2} s ({})",
            summary.txs_processed,
            summary.seconds,
            if summary.incremental {
                "incremental"
            } else {
                "full"
            }
        );
        if let Some(p) = export {
            println!("exported              {}", p.display());
        }
    }
    Ok(())
}

fn export_csv(store: &Store, clusters: &ClusterStore, path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("csv.tmp");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    writeln!(w, "address,cluster_id")?;
    for a in 0..store.addr_kind.len() as u32 {
        writeln!(
            w,
            "{},{}",
            store.addr_key(a).display(store.chain()),
            clusters.cluster_of(a)
        )?;
    }
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?
        .sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Opens the saved clustering of the store's chain; a missing or stale one is bad usage.
pub fn open_clusters(data: &Path, store: &Store) -> anyhow::Result<ClusterStore> {
    ClusterStore::open(&cluster_dir(data, store.chain()), store)
        .map_err(|e| BadInput(e.to_string()).into())
}

/// Resolves an address string to its id in the store.
pub fn addr_id(store: &Store, addr: &str) -> anyhow::Result<u32> {
    let key = AddrKey::parse(addr.trim(), store.chain())
        .map_err(|e| BadInput(format!("'{addr}' is not a {} address: {e}", store.chain())))?;
    store
        .addr_id(&key)
        .ok_or_else(|| BadInput(format!("address {addr} never appears on the stored chain")).into())
}

/// `chainwatch why A B`.
#[allow(clippy::print_stdout)]
pub fn why(data: &Path, chain: Option<Chain>, a: &str, b: &str, json: bool) -> anyhow::Result<()> {
    let store = open_store(data, chain)?;
    let clusters = open_clusters(data, &store)?;
    let (ia, ib) = (addr_id(&store, a)?, addr_id(&store, b)?);
    let index = AddrOutputs::build(&store);
    let w = explain::why(&store, &clusters, &index, ia, ib);
    if json {
        println!("{}", serde_json::to_string_pretty(&w)?);
    } else if !w.linked {
        println!(
            "not linked: {} is in cluster {}, {} in cluster {}",
            w.a, w.cluster_a, w.b, w.cluster_b
        );
    } else {
        println!(
            "linked in cluster {} by {} step(s):",
            w.cluster_a,
            w.steps.len()
        );
        for s in &w.steps {
            println!(
                "  {} -> {}  tx {} (height {}, {})",
                s.from, s.to, s.txid, s.height, s.heuristic
            );
        }
    }
    Ok(())
}

/// A tag as `entity` shows it.
#[derive(serde::Serialize)]
pub struct EntityTag {
    /// The tagged address.
    pub address: String,
    /// True if it is the address asked about; false if inherited through the cluster.
    pub direct: bool,
    /// Label.
    pub label: String,
    /// Category.
    pub category: Option<String>,
    /// Actor.
    pub actor: Option<String>,
    /// Confidence 0–100.
    pub confidence: Option<u8>,
    /// Source file or pack.
    pub source: String,
}

/// The answer of `entity`.
#[derive(serde::Serialize)]
pub struct Entity {
    /// The address asked about.
    pub address: String,
    /// Its id.
    pub addr_id: u32,
    /// Its cluster.
    pub cluster_id: u32,
    /// Addresses in the cluster.
    pub address_count: u64,
    /// Sum of all outputs paying the cluster.
    pub total_received: u64,
    /// Tags on the cluster's addresses.
    pub tags: Vec<EntityTag>,
    /// Distinct labels when there are several (a sign of a false merge).
    pub conflicts: Vec<String>,
}

/// `chainwatch entity ADDR`.
#[allow(clippy::print_stdout)]
pub fn entity(data: &Path, chain: Option<Chain>, addr: &str, json: bool) -> anyhow::Result<()> {
    let store = open_store(data, chain)?;
    let clusters = open_clusters(data, &store)?;
    let id = addr_id(&store, addr)?;
    let c = clusters.cluster_of(id);
    let labels = chainwatch_forensics::labels::Labels::load(data, &store)?;
    let address_count = clusters.cluster.iter().filter(|&&x| x == c).count().max(1) as u64;
    let total_received: u64 = store
        .out_addr
        .as_slice()
        .iter()
        .zip(store.values().iter())
        .filter(|(a, _)| clusters.cluster_of(**a) == c)
        .map(|(_, v)| v)
        .sum();
    let mut tags: Vec<EntityTag> = labels
        .tagged
        .iter()
        .filter(|(a, _)| clusters.cluster_of(*a) == c)
        .map(|(a, t)| EntityTag {
            address: store.addr_key(*a).display(store.chain()),
            direct: *a == id,
            label: t.label.clone(),
            category: t.category.clone(),
            actor: t.actor.clone(),
            confidence: t.confidence,
            source: t.source.clone(),
        })
        .collect();
    tags.sort_by(|a, b| {
        b.direct
            .cmp(&a.direct)
            .then(b.confidence.cmp(&a.confidence))
            .then(a.label.cmp(&b.label))
    });
    let conflicts =
        chainwatch_forensics::labels::label_conflicts(tags.iter().map(|t| t.label.as_str()));
    let e = Entity {
        address: store.addr_key(id).display(store.chain()),
        addr_id: id,
        cluster_id: c,
        address_count,
        total_received,
        tags,
        conflicts,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&e)?);
    } else {
        println!("address        {} (id {})", e.address, e.addr_id);
        println!(
            "cluster        {} with {} addresses",
            e.cluster_id, e.address_count
        );
        println!("received       {}", e.total_received);
        for t in &e.tags {
            println!(
                "tag            {} [{}] conf {} from {}{}",
                t.label,
                t.category.as_deref().unwrap_or("-"),
                t.confidence
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                t.source,
                if t.direct {
                    ""
                } else {
                    " (inherited via cluster)"
                }
            );
        }
        if !e.conflicts.is_empty() {
            println!(
                "CONFLICT       one cluster, several labels: {}",
                e.conflicts.join(" | ")
            );
        }
    }
    Ok(())
}
