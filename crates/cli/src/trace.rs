//! `chainwatch trace`: follow stolen funds from a theft's outputs to the services they reached.

use crate::entities::{open_clusters, open_store};
use crate::BadInput;
use chainwatch_chain::store::Store;
use chainwatch_forensics::labels::Labels;
use chainwatch_forensics::sources::{self, OutRef};
use chainwatch_forensics::taint::{self, Method, Source, TraceOptions, TraceResult};
use chainwatch_types::Chain;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One `TXID` or `TXID:VOUT` reference.
fn parse_ref(s: &str) -> anyhow::Result<OutRef> {
    sources::parse_ref(s).map_err(|e| BadInput(e.to_string()).into())
}

/// Reads an incident file: the simulator's `incident.json` (`{victim, txids, outputs}`) or a
/// report JSON (`stolen_outputs` as strings or `{txid, vout}` objects).
pub fn incident_refs(path: &Path) -> anyhow::Result<Vec<OutRef>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| BadInput(format!("{}: not JSON: {e}", path.display())))?;
    sources::incident_refs(&v).map_err(|e| BadInput(format!("{}: {e}", path.display())).into())
}

/// Resolves references to source outputs in the store.
pub fn resolve_sources(store: &Store, refs: &[OutRef]) -> anyhow::Result<Vec<Source>> {
    sources::resolve_sources(store, refs).map_err(|e| BadInput(e.to_string()).into())
}

/// Arguments of `trace`.
#[derive(clap::Args)]
pub struct TraceArgs {
    /// Source: TXID (all outputs) or TXID:VOUT; repeatable.
    #[arg(long)]
    pub from: Vec<String>,
    /// Source: an incident JSON (`{victim, txids, outputs: ["txid:vout", …]}` or a report).
    #[arg(long)]
    pub incident: Option<PathBuf>,
    /// fifo | lifo | tiho | haircut | poison.
    #[arg(long, default_value = "fifo")]
    pub method: Method,
    /// Stop following after this many txs from a source.
    #[arg(long, default_value_t = 10_000)]
    pub max_hops: u32,
    /// Drop taint below this many sats on an output.
    #[arg(long, default_value_t = 0.0)]
    pub min_sats: f64,
    /// Ignore txs above this height.
    #[arg(long)]
    pub until_height: Option<u32>,
    /// Chain (needed when the data directory holds several).
    #[arg(long)]
    pub chain: Option<Chain>,
    /// Save the findings under this id (`DATA/findings/CHAIN/ID.json`) for `screen`.
    #[arg(long)]
    pub save: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Runs a trace and returns its result (shared by the CLI and benchmarks).
pub fn run_trace(data: &Path, args: &TraceArgs) -> anyhow::Result<TraceResult> {
    let store = open_store(data, args.chain)?;
    let clusters = open_clusters(data, &store)?;
    let mut refs = Vec::new();
    for f in &args.from {
        refs.push(parse_ref(f)?);
    }
    if let Some(p) = &args.incident {
        refs.extend(incident_refs(p)?);
    }
    if refs.is_empty() {
        return Err(BadInput("give --from TXID[:VOUT]… or --incident FILE".into()).into());
    }
    let sources = resolve_sources(&store, &refs)?;
    let labels = Labels::load(data, &store)?;
    let services = labels.services(&clusters);
    let opts = TraceOptions {
        method: args.method,
        max_hops: args.max_hops,
        min_sats: args.min_sats,
        until_height: args.until_height,
    };
    let r = taint::trace(
        &store,
        &|a| clusters.cluster_of(a),
        &services,
        &sources,
        &opts,
    );
    if let Some(id) = &args.save {
        crate::screen::save(data, &store, id, &r)?;
    }
    Ok(r)
}

/// `chainwatch trace`.
#[allow(clippy::print_stdout)]
pub fn trace(data: &Path, args: &TraceArgs) -> anyhow::Result<()> {
    let r = run_trace(data, args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let pct = |s: u64| {
        if r.source_sats == 0 {
            0.0
        } else {
            100.0 * s as f64 / r.source_sats as f64
        }
    };
    println!(
        "{:?} trace of {} sats from {} output(s); {} txs visited in {:.3} s",
        r.method,
        r.source_sats,
        r.sources.len(),
        r.txs_visited,
        r.seconds
    );
    println!();
    println!(
        "{:<28} {:<16} {:>16} {:>7} {:>6} {:>8}",
        "endpoint", "category", "sats", "%", "hops", "deposits"
    );
    for e in &r.endpoints {
        println!(
            "{:<28} {:<16} {:>16} {:>6.2}% {:>6} {:>8}",
            e.label,
            e.category,
            e.sats,
            pct(e.sats),
            e.min_hops,
            e.arrivals.len()
        );
    }
    println!(
        "{:<28} {:<16} {:>16} {:>6.2}%   ({} clusters)",
        "held (untagged)",
        "",
        r.held_sats,
        pct(r.held_sats),
        r.held_clusters
    );
    println!(
        "{:<28} {:<16} {:>16} {:>6.2}%",
        "fees",
        "",
        r.fees_sats,
        pct(r.fees_sats)
    );
    if r.below_threshold_sats > 0 {
        println!(
            "{:<28} {:<16} {:>16} {:>6.2}%",
            "below --min-sats",
            "",
            r.below_threshold_sats,
            pct(r.below_threshold_sats)
        );
    }
    if r.overshoot_sats > 0 {
        println!(
            "poison overshoot: {} sats beyond the source (reachability upper bound)",
            r.overshoot_sats
        );
    }
    if !r.patterns.is_empty() {
        println!();
        println!("patterns:");
        for p in &r.patterns {
            match p.kind.as_str() {
                "peel_chain" => println!(
                    "  peel chain of {} txs from {} ({} peels)",
                    p.length.unwrap_or(0),
                    p.txids[0],
                    p.peels.len()
                ),
                "coinjoin" => println!(
                    "  coinjoin {} ({:?}), {} tainted sats in",
                    p.txids[0], p.detector, p.sats
                ),
                "mixer_deposit" => println!(
                    "  mixer deposits into {}: {} sats in {} txs",
                    p.service.as_deref().unwrap_or("?"),
                    p.sats,
                    p.txids.len()
                ),
                _ => println!("  {} {} ({} sats)", p.kind, p.txids[0], p.sats),
            }
        }
    }
    Ok(())
}
