//! Screening through the binary: sanctioned addresses from the real OFAC SDN file flagged with
//! their entity; theft exposure from saved trace findings; per-item errors.

mod common;
use common::*;
use std::path::Path;

#[test]
fn screening_flags_sanctions_and_theft_exposure() {
    let dir = tempfile::tempdir().unwrap();
    let sdn = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/ofac-sdn-csv/sdn_2024-05-03.csv");
    let (s, data) = prepared(dir.path(), 21, 500, 40_000, &[&sdn]);
    let truth = read_json(&s.join("truth.json"));

    // Before any findings: a thief address has no exposure.
    let thief = truth["entities"]["thief"].as_array().unwrap();
    let t0 = thief[1].as_str().unwrap();
    let before = json(&data, &["screen", t0, "--json"]);
    assert_eq!(before[0]["risk"], "low", "{before}");

    ok(
        &data,
        &[
            "trace",
            "--incident",
            s.join("incident.json").to_str().unwrap(),
            "--save",
            "heist-1",
        ],
    );
    // Every thief address that received value in the trace is directly exposed to heist-1.
    let trace = json(
        &data,
        &[
            "trace",
            "--incident",
            s.join("incident.json").to_str().unwrap(),
            "--json",
        ],
    );
    let exposed_thief = thief
        .iter()
        .map(|a| a.as_str().unwrap())
        .filter(|a| {
            json(&data, &["address", a, "--json"])["received"]
                .as_u64()
                .unwrap_or(0)
                > 0
        })
        .take(5)
        .collect::<Vec<_>>();
    assert!(!exposed_thief.is_empty());
    let mut args = vec!["screen", "--json"];
    args.extend(exposed_thief.iter());
    let items = json(&data, &args);
    let mut high = 0;
    for i in items.as_array().unwrap() {
        if i["risk"] == "high" {
            high += 1;
            let d = &i["exposure"]["direct"][0];
            assert_eq!(d["report"], "heist-1");
            assert!(d["sats"].as_u64().unwrap() > 0);
        }
    }
    assert!(high >= 1, "no thief address flagged: {items}");
    assert!(trace["source_sats"].as_u64().unwrap() > 0);

    // A sanctioned (mainnet) address from the SDN file: flagged with its entity and program.
    let out = json(
        &data,
        &[
            "screen",
            "1F2Gdug9ib9NQMhKMGGJczzMk5SuENoqrp",
            "not-an-address",
            "--json",
        ],
    );
    let s0 = &out[0];
    assert_eq!(s0["risk"], "severe", "{s0}");
    let tag = &s0["tags"][0];
    assert_eq!(tag["sanction"], true);
    assert!(tag["label"].as_str().unwrap().contains("TIAN"), "{tag}");
    assert!(tag["program"].as_str().unwrap().contains("DPRK3"), "{tag}");
    // The invalid one is a per-item error, not a failed batch.
    assert_eq!(out[1]["risk"], "unknown");
    assert!(out[1]["error"]
        .as_str()
        .unwrap()
        .contains("not a bitcoin-regtest address"));

    // An exchange hot wallet received no stolen value directly, yet its entity did (deposits
    // swept into it): medium or worse, never a per-item error.
    let victim = truth["theft"]["victim"].as_str().unwrap();
    let some_user = truth["entities"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.starts_with("user-"))
        .map(|(_, v)| v[0].as_str().unwrap().to_string())
        .unwrap();
    let u = json(&data, &["screen", &some_user, "--json", "--max-hops", "0"]);
    assert!(u[0]["error"].is_null());
    let _ = victim;
}
