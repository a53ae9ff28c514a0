//! Test helpers: a node with organisations, users and tokens, served on 127.0.0.1:0.
#![allow(dead_code, missing_docs)]

use chainwatch_server::store::Role;
use chainwatch_server::{Node, Running, ServerConfig};
use serde_json::{json, Value};
use std::collections::HashMap;

pub const TAXII: &str = "application/taxii+json;version=2.1";

pub struct World {
    pub dir: tempfile::TempDir,
    pub server: Running,
    pub tokens: HashMap<&'static str, String>,
    pub passwords: HashMap<&'static str, String>,
    pub identities: HashMap<&'static str, String>,
    pub collection: String,
    pub http: reqwest::Client,
}

/// Readers of the access matrix: name → organisation.
pub const READERS: [&str; 6] = [
    "author",
    "recipient",
    "client",
    "community",
    "other",
    "anonymous",
];

pub async fn world(config: ServerConfig) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::open(dir.path()).await.unwrap();
    let galaxy =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/misp-galaxy");
    if galaxy.is_dir() {
        node.import_tags(&[
            galaxy.join("threat-actor.json"),
            galaxy.join("mitre-intrusion-set.json"),
        ])
        .unwrap();
    }
    node.create_community("elsewhere").await.unwrap();
    let mut tokens = HashMap::new();
    let mut passwords = HashMap::new();
    let mut identities = HashMap::new();
    let orgs: [(&str, &str, &[&str], Option<&str>); 5] = [
        ("author", "exchange", &[], None),
        ("recipient", "fiu", &[], None),
        ("client", "exchange", &["elsewhere"], Some("recipient")),
        ("community", "agency", &[], None),
        ("other", "vendor", &["elsewhere"], None),
    ];
    for (name, kind, comms, client_of) in orgs {
        let comms: Vec<String> = comms.iter().map(|s| s.to_string()).collect();
        let org = node
            .create_org(
                &format!("{name}-org"),
                kind,
                &comms,
                client_of.map(|c| format!("{c}-org")).as_deref(),
            )
            .await
            .unwrap();
        identities.insert(name, org.identity_id.clone());
        let (_, pw) = node
            .create_user(&org.name, &format!("{name}-user"), Role::Analyst, None)
            .await
            .unwrap();
        let (_, tok) = node
            .create_token(&format!("{name}-user"), None)
            .await
            .unwrap();
        tokens.insert(name, tok);
        passwords.insert(name, pw);
    }
    let collection = node.community_collection.clone();
    let server = chainwatch_server::spawn(node, config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    World {
        dir,
        server,
        tokens,
        passwords,
        identities,
        collection,
        http: reqwest::Client::new(),
    }
}

impl World {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url(), path)
    }

    pub fn objects_url(&self) -> String {
        self.url(&format!(
            "/taxii2/root/collections/{}/objects/",
            self.collection
        ))
    }

    pub fn req(&self, method: reqwest::Method, url: &str, who: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url).header("Accept", TAXII);
        match self.tokens.get(who) {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub async fn get(&self, url: &str, who: &str) -> (u16, String) {
        let r = self
            .req(reqwest::Method::GET, url, who)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.text().await.unwrap())
    }

    pub async fn post_objects(&self, who: &str, objects: Vec<Value>) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::POST, &self.objects_url(), who)
            .header("Content-Type", TAXII)
            .body(json!({ "objects": objects }).to_string())
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let t = r.text().await.unwrap();
        (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
    }

    pub async fn submit(&self, who: &str, report: &Value) -> (u16, Value) {
        let mut r = self.http.post(self.url("/api/reports")).json(report);
        if let Some(t) = self.tokens.get(who) {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        let s = r.status().as_u16();
        let t = r.text().await.unwrap();
        (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
    }

    /// Every object id in the collection as the author sees it (all versions).
    pub async fn stored_ids(&self, who: &str) -> Vec<String> {
        let (s, body) = self
            .get(
                &format!("{}?match[version]=all&limit=1000", self.objects_url()),
                who,
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["objects"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|o| o["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn indicator(marking: Option<&str>, recipients: &[String]) -> Value {
    let mut v = json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--{}", uuid_v4()),
        "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
        "name": "attacker wallet",
        "pattern": "[cryptocurrency-wallet:value = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq']",
        "pattern_type": "stix", "valid_from": "2025-01-01T00:00:00Z"
    });
    if let Some(m) = marking {
        v["object_marking_refs"] = json!([m]);
    }
    if !recipients.is_empty() {
        v["x_chainwatch_recipients"] = json!(recipients);
    }
    v
}

pub fn uuid_v4() -> String {
    let b: [u8; 16] = chainwatch_server::auth::random_bytes();
    let mut b = b;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
