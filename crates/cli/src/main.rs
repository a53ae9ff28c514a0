//! `chainwatch`: the command-line front of the chainwatch crates, one subcommand per job.

mod bench;
mod demo;
mod entities;
mod follow;
mod intel_cmds;
mod lookup;
mod screen;
mod tags;
mod trace;

use anyhow::Context;
use chainwatch_chain::ingest::{ingest, IngestError, IngestOptions, IngestSummary, Progress};
use chainwatch_chain::store::store_dir;
use chainwatch_types::Chain;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Trace stolen crypto funds and share theft reports.
#[derive(Parser)]
#[command(name = "chainwatch", version, about)]
struct Cli {
    /// Data directory (stores, tags, intel).
    #[arg(
        long,
        global = true,
        env = "CHAINWATCH_DATA",
        default_value = "chainwatch-data"
    )]
    data: PathBuf,
    /// Print `peak_rss_bytes N` on stderr at exit (benchmarks use it on their child runs).
    #[arg(long, global = true, hide = true)]
    print_peak_rss: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read a node's blocks/ directory (blk*.dat) into the chain store; re-run to append new blocks.
    Ingest {
        /// The node's blocks directory (e.g. ~/.bitcoin/blocks, regtest/blocks).
        #[arg(long)]
        blocks: PathBuf,
        /// Chain of the files.
        #[arg(long, default_value = "bitcoin")]
        chain: Chain,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// Stop after appending this many blocks (committed; the next run goes on).
        #[arg(long, hide = true)]
        max_blocks: Option<u32>,
        /// Commit every N MiB of block data.
        #[arg(long, default_value_t = 64, hide = true)]
        commit_mib: u64,
    },
    /// Follow a node's best chain over JSON-RPC: catch up, then add each new block as it comes
    /// (reorgs rolled back to the fork point); with --blocks, first ingest its blk files.
    Follow {
        /// Node RPC URL: http://USER:PASS@HOST[:PORT] (the port defaults to the chain's).
        #[arg(long, env = "CHAINWATCH_RPC")]
        rpc: String,
        /// Read the credentials from the node's cookie file instead of the URL.
        #[arg(long)]
        cookie: Option<PathBuf>,
        /// Chain the node serves.
        #[arg(long, default_value = "bitcoin")]
        chain: Chain,
        /// Longest wait for a new block before asking the node again, in ms.
        #[arg(long, default_value_t = 1000)]
        poll_ms: u64,
        /// First ingest this blocks/ directory (blk*.dat), then follow over RPC.
        #[arg(long)]
        blocks: Option<PathBuf>,
        /// Catch up to the node's tip, print a summary and exit (for tests and cron).
        #[arg(long)]
        once: bool,
        /// JSON output: every block event as one object per line (with --once: the summary).
        #[arg(long)]
        json: bool,
    },
    /// Show a transaction: height, inputs with the outputs they spend, outputs with their spenders.
    Tx {
        /// Txid (hex, as block explorers show it).
        txid: String,
        /// Chain (needed when the data directory holds several).
        #[arg(long)]
        chain: Option<Chain>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show an address: received, sent, balance, tx count, first/last height.
    Address {
        /// Address, or a `script:`/`nulldata:` id for scripts without one.
        address: String,
        /// Chain (needed when the data directory holds several).
        #[arg(long)]
        chain: Option<Chain>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show a block by height or hash.
    Block {
        /// Height or block hash.
        block: String,
        /// Chain (needed when the data directory holds several).
        #[arg(long)]
        chain: Option<Chain>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Cluster addresses into entities (multi-input heuristic, CoinJoins excluded, optional change heuristics).
    Cluster {
        /// Chain (needed when the data directory holds several).
        #[arg(long)]
        chain: Option<Chain>,
        /// Change heuristics, comma-separated: fresh-address, same-script-type, round-payment,
        /// smaller-than-inputs, fingerprint. All must agree on an output to call it change.
        #[arg(long)]
        change: Option<String>,
        /// Recompute from zero instead of processing only new blocks.
        #[arg(long)]
        full: bool,
        /// Write `address,cluster_id` for every address to this CSV file.
        #[arg(long)]
        export: Option<PathBuf>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Explain why two addresses are in one cluster: the shortest chain of linking txs.
    Why {
        /// First address.
        a: String,
        /// Second address.
        b: String,
        /// Chain (needed when the data directory holds several).
        #[arg(long)]
        chain: Option<Chain>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show the entity (cluster) of an address: size, received, tags (direct and inherited), conflicts.
    Entity {
        /// Address.
        address: String,
        /// Chain (needed when the data directory holds several).
        #[arg(long)]
        chain: Option<Chain>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Attribution tags: import TagPacks, OFAC lists, MISP galaxy actors; list them.
    Tags {
        #[command(subcommand)]
        what: TagsCommand,
    },
    /// Follow stolen funds from theft outputs to the services (exchanges, mixers) they reached.
    Trace(trace::TraceArgs),
    /// Screen addresses: sanctions (OFAC), service tags, exposure to traced thefts, and a risk level.
    Screen {
        /// Addresses (up to 10,000).
        #[arg(required = true)]
        addresses: Vec<String>,
        /// Look this many payments back for indirect exposure.
        #[arg(long, default_value_t = 3)]
        max_hops: u32,
        /// Chain (needed when the data directory holds several).
        #[arg(long)]
        chain: Option<Chain>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Run the exchange server (TAXII 2.1 at /taxii2/, REST at /api/, Swagger at /api/docs, /metrics).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Largest request body in bytes (413 above).
        #[arg(long, default_value_t = 10 << 20)]
        max_body: usize,
        /// Largest TAXII page.
        #[arg(long, default_value_t = 1000)]
        max_page: usize,
        /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Clients reach this node over HTTPS through a proxy that ends TLS in front of it
        /// (TAXII discovery then names its API root https://).
        #[arg(long, conflicts_with = "tls_cert")]
        behind_https_proxy: bool,
        /// Log JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
    },
    /// Organisations, communities, users, tokens, collections, revocation.
    Admin {
        #[command(subcommand)]
        what: intel_cmds::AdminCommand,
    },
    /// Submit theft reports to a server.
    Report {
        #[command(subcommand)]
        what: intel_cmds::ReportCommand,
    },
    /// Check the Ed25519 signatures of a STIX bundle's objects.
    Verify {
        /// Bundle file.
        file: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        what: intel_cmds::AuditCommand,
    },
    /// Write a simulated chain (real blk files) with a heist, its laundering and the ground truth.
    Sim {
        /// Output directory (gets blocks/, truth.json, tags.yaml, incident.json).
        #[arg(long)]
        out: PathBuf,
        /// Random seed; the same seed gives byte-identical output.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Blocks.
        #[arg(long, default_value_t = 1_000)]
        blocks: u32,
        /// Target number of transactions.
        #[arg(long, default_value_t = 200_000)]
        txs: u64,
        /// bitcoin | bitcoin-regtest | litecoin-regtest.
        #[arg(long, default_value = "bitcoin-regtest")]
        chain: Chain,
        /// Write blocks out of order within windows of this many heights.
        #[arg(long, default_value_t = 0)]
        shuffle_window: u32,
        /// Also write this many stale side-branch blocks.
        #[arg(long, default_value_t = 0)]
        stale: u32,
        /// Obfuscate the blk files with an xor.dat key (Bitcoin Core 28+).
        #[arg(long)]
        xor: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// The whole story: simulate a heist chain, ingest, tag, cluster, file the report, trace, alert, serve the UI.
    Demo {
        /// Random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Target number of transactions.
        #[arg(long, default_value_t = 100_000)]
        txs: u64,
        /// Where to serve the UI.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Set everything up, print the credentials, and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Measure performance; prints figures and their ratios to references measured in the same run.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum TagsCommand {
    /// Import tag sources (files or directories): GraphSense TagPacks/ActorPacks (YAML), OFAC SDN.CSV,
    /// sanctioned_addresses_<ASSET>.txt/json, MISP galaxy cluster JSON. Re-importing changes nothing.
    Import {
        /// Files or directories.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List tags, optionally of one address.
    List {
        /// Only tags of this address.
        #[arg(long)]
        address: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// An error that means bad usage or input (exit code 2).
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// mimalloc: the TAXII writer frees on its thread what the request threads allocated,
/// which glibc's allocator serves slowly (a third fewer objects per second on POST).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`chainwatch cluster --export - | head`) instead of panicking on a failed print.
    #[cfg(unix)]
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let rss = cli.print_peak_rss;
    let result = run(cli);
    if rss {
        eprintln!("peak_rss_bytes {}", bench::peak_rss());
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let bad = e.downcast_ref::<BadInput>().is_some();
            eprintln!("error: {e:#}");
            ExitCode::from(if bad { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Ingest {
            blocks,
            chain,
            json,
            max_blocks,
            commit_mib,
        } => {
            let mut opts = IngestOptions::new(&blocks, chain, &store_dir(&cli.data, chain));
            opts.max_blocks = max_blocks;
            opts.commit_bytes = commit_mib << 20;
            run_ingest(&opts, json)
        }
        Command::Follow {
            rpc,
            cookie,
            chain,
            poll_ms,
            blocks,
            once,
            json,
        } => follow::follow(
            &cli.data,
            &rpc,
            cookie.as_deref(),
            chain,
            poll_ms,
            blocks.as_deref(),
            once,
            json,
        ),
        Command::Tx { txid, chain, json } => lookup::tx(&cli.data, chain, &txid, json),
        Command::Address {
            address,
            chain,
            json,
        } => lookup::address(&cli.data, chain, &address, json),
        Command::Block { block, chain, json } => lookup::block(&cli.data, chain, &block, json),
        Command::Cluster {
            chain,
            change,
            full,
            export,
            json,
        } => entities::cluster(
            &cli.data,
            chain,
            change.as_deref(),
            full,
            export.as_ref(),
            json,
        ),
        Command::Why { a, b, chain, json } => entities::why(&cli.data, chain, &a, &b, json),
        Command::Entity {
            address,
            chain,
            json,
        } => entities::entity(&cli.data, chain, &address, json),
        Command::Tags {
            what: TagsCommand::Import { files, json },
        } => tags::import(&cli.data, &files, json),
        Command::Tags {
            what: TagsCommand::List { address, json },
        } => tags::list(&cli.data, address.as_deref(), json),
        Command::Trace(args) => trace::trace(&cli.data, &args),
        Command::Screen {
            addresses,
            max_hops,
            chain,
            json,
        } => screen::screen(&cli.data, chain, &addresses, max_hops, json),
        Command::Sim {
            out,
            seed,
            blocks,
            txs,
            chain,
            shuffle_window,
            stale,
            xor,
            json,
        } => {
            let cfg = chainwatch_sim::SimConfig {
                seed,
                blocks,
                txs,
                chain,
                shuffle_window,
                stale,
                xor,
            };
            demo::sim(&cfg, &out, json)
        }
        Command::Serve {
            listen,
            max_body,
            max_page,
            tls_cert,
            tls_key,
            behind_https_proxy,
            log_json,
        } => intel_cmds::serve(
            &cli.data,
            listen,
            max_body,
            max_page,
            tls_cert.zip(tls_key),
            behind_https_proxy,
            log_json,
        ),
        Command::Admin { what } => intel_cmds::admin(&cli.data, what),
        Command::Report { what } => intel_cmds::report(what),
        Command::Verify { file, json } => intel_cmds::verify(&file, json),
        Command::Audit { what } => intel_cmds::audit(&cli.data, what),
        Command::Demo {
            seed,
            txs,
            listen,
            no_serve,
        } => demo::demo_serve(&cli.data, seed, txs, listen, !no_serve),
        Command::Bench { what } => bench::run(what),
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Runs an ingest with a progress bar and prints its summary.
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn run_ingest(opts: &IngestOptions, json: bool) -> anyhow::Result<()> {
    let pb = progress_bar(0, "scanning");
    let result = ingest(opts, &mut |p| match p {
        Progress::Scanning { headers } => pb.set_position(headers),
        Progress::Appending { done, total, .. } => {
            if pb.length() != Some(total) {
                pb.set_length(total);
                pb.set_message("blocks");
            }
            pb.set_position(done);
        }
    });
    pb.finish_and_clear();
    let print = |s: &IngestSummary| {
        for w in &s.warnings {
            eprintln!("warning: {w}");
        }
        if json {
            println!("{}", serde_json::to_string(s).expect("serializable"));
        } else {
            print_summary(s);
        }
    };
    match result {
        Ok(s) => {
            print(&s);
            Ok(())
        }
        Err(IngestError::BadInput { error, summary }) => {
            print(&summary);
            Err(BadInput(format!("{error} (store left at height {})", summary.height)).into())
        }
        Err(e) => Err(e).context("ingest failed"),
    }
}

#[allow(clippy::print_stdout)]
fn print_summary(s: &IngestSummary) {
    println!("chain        {}", s.chain);
    println!("tip          {} (height {})", s.tip_hash, s.height);
    println!(
        "blocks       {} (+{} this run, {} rolled back)",
        s.blocks, s.blocks_added, s.blocks_rolled_back
    );
    println!("txs          {}", s.txs);
    println!("inputs       {}", s.inputs);
    println!("outputs      {}", s.outputs);
    println!("addresses    {}", s.addresses);
    println!("store bytes  {}", s.store_bytes);
    println!(
        "read         {:.1} MB of blocks in {:.2} s",
        s.block_bytes_read as f64 / 1e6,
        s.seconds
    );
}

/// Picks the chain store to read: the one named, or the only one in the data directory.
pub fn pick_chain(data: &Path, chain: Option<Chain>) -> anyhow::Result<Chain> {
    if let Some(c) = chain {
        return Ok(c);
    }
    let found: Vec<Chain> = Chain::ALL
        .into_iter()
        .filter(|c| store_dir(data, *c).join("COMMIT").exists())
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(BadInput(format!(
            "no chain store in {} (run `chainwatch ingest` first)",
            data.display()
        ))
        .into()),
        _ => Err(BadInput(format!(
            "{} holds several chains ({}): pass --chain",
            data.display(),
            found
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}
