//! End to end through the binary: ingest of simulated chains (shuffled, stale, xor), look-ups,
//! bad input, and a crash test that kills the ingest with SIGKILL mid-way.

#![allow(clippy::print_stderr)]

mod common;
use chainwatch_chain::store::{store_dir, Store};
use chainwatch_types::Chain;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHAIN: Chain = Chain::BitcoinRegtest;

#[test]
fn ingest_reads_simulated_chains_and_answers_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let plain = sim(dir.path(), 3, 300, 20_000, &[]);
    let messy = sim(
        dir.path(),
        3,
        300,
        20_000,
        &["--shuffle-window", "16", "--stale", "6", "--xor"],
    );
    let truth = read_json(&plain.join("truth.json"));
    let messy_truth = read_json(&messy.join("truth.json"));
    assert_eq!(
        truth["tip_hash"], messy_truth["tip_hash"],
        "same seed, same main chain"
    );
    assert!(messy.join("blocks/xor.dat").exists());

    let d1 = dir.path().join("d1");
    let s1 = json(
        &d1,
        &[
            "ingest",
            "--blocks",
            plain.join("blocks").to_str().unwrap(),
            "--chain",
            "bitcoin-regtest",
            "--json",
        ],
    );
    for key in [
        "tip_hash",
        "height",
        "txs",
        "inputs",
        "outputs",
        "addresses",
    ] {
        assert!(s1.get(key).is_some(), "summary lacks {key}: {s1}");
    }
    assert_eq!(s1["tip_hash"], truth["tip_hash"]);
    assert_eq!(s1["height"], truth["height"]);
    assert_eq!(s1["txs"], truth["tx_count"]);

    let d2 = dir.path().join("d2");
    let s2 = json(
        &d2,
        &[
            "ingest",
            "--blocks",
            messy.join("blocks").to_str().unwrap(),
            "--chain",
            "bitcoin-regtest",
            "--json",
        ],
    );
    assert_eq!(s2["tip_hash"], truth["tip_hash"]);
    assert_eq!(
        s2["stale_blocks"].as_u64(),
        Some(messy_truth["stale_blocks"].as_array().unwrap().len() as u64)
    );
    let f1 = Store::open(&store_dir(&d1, CHAIN), CHAIN)
        .unwrap()
        .fingerprint();
    let f2 = Store::open(&store_dir(&d2, CHAIN), CHAIN)
        .unwrap()
        .fingerprint();
    assert_eq!(
        f1, f2,
        "shuffled, stale-branched, xored files give the same store"
    );

    // Look-ups: the theft tx's outputs go to the thief; its inputs spend the victim's coins.
    let theft_txid = truth["theft"]["txids"][0].as_str().unwrap();
    let tx = json(&d1, &["tx", theft_txid, "--json"]);
    assert_eq!(tx["txid"], theft_txid);
    let victim = truth["theft"]["victim"].as_str().unwrap();
    let victim_addrs: Vec<&str> = truth["entities"][victim]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for input in tx["inputs"].as_array().unwrap() {
        assert!(
            victim_addrs.contains(&input["address"].as_str().unwrap()),
            "{input}"
        );
        assert!(input["value"].as_u64().unwrap() > 0);
    }
    let thief: Vec<&str> = truth["entities"]["thief"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let stolen: u64 = tx["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| thief.contains(&o["address"].as_str().unwrap()))
        .map(|o| o["value"].as_u64().unwrap())
        .sum();
    assert!(stolen > 0);
    // Every spent output names a spender that really lists it as an input.
    for o in tx["outputs"].as_array().unwrap() {
        if let Some(spender) = o["spent_by"].as_str() {
            let s = json(&d1, &["tx", spender, "--json"]);
            assert!(s["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["prev_txid"] == theft_txid && i["prev_vout"] == o["vout"]));
        }
    }
    let addr = json(&d1, &["address", thief[0], "--json"]);
    assert_eq!(
        addr["balance"].as_u64().unwrap(),
        addr["received"].as_u64().unwrap() - addr["sent"].as_u64().unwrap()
    );
    assert!(addr["tx_count"].as_u64().unwrap() >= 1);
    let tip = json(
        &d1,
        &["block", truth["tip_hash"].as_str().unwrap(), "--json"],
    );
    assert_eq!(tip["height"], truth["height"]);
    let by_height = json(&d1, &["block", &truth["height"].to_string(), "--json"]);
    assert_eq!(by_height["hash"], truth["tip_hash"]);

    // Bad input: exit code 2 and a one-line reason.
    for args in [
        vec!["tx", "00"],
        vec!["tx", &"ab".repeat(32)],
        vec!["address", "not-an-address"],
        vec!["block", "999999"],
    ] {
        let out = cw(&d1, &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    }
    // Wrong chain for the files: wrong magic, named with file and offset.
    let out = cw(
        &dir.path().join("d3"),
        &[
            "ingest",
            "--blocks",
            plain.join("blocks").to_str().unwrap(),
            "--chain",
            "litecoin",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("blk00000.dat") && err.contains("byte 0") && err.contains("wrong magic"),
        "{err}"
    );
}

#[test]
fn kill_9_mid_ingest_resumes_to_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), 11, 400, 80_000, &[]);
    let blocks = s.join("blocks");
    let reference = dir.path().join("ref");
    ok(
        &reference,
        &[
            "ingest",
            "--blocks",
            blocks.to_str().unwrap(),
            "--chain",
            "bitcoin-regtest",
        ],
    );
    let want = Store::open(&store_dir(&reference, CHAIN), CHAIN)
        .unwrap()
        .fingerprint();

    let crashed = dir.path().join("crashed");
    let mut kills = 0;
    let mut committed_progress = Vec::new();
    for delay_ms in [40u64, 90, 150, 60, 250, 120] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chainwatch"))
            .args([
                "--data",
                crashed.to_str().unwrap(),
                "ingest",
                "--blocks",
                blocks.to_str().unwrap(),
            ])
            .args(["--chain", "bitcoin-regtest", "--commit-mib", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        if let Ok(store) = Store::open(&store_dir(&crashed, CHAIN), CHAIN) {
            committed_progress.push(store.committed().blocks);
        }
    }
    assert!(
        kills >= 2,
        "the ingest finished before it could be killed ({kills} kills)"
    );
    eprintln!("committed blocks after each kill: {committed_progress:?}");
    assert!(
        committed_progress.iter().any(|&b| b > 0 && b < 400),
        "no kill landed between commits: {committed_progress:?}"
    );
    let out = json(
        &crashed,
        &[
            "ingest",
            "--blocks",
            blocks.to_str().unwrap(),
            "--chain",
            "bitcoin-regtest",
            "--json",
        ],
    );
    assert_eq!(out["height"], 399);
    let got = Store::open(&store_dir(&crashed, CHAIN), CHAIN)
        .unwrap()
        .fingerprint();
    assert_eq!(
        got, want,
        "store after {kills} kills (committed blocks seen: {committed_progress:?}) differs"
    );
}

/// A reader that goes away (`chainwatch … | head`) ends the process quietly by SIGPIPE, as
/// for other Unix tools, not with a panic about a failed print.
#[cfg(unix)]
#[test]
fn closed_stdout_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    const SIGPIPE: i32 = 13; // Linux and the BSDs
    let dir = tempfile::tempdir().unwrap();
    // The read end is closed right after the spawn, nearly always before the child writes;
    // a run where the child wrote first (a copy of the pipe held by a concurrent test's
    // fork, a slow spawn) proves nothing and is tried again.
    let mut broken = 0;
    for _ in 0..20 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chainwatch"))
            .arg("--data")
            .arg(dir.path())
            .arg("--help")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        match out.status.signal() {
            Some(SIGPIPE) => broken += 1,
            None if out.status.success() => {}
            _ => panic!("{:?}: {err}", out.status),
        }
        if broken >= 3 {
            break;
        }
    }
    assert!(broken > 0, "the child always wrote before the pipe closed");
}
