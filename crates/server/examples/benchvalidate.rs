//! The TAXII POST handler's validation alone (no HTTP, no store): microseconds to read and
//! check one envelope of 500 `bench taxii` indicators and prepare them for the store.
//!
//! `cargo run --release -p chainwatch-server --example benchvalidate -- [TIMES]` (default
//! 2000; prints the median).

#![allow(clippy::print_stdout)]
use chainwatch_intel::audit::AuditEvent;
use std::time::Instant;

/// The allocator the `chainwatch` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let objs = chainwatch_server::bench::objects(500);
    let body = serde_json::json!({"objects": objs})
        .to_string()
        .into_bytes();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let mut times = Vec::new();
    for _ in 0..n {
        let (feed, fed) = std::sync::mpsc::channel();
        let t = Instant::now();
        let audit = AuditEvent {
            actor: "a".into(),
            org: None,
            action: "taxii.add".into(),
            target: "c".into(),
            detail: serde_json::Value::Null,
        };
        chainwatch_server::taxii_api::feed_objects(&body, audit, |chunk| {
            let _ = feed.send(chainwatch_server::store::Feed::Objects(chunk));
        })
        .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e6);
        drop(fed);
    }
    times.sort_by(f64::total_cmp);
    println!("validation of 500 objects: median {:.0} µs", times[n / 2]);
}
