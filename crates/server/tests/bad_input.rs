//! Bad input: clear errors and nothing stored.

mod common;

use chainwatch_server::ServerConfig;
use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_store_nothing() {
    let w = world(ServerConfig {
        max_body: 64 * 1024,
        ..Default::default()
    })
    .await;
    let before = w.stored_ids("author").await;
    let audit_before = w.server.state.node.store.audit_log().await.unwrap().0.len();
    let url = w.objects_url();
    let send = |ct: &'static str, accept: &'static str, body: String| {
        let r = w
            .http
            .post(&url)
            .bearer_auth(&w.tokens["author"])
            .header("Accept", accept)
            .header("Content-Type", ct)
            .body(body);
        async move {
            let r = r.send().await.unwrap();
            let s = r.status().as_u16();
            let t = r.text().await.unwrap();
            (s, t)
        }
    };
    let ok_body = json!({"objects": [indicator(None, &[])]}).to_string();

    // Malformed JSON.
    let (s, t) = send(TAXII, TAXII, "{\"objects\": [".into()).await;
    assert_eq!(s, 400, "{t}");
    assert!(t.contains("malformed JSON"), "{t}");
    // Malformed after valid objects, which the store had begun to insert as they were read.
    let many: Vec<Value> = (0..40).map(|_| indicator(None, &[])).collect();
    let cut = json!({"objects": many}).to_string();
    let (s, t) = send(TAXII, TAXII, format!("{}, oops]}}", &cut[..cut.len() - 2])).await;
    assert_eq!(s, 400, "{t}");
    assert!(t.contains("malformed JSON"), "{t}");
    // `objects` named twice: which list counts would depend on the reader.
    // Twenty objects a list: the store has begun to insert the first list's.
    let list = || {
        let l: Vec<Value> = (0..20).map(|_| indicator(None, &[])).collect();
        Value::Array(l).to_string()
    };
    let twice = format!("{{\"objects\": {}, \"objects\": {}}}", list(), list());
    let (s, t) = send(TAXII, TAXII, twice).await;
    assert_eq!(s, 400, "{t}");
    assert!(t.contains("more than once"), "{t}");
    // Wrong Content-Type / Accept.
    let (s, t) = send("application/json", TAXII, ok_body.clone()).await;
    assert_eq!(s, 415, "{t}");
    let (s, _) = send(TAXII, "application/json", ok_body.clone()).await;
    assert_eq!(s, 406);
    let (s, _) = send("application/taxii+json;version=2.0", TAXII, ok_body.clone()).await;
    assert_eq!(s, 415);
    // Oversized body.
    let big: Vec<Value> = (0..400).map(|_| indicator(None, &[])).collect();
    let (s, t) = send(TAXII, TAXII, json!({"objects": big}).to_string()).await;
    assert_eq!(s, 413, "{t}");
    // Invalid STIX: 422 with the reason, nothing of the envelope stored.
    let good = indicator(None, &[]);
    let mut bad = indicator(None, &[]);
    bad.as_object_mut().unwrap().remove("pattern");
    let (s, t) = send(
        TAXII,
        TAXII,
        json!({"objects": [good.clone(), bad]}).to_string(),
    )
    .await;
    assert_eq!(s, 422, "{t}");
    assert!(
        t.contains("'pattern'"),
        "the reason names the property: {t}"
    );
    let mut bad = indicator(None, &[]);
    bad["spec_version"] = json!("2.0");
    let (s, t) = send(TAXII, TAXII, json!({"objects": [bad]}).to_string()).await;
    assert_eq!(s, 422);
    assert!(t.contains("spec_version"), "{t}");
    let (s, _) = send(TAXII, TAXII, json!({"objects": []}).to_string()).await;
    assert_eq!(s, 400);
    let (s, _) = send(TAXII, TAXII, json!({"not": "an envelope"}).to_string()).await;
    assert_eq!(s, 400);
    // Unknown collection (and one the caller may not see) is 404.
    let other = w.url(&format!("/taxii2/root/collections/{}/objects/", uuid_v4()));
    let r = w
        .http
        .post(&other)
        .bearer_auth(&w.tokens["author"])
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .body(ok_body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (s, _) = w.get(&other, "author").await;
    assert_eq!(s, 404);
    // Anonymous and non-member writes.
    let r = w
        .http
        .post(&url)
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .body(ok_body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = w
        .http
        .post(&url)
        .bearer_auth(&w.tokens["other"])
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .body(ok_body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Bad next tokens and filters.
    for q in [
        "next=garbage",
        "next=eyJjIjoiYyJ9.AAAA",
        "limit=0",
        "limit=abc",
        "added_after=yesterday",
        "match[version]=newest",
        "match[color]=red",
    ] {
        let (s, t) = w.get(&format!("{url}?{q}"), "author").await;
        assert_eq!(s, 400, "{q}: {t}");
        assert!(t.contains("description"), "TAXII error resource: {t}");
    }
    // A bad token is 401, never a silent anonymous read.
    let r = w
        .http
        .get(&url)
        .header("Accept", TAXII)
        .bearer_auth("cwt_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // REST: bad reports.
    let (s, t) = w
        .submit(
            "author",
            &json!({"victim": "X", "chain": "bitcoin", "time": "2025-01-01T00:00:00Z",
        "attacker_addresses": ["bc1qnotanaddress"]}),
        )
        .await;
    assert_eq!(s, 422, "{t}");
    assert!(t.to_string().contains("address"), "{t}");
    let (s, _) = w
        .submit(
            "author",
            &json!({"victim": "X", "chain": "bitcoin", "time": "2025-01-01T00:00:00Z",
        "stolen_outputs": ["ab:1"]}),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = w.submit("author", &json!({"victim": "X", "chain": "bitcoin", "time": "2025-01-01T00:00:00Z",
        "stolen_outputs": [format!("{}:1", "ab".repeat(32))], "tlp": "RED", "recipients": ["nobody"]})).await;
    assert_eq!(s, 422);
    let (s, _) = w
        .submit(
            "author",
            &json!({"type": "bundle", "id": format!("bundle--{}", uuid_v4()),
        "objects": [{"type": "indicator", "id": "indicator--x"}]}),
        )
        .await;
    assert_eq!(s, 422);
    let r = w
        .http
        .post(w.url("/api/reports"))
        .bearer_auth(&w.tokens["author"])
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let r = w
        .http
        .post(w.url("/api/reports"))
        .bearer_auth(&w.tokens["author"])
        .header("Content-Type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = w
        .http
        .post(w.url("/api/reports"))
        .bearer_auth(&w.tokens["author"])
        .header("Content-Type", "application/json")
        .body(vec![b' '; 100 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let (s, _) = w.submit("anonymous", &json!({})).await;
    assert_eq!(s, 401);

    assert_eq!(w.stored_ids("author").await, before, "nothing stored");
    assert!(w
        .server
        .state
        .node
        .store
        .reports(None, None, 100)
        .await
        .unwrap()
        .is_empty());
    let audit_after = w.server.state.node.store.audit_log().await.unwrap().0.len();
    assert_eq!(
        audit_before, audit_after,
        "no write was audited because none happened"
    );
    // And the good envelope still goes in.
    let (s, _) = send(TAXII, TAXII, ok_body).await;
    assert_eq!(s, 202);
    assert_eq!(w.stored_ids("author").await.len(), before.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_names_the_api_root_with_the_scheme_clients_use() {
    for (https, scheme) in [(false, "http"), (true, "https")] {
        // `https` without a certificate: a node behind a proxy that ends TLS.
        let w = world(ServerConfig {
            https,
            ..Default::default()
        })
        .await;
        let (s, body) = w.get(&w.url("/taxii2/"), "author").await;
        assert_eq!(s, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let host = w
            .url("")
            .split("://")
            .nth(1)
            .unwrap()
            .trim_end_matches('/')
            .to_string();
        assert_eq!(
            v["default"],
            format!("{scheme}://{host}/taxii2/root/"),
            "{body}"
        );
    }
}
