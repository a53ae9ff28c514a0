//! Helpers for the end-to-end tests: run the real binary, generate simulated chains.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `chainwatch --data DATA ARGS…`.
pub fn cw(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chainwatch"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run chainwatch")
}

/// Runs and expects success; returns stdout.
pub fn ok(data: &Path, args: &[&str]) -> String {
    let out = cw(data, args);
    assert!(
        out.status.success(),
        "chainwatch {args:?} failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// Runs with `--json` output expected; parses it.
pub fn json(data: &Path, args: &[&str]) -> Value {
    let s = ok(data, args);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {s}"))
}

/// A simulated chain in `dir` (blocks/, truth.json, tags.yaml, incident.json).
pub fn sim(dir: &Path, seed: u64, blocks: u32, txs: u64, extra: &[&str]) -> PathBuf {
    let out = dir.join(format!("sim-{seed}"));
    let mut args = vec![
        "sim".to_string(),
        "--out".into(),
        out.display().to_string(),
        "--seed".into(),
        seed.to_string(),
        "--blocks".into(),
        blocks.to_string(),
        "--txs".into(),
        txs.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(dir, &refs);
    out
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

/// A simulated chain, ingested, tagged (its tags.yaml plus `more_tags`) and clustered:
/// returns (simulator output, data directory).
pub fn prepared(
    dir: &Path,
    seed: u64,
    blocks: u32,
    txs: u64,
    more_tags: &[&Path],
) -> (PathBuf, PathBuf) {
    let s = sim(dir, seed, blocks, txs, &[]);
    let data = dir.join("data");
    ok(
        &data,
        &[
            "ingest",
            "--blocks",
            s.join("blocks").to_str().unwrap(),
            "--chain",
            "bitcoin-regtest",
        ],
    );
    let tags = s.join("tags.yaml");
    let mut args = vec!["tags", "import", tags.to_str().unwrap()];
    args.extend(more_tags.iter().map(|p| p.to_str().unwrap()));
    ok(&data, &args);
    ok(&data, &["cluster"]);
    (s, data)
}

/// Serves `node` on a free port with a watcher that polls the chain every 100 ms and
/// retries webhooks after 50 ms, once its chain view is loaded.
pub async fn serve_watching(node: chainwatch_server::Node) -> chainwatch_server::Running {
    let config = chainwatch_server::ServerConfig {
        watch: chainwatch_server::watch::WatchConfig {
            poll: std::time::Duration::from_millis(100),
            webhook_backoff: std::time::Duration::from_millis(50),
            ..Default::default()
        },
        ..Default::default()
    };
    let server = chainwatch_server::spawn(node, config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    wait_for_chain_view(&server).await;
    server
}

/// Waits until the server has traced report `id` and returns its trace state.
pub async fn wait_traced(http: &reqwest::Client, base: &str, id: &str, tok: &str) -> Value {
    let t = std::time::Instant::now();
    loop {
        let r = http
            .get(format!("{base}/api/reports/{id}/trace"))
            .bearer_auth(tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await.unwrap();
        if v["status"] == "done" {
            return v;
        }
        assert!(
            !matches!(v["status"].as_str(), Some("failed" | "skipped")),
            "{v}"
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "trace not done: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Creates organisation `name` of `kind` with an analyst user `NAME-user`; returns the
/// user's API token.
pub async fn analyst_org(node: &chainwatch_server::Node, name: &str, kind: &str) -> String {
    let org = node.create_org(name, kind, &[], None).await.unwrap();
    let user = format!("{name}-user");
    node.create_user(
        &org.name,
        &user,
        chainwatch_server::store::Role::Analyst,
        None,
    )
    .await
    .unwrap();
    node.create_token(&user, None).await.unwrap().1
}

/// Waits (at most 30 s) until a spawned server has opened the chain store.
pub async fn wait_for_chain_view(server: &chainwatch_server::Running) {
    let t = std::time::Instant::now();
    while server.state.watch.view().is_none() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "chain view never loaded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
