//! `chainwatch bench …`: performance figures with their references, measured in the same run.

use crate::{pick_chain, BadInput};
use chainwatch_chain::ingest::{ingest, IngestOptions};
use chainwatch_chain::store::{store_dir, Store, NONE};
use chainwatch_types::Chain;
use clap::Subcommand;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to measure.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Ingest speed (MB/s of blk data), bytes per input+output, peak RSS, ratio to sha256sum.
    Ingest {
        /// Blocks directory to ingest.
        #[arg(long)]
        blocks: PathBuf,
        /// Chain of the files.
        #[arg(long, default_value = "bitcoin-regtest")]
        chain: Chain,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Full scan of all inputs and outputs in the store: records per second.
    Scan {
        /// Chain (needed when the data directory holds several).
        #[arg(long)]
        chain: Option<Chain>,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident set size of this process, bytes (Linux `VmHWM`).
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
                    .map(|kb| kb * 1024)
            })
        })
        .unwrap_or(0)
}

fn blk_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| BadInput(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("blk") && n.ends_with(".dat"))
        })
        .collect();
    files.sort();
    Ok(files)
}

#[derive(Serialize)]
struct IngestFigures {
    blk_bytes: u64,
    runs: usize,
    ingest_seconds_median: f64,
    sha256sum_seconds_median: f64,
    mb_per_s: f64,
    mb_per_s_per_core: f64,
    ratio_to_sha256sum: f64,
    txs: u32,
    inputs_plus_outputs: u64,
    store_bytes: u64,
    bytes_per_io_total: f64,
    bytes_per_io_io_columns: f64,
    bytes_per_io_without_indexes: f64,
    peak_rss_bytes: u64,
    cores_used: usize,
}

#[derive(Serialize)]
struct ScanFigures {
    records: u64,
    runs: usize,
    column_scan_seconds_median: f64,
    column_scan_records_per_s: f64,
    tx_walk_seconds_median: f64,
    tx_walk_records_per_s: f64,
    checksum: u64,
}

/// Runs a benchmark.
#[allow(clippy::print_stdout)]
pub fn run(what: BenchCommand, data: &Path) -> anyhow::Result<()> {
    match what {
        BenchCommand::Ingest {
            blocks,
            chain,
            runs,
            json,
        } => {
            let files = blk_files(&blocks)?;
            if files.is_empty() {
                return Err(BadInput(format!("{}: no blk*.dat files", blocks.display())).into());
            }
            let blk_bytes: u64 = files
                .iter()
                .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
                .sum();
            let runs = runs.max(1);
            let mut sha = Vec::new();
            let mut ing = Vec::new();
            let mut last = None;
            for _ in 0..runs {
                let t = Instant::now();
                let status = std::process::Command::new("sha256sum")
                    .args(&files)
                    .stdout(std::process::Stdio::null())
                    .status()?;
                anyhow::ensure!(status.success(), "sha256sum failed");
                sha.push(t.elapsed().as_secs_f64());
                let tmp = tempfile::tempdir()?;
                let t = Instant::now();
                let opts = IngestOptions::new(&blocks, chain, &store_dir(tmp.path(), chain));
                let s = ingest(&opts, &mut |_| {}).map_err(|e| anyhow::anyhow!("{e}"))?;
                ing.push(t.elapsed().as_secs_f64());
                let store = Store::open(&store_dir(tmp.path(), chain), chain)?;
                let io_cols = store.in_spent.bytes()
                    + store.out_value.bytes()
                    + store.out_addr.bytes()
                    + store.out_spender.bytes();
                last = Some((s, store.column_bytes(), io_cols));
            }
            let (s, col_bytes, io_cols) = last.expect("runs ≥ 1");
            let ingest_s = median(ing);
            let sha_s = median(sha);
            let io = s.inputs as u64 + s.outputs as u64;
            let f = IngestFigures {
                blk_bytes,
                runs,
                ingest_seconds_median: ingest_s,
                sha256sum_seconds_median: sha_s,
                mb_per_s: blk_bytes as f64 / 1e6 / ingest_s,
                mb_per_s_per_core: blk_bytes as f64 / 1e6 / ingest_s / 2.0,
                ratio_to_sha256sum: ingest_s / sha_s,
                txs: s.txs,
                inputs_plus_outputs: io,
                store_bytes: s.store_bytes,
                bytes_per_io_total: s.store_bytes as f64 / io as f64,
                bytes_per_io_io_columns: io_cols as f64 / io as f64,
                bytes_per_io_without_indexes: col_bytes as f64 / io as f64,
                peak_rss_bytes: peak_rss(),
                cores_used: 2,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&f)?);
            } else {
                println!(
                    "blk data            {:.1} MB in {} files",
                    blk_bytes as f64 / 1e6,
                    files.len()
                );
                println!(
                    "ingest (median)     {:.3} s  = {:.0} MB/s ({:.0} MB/s per core, 2 threads)",
                    ingest_s, f.mb_per_s, f.mb_per_s_per_core
                );
                println!("sha256sum (median)  {:.3} s", sha_s);
                println!("ratio ingest/sha256sum  {:.2}", f.ratio_to_sha256sum);
                println!(
                    "store               {} bytes for {} inputs+outputs",
                    s.store_bytes, io
                );
                println!(
                    "bytes per in/out    {:.2} io columns, {:.2} all columns, {:.2} with indexes",
                    f.bytes_per_io_io_columns, f.bytes_per_io_without_indexes, f.bytes_per_io_total
                );
                println!(
                    "peak RSS            {:.1} MiB",
                    f.peak_rss_bytes as f64 / (1 << 20) as f64
                );
            }
            Ok(())
        }
        BenchCommand::Scan { chain, runs, json } => {
            let chain = pick_chain(data, chain)?;
            let store = Store::open(&store_dir(data, chain), chain)?;
            let runs = runs.max(1);
            let records = (store.in_spent.len() + store.out_value.len()) as u64;
            let mut col_t = Vec::new();
            let mut walk_t = Vec::new();
            let mut checksum = 0u64;
            for _ in 0..runs {
                let t = Instant::now();
                // Column scan: every output's value, address and spender; every input's spent output.
                let mut acc = 0u64;
                for ((v, a), s) in store
                    .out_value
                    .as_slice()
                    .iter()
                    .zip(store.out_addr.as_slice())
                    .zip(store.out_spender.as_slice())
                {
                    acc = acc
                        .wrapping_add(*v ^ (*a as u64))
                        .wrapping_add((*s != NONE) as u64);
                }
                for s in store.in_spent.as_slice() {
                    acc = acc.wrapping_add(*s as u64);
                }
                col_t.push(t.elapsed().as_secs_f64());
                let t = Instant::now();
                // Tx walk: per tx, the values of the outputs its inputs spend and of its outputs.
                let values = store.out_value.as_slice();
                let spent = store.in_spent.as_slice();
                let mut acc2 = 0u64;
                for tx in 0..store.tx.len() as u32 {
                    for i in store.tx_inputs(tx) {
                        let o = spent[i as usize];
                        if o != NONE {
                            acc2 = acc2.wrapping_add(values[o as usize]);
                        }
                    }
                    for o in store.tx_outputs(tx) {
                        acc2 = acc2.wrapping_sub(values[o as usize]);
                    }
                }
                walk_t.push(t.elapsed().as_secs_f64());
                checksum = std::hint::black_box(acc ^ acc2);
            }
            let c = median(col_t);
            let w = median(walk_t);
            let f = ScanFigures {
                records,
                runs,
                column_scan_seconds_median: c,
                column_scan_records_per_s: records as f64 / c,
                tx_walk_seconds_median: w,
                tx_walk_records_per_s: records as f64 / w,
                checksum,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&f)?);
            } else {
                println!("records (inputs+outputs)  {records}");
                println!(
                    "column scan (median)      {:.4} s = {:.1} M records/s (1 core)",
                    c,
                    f.column_scan_records_per_s / 1e6
                );
                println!("tx walk (median)          {:.4} s = {:.1} M records/s (1 core; inputs resolve to spent values)", w, f.tx_walk_records_per_s / 1e6);
            }
            Ok(())
        }
    }
}
