//! `chainwatch follow`: keeps the chain store at a node's tip over JSON-RPC, optionally
//! starting from the node's blk files.
//!
//! Logs (node, progress, reorgs, retries) go to stderr; stdout gets one line per block
//! connected or disconnected once caught up (`--json`: every event as a JSON object), or
//! with `--once` only the final summary. SIGINT/SIGTERM stop it cleanly after the current
//! step; a `kill -9` is safe too (the next start resumes from the last commit).
//!
//! Derived state: if the data directory has clusters for the chain (`chainwatch cluster`
//! ran), they are kept current with the heuristics they were made with — right after a
//! reorg (the clustering sees the rollback and recomputes, so it equals a fresh run), else
//! at most every 30 s once caught up, and when the run ends. The server re-traces
//! reports whenever the store's commit record changes.

use crate::BadInput;
use anyhow::Context;
use chainwatch_chain::event::ChainEvent;
use chainwatch_chain::follow::{self as chain_follow, FollowOptions, FollowSummary, Notice};
use chainwatch_chain::ingest::IngestOptions;
use chainwatch_chain::rpc::{RpcClient, RpcOptions};
use chainwatch_chain::store::{store_dir, Store};
use chainwatch_chain::to_hex;
use chainwatch_forensics::change::ChangeHeuristic;
use chainwatch_forensics::cluster::{self, cluster_dir, ClusterOptions};
use chainwatch_types::Chain;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Longest interval between cluster refreshes while following (reorgs refresh at once).
const CLUSTER_EVERY: Duration = Duration::from_secs(30);

/// Set by SIGINT/SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
mod signals {
    use super::STOP;
    use std::os::raw::c_int;
    use std::sync::atomic::Ordering;

    extern "C" {
        fn signal(signum: c_int, handler: usize) -> usize;
        fn _exit(status: c_int) -> !;
    }

    const SIGINT: c_int = 2;
    const SIGTERM: c_int = 15;

    extern "C" fn on_signal(_: c_int) {
        // A second signal while stopping: leave at once (the store stays safe).
        if STOP.swap(true, Ordering::SeqCst) {
            // SAFETY: `_exit` is async-signal-safe.
            unsafe { _exit(130) }
        }
    }

    /// Routes SIGINT and SIGTERM to the stop flag.
    pub fn install() {
        let handler = on_signal as extern "C" fn(c_int) as usize;
        // SAFETY: the handler only touches an atomic and calls `_exit`, both
        // async-signal-safe; `signal` is given a valid function pointer.
        unsafe {
            signal(SIGINT, handler);
            signal(SIGTERM, handler);
        }
    }
}

#[cfg(not(unix))]
mod signals {
    /// No signal handling here: Ctrl-C ends the process (the store stays safe).
    pub fn install() {}
}

/// `chainwatch follow`.
#[allow(clippy::too_many_arguments, clippy::print_stderr)]
pub fn follow(
    data: &Path,
    rpc: &str,
    cookie: Option<&Path>,
    chain: Chain,
    poll_ms: u64,
    blocks: Option<&Path>,
    once: bool,
    json: bool,
) -> anyhow::Result<()> {
    if poll_ms == 0 {
        return Err(BadInput("--poll-ms must be at least 1".into()).into());
    }
    let rpc_opts = RpcOptions {
        cookie: cookie.map(Path::to_path_buf),
        default_port: Some(chain_follow::default_rpc_port(chain)),
        ..RpcOptions::default()
    };
    let client = RpcClient::new(rpc, rpc_opts).map_err(|e| BadInput(e.to_string()))?;
    let dir = store_dir(data, chain);
    if let Some(blocks) = blocks {
        eprintln!("ingesting the blk files in {} first", blocks.display());
        crate::run_ingest(&IngestOptions::new(blocks, chain, &dir), json)?;
    }
    let mut opts = FollowOptions::new(&dir, chain);
    opts.poll = Duration::from_millis(poll_ms);
    opts.once = once;
    if once {
        // A cron job should not hang on a node that stays down.
        opts.give_up_after = Some(Duration::from_secs(60));
    }
    signals::install();

    let (tx, rx) = std::sync::mpsc::channel::<ChainEvent>();
    // Printer → cluster upkeep: "blocks changed" (true: some were disconnected).
    let (changed_tx, changed_rx) = std::sync::mpsc::channel::<bool>();
    let caught_up = AtomicBool::new(false);
    let started = Instant::now();
    let result = std::thread::scope(|scope| {
        let caught_up = &caught_up;
        let printer = scope.spawn(move || {
            for e in rx {
                let reorg = matches!(e, ChainEvent::Disconnected { .. });
                let _ = changed_tx.send(reorg);
                if once {
                    continue;
                }
                if json || caught_up.load(Ordering::Relaxed) {
                    print_event(&e, json);
                }
            }
        });
        let upkeep = scope.spawn(move || keep_clusters(data, chain, changed_rx, caught_up, once));
        let mut log = Log::default();
        let result = chain_follow::follow(&client, &opts, Some(tx), &STOP, &mut |n| {
            if let Notice::CaughtUp { .. } = n {
                caught_up.store(true, Ordering::Relaxed);
            }
            log.notice(n, started);
        });
        // The follower dropped its event sender: the printer ends after the last event,
        // then the cluster upkeep after its last refresh.
        let _ = printer.join();
        let _ = upkeep.join();
        result
    });
    match result {
        Ok(summary) => {
            if once {
                print_summary(&summary, json);
            } else {
                eprintln!(
                    "stopped at height {} ({}); +{} blocks, {} rolled back in {} reorgs",
                    summary.height,
                    summary.tip_hash,
                    summary.blocks_added,
                    summary.blocks_rolled_back,
                    summary.reorgs
                );
            }
            Ok(())
        }
        Err(e) if e.is_bad_input() => Err(BadInput(e.to_string()).into()),
        Err(e) => Err(e).context("follow failed"),
    }
}

/// Refreshes existing clusters after block changes (see the module docs) until `changed`
/// closes, and then once more if anything changed since; with `once`, only then.
#[allow(clippy::print_stderr)]
fn keep_clusters(
    data: &Path,
    chain: Chain,
    changed: Receiver<bool>,
    caught_up: &AtomicBool,
    once: bool,
) {
    let dir = cluster_dir(data, chain);
    let mut pending = false;
    let mut reorg = false;
    let mut last = Instant::now();
    loop {
        // Refresh after a quiet moment (a reorg's new branch arrives right after the rollback),
        // and at the end.
        let (quiet, closed) = match changed.recv_timeout(Duration::from_millis(300)) {
            Ok(r) => {
                pending = true;
                reorg |= r;
                (false, false)
            }
            Err(RecvTimeoutError::Timeout) => (true, false),
            Err(RecvTimeoutError::Disconnected) => (true, true),
        };
        let due = closed
            || (!once
                && quiet
                && caught_up.load(Ordering::Relaxed)
                && (reorg || last.elapsed() >= CLUSTER_EVERY));
        if pending && due && dir.join("META").exists() {
            match refresh_clusters(data, chain) {
                Ok(s) => eprintln!(
                    "clusters {}: {} addresses, {} txs processed{}",
                    if s.incremental {
                        "updated"
                    } else {
                        "recomputed"
                    },
                    s.addresses,
                    s.txs_processed,
                    if reorg { " (after a reorg)" } else { "" }
                ),
                Err(e) => eprintln!("warning: clusters not updated: {e:#}"),
            }
            pending = false;
            reorg = false;
            last = Instant::now();
        }
        if closed {
            return;
        }
    }
}

/// Runs the clustering again with the heuristics recorded in its META.
fn refresh_clusters(data: &Path, chain: Chain) -> anyhow::Result<cluster::ClusterSummary> {
    let dir = cluster_dir(data, chain);
    let meta: cluster::Meta = serde_json::from_slice(&std::fs::read(dir.join("META"))?)?;
    let change = meta
        .change
        .iter()
        .map(|n| n.parse::<ChangeHeuristic>().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = Store::open(&store_dir(data, chain), chain)?;
    let opts = ClusterOptions {
        change,
        full: false,
    };
    Ok(cluster::run(&store, &dir, &opts, &mut |_, _| {})?)
}

/// Turns notices into log lines on stderr (progress at most every 10 s).
#[derive(Default)]
struct Log {
    last_progress: Option<Instant>,
}

impl Log {
    #[allow(clippy::print_stderr)]
    fn notice(&mut self, n: &Notice, started: Instant) {
        match n {
            Notice::Node {
                network,
                height,
                store_height,
            } => eprintln!(
                "node: {network}, height {height}; store: {}",
                store_height.map_or("empty".to_string(), |h| format!("height {h}"))
            ),
            Notice::Progress {
                height,
                node_height,
                blocks_added,
                bytes,
            } => {
                if self
                    .last_progress
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
                {
                    return;
                }
                self.last_progress = Some(Instant::now());
                let secs = started.elapsed().as_secs_f64().max(1e-9);
                eprintln!(
                    "catching up: height {height} of {node_height} ({blocks_added} blocks, {:.1} MB, {:.0} blocks/s)",
                    *bytes as f64 / 1e6,
                    *blocks_added as f64 / secs
                );
            }
            Notice::CaughtUp { height, hash } => {
                eprintln!("at the node's tip: height {height} ({})", to_hex(hash))
            }
            Notice::Reorg {
                fork_height,
                depth,
                old_tip,
            } => eprintln!(
                "reorg: rolled back {depth} block(s) from height {fork_height} (old tip {})",
                to_hex(old_tip)
            ),
            Notice::Retrying {
                error,
                attempt,
                wait,
            } => eprintln!("node unavailable: {error}; retry {attempt} in {wait:.1?}"),
            Notice::Recovered { attempts, after } => {
                eprintln!("node available again after {attempts} failed attempt(s), {after:.1?}")
            }
            Notice::Polling => {
                eprintln!("the node has no waitforblockheight: polling getbestblockhash instead")
            }
        }
    }
}

#[allow(clippy::print_stdout)]
fn print_event(e: &ChainEvent, json: bool) {
    if json {
        println!("{}", serde_json::to_string(e).expect("serializable"));
    } else {
        let (what, height, hash) = match e {
            ChainEvent::Connected { height, hash } => ("connected", height, hash),
            ChainEvent::Disconnected { height, hash } => ("disconnected", height, hash),
        };
        println!("{what:<12} {height:>8} {}", to_hex(hash));
    }
}

#[allow(clippy::print_stdout)]
fn print_summary(s: &FollowSummary, json: bool) {
    if json {
        println!("{}", serde_json::to_string(s).expect("serializable"));
        return;
    }
    println!("chain        {}", s.chain);
    println!("tip          {} (height {})", s.tip_hash, s.height);
    println!(
        "blocks       {} (+{} this run, {} rolled back in {} reorgs)",
        s.blocks, s.blocks_added, s.blocks_rolled_back, s.reorgs
    );
    println!("txs          {}", s.txs);
    println!(
        "fetched      {:.1} MB of blocks in {:.2} s ({} retries)",
        s.block_bytes as f64 / 1e6,
        s.seconds,
        s.retries
    );
}
