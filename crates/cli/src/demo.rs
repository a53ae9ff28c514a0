//! `sim` and `demo`: simulated chains, and the whole story on one.

use crate::{progress_bar, run_ingest};
use anyhow::Context;
use chainwatch_chain::ingest::IngestOptions;
use chainwatch_chain::store::store_dir;
use chainwatch_forensics::taint::Method;
use chainwatch_server::store::Role;
use chainwatch_server::{Node, ServerConfig};
use chainwatch_sim::SimConfig;
use serde_json::{json, Value};
use std::net::SocketAddr;
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

/// `chainwatch demo --listen ADDR`: [`prepare`], then the exchange on top (organisations,
/// users, registered addresses, the heist report, its trace and alerts) and the UI served
/// on `listen` until Ctrl-C. `serve: false` sets everything up and returns.
pub fn demo_serve(
    data: &Path,
    seed: u64,
    txs: u64,
    listen: SocketAddr,
    serve: bool,
) -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    prepare(data, seed, txs)?;
    exchange(data, listen, serve, t)
}

/// Simulates, ingests, imports tags, clusters and traces the heist (saved as `heist`).
#[allow(clippy::print_stdout)]
pub fn prepare(data: &Path, seed: u64, txs: u64) -> anyhow::Result<()> {
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

/// The demo's organisations: name, kind, role in the story.
const ORGS: [(&str, &str, &str); 4] = [
    ("coinhaven", "exchange", "the victim exchange"),
    ("bitmarket", "exchange", "a receiving exchange"),
    ("hanbit", "exchange", "a receiving exchange"),
    ("nca", "agency", "the investigating agency"),
];

/// Demo users' password (the demo serves on loopback by default; a random one is used
/// when listening elsewhere).
const DEMO_PASSWORD: &str = "chainwatch-demo";

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Steps 6–9: organisations and users, registered hot wallets, the heist report filed by
/// the agency, its trace and the alerts it raises; then the UI until Ctrl-C.
#[allow(clippy::print_stdout)]
fn exchange(
    data: &Path,
    listen: SocketAddr,
    serve: bool,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    let sim_dir = data.join("demo-sim");
    let truth: Value = serde_json::from_slice(&std::fs::read(sim_dir.join("truth.json"))?)?;
    // A fresh exchange every run: the demo owns this data directory.
    for f in ["intel.sqlite", "intel.sqlite-wal", "intel.sqlite-shm"] {
        let p = data.join(f);
        if p.exists() {
            std::fs::remove_file(&p)?;
        }
    }
    let password = if listen.ip().is_loopback() {
        DEMO_PASSWORD.to_string()
    } else {
        chainwatch_server::auth::new_password()
    };
    runtime()?.block_on(async move {
        println!("\n== 6. the exchange: organisations and users");
        let node = Node::open(data).await.context("cannot open the node")?;
        let mut tokens = std::collections::HashMap::new();
        for (name, kind, what) in ORGS {
            node.create_org(name, kind, &[], None).await?;
            let user = format!("{name}-analyst");
            node.create_user(name, &user, Role::Analyst, Some(password.clone()))
                .await?;
            let (_, token) = node.create_token(&user, Some("demo")).await?;
            tokens.insert(name, token);
            println!("  {name:<10} {kind:<9} {what}: user {user}");
        }
        println!("\n== 7. the receiving exchanges register their deposit addresses");
        let chain = truth["chain"]
            .as_str()
            .unwrap_or("bitcoin-regtest")
            .to_string();
        for (name, _, _) in &ORGS[1..3] {
            let addrs: Vec<(String, Option<String>)> = truth["entities"][*name]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(|s| (s.to_string(), Some("deposit".to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let org = node
                .store
                .orgs()
                .await?
                .into_iter()
                .find(|o| o.name == *name)
                .context("demo organisation vanished")?;
            let n = node.store.add_org_addresses(org.id, &chain, addrs).await?;
            println!("  {name}: {n} addresses");
        }
        let config = ServerConfig {
            watch: chainwatch_server::watch::WatchConfig {
                poll: std::time::Duration::from_millis(200),
                ..Default::default()
            },
            ..Default::default()
        };
        let running = chainwatch_server::spawn(node, config, listen)
            .await
            .with_context(|| format!("cannot serve on {listen}"))?;
        let base = running.url();
        let t = std::time::Instant::now();
        while running.state.watch.view().is_none() {
            anyhow::ensure!(t.elapsed().as_secs() < 60, "the chain view never loaded");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        println!("\n== 8. the agency files the heist report (TLP:GREEN) and the server traces it");
        let report = json!({
            "victim": truth["theft"]["victim"], "chain": chain,
            "time": "2024-01-01T00:00:00Z",
            "stolen_outputs": truth["theft"]["outputs"],
            "tlp": "GREEN",
            "attribution": {"actor": "Lazarus Group", "confidence": 70},
            "ttps": ["peel chain", "coinjoin", "mixer"],
        });
        let sub =
            chainwatch_server::client::submit_report(&base, &tokens["nca"], &report, None).await?;
        let id = sub["id"].as_str().unwrap_or_default().to_string();
        println!("  report {id}");
        let t = std::time::Instant::now();
        loop {
            let s = running.state.watch.state(&id);
            match s.as_ref().map(|s| s.status.as_str()) {
                Some("done") => {
                    let s = s.unwrap_or_else(|| unreachable!());
                    println!("\n== 9. alerts raised to the exchanges it reached");
                    for r in &s.reached {
                        println!(
                            "  {}: {:.8} BTC in {} arrivals",
                            r["org"].as_str().unwrap_or("?"),
                            r["sats"].as_u64().unwrap_or(0) as f64 / 1e8,
                            r["arrivals"]
                        );
                    }
                    break;
                }
                Some("failed" | "skipped") => {
                    anyhow::bail!("the trace of {id} failed: {:?}", s.and_then(|s| s.reason))
                }
                _ => {}
            }
            anyhow::ensure!(
                t.elapsed().as_secs() < 120,
                "the trace of {id} did not finish"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        println!("\nset up in {:.1} s", started.elapsed().as_secs_f64());
        println!("\nopen {base}/  (API docs {base}/api/docs)");
        println!("sign in as one of (password {password}):");
        for (name, _, what) in ORGS {
            println!("  {name}-analyst   ({what})");
        }
        println!("tokens (Bearer), shown once:");
        for (name, _, _) in ORGS {
            println!("  {name}-analyst   {}", tokens[name]);
        }
        if serve {
            println!("\nserving; Ctrl-C stops");
            tokio::signal::ctrl_c().await?;
        }
        running.stop();
        Ok(())
    })
}
