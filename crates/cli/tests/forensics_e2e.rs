//! Accuracy against the simulator's ground truth, through the binary: clustering precision and
//! recall (with and without change heuristics), CoinJoin exclusion, and trace attribution per
//! method; plus `entity`, `why` and incremental clustering.

#![allow(clippy::print_stderr)]

mod common;
use common::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;

struct World {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    sim: std::path::PathBuf,
    truth: Value,
    owner: HashMap<String, String>,
}

fn world(seed: u64) -> World {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path(), seed, 800, 80_000, &[]);
    let data = dir.path().join("data");
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
    ok(
        &data,
        &["tags", "import", s.join("tags.yaml").to_str().unwrap()],
    );
    let truth = read_json(&s.join("truth.json"));
    let mut owner = HashMap::new();
    for (name, addrs) in truth["entities"].as_object().unwrap() {
        for a in addrs.as_array().unwrap() {
            owner.insert(a.as_str().unwrap().to_string(), name.clone());
        }
    }
    World {
        _dir: dir,
        data,
        sim: s,
        truth,
        owner,
    }
}

fn exchanges(truth: &Value) -> Vec<String> {
    truth["stolen_deposits"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .chain([truth["theft"]["victim"].as_str().unwrap().to_string()])
        .collect()
}

struct ClusterEval {
    precision: f64,
    recall: HashMap<String, f64>,
    service_merged_with_others: Vec<String>,
}

fn eval_clusters(w: &World, change: Option<&str>) -> ClusterEval {
    let csv = w.data.join("clusters.csv");
    let mut args = vec!["cluster", "--full", "--export", csv.to_str().unwrap()];
    if let Some(c) = change {
        args.extend(["--change", c]);
    }
    ok(&w.data, &args);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("address,cluster_id"));
    // cluster → entity → count, over addresses whose owner the truth knows.
    let mut by_cluster: HashMap<u64, HashMap<&str, u64>> = HashMap::new();
    let mut rows = 0;
    for line in lines {
        rows += 1;
        let (addr, c) = line.split_once(',').unwrap();
        if let Some(o) = w.owner.get(addr) {
            *by_cluster
                .entry(c.parse().unwrap())
                .or_default()
                .entry(o.as_str())
                .or_default() += 1;
        }
    }
    assert!(rows > 1000);
    let pairs = |n: u64| n * n.saturating_sub(1) / 2;
    let (mut same, mut total) = (0u64, 0u64);
    for ents in by_cluster.values() {
        total += pairs(ents.values().sum());
        same += ents.values().map(|&n| pairs(n)).sum::<u64>();
    }
    let services: HashSet<String> = exchanges(&w.truth)
        .into_iter()
        .chain(["mixer".to_string()])
        .collect();
    let mut merged = Vec::new();
    let mut recall = HashMap::new();
    for s in &services {
        let n_total = w.truth["entities"][s].as_array().unwrap().len() as f64;
        let best = by_cluster
            .values()
            .filter_map(|e| e.get(s.as_str()))
            .max()
            .copied()
            .unwrap_or(0);
        recall.insert(s.clone(), best as f64 / n_total);
        for ents in by_cluster.values() {
            if ents.contains_key(s.as_str()) && ents.len() > 1 {
                merged.push(format!(
                    "{s} with {:?}",
                    ents.keys().filter(|k| **k != s).collect::<Vec<_>>()
                ));
            }
        }
    }
    ClusterEval {
        precision: if total == 0 {
            1.0
        } else {
            same as f64 / total as f64
        },
        recall,
        service_merged_with_others: merged,
    }
}

#[test]
fn clustering_is_precise_and_explained() {
    let w = world(5);
    let base = eval_clusters(&w, None);
    let mut names: Vec<&String> = base.recall.keys().collect();
    names.sort();
    eprintln!("multi-input only: precision {:.5}", base.precision);
    for n in &names {
        eprintln!("  recall {n:<12} {:.3}", base.recall[*n]);
    }
    assert!(
        base.precision >= 0.99,
        "pairwise precision {}",
        base.precision
    );
    assert!(
        base.service_merged_with_others.is_empty(),
        "{:?}",
        base.service_merged_with_others
    );
    for combo in [
        "fresh-address",
        "same-script-type",
        "fresh-address,same-script-type",
        "fresh-address,smaller-than-inputs",
        "round-payment",
        "fingerprint",
    ] {
        let e = eval_clusters(&w, Some(combo));
        eprintln!(
            "change {combo}: precision {:.5}, service merges {}",
            e.precision,
            e.service_merged_with_others.len()
        );
        for n in &names {
            eprintln!("  recall {n:<12} {:.3}", e.recall[*n]);
        }
    }

    // Incremental equals full: cluster on a prefix, grow the chain, cluster again.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("inc");
    let blocks = w.sim.join("blocks");
    ok(
        &data,
        &[
            "ingest",
            "--blocks",
            blocks.to_str().unwrap(),
            "--chain",
            "bitcoin-regtest",
            "--max-blocks",
            "500",
        ],
    );
    let first = json(&data, &["cluster", "--json"]);
    assert_eq!(first["incremental"], false);
    ok(
        &data,
        &[
            "ingest",
            "--blocks",
            blocks.to_str().unwrap(),
            "--chain",
            "bitcoin-regtest",
        ],
    );
    let inc_csv = dir.path().join("inc.csv");
    let second = json(
        &data,
        &["cluster", "--json", "--export", inc_csv.to_str().unwrap()],
    );
    assert_eq!(second["incremental"], true);
    assert!(second["txs_processed"].as_u64().unwrap() < w.truth["tx_count"].as_u64().unwrap());
    let full_csv = dir.path().join("full.csv");
    let full = json(
        &data,
        &[
            "cluster",
            "--json",
            "--full",
            "--export",
            full_csv.to_str().unwrap(),
        ],
    );
    assert_eq!(full["incremental"], false);
    assert_eq!(
        std::fs::read(&inc_csv).unwrap(),
        std::fs::read(&full_csv).unwrap(),
        "incremental differs from full"
    );
    assert_eq!(second["multi_input_links"], full["multi_input_links"]);

    // entity and why on a victim hot-wallet address (tagged) and another address of its cluster.
    ok(&w.data, &["cluster", "--full"]);
    let tags = std::fs::read_to_string(w.sim.join("tags.yaml")).unwrap();
    let victim = w.truth["theft"]["victim"].as_str().unwrap();
    let hot: Vec<&str> = tags
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- address: "))
        .filter(|a| w.owner.get(*a).map(String::as_str) == Some(victim))
        .collect();
    assert!(!hot.is_empty());
    let e = json(&w.data, &["entity", hot[0], "--json"]);
    assert!(e["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["direct"] == true && t["category"] == "exchange"));
    assert!(e["conflicts"].as_array().unwrap().is_empty(), "{e}");
    assert!(e["address_count"].as_u64().unwrap() >= 2);
    // Another address in that cluster: find via the export.
    let text = std::fs::read_to_string(w.data.join("clusters.csv")).unwrap();
    let _ = text;
    let csv = w.data.join("c2.csv");
    ok(
        &w.data,
        &["cluster", "--full", "--export", csv.to_str().unwrap()],
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let cid = e["cluster_id"].as_u64().unwrap().to_string();
    let other = text
        .lines()
        .filter_map(|l| l.split_once(','))
        .find(|(a, c)| *c == cid && *a != hot[0])
        .map(|(a, _)| a.to_string())
        .expect("another member");
    let why = json(&w.data, &["why", hot[0], &other, "--json"]);
    assert_eq!(why["linked"], true);
    let steps = why["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    assert_eq!(steps[0]["from"], hot[0]);
    assert_eq!(steps.last().unwrap()["to"].as_str().unwrap(), other);
    for s in steps {
        assert_eq!(s["heuristic"], "multi-input");
        // The named tx really spends from both sides' cluster: its inputs include `from` or `to`.
        let tx = json(&w.data, &["tx", s["txid"].as_str().unwrap(), "--json"]);
        let ins: Vec<&str> = tx["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["address"].as_str())
            .collect();
        assert!(
            ins.contains(&s["from"].as_str().unwrap()) && ins.contains(&s["to"].as_str().unwrap()),
            "{s}"
        );
    }
    // A thief address is not linked to the victim.
    let thief = w.truth["entities"]["thief"][0].as_str().unwrap();
    let no = json(&w.data, &["why", hot[0], thief, "--json"]);
    assert_eq!(no["linked"], false);
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

#[test]
fn trace_attributes_stolen_funds_to_the_right_exchanges() {
    let w = world(9);
    ok(&w.data, &["cluster"]);
    let incident = w.sim.join("incident.json");
    let deposits = w.truth["stolen_deposits"].as_object().unwrap();
    let thief_deposit_txids: HashMap<String, HashSet<String>> = deposits
        .iter()
        .map(|(ex, routes)| {
            let set = ["peel", "after_mixer", "after_coinjoin"]
                .iter()
                .flat_map(|r| {
                    routes[*r]["txids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap().to_string())
                })
                .collect();
            (lower(ex), set)
        })
        .collect();
    let peel: HashMap<String, (u64, HashSet<String>)> = deposits
        .iter()
        .map(|(ex, r)| {
            (
                lower(ex),
                (
                    r["peel"]["sats"].as_u64().unwrap(),
                    r["peel"]["txids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap().to_string())
                        .collect(),
                ),
            )
        })
        .collect();
    let peel_total: u64 = peel.values().map(|p| p.0).sum();
    assert!(peel_total > 0);
    let mixer_in: u64 = {
        // The thief's mixer inflow: outputs of the thief's mixer-deposit txs paying mixer addresses.
        let mixer: HashSet<&str> = w.truth["entities"]["mixer"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        w.truth["mixer_deposit_txids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let tx = json(&w.data, &["tx", t.as_str().unwrap(), "--json"]);
                tx["outputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|o| mixer.contains(o["address"].as_str().unwrap()))
                    .map(|o| o["value"].as_u64().unwrap())
                    .sum::<u64>()
            })
            .sum()
    };
    eprintln!(
        "method   peel-recall  beyond-max  foreign-deposits  mixer/inflow  held%  fees  overshoot"
    );
    for method in ["fifo", "tiho", "haircut", "lifo", "poison"] {
        let r = json(
            &w.data,
            &[
                "trace",
                "--incident",
                incident.to_str().unwrap(),
                "--method",
                method,
                "--json",
            ],
        );
        let source = r["source_sats"].as_u64().unwrap();
        assert_eq!(source, w.truth["theft"]["total_sats"].as_u64().unwrap());
        let eps = r["endpoints"].as_array().unwrap();
        let ep_sum: u64 = eps.iter().map(|e| e["sats"].as_u64().unwrap()).sum();
        let total = ep_sum
            + r["held_sats"].as_u64().unwrap()
            + r["fees_sats"].as_u64().unwrap()
            + r["below_threshold_sats"].as_u64().unwrap();
        if method != "poison" {
            // Conservation: sources = endpoints + held + fees (+ below threshold); rounding only.
            let slack = eps.len() as u64 + r["held_clusters"].as_u64().unwrap() + 2;
            assert!(
                total.abs_diff(source) <= slack,
                "{method}: {total} vs {source}"
            );
        } else {
            assert_eq!(
                r["overshoot_sats"].as_u64().unwrap(),
                total.saturating_sub(source)
            );
        }
        let mut attributed_ex = 0u64;
        let mut peel_hit = 0u64;
        let mut beyond_max = 0f64;
        let mut foreign = 0u64;
        let mut mixer_sats = 0u64;
        let mut beyond_each = Vec::new();
        for e in eps {
            let label = lower(e["label"].as_str().unwrap());
            let sats = e["sats"].as_u64().unwrap();
            if e["category"] == "exchange" {
                attributed_ex += sats;
                let mine = thief_deposit_txids.get(&label).cloned().unwrap_or_default();
                let mut thief_part = 0u64;
                for a in e["arrivals"].as_array().unwrap() {
                    let txid = a["txid"].as_str().unwrap();
                    let s = a["sats"].as_u64().unwrap();
                    if mine.contains(txid) {
                        thief_part += s;
                    } else {
                        foreign += s;
                    }
                    if peel.get(&label).is_some_and(|p| p.1.contains(txid)) {
                        peel_hit += s;
                    }
                }
                beyond_each.push((label.clone(), sats - thief_part.min(sats)));
            } else {
                mixer_sats += sats;
            }
        }
        for (_, b) in &beyond_each {
            beyond_max = beyond_max.max(*b as f64 / ep_sum.max(1) as f64);
        }
        let recall = peel_hit as f64 / peel_total as f64;
        let foreign_share = foreign as f64 / attributed_ex.max(1) as f64;
        eprintln!(
            "{method:<8} {recall:>10.4}  {beyond_max:>10.4}  {foreign_share:>16.4}  {:>12.4}  {:>5.2}  {:>5}  {}",
            mixer_sats as f64 / mixer_in.max(1) as f64,
            100.0 * r["held_sats"].as_u64().unwrap() as f64 / source as f64,
            r["fees_sats"],
            r["overshoot_sats"]
        );
        if matches!(method, "fifo" | "tiho" | "haircut") {
            assert!(recall >= 0.95, "{method}: peel-route recall {recall}");
            assert!(
                beyond_max <= 0.02,
                "{method}: attributed beyond the thief's deposits {beyond_each:?}"
            );
            assert!(
                foreign_share <= 0.10,
                "{method}: {foreign_share} arrives in others' deposits"
            );
        }
        if method == "fifo" {
            // The mixer is an endpoint holding the thief's mixer inflow.
            assert!(eps
                .iter()
                .any(|e| e["category"].as_str().unwrap().contains("mix")));
            assert!(
                (mixer_sats as f64 - mixer_in as f64).abs() <= 0.02 * mixer_in as f64,
                "mixer {mixer_sats} vs inflow {mixer_in}"
            );
            let kinds: HashSet<&str> = r["patterns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["kind"].as_str().unwrap())
                .collect();
            assert!(
                kinds.contains("peel_chain")
                    && kinds.contains("coinjoin")
                    && kinds.contains("mixer_deposit"),
                "{kinds:?}"
            );
            // Every simulated peel chain appears inside a detected one.
            let detected: Vec<HashSet<&str>> = r["patterns"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["kind"] == "peel_chain")
                .map(|p| {
                    p["txids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap())
                        .collect()
                })
                .collect();
            for chain in w.truth["peel_chains"].as_array().unwrap() {
                let c: Vec<&str> = chain
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .collect();
                let covered = detected
                    .iter()
                    .map(|d| c.iter().filter(|t| d.contains(*t)).count())
                    .max()
                    .unwrap_or(0);
                assert!(
                    covered * 10 >= c.len() * 9,
                    "peel chain of {} txs: at most {covered} found in one detected chain",
                    c.len()
                );
            }
        }
    }
    let _ = Path::new("");
}
