//! The SQLite store's single writer alone (no HTTP, no validation): milliseconds per
//! TAXII-sized write of 500 objects like `bench taxii`'s (objects, status resource, audit
//! entry, commit), and the WAL bytes a commit adds, as the store grows.
//!
//! `cargo run --release -p chainwatch-server --example benchwriter -- [REQUESTS]` (default 200,
//! i.e. 100,000 objects; prints the median of each window of 40 requests), then the time
//! the store takes to open again (reading its id index back) and the memory that adds.

#![allow(clippy::print_stdout)]

/// The allocator the `chainwatch` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chainwatch_intel::audit::{AuditEvent, PreparedEvent};
use chainwatch_intel::signing::NodeKey;
use chainwatch_intel::stix::ObjectInfo;
use chainwatch_intel::tlp::Tlp;
use chainwatch_server::sqlite::{id_key, SqliteStore};
use chainwatch_server::store::{Feed, IntelStore, NewCollection, NewObject, NewStatus};
use std::sync::Arc;
use std::time::Instant;

const PER_REQUEST: usize = 500;
const WINDOW: usize = 40;

/// A `bench taxii` indicator as the store gets it (compact, as the server stores it).
fn new_object(o: &serde_json::Value) -> NewObject {
    let id = o["id"].as_str().unwrap_or_default().to_string();
    let body = o.to_string();
    NewObject {
        id_key: id_key(&id),
        info: ObjectInfo {
            id,
            ty: "indicator".into(),
            spec_version: "2.1".into(),
            version: Some("2025-01-01T00:00:00.000Z".into()),
            version_us: Some(1_735_689_600_000_000),
        },
        tlp: Tlp::Green,
        recipients: Vec::new(),
        recipient_refs: Vec::new(),
        body,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("chainwatch-benchwriter-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("intel.sqlite");
    let wal = dir.join("intel.sqlite-wal");
    let store = Arc::new(SqliteStore::open(
        &db,
        Arc::new(NodeKey::from_seed(&[7; 32])),
    )?);
    // The collection the objects go to (objects name theirs by number).
    store
        .create_collection(NewCollection {
            id: "bench".into(),
            title: "bench".into(),
            description: None,
            community_id: None,
            public_read: false,
            grants: Vec::new(),
        })
        .await?;
    let mut ms = Vec::new();
    let mut wal_growth = Vec::new();
    for _ in 0..requests {
        let objects: Vec<NewObject> = chainwatch_server::bench::objects(PER_REQUEST)
            .iter()
            .map(new_object)
            .collect();
        let ids: Vec<serde_json::Value> =
            objects.iter().map(|o| o.info.id.clone().into()).collect();
        let wal_before = std::fs::metadata(&wal).map_or(0, |m| m.len());
        let (feed, fed) = std::sync::mpsc::channel();
        let t = Instant::now();
        let writing = store.clone().add_objects_fed(
            "bench".into(),
            1,
            fed,
            NewStatus {
                id: uuid::Uuid::new_v4().to_string(),
                org_id: 1,
                request_timestamp: "2025-01-01T00:00:00.000Z".into(),
            },
        );
        // Slices as the TAXII handler sends them while it validates.
        let mut rest = objects;
        let mut first = true;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(if first {
                16
            } else {
                chainwatch_server::taxii_api::FEED_CHUNK
            }));
            feed.send(Feed::Objects(std::mem::replace(&mut rest, tail)))?;
            first = false;
        }
        feed.send(Feed::End(PreparedEvent::from(AuditEvent {
            actor: "bench".into(),
            org: None,
            action: "taxii.add".into(),
            target: "bench".into(),
            detail: serde_json::json!({"count": PER_REQUEST, "ids": ids}),
        })))?;
        writing.await?.ok_or("the write was rolled back")?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        let wal_after = std::fs::metadata(&wal).map_or(0, |m| m.len());
        // The log restarts from its top after a checkpoint: only growth is a commit's size.
        if wal_after > wal_before {
            wal_growth.push((wal_after - wal_before) as f64 / 1024.0);
        }
        if ms.len() % WINDOW == 0 {
            let mut w = ms[ms.len() - WINDOW..].to_vec();
            w.sort_by(f64::total_cmp);
            println!(
                "{:>7} objects: writer median {:.2} ms per {PER_REQUEST} objects (last {WINDOW} writes); last WAL growth {:.0} KiB",
                ms.len() * PER_REQUEST,
                w[WINDOW / 2],
                wal_growth.last().copied().unwrap_or(0.0)
            );
        }
    }
    drop(store);
    // Opening the store again reads its id index back (see `chainwatch_server::id_index`).
    let rss_before = chainwatch_server::bench::rss_bytes();
    let t = Instant::now();
    let store = SqliteStore::open(&db, Arc::new(NodeKey::from_seed(&[7; 32])))?;
    let opened = t.elapsed();
    let (rows, bytes) = store.id_index_size().unwrap_or_default();
    println!(
        "reopened with {} objects in {:.0} ms; id index of {rows} rows: {:.1} MB ({:.0} bytes per row); resident memory +{:.1} MB",
        ms.len() * PER_REQUEST,
        opened.as_secs_f64() * 1e3,
        bytes as f64 / 1e6,
        bytes as f64 / rows.max(1) as f64,
        chainwatch_server::bench::rss_bytes().saturating_sub(rss_before) as f64 / 1e6
    );
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
