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
