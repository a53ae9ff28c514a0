//! The access matrix: every TLP marking × every kind of reader × every read endpoint.
//! Hidden objects must never show (not even their ids), visible ones always must, and a
//! hidden object must answer exactly like an id that was never stored.

mod common;

use chainwatch_intel::tlp::Tlp;
use common::*;
use serde_json::{json, Value};

/// Who may see an object of each level (order of `READERS`).
fn expected(level: Option<Tlp>, reader: &str) -> bool {
    let i = READERS.iter().position(|r| *r == reader).unwrap();
    let row = match level {
        Some(Tlp::Clear) => [true, true, true, true, true, true],
        Some(Tlp::Green) | None => [true, true, false, true, false, false],
        Some(Tlp::Amber) => [true, true, true, false, false, false],
        Some(Tlp::AmberStrict) | Some(Tlp::Red) => [true, true, false, false, false, false],
    };
    row[i]
}

async fn page_all(w: &World, base: &str, who: &str, key: &str) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut raw = String::new();
    let mut url = format!(
        "{base}{}limit=2",
        if base.contains('?') { "&" } else { "?" }
    );
    for _ in 0..200 {
        let (s, body) = w.get(&url, who).await;
        assert_eq!(s, 200, "{url} as {who}: {body}");
        raw.push_str(&body);
        let v: Value = serde_json::from_str(&body).unwrap();
        if let Some(a) = v[key].as_array() {
            ids.extend(
                a.iter()
                    .map(|o| o["id"].as_str().unwrap_or_default().to_string()),
            );
        }
        match v["next"].as_str() {
            Some(n) if v["more"] == true => {
                url = format!(
                    "{base}{}limit=2&next={}",
                    if base.contains('?') { "&" } else { "?" },
                    urlenc(n)
                )
            }
            _ => return (ids, raw),
        }
    }
    panic!("paging did not end");
}

fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_marking_every_reader_every_endpoint() {
    let w = world(Default::default()).await;
    let rec = vec![w.identities["recipient"].clone()];
    // One indicator per level (and one unmarked), posted by the author over TAXII.
    let levels: Vec<Option<Tlp>> = Tlp::ALL.iter().copied().map(Some).chain([None]).collect();
    let mut objects = Vec::new();
    for l in &levels {
        objects.push((*l, indicator(l.map(|t| t.marking_id()), &rec)));
    }
    let (s, status) = w
        .post_objects("author", objects.iter().map(|(_, o)| o.clone()).collect())
        .await;
    assert_eq!(s, 202, "{status}");
    assert_eq!(status["success_count"], levels.len());
    let status_id = status["id"].as_str().unwrap().to_string();
    // A second version of the RED indicator: versions must hide both.
    let mut red2 = objects[4].1.clone();
    red2["modified"] = json!("2025-02-01T00:00:00.000Z");
    assert_eq!(w.post_objects("author", vec![red2]).await.0, 202);

    // One report per level through the REST API.
    let mut reports = Vec::new();
    for l in Tlp::ALL {
        let r = json!({
            "victim": format!("Victim {}", l.tlp2_name()), "chain": "bitcoin",
            "time": "2025-02-21T14:13:00Z",
            "stolen_outputs": [format!("{}:0", "ab".repeat(32))],
            "attacker_addresses": ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"],
            "attribution": {"actor": "Lazarus Group", "confidence": 80},
            "tlp": l.label(), "recipients": ["recipient-org"],
        });
        let (s, out) = w.submit("author", &r).await;
        assert_eq!(s, 201, "{out}");
        reports.push((l, out["id"].as_str().unwrap().to_string()));
    }

    let objects_url = w.objects_url();
    let manifest_url = w.url(&format!(
        "/taxii2/root/collections/{}/manifest/",
        w.collection
    ));
    let never = format!("indicator--{}", uuid_v4());
    let mut checked = 0;
    for who in READERS {
        let (list_ids, list_raw) = page_all(&w, &objects_url, who, "objects").await;
        let (all_ids, all_raw) = page_all(
            &w,
            &format!("{objects_url}?match[version]=all"),
            who,
            "objects",
        )
        .await;
        let (man_ids, man_raw) = page_all(&w, &manifest_url, who, "objects").await;
        let (rl_s, rl_raw) = w.get(&w.url("/api/reports?limit=1000"), who).await;
        assert_eq!(rl_s, 200);
        for (level, obj) in &objects {
            let id = obj["id"].as_str().unwrap();
            let want = expected(*level, who);
            let ctx = format!("{id} ({level:?}) as {who}");
            for (name, ids, raw) in [
                ("objects", &list_ids, &list_raw),
                ("objects all versions", &all_ids, &all_raw),
                ("manifest", &man_ids, &man_raw),
            ] {
                assert_eq!(ids.iter().any(|x| x == id), want, "{name}: {ctx}");
                if !want {
                    assert!(!raw.contains(id), "{name} leaks {ctx}");
                }
            }
            let (s1, b1) = w.get(&format!("{objects_url}{id}/"), who).await;
            let (s2, b2) = w.get(&format!("{objects_url}{id}/versions/"), who).await;
            let (_, b3) = w.get(&format!("{objects_url}?match[id]={id}"), who).await;
            if want {
                assert_eq!(s1, 200, "object: {ctx}");
                assert!(b1.contains(id));
                assert_eq!(s2, 200, "versions: {ctx}");
                assert!(b3.contains(id), "match[id]: {ctx}");
            } else {
                // Exactly what an id never stored gets.
                let (n1, nb1) = w.get(&format!("{objects_url}{never}/"), who).await;
                let (n2, nb2) = w.get(&format!("{objects_url}{never}/versions/"), who).await;
                assert_eq!(
                    (s1, b1.replace(id, "X")),
                    (n1, nb1.replace(&never, "X")),
                    "object: {ctx}"
                );
                assert_eq!(
                    (s2, b2.replace(id, "X")),
                    (n2, nb2.replace(&never, "X")),
                    "versions: {ctx}"
                );
                assert_eq!(s1, 404);
                assert!(!b3.contains(id), "match[id] leaks {ctx}");
                // Deleting it is also a 404.
                let d = w
                    .req(reqwest::Method::DELETE, &format!("{objects_url}{id}/"), who)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(d.status().as_u16(), 404, "delete: {ctx}");
            }
            checked += 1;
        }
        for (level, rid) in &reports {
            let want = expected(Some(*level), who);
            let ctx = format!("report {rid} ({level}) as {who}");
            assert_eq!(rl_raw.contains(rid.as_str()), want, "list: {ctx}");
            let (ss, sb) = w
                .get(
                    &w.url(&format!(
                        "/api/reports?q=Victim%20{}",
                        urlenc(level.tlp2_name())
                    )),
                    who,
                )
                .await;
            assert_eq!(ss, 200);
            assert_eq!(sb.contains(rid.as_str()), want, "search: {ctx}");
            let (s1, b1) = w.get(&w.url(&format!("/api/reports/{rid}")), who).await;
            let (s2, _) = w
                .get(&w.url(&format!("/api/reports/{rid}/bundle")), who)
                .await;
            if want {
                assert_eq!((s1, s2), (200, 200), "{ctx}: {b1}");
                let v: Value = serde_json::from_str(&b1).unwrap();
                assert!(v["bundle"]["objects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o["type"] == "incident"));
            } else {
                assert_eq!((s1, s2), (404, 404), "{ctx}");
                assert!(!b1.contains(rid.as_str()));
            }
            // Its trace and its correlations follow the same rule, and a hidden report
            // answers like one that was never stored.
            for tail in ["trace", "related"] {
                let (s, b) = w
                    .get(&w.url(&format!("/api/reports/{rid}/{tail}")), who)
                    .await;
                if want {
                    assert_eq!(s, 200, "{tail}: {ctx}: {b}");
                } else {
                    let (n, nb) = w
                        .get(
                            &w.url(&format!("/api/reports/incident--{}/{tail}", uuid_v4())),
                            who,
                        )
                        .await;
                    assert_eq!((s, n), (404, 404), "{tail}: {ctx}");
                    assert!(!b.contains(rid.as_str()), "{tail}: {ctx}: {b}");
                    assert_eq!(b, nb, "{tail}: hidden ≠ never stored");
                }
            }
            // The report's incident over TAXII follows the same rule.
            let (s3, _) = w.get(&format!("{objects_url}{rid}/"), who).await;
            assert_eq!(s3 == 200, want, "incident over TAXII: {ctx}");
            checked += 1;
        }
        // The status resource belongs to the author's organisation only.
        let (ss, sb) = w
            .get(&w.url(&format!("/taxii2/root/status/{status_id}/")), who)
            .await;
        assert_eq!(ss == 200, who == "author", "status as {who}: {sb}");
        // Collections: everyone sees the community collection (public read) but only
        // members may write.
        let (cs, cb) = w.get(&w.url("/taxii2/root/collections/"), who).await;
        assert_eq!(cs, 200);
        let cv: Value = serde_json::from_str(&cb).unwrap();
        let col = &cv["collections"][0];
        assert_eq!(
            col["can_write"],
            matches!(who, "author" | "recipient" | "community"),
            "{who}: {cb}"
        );
    }
    assert_eq!(checked, READERS.len() * (levels.len() + reports.len()));

    // HTTP Basic (TAXII clients) sees what the token sees.
    let basic = w
        .http
        .get(&objects_url)
        .header("Accept", TAXII)
        .basic_auth("recipient-user", Some(&w.passwords["recipient"]))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 200);
    let body = basic.text().await.unwrap();
    assert!(
        body.contains(objects[4].1["id"].as_str().unwrap()),
        "RED visible to recipient over Basic"
    );
    let wrong = w
        .http
        .get(&objects_url)
        .header("Accept", TAXII)
        .basic_auth("recipient-user", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);

    // Reads of AMBER/RED objects are audited; the chain verifies.
    let check = w.server.state.node.verify_audit().await.unwrap();
    assert!(check.ok(), "{check:?}");
    let (entries, _) = w.server.state.node.store.audit_log().await.unwrap();
    assert!(entries
        .iter()
        .any(|e| e.action == "taxii.read" && e.actor == "recipient-user"));
    assert!(entries.iter().any(|e| e.action == "report.read"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_token_is_rechecked_against_current_rights() {
    let w = world(Default::default()).await;
    let rec = vec![w.identities["recipient"].clone()];
    let objs: Vec<Value> = (0..6)
        .map(|_| indicator(Some(Tlp::Red.marking_id()), &rec))
        .collect();
    assert_eq!(w.post_objects("author", objs).await.0, 202);
    let (s, body) = w
        .get(&format!("{}?limit=2", w.objects_url()), "recipient")
        .await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let next = v["next"].as_str().unwrap().to_string();
    // Another caller cannot use the token.
    let (s, _) = w
        .get(
            &format!("{}?limit=2&next={}", w.objects_url(), urlenc(&next)),
            "community",
        )
        .await;
    assert_eq!(s, 400);
    // Different filters cannot reuse it.
    let (s, _) = w
        .get(
            &format!(
                "{}?limit=2&match[type]=indicator&next={}",
                w.objects_url(),
                urlenc(&next)
            ),
            "recipient",
        )
        .await;
    assert_eq!(s, 400);
    // Disabling the user ends the paging at once.
    w.server
        .state
        .node
        .set_user_disabled("recipient-user", true)
        .await
        .unwrap();
    let (s, _) = w
        .get(
            &format!("{}?limit=2&next={}", w.objects_url(), urlenc(&next)),
            "recipient",
        )
        .await;
    assert_eq!(s, 401);
}
