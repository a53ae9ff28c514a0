//! Runs the TAXII bench (same as `chainwatch bench taxii`) and prints its JSON figures.
//!
//! `cargo run --release -p chainwatch-server --example benchtaxii -- [OBJECTS] [BATCH] [PAGE] [RUNS] [--no-get] [--no-medallion]`

#![allow(clippy::print_stdout)]

/// The allocator the `chainwatch` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chainwatch_server::bench::{run_taxii, BenchOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let mut o = BenchOptions::default();
    if std::env::args().any(|a| a == "--no-get") {
        o.get = false;
    }
    if std::env::args().any(|a| a == "--no-medallion") {
        o.python = None;
    }
    if let Some(n) = a.first() {
        o.objects = *n;
    }
    if let Some(n) = a.get(1) {
        o.batch = *n;
    }
    if let Some(n) = a.get(2) {
        o.page = *n;
    }
    if let Some(n) = a.get(3) {
        o.runs = *n;
    }
    let f = run_taxii(&o).await?;
    println!("{}", serde_json::to_string_pretty(&f)?);
    Ok(())
}
