//! TAXII add_objects on the fast path: whole envelopes are all or nothing, every write is
//! in the audit chain with all its ids, the status resource is the request's, and what
//! is stored is the posted JSON (compact) with the meaning a `Value` parse gives it.

mod common;

use chainwatch_intel::tlp::Tlp;
use chainwatch_server::ServerConfig;
use common::*;
use serde_json::{json, Value};

async fn post_text(w: &World, who: &str, body: String) -> (u16, String) {
    let r = w
        .req(reqwest::Method::POST, &w.objects_url(), who)
        .header("Content-Type", TAXII)
        .body(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.text().await.unwrap())
}

async fn get_object(w: &World, id: &str) -> Value {
    let (s, body) = w.get(&format!("{}{id}/", w.objects_url()), "author").await;
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["objects"].as_array().map(Vec::len), Some(1), "{body}");
    v["objects"][0].clone()
}

fn config() -> ServerConfig {
    ServerConfig {
        max_body: 16 << 20,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_all_or_nothing_and_audited_with_every_id() {
    let w = world(config()).await;
    let node = &w.server.state.node;
    let store = &node.store;
    let before = w.stored_ids("author").await;
    let audit_before = store.audit_log().await.unwrap().0.len();

    // 500 objects, one of them invalid deep inside: 422 naming it, nothing stored.
    let mut batch: Vec<Value> = (0..500).map(|_| indicator(None, &[])).collect();
    let mut bad = batch[337].clone();
    bad.as_object_mut().unwrap().remove("pattern");
    let mut with_bad = batch.clone();
    with_bad[337] = bad;
    let (s, t) = w.post_objects("author", with_bad).await;
    assert_eq!(s, 422, "{t}");
    let t = t.to_string();
    assert!(t.contains("object 337") && t.contains("'pattern'"), "{t}");
    assert!(
        !t.contains("object 336"),
        "only the bad object is named: {t}"
    );
    assert_eq!(w.stored_ids("author").await, before, "nothing stored");
    assert_eq!(
        store.audit_log().await.unwrap().0.len(),
        audit_before,
        "no write, no audit entry"
    );

    // Two objects with the same id and version in one envelope: stored once.
    batch.push(batch[10].clone());
    let ids: Vec<String> = batch
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    let (s, status) = w.post_objects("author", batch.clone()).await;
    assert_eq!(s, 202, "{status}");
    assert_eq!(status["status"], "complete");
    assert_eq!(status["total_count"], 501);
    assert_eq!(status["success_count"], 501);
    assert_eq!(status["failure_count"], 0);
    assert_eq!(status["pending_count"], 0);
    let successes = status["successes"].as_array().unwrap();
    assert_eq!(successes.len(), 501);
    for (i, (s, id)) in successes.iter().zip(&ids).enumerate() {
        assert_eq!(s["id"], id.as_str());
        assert_eq!(s["version"], "2025-01-01T00:00:00.000Z");
        assert_eq!(s.get("message").is_some(), i == 500, "{s}");
    }
    assert_eq!(w.stored_ids("author").await.len(), before.len() + 500);

    // The status resource is what the POST answered, for the poster's organisation only.
    let status_url = w.url(&format!(
        "/taxii2/root/status/{}/",
        status["id"].as_str().unwrap()
    ));
    let (s, body) = w.get(&status_url, "author").await;
    assert_eq!(s, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), status);
    assert_eq!(w.get(&status_url, "community").await.0, 404);

    // One audit entry for the write, listing every id in order.
    let (log, _) = store.audit_log().await.unwrap();
    assert_eq!(log.len(), audit_before + 1);
    let e = log.last().unwrap();
    assert_eq!(e.action, "taxii.add");
    assert_eq!(e.actor, "author-user");
    assert_eq!(e.target, w.collection);
    assert_eq!(e.detail["count"], 501);
    let logged: Vec<&str> = e.detail["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(logged, ids);
    assert!(node.verify_audit().await.unwrap().ok());

    // Posting the same envelope again stores nothing new: every object already present.
    let (s, again) = w.post_objects("author", batch).await;
    assert_eq!(s, 202);
    assert!(again["successes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["message"] == "already present"));
    assert_eq!(w.stored_ids("author").await.len(), before.len() + 500);

    // Taking an id out of the logged write is caught.
    let seq = e.seq;
    let conn = rusqlite::Connection::open(w.dir.path().join("intel.sqlite")).unwrap();
    let mut detail = e.detail.clone();
    detail["ids"].as_array_mut().unwrap().remove(3);
    conn.execute(
        "UPDATE audit SET detail = ? WHERE seq = ?",
        rusqlite::params![detail.to_string(), seq],
    )
    .unwrap();
    let c = node.verify_audit().await.unwrap();
    assert!(
        !c.ok()
            && c.error
                .as_deref()
                .unwrap()
                .contains(&format!("entry {seq} was edited")),
        "{c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_text_is_kept_compact_with_its_meaning() {
    let w = world(config()).await;
    let mut plain = indicator(Some(Tlp::Amber.marking_id()), &[]);
    plain["description"] = json!("tab\tquote\" backslash\\ é 😀 \u{1}");
    plain["x_nested"] = json!({"k": [1, 2.5, -0.0, 1e300, 18446744073709551616u128 as f64, {"z": null}], "t": true});
    plain["labels"] = json!(["a b", "c"]);
    let id = plain["id"].as_str().unwrap().to_string();
    // Pretty-printed, as Python clients send envelopes.
    let text = serde_json::to_string_pretty(&json!({ "objects": [plain.clone()] })).unwrap();
    let (s, t) = post_text(&w, "author", text).await;
    assert_eq!(s, 202, "{t}");
    let (s, page) = w.get(&w.objects_url(), "author").await;
    assert_eq!(s, 200);
    assert!(!page.contains('\n'), "stored compact: {page}");
    assert_eq!(get_object(&w, &id).await, plain);
    // The level came from the marking: an organisation outside the community does not see it.
    let (_, other) = w.get(&w.objects_url(), "other").await;
    assert!(!other.contains(&id));

    // A property that repeats: read as a `Value` reads it (the last one wins), stored so.
    let dup_id = format!("indicator--{}", uuid_v4());
    let dup = format!(
        r#"{{"objects": [{{"type": "indicator", "spec_version": "2.1", "id": "{dup_id}",
        "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
        "pattern": "[x:y = 'first']", "pattern": "[x:y = 'second']",
        "pattern_type": "stix", "valid_from": "2025-01-01T00:00:00Z",
        "object_marking_refs": ["{green}"], "object_marking_refs": ["{red}"]}}]}}"#,
        green = Tlp::Green.marking_id(),
        red = Tlp::Red.marking_id(),
    );
    let (s, t) = post_text(&w, "author", dup).await;
    assert_eq!(s, 202, "{t}");
    let got = get_object(&w, &dup_id).await;
    assert_eq!(got["pattern"], "[x:y = 'second']");
    assert_eq!(got["object_marking_refs"], json!([Tlp::Red.marking_id()]));
    let (_, community) = w.get(&w.objects_url(), "community").await;
    assert!(
        !community.contains(&dup_id),
        "RED (the marking that counted) without recipients: the author only"
    );

    // Not JSON a `Value` accepts, deep in an object: 400, nothing stored.
    let before = w.stored_ids("author").await;
    for body in [
        r#"{"objects": [{"type": "indicator", "x": 1e400}]}"#.to_string(),
        r#"{"objects": [{"type": "indicator", "x": "\ud800"}]}"#.to_string(),
        r#"{"objects": [{"type": "indicator", "x": [1, 2,]}]}"#.to_string(),
    ] {
        let (s, t) = post_text(&w, "author", body.clone()).await;
        assert_eq!(s, 400, "{body}: {t}");
        assert!(t.contains("malformed JSON"), "{t}");
    }
    // Objects that are not objects, and objects without a version stored once per content.
    let (s, t) = post_text(&w, "author", r#"{"objects": [[1], "x"]}"#.into()).await;
    assert_eq!(s, 422, "{t}");
    assert!(
        t.contains("object 0: a STIX object must be a JSON object"),
        "{t}"
    );
    assert_eq!(w.stored_ids("author").await, before);
    let wallet = json!({"type": "cryptocurrency-wallet", "id": format!("cryptocurrency-wallet--{}", uuid_v4()),
                        "value": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"});
    let reordered = format!(
        r#"{{"objects": [{{ "value": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "id": "{}",
        "type": "cryptocurrency-wallet" }}]}}"#,
        wallet["id"].as_str().unwrap()
    );
    let (s, first) = w.post_objects("author", vec![wallet.clone()]).await;
    assert_eq!(s, 202);
    let (s, t) = post_text(&w, "author", reordered).await;
    assert_eq!(s, 202);
    let second: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(second["successes"][0]["message"], "already present");
    assert_eq!(
        second["successes"][0]["version"],
        first["successes"][0]["version"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_on_the_fast_path() {
    let w = world(config()).await;
    // By identity id and by organisation name; an unknown name is ignored; a bad list is 422.
    let rec = vec![
        w.identities["recipient"].clone(),
        "community-org".to_string(),
        "somebody-elsewhere".to_string(),
    ];
    let red = indicator(Some(Tlp::Red.marking_id()), &rec);
    let id = red["id"].as_str().unwrap().to_string();
    let (s, t) = w.post_objects("author", vec![red]).await;
    assert_eq!(s, 202, "{t}");
    for (who, sees) in [
        ("author", true),
        ("recipient", true),
        ("community", true),
        ("client", false),
        ("other", false),
    ] {
        let (_, page) = w.get(&w.objects_url(), who).await;
        assert_eq!(page.contains(&id), sees, "{who}");
    }
    let mut bad = indicator(Some(Tlp::Red.marking_id()), &[]);
    bad["x_chainwatch_recipients"] = json!("recipient-org");
    let (s, t) = w
        .post_objects("author", vec![indicator(None, &[]), bad])
        .await;
    assert_eq!(s, 422, "{t}");
    assert!(t.to_string().contains("x_chainwatch_recipients"), "{t}");
}

/// POSTs `objects` asking `Prefer: respond-async`; the status code, the
/// `Preference-Applied` and `Location` headers, and the status answered.
async fn post_async(
    w: &World,
    who: &str,
    objects: &[Value],
) -> (u16, Option<String>, Option<String>, Value) {
    let r = w
        .req(reqwest::Method::POST, &w.objects_url(), who)
        .header("Content-Type", TAXII)
        .header("Prefer", "respond-async")
        .body(json!({ "objects": objects }).to_string())
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (applied, location) = (header("preference-applied"), header("location"));
    (s, applied, location, r.json().await.unwrap())
}

/// The author's status resource at `url` once its write settled (`Prefer: wait`): it must
/// read `complete`.
async fn settled_status(w: &World, url: &str) -> Value {
    let r = w
        .req(reqwest::Method::GET, url, "author")
        .header("Prefer", "wait=30")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["status"], "complete", "{status}");
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respond_async_answers_pending_then_the_committed_status() {
    let w = world(config()).await;
    let before = w.stored_ids("author").await;
    let audit_before = w.server.state.node.store.audit_log().await.unwrap().0.len();

    // A refused object still fails the whole request at once, nothing queued.
    let mut bad = indicator(None, &[]);
    bad.as_object_mut().unwrap().remove("pattern");
    let (s, applied, location, body) = post_async(&w, "author", &[indicator(None, &[]), bad]).await;
    assert_eq!((s, applied, location), (422, None, None), "{body}");

    // Several envelopes in a row, each answered pending (or already complete).
    let batches: Vec<Vec<Value>> = (0..6)
        .map(|_| (0..300).map(|_| indicator(None, &[])).collect())
        .collect();
    let mut statuses = Vec::new();
    for b in &batches {
        let (s, applied, location, status) = post_async(&w, "author", b).await;
        assert_eq!(s, 202, "{status}");
        assert_eq!(applied.as_deref(), Some("respond-async"));
        let id = status["id"].as_str().unwrap();
        let location = location.expect("Location of the status");
        assert_eq!(location, format!("/taxii2/root/status/{id}/"));
        // Another organisation cannot see it, even while it is queued.
        assert_eq!(w.get(&w.url(&location), "community").await.0, 404);
        assert_eq!(status["total_count"], 300);
        assert!(
            status["status"] == "pending" && status["pending_count"] == 300
                || status["status"] == "complete" && status["success_count"] == 300,
            "{status}"
        );
        statuses.push(status["id"].as_str().unwrap().to_string());
    }
    // Waiting on the last (`Prefer: wait`) answers once it is committed, with every
    // object a success in order; the earlier ones are complete by then.
    for (i, id) in statuses.iter().enumerate().rev() {
        let url = w.url(&format!("/taxii2/root/status/{id}/"));
        let status = settled_status(&w, &url).await;
        assert_eq!(status["success_count"], 300);
        assert_eq!(status["pending_count"], 0);
        let ids: Vec<&str> = status["successes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        let posted: Vec<&str> = batches[i]
            .iter()
            .map(|o| o["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, posted);
        // Another organisation cannot see it, queued or not.
        assert_eq!(w.get(&url, "community").await.0, 404);
    }
    let conn = rusqlite::Connection::open(w.dir.path().join("intel.sqlite")).unwrap();
    let rows: usize = conn
        .query_row("SELECT COUNT(*) FROM objects", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, before.len() + 1800);
    let node = &w.server.state.node;
    assert_eq!(
        node.store.audit_log().await.unwrap().0.len(),
        audit_before + 6,
        "one audit entry per write"
    );
    assert!(node.verify_audit().await.unwrap().ok());
    for id in &statuses {
        assert!(
            w.server.state.pending.get(id).is_none(),
            "status {id} still held"
        );
    }

    // A status id that does not exist: 404, at once even with a wait.
    let url = w.url("/taxii2/root/status/00000000-0000-4000-8000-000000000000/");
    let t = std::time::Instant::now();
    let r = w
        .req(reqwest::Method::GET, &url, "author")
        .header("Prefer", "wait=30")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_write_the_database_refuses_reads_failed_and_the_others_are_kept() {
    let w = world(config()).await;
    // The database refuses one object (as a full disk would refuse every write).
    let refused = indicator(None, &[]);
    let refused_id = refused["id"].as_str().unwrap().to_string();
    let conn = rusqlite::Connection::open(w.dir.path().join("intel.sqlite")).unwrap();
    conn.execute_batch(&format!(
        "CREATE TRIGGER refuse_one BEFORE INSERT ON objects WHEN NEW.stix_id = '{refused_id}' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
    ))
    .unwrap();
    let before = w.stored_ids("author").await;
    let batches: Vec<Vec<Value>> = (0..4)
        .map(|i| {
            let mut b: Vec<Value> = (0..200).map(|_| indicator(None, &[])).collect();
            if i == 1 {
                b[77] = refused.clone();
            }
            b
        })
        .collect();
    let mut statuses = Vec::new();
    for b in &batches {
        let (s, _, location, status) = post_async(&w, "author", b).await;
        assert_eq!(s, 202, "{status}");
        statuses.push(location.expect("Location of the status"));
    }
    for (i, location) in statuses.iter().enumerate() {
        let status = settled_status(&w, &w.url(location)).await;
        let (ok, failed) = if i == 1 { (0, 200) } else { (200, 0) };
        assert_eq!(status["success_count"], ok, "{i}: {status}");
        assert_eq!(status["failure_count"], failed, "{i}: {status}");
    }
    // The other writes are stored, every object of the refused one is not, and the
    // audit chain holds.
    let after = w.stored_ids("author").await;
    assert_eq!(after.len(), before.len() + 600);
    for (i, b) in batches.iter().enumerate() {
        for o in b {
            let id = o["id"].as_str().unwrap();
            assert_eq!(after.iter().any(|a| a == id), i != 1, "{i} {id}");
        }
    }
    assert!(w.server.state.node.verify_audit().await.unwrap().ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_id_index() {
    let w = world(config()).await;
    let (s, body) = w
        .post_objects("author", (0..50).map(|_| indicator(None, &[])).collect())
        .await;
    assert_eq!(s, 202, "{body}");
    let stored = w.stored_ids("author").await.len();
    let (s, text) = w.get(&w.url("/metrics"), "author").await;
    assert_eq!(s, 200, "{text}");
    let gauge = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    // Every object stored is indexed (the world's own objects included).
    assert!(gauge("chainwatch_id_index_rows") >= stored as f64, "{text}");
    assert!(gauge("chainwatch_id_index_bytes") > 0.0, "{text}");
}
