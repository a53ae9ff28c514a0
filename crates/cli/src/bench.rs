//! `chainwatch bench …`: performance figures with their references, measured in the same run.

use crate::BadInput;
use chainwatch_chain::ingest::{ingest, IngestOptions};
use chainwatch_chain::store::{store_dir, Store, NONE};
use chainwatch_forensics::cluster::cluster_dir;
use chainwatch_server::bench::median;
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
        /// Blocks directory to ingest (default: a simulated chain of --txs txs, generated once).
        #[arg(long)]
        blocks: Option<PathBuf>,
        /// Size of the simulated chain when no --blocks is given.
        #[arg(long, default_value_t = 1_000_000)]
        txs: u64,
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
    /// Full scan of all inputs and outputs of a simulated chain's store: records per second.
    Scan {
        /// Size of the simulated chain.
        #[arg(long, default_value_t = 5_000_000)]
        txs: u64,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// TAXII POST and paged GET objects/s beside medallion (memory backend) in the same run.
    Taxii {
        /// Objects to load.
        #[arg(long, default_value_t = 5000)]
        objects: usize,
        /// Objects per POST.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Page size.
        #[arg(long, default_value_t = 1000)]
        page: usize,
        /// Times chainwatch is measured, each on fresh stores (medians are shown; one
        /// run before them is not counted); medallion's POST is measured 3 times on fresh
        /// servers (median), its paged GET once.
        #[arg(long, default_value_t = 21)]
        runs: usize,
        /// Time POST only (medallion's paged GET grows with the square of --objects).
        #[arg(long)]
        no_get: bool,
        /// Python with medallion installed.
        #[arg(long, default_value = "python3")]
        python: String,
        /// Skip medallion.
        #[arg(long)]
        no_medallion: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// `POST /api/screen` on loopback: addresses/s and p50/p99 latency for batches of 1 and 1,000.
    Screen {
        /// Size of the simulated chain.
        #[arg(long, default_value_t = 1_000_000)]
        txs: u64,
        /// Single-address requests to time.
        #[arg(long, default_value_t = 2_000)]
        singles: usize,
        /// 1,000-address batches to time.
        #[arg(long, default_value_t = 50)]
        batches: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Simulator throughput: txs/s and MB/s of blk files written, ratio to sha256sum of them.
    Sim {
        /// Transactions to generate.
        #[arg(long, default_value_t = 1_000_000)]
        txs: u64,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Clustering of a simulated chain: addresses/s, bytes per address, peak RSS.
    Cluster {
        /// Size of the simulated chain.
        #[arg(long, default_value_t = 5_000_000)]
        txs: u64,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Tracing the simulated heist on a simulated chain: time and txs visited per second.
    Trace {
        /// Size of the simulated chain.
        #[arg(long, default_value_t = 5_000_000)]
        txs: u64,
        /// Method.
        #[arg(long, default_value = "fifo")]
        method: chainwatch_forensics::taint::Method,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// A simulated chain for benchmarks, generated, ingested, tagged and clustered once and cached
/// under the temp directory (`chainwatch-bench/txs-N`).
struct BenchChain {
    dir: PathBuf,
    data: PathBuf,
    chain: Chain,
}

#[allow(clippy::print_stderr)]
fn bench_chain(txs: u64) -> anyhow::Result<BenchChain> {
    let chain = Chain::BitcoinRegtest;
    let dir = std::env::temp_dir()
        .join("chainwatch-bench")
        .join(format!("txs-{txs}"));
    let data = dir.join("data");
    if !dir.join("truth.json").exists() {
        eprintln!(
            "bench: generating a {txs}-tx simulated chain in {} (once)",
            dir.display()
        );
        let cfg = chainwatch_sim::SimConfig {
            seed: 42,
            txs,
            blocks: (txs / 2_000).max(300) as u32,
            chain,
            ..Default::default()
        };
        chainwatch_sim::run(&cfg, &dir, &mut |_, _| {})?;
    }
    let stored = store_dir(&data, chain);
    if stored.join("COMMIT").exists() {
        if let Err(e) = Store::open(&stored, chain) {
            // Written by another build (an older store format): derive it all again.
            eprintln!("bench: {e}; ingesting again");
            std::fs::remove_dir_all(&data)?;
        }
    }
    if !stored.join("COMMIT").exists() {
        eprintln!("bench: ingesting it (once)");
        ingest(
            &IngestOptions::new(&dir.join("blocks"), chain, &store_dir(&data, chain)),
            &mut |_| {},
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if !cluster_dir(&data, chain).join("META").exists() {
        eprintln!("bench: clustering and tagging it (once)");
        let d = data.display().to_string();
        child(&["--data", &d, "cluster"])?;
        child(&[
            "--data",
            &d,
            "tags",
            "import",
            &dir.join("tags.yaml").display().to_string(),
        ])?;
    }
    Ok(BenchChain { dir, data, chain })
}

/// Runs this binary as a child with `args`, returning its stdout and its peak RSS (bytes).
fn child(args: &[&str]) -> anyhow::Result<(String, u64)> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg("--print-peak-rss")
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let rss = err
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok((String::from_utf8(out.stdout)?, rss))
}

fn sha256sum_seconds(files: &[PathBuf]) -> anyhow::Result<f64> {
    let t = Instant::now();
    let status = std::process::Command::new("sha256sum")
        .args(files)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "sha256sum failed");
    Ok(t.elapsed().as_secs_f64())
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
    txs: u64,
    inputs_plus_outputs: u64,
    store_bytes: u64,
    bytes_per_io_total: f64,
    bytes_per_io_graph: f64,
    bytes_per_io_without_indexes: f64,
    files: Vec<FileSize>,
    peak_rss_bytes: u64,
    cores_used: usize,
}

#[derive(Serialize)]
struct FileSize {
    file: &'static str,
    part: chainwatch_chain::store::Part,
    bytes: u64,
    bytes_per_io: f64,
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
pub fn run(what: BenchCommand) -> anyhow::Result<()> {
    match what {
        BenchCommand::Ingest {
            blocks,
            txs,
            chain,
            runs,
            json,
        } => {
            let (blocks, chain) = match blocks {
                Some(b) => (b, chain),
                None => {
                    let bc = bench_chain(txs)?;
                    (bc.dir.join("blocks"), bc.chain)
                }
            };
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
            let mut rss = 0u64;
            for _ in 0..runs {
                let t = Instant::now();
                let status = std::process::Command::new("sha256sum")
                    .args(&files)
                    .stdout(std::process::Stdio::null())
                    .status()?;
                anyhow::ensure!(status.success(), "sha256sum failed");
                sha.push(t.elapsed().as_secs_f64());
                // The ingest runs as a child process so its peak RSS is its own.
                let tmp = tempfile::tempdir()?;
                let t = Instant::now();
                let (out, r) = child(&[
                    "--data",
                    &tmp.path().display().to_string(),
                    "ingest",
                    "--blocks",
                    &blocks.display().to_string(),
                    "--chain",
                    chain.name(),
                    "--json",
                ])?;
                ing.push(t.elapsed().as_secs_f64());
                rss = rss.max(r);
                let s: serde_json::Value = serde_json::from_str(&out)?;
                let store = Store::open(&store_dir(tmp.path(), chain), chain)?;
                last = Some((s, store.column_bytes(), store.sizes(), store.bytes()));
            }
            let (s, col_bytes, sizes, store_bytes) = last.expect("runs ≥ 1");
            let ingest_s = median(&ing);
            let sha_s = median(&sha);
            let txs_n = s["txs"].as_u64().unwrap_or(0);
            let io = s["inputs"].as_u64().unwrap_or(0) + s["outputs"].as_u64().unwrap_or(0);
            let per_io = |b: u64| b as f64 / io.max(1) as f64;
            // Ingest runs 3 threads (parse+hash, inputs, outputs): the cores it can use.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(3));
            let graph: u64 = sizes
                .iter()
                .filter(|(_, p, _)| *p == chainwatch_chain::store::Part::Graph)
                .map(|(_, _, b)| b)
                .sum();
            let f = IngestFigures {
                blk_bytes,
                runs,
                ingest_seconds_median: ingest_s,
                sha256sum_seconds_median: sha_s,
                mb_per_s: blk_bytes as f64 / 1e6 / ingest_s,
                mb_per_s_per_core: blk_bytes as f64 / 1e6 / ingest_s / cores as f64,
                ratio_to_sha256sum: ingest_s / sha_s,
                txs: txs_n,
                inputs_plus_outputs: io,
                store_bytes,
                bytes_per_io_total: per_io(store_bytes),
                bytes_per_io_graph: per_io(graph),
                bytes_per_io_without_indexes: per_io(col_bytes),
                files: sizes
                    .iter()
                    .map(|&(file, part, bytes)| FileSize {
                        file,
                        part,
                        bytes,
                        bytes_per_io: per_io(bytes),
                    })
                    .collect(),
                peak_rss_bytes: rss,
                cores_used: cores,
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
                    "ingest (median)     {:.3} s  = {:.0} MB/s ({:.0} MB/s per core: 3 threads on {cores} cores)",
                    ingest_s, f.mb_per_s, f.mb_per_s_per_core
                );
                println!("sha256sum (median)  {:.3} s", sha_s);
                println!("ratio ingest/sha256sum  {:.2}", f.ratio_to_sha256sum);
                println!(
                    "store               {} bytes for {} inputs+outputs",
                    store_bytes, io
                );
                println!(
                    "bytes per in/out    {:.2} transaction graph (tx, input and output columns), {:.2} with txids, address keys and blocks, {:.2} whole store with indexes",
                    f.bytes_per_io_graph, f.bytes_per_io_without_indexes, f.bytes_per_io_total
                );
                for fs in &f.files {
                    println!(
                        "  {:<18} {:>6?} {:>12} bytes  {:>6.2} per in/out",
                        fs.file, fs.part, fs.bytes, fs.bytes_per_io
                    );
                }
                println!(
                    "peak RSS            {:.1} MiB",
                    f.peak_rss_bytes as f64 / (1 << 20) as f64
                );
            }
            Ok(())
        }
        BenchCommand::Scan { txs, runs, json } => {
            let bc = bench_chain(txs)?;
            let store = Store::open(&store_dir(&bc.data, bc.chain), bc.chain)?;
            let runs = runs.max(1);
            let records = (store.in_spent.len() + store.out_value.len()) as u64;
            let mut col_t = Vec::new();
            let mut walk_t = Vec::new();
            let mut checksum = 0u64;
            for _ in 0..runs {
                let t = Instant::now();
                // Column scan: every output's value, address and spender; every input's spent output.
                let mut acc = 0u64;
                let (addrs, spenders) = (store.out_addr.as_slice(), store.out_spender.as_slice());
                store.values().for_each_block(|start, values| {
                    let end = start + values.len();
                    for ((v, a), s) in values
                        .iter()
                        .zip(&addrs[start..end])
                        .zip(&spenders[start..end])
                    {
                        acc = acc
                            .wrapping_add(v ^ (*a as u64))
                            .wrapping_add((*s != NONE) as u64);
                    }
                });
                for s in store.in_spent.as_slice() {
                    acc = acc.wrapping_add(*s as u64);
                }
                col_t.push(t.elapsed().as_secs_f64());
                let t = Instant::now();
                // Tx walk: per tx, the values of the outputs its inputs spend and of its outputs.
                let values = store.values();
                let spent = store.in_spent.as_slice();
                let mut acc2 = 0u64;
                for tx in 0..store.tx.len() as u32 {
                    for i in store.tx_inputs(tx) {
                        let o = spent[i as usize];
                        if o != NONE {
                            acc2 = acc2.wrapping_add(values.get(o));
                        }
                    }
                    for o in store.tx_outputs(tx) {
                        acc2 = acc2.wrapping_sub(values.get(o));
                    }
                }
                walk_t.push(t.elapsed().as_secs_f64());
                checksum = std::hint::black_box(acc ^ acc2);
            }
            let c = median(&col_t);
            let w = median(&walk_t);
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
        BenchCommand::Taxii {
            objects,
            batch,
            page,
            runs,
            no_get,
            python,
            no_medallion,
            json,
        } => crate::intel_cmds::bench_taxii(
            objects,
            batch,
            page,
            runs,
            !no_get,
            (!no_medallion).then_some(python),
            json,
        ),
        BenchCommand::Screen {
            txs,
            singles,
            batches,
            json,
        } => bench_screen(txs, singles, batches, json),
        BenchCommand::Sim { txs, runs, json } => {
            let runs = runs.max(1);
            let (mut sim_t, mut sha_t) = (Vec::new(), Vec::new());
            let mut last = None;
            for _ in 0..runs {
                let tmp = tempfile::tempdir()?;
                let cfg = chainwatch_sim::SimConfig {
                    seed: 42,
                    txs,
                    blocks: (txs / 2_000).max(300) as u32,
                    ..Default::default()
                };
                let t = Instant::now();
                let s = chainwatch_sim::run(&cfg, tmp.path(), &mut |_, _| {})?;
                sim_t.push(t.elapsed().as_secs_f64());
                sha_t.push(sha256sum_seconds(&blk_files(&tmp.path().join("blocks"))?)?);
                last = Some(s);
            }
            let s = last.expect("runs ≥ 1");
            let (st, ht) = (median(&sim_t), median(&sha_t));
            let f = serde_json::json!({
                "txs": s.txs, "blk_bytes": s.bytes, "runs": runs,
                "sim_seconds_median": st, "txs_per_s": s.txs as f64 / st, "mb_per_s": s.bytes as f64 / 1e6 / st,
                "sha256sum_seconds_median": ht, "ratio_to_sha256sum": st / ht,
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&f)?);
            } else {
                println!("sim (median of {runs})   {st:.3} s for {} txs, {:.1} MB: {:.0} txs/s, {:.0} MB/s", s.txs, s.bytes as f64 / 1e6, s.txs as f64 / st, s.bytes as f64 / 1e6 / st);
                println!(
                    "sha256sum of the output {ht:.3} s; ratio sim/sha256sum {:.2}",
                    st / ht
                );
            }
            Ok(())
        }
        BenchCommand::Cluster { txs, runs, json } => {
            let bc = bench_chain(txs)?;
            let store = Store::open(&store_dir(&bc.data, bc.chain), bc.chain)?;
            let addrs = store.addr_kind.len() as u64;
            let data = bc.data.display().to_string();
            let (mut times, mut rss, mut ref_t) = (Vec::new(), 0u64, Vec::new());
            let mut bytes = 0u64;
            for _ in 0..runs.max(1) {
                let (out, r) = child(&["--data", &data, "cluster", "--full", "--json"])?;
                let v: serde_json::Value = serde_json::from_str(&out)?;
                times.push(v["seconds"].as_f64().unwrap_or(0.0));
                bytes = v["bytes"].as_u64().unwrap_or(0);
                rss = rss.max(r);
                // Reference: the same input walk without union-find (address of every spent output).
                let t = Instant::now();
                let (spent, oaddr) = (store.in_spent.as_slice(), store.out_addr.as_slice());
                let mut acc = 0u64;
                for &o in spent {
                    if o != NONE {
                        acc = acc.wrapping_add(oaddr[o as usize] as u64);
                    }
                }
                std::hint::black_box(acc);
                ref_t.push(t.elapsed().as_secs_f64());
            }
            let (t, r) = (median(&times), median(&ref_t));
            let f = serde_json::json!({
                "txs": store.tx.len(), "addresses": addrs, "runs": runs,
                "cluster_seconds_median": t, "addresses_per_s": addrs as f64 / t,
                "bytes_per_address": bytes as f64 / addrs as f64, "peak_rss_bytes": rss,
                "input_walk_seconds_median": r, "ratio_to_input_walk": t / r,
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&f)?);
            } else {
                println!("cluster (median)   {t:.3} s for {addrs} addresses, {} txs: {:.2} M addresses/s", store.tx.len(), addrs as f64 / t / 1e6);
                println!(
                    "on disk            {:.1} bytes per address",
                    bytes as f64 / addrs as f64
                );
                println!(
                    "peak RSS (child)   {:.1} MiB",
                    rss as f64 / (1 << 20) as f64
                );
                println!("input walk (ref)   {r:.3} s; ratio {:.1}", t / r);
            }
            Ok(())
        }
        BenchCommand::Trace {
            txs,
            method,
            runs,
            json,
        } => {
            let bc = bench_chain(txs)?;
            let data = bc.data.display().to_string();
            let incident = bc.dir.join("incident.json").display().to_string();
            let m = format!("{method:?}").to_lowercase();
            let (mut times, mut follow, mut visited, mut rss) =
                (Vec::new(), Vec::new(), 0u64, 0u64);
            for _ in 0..runs.max(1) {
                let (out, r) = child(&[
                    "--data",
                    &data,
                    "trace",
                    "--incident",
                    &incident,
                    "--method",
                    &m,
                    "--json",
                ])?;
                let v: serde_json::Value = serde_json::from_str(&out)?;
                times.push(v["seconds"].as_f64().unwrap_or(0.0));
                follow.push(v["follow_seconds"].as_f64().unwrap_or(0.0));
                visited = v["txs_visited"].as_u64().unwrap_or(0);
                rss = rss.max(r);
            }
            let t = median(&times);
            let ft = median(&follow);
            let store = Store::open(&store_dir(&bc.data, bc.chain), bc.chain)?;
            let f = serde_json::json!({
                "txs": store.tx.len(), "method": m, "runs": runs, "trace_seconds_median": t,
                "txs_visited": visited, "visited_txs_per_s": visited as f64 / t, "peak_rss_bytes": rss,
                "follow_seconds_median": ft, "visited_txs_per_s_following": visited as f64 / ft,
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&f)?);
            } else {
                println!("trace {m} (median)  {t:.4} s, {visited} txs visited on a {}-tx chain: {:.2} M visited txs/s", store.tx.len(), visited as f64 / t / 1e6);
                println!("  following only     {ft:.4} s: {:.2} M visited txs/s (the rest builds the report: paths, arrivals, patterns)", visited as f64 / ft / 1e6);
                println!(
                    "peak RSS (child)   {:.1} MiB (store mapping, clusters, tags)",
                    rss as f64 / (1 << 20) as f64
                );
            }
            Ok(())
        }
    }
}

/// The percentile `p` (0–100) of sorted durations, in milliseconds.
fn pct_ms(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[k] * 1e3
}

#[allow(clippy::print_stdout)]
fn bench_screen(txs: u64, singles: usize, batches: usize, json: bool) -> anyhow::Result<()> {
    use chainwatch_server::store::Role;
    let bc = bench_chain(txs)?;
    // Addresses to screen: a spread of addresses from the store, thief addresses among them.
    let store = Store::open(&store_dir(&bc.data, bc.chain), bc.chain)?;
    let n = store.addr_kind.len() as u32;
    let sample: Vec<String> = (0..4_000u32)
        .map(|i| {
            store
                .addr_key((i as u64 * 2_654_435_761 % n as u64) as u32)
                .display(bc.chain)
        })
        .collect();
    let incident: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bc.dir.join("incident.json"))?)?;
    let intel = tempfile::tempdir()?;
    // The server keeps its intel store apart from the bench chain's data (fresh orgs each run):
    // link the chain, clusters and tags into a temporary data directory.
    for sub in ["chains", "clusters", "tags"] {
        std::os::unix::fs::symlink(bc.data.join(sub), intel.path().join(sub))?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let figures = rt.block_on(async {
        let node = chainwatch_server::Node::open(intel.path()).await?;
        let org = node.create_org("bench", "exchange", &[], None).await?;
        node.create_user(&org.name, "bench-user", Role::Analyst, None).await?;
        let (_, tok) = node.create_token("bench-user", None).await?;
        let server = chainwatch_server::spawn(node, chainwatch_server::ServerConfig::default(), "127.0.0.1:0".parse()?).await?;
        let base = server.url();
        let http = reqwest::Client::new();
        while server.state.watch.view().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // A traced report, so that screening has exposure to compute.
        let report = serde_json::json!({"victim": "bench", "chain": bc.chain.name(), "time": "2024-01-01T00:00:00Z",
            "stolen_outputs": incident["outputs"], "tlp": "GREEN"});
        let r: serde_json::Value = http.post(format!("{base}/api/reports")).bearer_auth(&tok).json(&report).send().await?.json().await?;
        let id = r["id"].as_str().unwrap_or_default().to_string();
        loop {
            let v: serde_json::Value = http.get(format!("{base}/api/reports/{id}/trace")).bearer_auth(&tok).send().await?.json().await?;
            if v["status"] == "done" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let url = format!("{base}/api/screen");
        let mut single = Vec::with_capacity(singles);
        let t_single = Instant::now();
        for i in 0..singles {
            let body = serde_json::json!({"addresses": [&sample[i % sample.len()]]});
            let t = Instant::now();
            let resp = http.post(&url).bearer_auth(&tok).json(&body).send().await?;
            anyhow::ensure!(resp.status().is_success(), "screen: HTTP {}", resp.status());
            let _ = resp.bytes().await?;
            single.push(t.elapsed().as_secs_f64());
        }
        let single_total = t_single.elapsed().as_secs_f64();
        let mut batch = Vec::with_capacity(batches);
        let t_batch = Instant::now();
        for b in 0..batches {
            let addrs: Vec<&String> = (0..1_000).map(|k| &sample[(b * 1_000 + k) % sample.len()]).collect();
            let body = serde_json::json!({"addresses": addrs});
            let t = Instant::now();
            let resp = http.post(&url).bearer_auth(&tok).json(&body).send().await?;
            anyhow::ensure!(resp.status().is_success(), "screen: HTTP {}", resp.status());
            let _ = resp.bytes().await?;
            batch.push(t.elapsed().as_secs_f64());
        }
        let batch_total = t_batch.elapsed().as_secs_f64();
        server.stop();
        single.sort_by(f64::total_cmp);
        batch.sort_by(f64::total_cmp);
        Ok::<_, anyhow::Error>(serde_json::json!({
            "chain_txs": store.tx.len(), "single_requests": singles,
            "single_addresses_per_s": singles as f64 / single_total,
            "single_p50_ms": pct_ms(&single, 50.0), "single_p99_ms": pct_ms(&single, 99.0),
            "batches_of_1000": batches, "batch_addresses_per_s": (batches * 1000) as f64 / batch_total,
            "batch_p50_ms": pct_ms(&batch, 50.0), "batch_p99_ms": pct_ms(&batch, 99.0),
        }))
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!("screen, 1 address per request:    {:.0} addresses/s, p50 {:.2} ms, p99 {:.2} ms ({} requests)", figures["single_addresses_per_s"].as_f64().unwrap_or(0.0), figures["single_p50_ms"].as_f64().unwrap_or(0.0), figures["single_p99_ms"].as_f64().unwrap_or(0.0), singles);
        println!("screen, 1,000 addresses per request: {:.0} addresses/s, p50 {:.1} ms, p99 {:.1} ms ({} requests)", figures["batch_addresses_per_s"].as_f64().unwrap_or(0.0), figures["batch_p50_ms"].as_f64().unwrap_or(0.0), figures["batch_p99_ms"].as_f64().unwrap_or(0.0), batches);
    }
    Ok(())
}
