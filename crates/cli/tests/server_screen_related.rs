//! Issue 8 through the server: `POST /api/screen` with the real OFAC lists (sanctioned
//! addresses flagged with their entity; a thief-funded address exposed to the right report;
//! per-item errors; bounded batches) and `GET /api/reports/{id}/related` (correlation by shared
//! address, tx or cluster, only within the reader's clearance).

mod common;
use chainwatch_server::Node;
use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;

async fn call(http: &reqwest::Client, url: &str, tok: &str, body: Option<Value>) -> (u16, Value) {
    let r = match body {
        Some(b) => http
            .post(url)
            .bearer_auth(tok)
            .json(&b)
            .send()
            .await
            .unwrap(),
        None => http.get(url).bearer_auth(tok).send().await.unwrap(),
    };
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screening_and_correlation_respect_clearance() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let (s, data) = prepared(
        dir.path(),
        33,
        500,
        40_000,
        &[
            &shared.join("ofac-sdn-csv"),
            &shared.join("ofac-0xB10C-lists"),
        ],
    );
    let truth = read_json(&s.join("truth.json"));
    let incident = read_json(&s.join("incident.json"));

    let node = Node::open(&data).await.unwrap();
    let mut tokens = HashMap::new();
    for (name, kind) in [
        ("agency", "agency"),
        ("fiu", "fiu"),
        ("exchange", "exchange"),
    ] {
        tokens.insert(name, analyst_org(&node, name, kind).await);
    }
    let server = serve_watching(node).await;
    let base = server.url();
    let http = reqwest::Client::new();

    // Report A: the heist (GREEN). Report B: the same theft's first output reported again by
    // the FIU (GREEN) — shares txs and addresses with A. Report C: RED to the agency only.
    let victim = truth["theft"]["victim"].as_str().unwrap();
    let outputs = incident["outputs"].as_array().unwrap().clone();
    let mut ids = Vec::new();
    for (by, outs, tlp, recipients) in [
        ("agency", outputs.clone(), "GREEN", json!([])),
        ("fiu", vec![outputs[0].clone()], "GREEN", json!([])),
        (
            "fiu",
            vec![outputs[outputs.len() - 1].clone()],
            "RED",
            json!(["agency"]),
        ),
    ] {
        let body = json!({"victim": victim, "chain": "bitcoin-regtest", "time": "2024-01-01T00:00:00Z",
            "stolen_outputs": outs, "tlp": tlp, "recipients": recipients});
        let (st, v) = call(
            &http,
            &format!("{base}/api/reports"),
            &tokens[by],
            Some(body),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    for id in &ids[..2] {
        wait_traced(&http, &base, id, &tokens["agency"]).await;
    }
    wait_traced(&http, &base, &ids[2], &tokens["agency"]).await;

    // Correlation: A and B share the first stolen output's tx and the addresses downstream.
    let (st, rel) = call(
        &http,
        &format!("{base}/api/reports/{}/related", ids[0]),
        &tokens["agency"],
        None,
    )
    .await;
    assert_eq!(st, 200, "{rel}");
    let related: Vec<&str> = rel["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["report"].as_str().unwrap())
        .collect();
    assert!(related.contains(&ids[1].as_str()), "{rel}");
    let b = rel["related"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["report"] == ids[1].as_str())
        .unwrap();
    assert!(
        b["shared_txids"].as_u64().unwrap() >= 1 && b["shared_addresses"].as_u64().unwrap() >= 1,
        "{b}"
    );
    // The agency (a named recipient) sees the RED report among A's related ones; the exchange
    // (not a recipient) never sees it, not even as related.
    let (_, rel_x) = call(
        &http,
        &format!("{base}/api/reports/{}/related", ids[0]),
        &tokens["exchange"],
        None,
    )
    .await;
    let seen_x: Vec<&str> = rel_x["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["report"].as_str().unwrap())
        .collect();
    assert!(
        !seen_x.contains(&ids[2].as_str()),
        "RED report leaked: {rel_x}"
    );
    assert!(seen_x.contains(&ids[1].as_str()));
    let red_related = related.contains(&ids[2].as_str());
    let (st, _) = call(
        &http,
        &format!("{base}/api/reports/{}/related", ids[2]),
        &tokens["exchange"],
        None,
    )
    .await;
    assert_eq!(st, 404, "the RED report's existence must not leak");

    // Screening: a thief address the heist reached, a sanctioned mainnet address, garbage.
    let thief: Vec<&str> = truth["entities"]["thief"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let body = json!({"addresses": [thief[0], thief[1], "1F2Gdug9ib9NQMhKMGGJczzMk5SuENoqrp", "not-an-address"]});
    let (st, v) = call(
        &http,
        &format!("{base}/api/screen"),
        &tokens["exchange"],
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let res = v["results"].as_array().unwrap();
    assert_eq!(res.len(), 4);
    let exposed: Vec<&Value> = res[..2].iter().filter(|r| r["risk"] == "high").collect();
    assert!(!exposed.is_empty(), "no thief address flagged: {v}");
    for r in &exposed {
        let reports: Vec<&str> = r["exposure"]["direct"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["report"].as_str().unwrap())
            .collect();
        assert!(reports.contains(&ids[0].as_str()), "{r}");
        assert!(
            !reports.contains(&ids[2].as_str()),
            "RED exposure leaked to the exchange: {r}"
        );
    }
    assert_eq!(res[2]["risk"], "severe");
    assert!(
        res[2]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["sanction"] == true && t["label"].as_str().unwrap().contains("TIAN")),
        "{}",
        res[2]
    );
    assert!(res[3]["error"].as_str().is_some(), "{}", res[3]);
    // Bounded: 10,001 addresses are refused whole.
    let many: Vec<String> = (0..10_001).map(|i| format!("x{i}")).collect();
    let (st, _) = call(
        &http,
        &format!("{base}/api/screen"),
        &tokens["exchange"],
        Some(json!({"addresses": many})),
    )
    .await;
    assert!(st == 413 || st == 422, "{st}");
    let _ = red_related;
}
