//! `sim` and `demo`: simulated chains, and the whole story on one.

use crate::{progress_bar, run_ingest};
use chainwatch_chain::ingest::IngestOptions;
use chainwatch_chain::store::store_dir;
use chainwatch_forensics::taint::Method;
use chainwatch_sim::SimConfig;
use std::path::{Path, PathBuf};

/// `chainwatch sim`.
#[allow(clippy::print_stdout)]
pub fn sim(cfg: &SimConfig, out: &Path, json: bool) -> anyhow::Result<()> {
    let pb = progress_bar(cfg.blocks as u64, "blocks");
    let s = chainwatch_sim::run(cfg, out, &mut |done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    })?;
    pb.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "wrote {} blocks, {} txs, {:.1} MB of blk files to {} in {:.2} s",
            s.blocks,
            s.txs,
            s.bytes as f64 / 1e6,
            out.join("blocks").display(),
            s.seconds
        );
        println!("tip {} (height {})", s.tip_hash, s.height);
        println!(
            "truth: {}  tags: {}  incident: {}",
            out.join("truth.json").display(),
            out.join("tags.yaml").display(),
            out.join("incident.json").display()
        );
    }
    Ok(())
}

/// `chainwatch demo`.
#[allow(clippy::print_stdout)]
pub fn demo(data: &Path, seed: u64, txs: u64) -> anyhow::Result<()> {
    let chain = chainwatch_types::Chain::BitcoinRegtest;
    let sim_dir = data.join("demo-sim");
    let cfg = SimConfig {
        seed,
        blocks: (txs / 100).clamp(200, 5_000) as u32,
        txs,
        chain,
        ..SimConfig::default()
    };
    println!(
        "== 1. simulate a chain with a heist and its laundering ({} txs)",
        txs
    );
    if sim_dir.exists() {
        std::fs::remove_dir_all(&sim_dir)?;
    }
    if store_dir(data, chain).exists() {
        std::fs::remove_dir_all(store_dir(data, chain))?;
    }
    let clusters = chainwatch_forensics::cluster::cluster_dir(data, chain);
    if clusters.exists() {
        std::fs::remove_dir_all(&clusters)?;
    }
    sim(&cfg, &sim_dir, false)?;
    println!("\n== 2. ingest the blk files into the chain store");
    run_ingest(
        &IngestOptions::new(&sim_dir.join("blocks"), chain, &store_dir(data, chain)),
        false,
    )?;
    println!("\n== 3. import what an investigator knows (exchange hot wallets, the mixer)");
    let mut sources: Vec<PathBuf> = vec![sim_dir.join("tags.yaml")];
    let shared = Path::new("../shared/data/ofac-0xB10C-lists");
    if shared.exists() {
        sources.push(shared.to_path_buf());
    }
    crate::tags::import(data, &sources, false)?;
    println!("\n== 4. cluster addresses into entities");
    crate::entities::cluster(data, Some(chain), None, false, None, false)?;
    println!("\n== 5. trace the stolen outputs (FIFO) to the services that can freeze them");
    let args = crate::trace::TraceArgs {
        from: Vec::new(),
        incident: Some(sim_dir.join("incident.json")),
        method: Method::Fifo,
        max_hops: 10_000,
        min_sats: 0.0,
        until_height: None,
        chain: Some(chain),
        save: Some("heist".into()),
        json: false,
    };
    crate::trace::trace(data, &args)?;
    println!("\nground truth: {}", sim_dir.join("truth.json").display());
    println!(
        "try: chainwatch --data {} trace --incident {} --method haircut",
        data.display(),
        sim_dir.join("incident.json").display()
    );
    Ok(())
}
