//! Report submission → STIX bundle, actor resolution through the MISP galaxy,
//! signatures, and the audit chain against edits and deletions.

mod common;

use chainwatch_intel::report::THEFT_EXTENSION_ID;
use chainwatch_intel::signing::{verify_bundle, verify_object};
use common::*;
use serde_json::{json, Value};

fn report(actor: &str, tlp: &str) -> Value {
    json!({
        "title": "Hot wallet drain", "description": "Signer compromise",
        "victim": {"name": "ExampleEx", "kind": "exchange", "country": "SG"},
        "chain": "bitcoin", "time": "2025-02-21T14:13:00Z",
        "stolen_outputs": [
            {"outpoint": format!("{}:1", "ab".repeat(32)), "amount": "12.5"},
            {"outpoint": format!("{}:0", "cd".repeat(32)), "amount_sats": 100000000u64}
        ],
        "attacker_addresses": ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"],
        "ttps": ["T1566.001 spearphishing attachment"],
        "attribution": {"actor": actor, "confidence": 85},
        "tlp": tlp, "recipients": ["recipient-org"]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_to_bundle_signed_and_audited() {
    let w = world(Default::default()).await;
    let mut incident_ids = Vec::new();
    let mut actor_ids = Vec::new();
    for actor in ["Lazarus Group", "Hidden Cobra", "Labyrinth Chollima"] {
        // Through the client the CLI uses.
        let out = chainwatch_server::client::submit_report(
            &w.server.url(),
            &w.tokens["author"],
            &report(actor, "AMBER"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(
            out["actor"], "Lazarus Group",
            "{actor} resolves to Lazarus Group: {out}"
        );
        assert_eq!(out["actor_from_galaxy"], true);
        assert_eq!(out["actor_type"], "threat-actor");
        assert!(out["signed"].as_u64().unwrap() >= 8, "{out}");
        let id = out["id"].as_str().unwrap().to_string();
        let (s, body) = w
            .get(&w.url(&format!("/api/reports/{id}/bundle")), "recipient")
            .await;
        assert_eq!(s, 200);
        let b: Value = serde_json::from_str(&body).unwrap();
        let objs = b["objects"].as_array().unwrap();
        let of = |t: &str| objs.iter().filter(|o| o["type"] == t).collect::<Vec<_>>();
        assert_eq!(of("incident").len(), 1);
        assert!(of("identity").len() >= 2, "victim and reporter");
        let ta = of("threat-actor");
        assert_eq!(ta.len(), 1);
        assert!(ta[0]["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "Hidden Cobra"));
        actor_ids.push(ta[0]["id"].as_str().unwrap().to_string());
        let wallets = of("cryptocurrency-wallet");
        assert_eq!(wallets.len(), 2);
        assert!(wallets
            .iter()
            .any(|x| x["value"] == "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"));
        let rels = of("relationship");
        assert!(rels
            .iter()
            .any(|r| r["relationship_type"] == "attributed-to" && r["confidence"] == 85));
        assert!(rels.iter().any(|r| r["relationship_type"] == "targets"));
        assert_eq!(
            rels.iter()
                .filter(|r| r["relationship_type"] == "related-to")
                .count(),
            2
        );
        assert!(rels.iter().any(|r| r["relationship_type"] == "uses"));
        let inc = of("incident")[0];
        let ext = &inc["extensions"][THEFT_EXTENSION_ID];
        assert_eq!(ext["stolen_total_sats"], 1_350_000_000u64);
        assert_eq!(ext["stolen_outputs"][0]["amount_sats"], 1_250_000_000u64);
        assert!(of("extension-definition")
            .iter()
            .any(|e| e["id"] == THEFT_EXTENSION_ID));
        incident_ids.push(id);
        // Signatures verify; any one-byte edit fails.
        let v = verify_bundle(&b);
        assert!(v.ok() && v.verified >= 8, "{v:?}");
        assert_eq!(v.keys[0].key_id, w.server.state.node.key.key_id());
        let text = serde_json::to_string(inc).unwrap();
        let pos = text.find("Hot wallet").unwrap();
        let mut bytes = text.into_bytes();
        bytes[pos] = b'N';
        let edited: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(verify_object(&edited).is_err(), "a one-byte edit fails");
        // Over TAXII the object travels with its signature.
        let (s, t) = w
            .get(
                &format!("{}{}/", w.objects_url(), inc["id"].as_str().unwrap()),
                "author",
            )
            .await;
        assert_eq!(s, 200);
        let env: Value = serde_json::from_str(&t).unwrap();
        assert!(verify_object(&env["objects"][0]).unwrap().is_some());
    }
    // Every report points at the same galaxy actor object.
    assert!(actor_ids.windows(2).all(|p| p[0] == p[1]));
    // A name that MITRE's galaxy holds as its own group becomes an intrusion-set.
    let out = chainwatch_server::client::submit_report(
        &w.server.url(),
        &w.tokens["author"],
        &report("APT38", "GREEN"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(out["actor_type"], "intrusion-set", "{out}");
    assert_eq!(out["actor_from_galaxy"], true);
    // An unknown actor gets a threat-actor of its own.
    let out = chainwatch_server::client::submit_report(
        &w.server.url(),
        &w.tokens["author"],
        &report("Nobody Knows Us", "GREEN"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(out["actor_from_galaxy"], false);
    // A bad token is refused by the client with the server's reason.
    let e = chainwatch_server::client::submit_report(
        &w.server.url(),
        "cwt_nope",
        &report("APT38", "GREEN"),
        None,
    )
    .await;
    assert!(e.is_err());

    // Search finds reports by address and actor.
    let (_, body) = w
        .get(&w.url("/api/reports?q=bc1qar0srrr7"), "recipient")
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["reports"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // The audit chain verifies, and detects an edited or a deleted row.
    let node = &w.server.state.node;
    assert!(node.verify_audit().await.unwrap().ok());
    let db = w.dir.path().join("intel.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert!(n > 10);
    conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 5", [])
        .unwrap();
    let c = node.verify_audit().await.unwrap();
    assert!(
        !c.ok() && c.error.as_deref().unwrap().contains("entry 5 was edited"),
        "{c:?}"
    );
    conn.execute("UPDATE audit SET actor = 'admin' WHERE seq = 5", [])
        .unwrap();
    assert!(node.verify_audit().await.unwrap().ok(), "restored");
    conn.execute("DELETE FROM audit WHERE seq = 7", []).unwrap();
    let c = node.verify_audit().await.unwrap();
    assert!(
        !c.ok() && c.error.as_deref().unwrap().contains("missing"),
        "{c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_audit_log_is_detected() {
    let w = world(Default::default()).await;
    let node = &w.server.state.node;
    assert!(node.verify_audit().await.unwrap().ok());
    let db = w.dir.path().join("intel.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)",
        [],
    )
    .unwrap();
    let c = node.verify_audit().await.unwrap();
    assert!(
        !c.ok() && c.error.as_deref().unwrap().contains("head"),
        "{c:?}"
    );
}

/// The trace status of report `id` as the author sees it on `base`.
async fn trace_status(w: &World, base: &str, id: &str) -> String {
    let (s, b) = w
        .get(&format!("{base}/api/reports/{id}/trace"), "author")
        .await;
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    v["status"].as_str().unwrap().to_string()
}

/// Files `report` as the author; the stored report.
async fn submitted(w: &World, report: &Value) -> Value {
    let (s, v) = w.submit("author", report).await;
    assert_eq!(s, 201, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_resumes_the_traces_of_theft_reports_only() {
    let w = world(Default::default()).await;
    let theft = submitted(&w, &report("APT38", "GREEN")).await;
    let theft_id = theft["id"].as_str().unwrap().to_string();
    // The same incident filed again as a raw STIX bundle under new ids: raw bundles are not
    // traced when filed, so they must not be after a restart either.
    let (s, b) = w
        .get(&w.url(&format!("/api/reports/{theft_id}/bundle")), "author")
        .await;
    assert_eq!(s, 200);
    let text = b.replace(theft_id.trim_start_matches("incident--"), &uuid_v4());
    let mut bundle: Value = serde_json::from_str(&text).unwrap();
    for o in bundle["objects"].as_array_mut().unwrap() {
        o.as_object_mut()
            .unwrap()
            .remove(chainwatch_intel::signing::SIGNATURE_PROPERTY);
    }
    bundle["id"] = json!(format!("bundle--{}", uuid_v4()));
    assert!(text.contains(THEFT_EXTENSION_ID));
    let raw = submitted(&w, &bundle).await;
    let raw_id = raw["id"].as_str().unwrap().to_string();
    assert_eq!(trace_status(&w, &w.server.url(), &raw_id).await, "none");
    // A theft report filed after the raw bundle: the restarted node queues reports oldest
    // first, so once this one is traced the raw bundle has been passed over.
    let later = submitted(&w, &report("APT38", "GREEN")).await;
    let later_id = later["id"].as_str().unwrap().to_string();

    // A second node on the same data directory (no chain: traces end "skipped").
    let node = chainwatch_server::Node::open(w.dir.path()).await.unwrap();
    let again = chainwatch_server::spawn(node, Default::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let t = std::time::Instant::now();
    for id in [&theft_id, &later_id] {
        while trace_status(&w, &again.url(), id).await != "skipped" {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(30),
                "theft report {id} was not queued again"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    assert_eq!(trace_status(&w, &again.url(), &raw_id).await, "none");
    again.stop();
}
