//! The live follower (`chainwatch_chain::follow`) against a real Litecoin Core regtest node.
//!
//! The follower runs on a thread (or, for `kill -9`, in a child process) while the node
//! mines, transacts, reorganises (`invalidateblock`/`reconsiderblock`, competing branches of
//! depth 1 to 10, one removing a spend, one across MWEB blocks), restarts, and while the
//! follower itself is interrupted. After each step the followed store must equal a fresh
//! ingest of the node's `blocks/` directory (`Store::fingerprint`), the stream of
//! `Connected`/`Disconnected` events must replay to exactly the store's chain, and derived
//! state (clusters) must equal clustering of the fresh ingest.
//!
//! The node keeps writing its blk files while the reference ingest reads them: Core writes
//! each block to disk before it connects it, so the files hold every block RPC knows.
//!
//! Needs `litecoind` on PATH (`apt-get install litecoind`); fails, rather than skips, without.
//! `catch_up_rate_and_tip_latency` (ignored) measures; run it with
//! `cargo test -p chainwatch-chain --release --test litecoind_follow -- --ignored --nocapture catch_up`.

use chainwatch_chain::event::ChainEvent;
use chainwatch_chain::follow::{follow, FollowError, FollowOptions, FollowSummary, Notice};
use chainwatch_chain::ingest::prepare_block;
use chainwatch_chain::rpc::{RpcClient, RpcError, RpcOptions};
use chainwatch_chain::store::{BlockRec, Store, NONE};
use chainwatch_chain::{from_hex, to_hex, Hash32};
use chainwatch_testenv::Litecoind;
use chainwatch_types::Chain;
use common::{block_hash, fresh_fingerprint, node_tip, rpc, run_ingest, spend, str_of};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod common;

const CHAIN: Chain = Chain::LitecoinRegtest;

/// How long a follower may take to reach the node's tip in these tests.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// A follower running on a thread, with what it reported.
struct Running {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<FollowSummary, FollowError>>>,
    events: Receiver<ChainEvent>,
    notices_rx: Receiver<Notice>,
    /// Everything reported so far.
    notices: Vec<Notice>,
    /// Notices already counted by `rolled_back`.
    reorgs_seen: usize,
    /// The chain the events describe, replayed: block hashes by height.
    replay: Vec<Hash32>,
    connected: u64,
    disconnected: u64,
    store_dir: PathBuf,
}

/// Options for tests: quick polls and retries.
fn test_options(store_dir: &Path) -> FollowOptions {
    let mut opts = FollowOptions::new(store_dir, CHAIN);
    opts.poll = Duration::from_millis(100);
    opts.max_backoff = Duration::from_millis(400);
    opts
}

fn client(url: &str) -> RpcClient {
    RpcClient::new(url, RpcOptions::default()).expect("RPC URL")
}

fn start(url: &str, opts: FollowOptions) -> Running {
    let client = client(url);
    let (etx, events) = channel();
    let (ntx, notices_rx) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let store_dir = opts.store_dir.clone();
    let handle = std::thread::spawn(move || {
        follow(&client, &opts, Some(etx), &stop2, &mut |n| {
            let _ = ntx.send(n.clone());
        })
    });
    // A store that already has blocks (a restarted follower): the replay starts from it.
    let replay = match Store::open(&store_dir, CHAIN) {
        Ok(s) => (0..s.committed().blocks)
            .map(|h| s.block_hash(h).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    };
    Running {
        stop,
        handle: Some(handle),
        events,
        notices_rx,
        notices: Vec::new(),
        reorgs_seen: 0,
        replay,
        connected: 0,
        disconnected: 0,
        store_dir,
    }
}

impl Running {
    /// Applies one event to the replayed chain, checking it fits.
    fn replay_event(&mut self, e: ChainEvent) {
        match e {
            ChainEvent::Connected { height, hash } => {
                assert_eq!(height as usize, self.replay.len(), "{e:?}");
                self.replay.push(hash);
                self.connected += 1;
            }
            ChainEvent::Disconnected { height, hash } => {
                assert_eq!(height as usize + 1, self.replay.len(), "{e:?}");
                assert_eq!(self.replay.pop(), Some(hash), "{e:?}");
                self.disconnected += 1;
            }
        }
    }

    /// Blocks rolled back in the reorgs reported since the last call. (The node disconnects
    /// an invalidated branch one block at a time, so one reorg may be seen as several.)
    fn rolled_back(&mut self) -> u32 {
        self.drain();
        let from = std::mem::replace(&mut self.reorgs_seen, self.notices.len());
        self.notices[from..]
            .iter()
            .map(|n| match n {
                Notice::Reorg { depth, .. } => *depth,
                _ => 0,
            })
            .sum()
    }

    fn drain(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            self.replay_event(e);
        }
        self.notices.extend(self.notices_rx.try_iter());
    }

    fn check_alive(&mut self) {
        if self.handle.as_ref().is_some_and(|h| h.is_finished()) {
            let r = self.handle.take().unwrap().join().unwrap();
            self.drain();
            panic!("follower ended: {r:?}; notices {:?}", self.notices);
        }
    }

    /// Waits until the committed store holds the node's tip and the events caught up with
    /// it; checks the replayed events against the store and returns the store.
    fn synced(&mut self, node: &Litecoind) -> Store {
        let tip = node_tip(node);
        let deadline = Instant::now() + SYNC_TIMEOUT;
        loop {
            self.check_alive();
            self.drain();
            if let Ok(store) = Store::open(&self.store_dir, CHAIN) {
                let c = store.committed();
                if c.tip_hash == tip && self.replay.len() == c.blocks as usize {
                    let stored: Vec<Hash32> = (0..c.blocks)
                        .map(|h| store.block_hash(h).unwrap())
                        .collect();
                    assert!(stored == self.replay, "events do not replay to the store");
                    return store;
                }
            }
            assert!(
                Instant::now() < deadline,
                "follower did not reach {tip} in {SYNC_TIMEOUT:?}; notices {:?}",
                self.notices
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(mut self) -> (FollowSummary, Vec<Notice>) {
        self.stop.store(true, Ordering::Relaxed);
        let r = self.handle.take().unwrap().join().unwrap();
        self.drain();
        let summary = r.unwrap_or_else(|e| panic!("follower: {e}; notices {:?}", self.notices));
        (summary, self.notices)
    }
}

/// Asserts that the store equals a fresh ingest of the node's blk files.
fn assert_matches_blk_files(store: &Store, node: &Litecoind, when: &str) {
    assert!(
        store.fingerprint() == fresh_fingerprint(&node.blocks_dir()),
        "{when}: the followed store differs from a fresh ingest of the blk files"
    );
}

/// The store's spender of `txid:vout` (`None`: unspent), panicking if the tx is unknown.
fn spender(store: &Store, txid: &str, vout: u32) -> Option<String> {
    let tx = store
        .tx_by_txid(&from_hex(txid).unwrap())
        .unwrap_or_else(|| panic!("{txid} not in the store"));
    let out = store.tx_outputs(tx).start + vout;
    match store.out_spender.as_slice()[out as usize] {
        NONE => None,
        s => Some(to_hex(&store.tx_txid.as_slice()[s as usize])),
    }
}

fn has_tx(store: &Store, txid: &str) -> bool {
    store.tx_by_txid(&from_hex(txid).unwrap()).is_some()
}

/// Invalidates the block at `height` and mines `n` blocks on its parent (empty ones if
/// `empty`); returns the invalidated hash.
fn fork_at(node: &Litecoind, height: u64, n: u64, empty: bool) -> String {
    let old = block_hash(node, height);
    rpc(node, "invalidateblock", json!([old]));
    assert_eq!(node.height().unwrap(), height - 1);
    if empty {
        let address = node.new_address("bech32").unwrap();
        for _ in 0..n {
            rpc(node, "generateblock", json!([address, []]));
        }
    } else {
        node.generate(n).unwrap();
    }
    old
}

/// Clusters `store` into `dir` (multi-input heuristic) and returns the cluster columns.
fn clusters(store: &Store, dir: &Path) -> (Vec<u8>, Vec<u8>, bool) {
    let opts = chainwatch_forensics::cluster::ClusterOptions::default();
    let s = chainwatch_forensics::cluster::run(store, dir, &opts, &mut |_, _| {}).unwrap();
    (
        std::fs::read(dir.join("cluster.col")).unwrap(),
        std::fs::read(dir.join("joined.col")).unwrap(),
        s.incremental,
    )
}

/// Clusters of a fresh ingest of the node's blk files.
fn fresh_clusters(node: &Litecoind) -> (Vec<u8>, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    run_ingest(&node.blocks_dir(), &dir);
    let store = Store::open(&dir, CHAIN).unwrap();
    let (c, j, _) = clusters(&store, &tmp.path().join("clusters"));
    (c, j)
}

/// Payments to each wallet address kind and a spend of several wallet coins at once (so the
/// multi-input heuristic has something to link).
fn transact(node: &Litecoind, round: u64) {
    for kind in ["legacy", "p2sh-segwit", "bech32"] {
        node.send(&node.new_address(kind).unwrap(), 10_000_000 + round)
            .unwrap();
    }
    let coins: Vec<(String, u64, u64, Option<String>)> = rpc(node, "listunspent", json!([1]))
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| {
            u["spendable"] == json!(true)
                && u["desc"].is_string()
                // Regtest halves the subsidy every 150 blocks: skip dust coinbases.
                && chainwatch_testenv::litoshis(&u["amount"]).unwrap_or(0) >= 1_000_000
        })
        .take(3)
        .map(|u| {
            (
                str_of(&u["txid"]),
                u["vout"].as_u64().unwrap(),
                chainwatch_testenv::litoshis(&u["amount"]).unwrap(),
                None,
            )
        })
        .collect();
    if coins.len() >= 2 {
        spend(node, &coins, 2);
    }
}

#[test]
fn follows_mining_payments_and_reorgs_of_depth_1_to_10() {
    let started = Instant::now();
    let node = Litecoind::start().expect("start litecoind");
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    node.generate(101).unwrap();
    // Small batches on two connections: the catch-up runs in many parallel chunks.
    let mut opts = test_options(&store_dir);
    opts.max_batch = 7;
    let mut f = start(&node.rpc_url(), opts);
    let store = f.synced(&node);
    assert_eq!(store.committed().blocks, 102);
    assert_matches_blk_files(&store, &node, "catch-up");

    // Live: payments and multi-input spends, a block at a time.
    for round in 0..4 {
        transact(&node, round);
        node.generate(1).unwrap();
        f.synced(&node);
    }
    let store = f.synced(&node);
    assert_matches_blk_files(&store, &node, "live blocks");
    let cluster_dir = tmp.path().join("clusters");
    let (c0, _, _) = clusters(&store, &cluster_dir);
    assert!(
        c0.chunks(4)
            .enumerate()
            .any(|(a, c)| u32::from_le_bytes(c.try_into().unwrap()) != a as u32),
        "nothing clustered"
    );
    drop(store);

    // Depth 1: the tip replaced by a longer branch.
    let h = node.height().unwrap();
    f.synced(&node);
    assert_eq!(f.rolled_back(), 0);
    let old = fork_at(&node, h, 2, false);
    let store = f.synced(&node);
    assert_eq!(f.rolled_back(), 1);
    assert_eq!(store.height_of_block(&from_hex(&old).unwrap()), None);
    assert_matches_blk_files(&store, &node, "depth 1");
    // Derived state: clustering notices the rollback and equals a fresh run.
    let (c, j, incremental) = clusters(&store, &cluster_dir);
    assert!(
        !incremental,
        "clusters of a rolled-back chain must be recomputed"
    );
    assert!((c, j) == fresh_clusters(&node), "clusters after the reorg");
    drop(store);

    // Depth 2, removing a spend: P pays A, Q spends A; both replaced by empty blocks.
    let address = node.new_address("bech32").unwrap();
    let a = node.send(&address, 100_000_000).unwrap();
    node.generate(1).unwrap();
    let a_tx = rpc(&node, "getrawtransaction", json!([a, true]));
    let a_vout = a_tx["vout"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["scriptPubKey"]["addresses"][0] == json!(address))
        .unwrap()["n"]
        .as_u64()
        .unwrap() as u32;
    let (a_in_txid, a_in_vout) = (
        str_of(&a_tx["vin"][0]["txid"]),
        a_tx["vin"][0]["vout"].as_u64().unwrap() as u32,
    );
    let b = spend(
        &node,
        &[(a.clone(), u64::from(a_vout), 100_000_000, None)],
        2,
    );
    node.generate(1).unwrap();
    let store = f.synced(&node);
    assert_eq!(spender(&store, &a, a_vout), Some(b.clone()));
    assert_eq!(spender(&store, &a_in_txid, a_in_vout), Some(a.clone()));
    // Clusters kept up to date incrementally.
    assert!(clusters(&store, &cluster_dir).2, "incremental clustering");
    drop(store);
    let h = node.height().unwrap();
    f.synced(&node);
    assert_eq!(f.rolled_back(), 0);
    let p = fork_at(&node, h - 1, 3, true);
    let store = f.synced(&node);
    assert_eq!(f.rolled_back(), 2);
    assert!(!has_tx(&store, &a) && !has_tx(&store, &b), "the spend left");
    assert_eq!(spender(&store, &a_in_txid, a_in_vout), None, "A's input");
    assert_matches_blk_files(&store, &node, "depth 2 removing a spend");
    let (c, j, incremental) = clusters(&store, &cluster_dir);
    assert!(
        !incremental,
        "clusters of a rolled-back chain must be recomputed"
    );
    assert!(
        (c, j) == fresh_clusters(&node),
        "clusters after removing a spend"
    );
    drop(store);
    // The old branch is valid again but shorter: nothing changes.
    rpc(&node, "reconsiderblock", json!([p]));
    assert_eq!(node.height().unwrap(), h + 1);

    // Depth 5 and back: branch A (5 blocks, A and B re-mined from the mempool) is replaced
    // by branch B (6), then A wins again with 2 more blocks (a reorg of depth 6 onto blocks
    // the store had before). Forks start above the previous ones, so that invalidating a
    // block leaves its parent as the best valid tip.
    transact(&node, 10);
    node.generate(5).unwrap();
    let h = node.height().unwrap();
    f.synced(&node);
    assert_eq!(f.rolled_back(), 0);
    let a_first = fork_at(&node, h - 4, 6, false);
    let store = f.synced(&node);
    assert_eq!(f.rolled_back(), 5);
    assert!(has_tx(&store, &a) && has_tx(&store, &b), "re-mined");
    assert_eq!(spender(&store, &a, a_vout), Some(b.clone()));
    assert_matches_blk_files(&store, &node, "depth 5");
    drop(store);
    let b_first = block_hash(&node, h - 4);
    rpc(&node, "reconsiderblock", json!([a_first]));
    assert_eq!(node.height().unwrap(), h + 1, "B has more work");
    rpc(&node, "invalidateblock", json!([b_first]));
    assert_eq!(node.height().unwrap(), h, "back on A");
    node.generate(2).unwrap();
    rpc(&node, "reconsiderblock", json!([b_first]));
    assert_eq!(node.height().unwrap(), h + 2);
    let store = f.synced(&node);
    assert_eq!(f.rolled_back(), 6);
    assert_eq!(
        store.height_of_block(&from_hex(&a_first).unwrap()),
        Some(h as u32 - 4)
    );
    assert_matches_blk_files(&store, &node, "depth 6 back to A");
    drop(store);

    // Depth 10.
    transact(&node, 20);
    node.generate(12).unwrap();
    let h = node.height().unwrap();
    f.synced(&node);
    assert_eq!(f.rolled_back(), 0);
    fork_at(&node, h - 9, 11, false);
    let store = f.synced(&node);
    assert_eq!(f.rolled_back(), 10);
    assert_matches_blk_files(&store, &node, "depth 10");
    drop(store);

    // MWEB: activation (a peg-in) and blocks with MWEB data, then a reorg across them
    // (above the first MWEB block, which needs a peg-in to be mined again).
    node.activate_mweb().unwrap();
    node.generate(3).unwrap();
    node.send(&node.new_address("mweb").unwrap(), 50_000_000)
        .unwrap();
    transact(&node, 30);
    node.generate(2).unwrap();
    let store = f.synced(&node);
    assert_matches_blk_files(&store, &node, "MWEB");
    drop(store);
    let h = node.height().unwrap();
    f.synced(&node);
    assert_eq!(f.rolled_back(), 0);
    fork_at(&node, h - 2, 4, false);
    let store = f.synced(&node);
    assert_eq!(f.rolled_back(), 3);
    assert_matches_blk_files(&store, &node, "depth 3 across MWEB blocks");
    let (c, j, _) = clusters(&store, &cluster_dir);
    assert!((c, j) == fresh_clusters(&node), "clusters at the end");
    drop(store);

    let (connected, disconnected) = (f.connected, f.disconnected);
    let (summary, notices) = f.stop();
    let reorgs = notices
        .iter()
        .filter(|n| matches!(n, Notice::Reorg { .. }))
        .count() as u64;
    assert!(summary.reorgs == reorgs && reorgs >= 6, "{summary:?}");
    assert_eq!(summary.blocks_rolled_back, 27);
    assert_eq!(disconnected, 27);
    assert_eq!(connected, summary.blocks_added);
    assert_eq!(summary.height, node.height().unwrap() as i64);
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{summary:?} in {:.1?}", started.elapsed());
    }
}

#[test]
fn survives_node_restarts_crashes_and_reports_bad_credentials() {
    let mut node = Litecoind::start_with_args(&["-vbparams=mweb:32503680000:32503680001"])
        .expect("start litecoind");
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    node.generate(110).unwrap();
    transact(&node, 0);
    node.generate(1).unwrap();
    let url = node.rpc_url();

    // Wrong credentials: a distinct error at once, the store untouched.
    let bad = url.replacen("@127.0.0.1", "x@127.0.0.1", 1);
    let stop = AtomicBool::new(false);
    let err = follow(
        &client(&bad),
        &test_options(&store_dir),
        None,
        &stop,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        err.is_bad_input() && matches!(err, FollowError::Rpc(RpcError::Unauthorized { .. })),
        "{err}"
    );
    assert!(
        !err.to_string().contains(&bad),
        "password in the message: {err}"
    );
    assert!(!store_dir.exists(), "an empty store left behind");

    // The node stops while followed, and comes back.
    let mut f = start(&url, test_options(&store_dir));
    f.synced(&node);
    node.stop().unwrap();
    // Meanwhile a second, one-shot follower on another store gives up after its limit.
    let mut once = test_options(&tmp.path().join("other"));
    once.once = true;
    once.give_up_after = Some(Duration::from_millis(500));
    let t = Instant::now();
    let err = follow(&client(&url), &once, None, &stop, &mut |_| {}).unwrap_err();
    assert!(err.is_transient() && !err.is_bad_input(), "{err}");
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    node.restart().unwrap();
    node.generate(3).unwrap();
    let store = f.synced(&node);
    assert_matches_blk_files(&store, &node, "after a node restart");
    drop(store);
    let (_, notices) = f.stop();
    let retries = notices
        .iter()
        .filter(|n| matches!(n, Notice::Retrying { .. }))
        .count();
    assert!(retries >= 2, "{notices:?}");
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::Recovered { .. })),
        "{notices:?}"
    );

    // The node restarts in the middle of a catch-up (one block per request and commit).
    // (A commit costs about 50 ms of fsyncs here: 100 blocks take about 5 s.)
    let start_blocks = Store::open(&store_dir, CHAIN).unwrap().committed().blocks;
    node.generate(100).unwrap();
    let mut opts = test_options(&store_dir);
    opts.max_batch = 1;
    opts.connections = 1;
    opts.commit_interval = Duration::ZERO;
    let mut f = start(&url, opts);
    let deadline = Instant::now() + SYNC_TIMEOUT;
    while Store::open(&store_dir, CHAIN).unwrap().committed().blocks < start_blocks + 10 {
        assert!(Instant::now() < deadline, "no catch-up");
        std::thread::sleep(Duration::from_millis(2));
    }
    node.restart().unwrap();
    node.generate(2).unwrap();
    let store = f.synced(&node);
    assert_matches_blk_files(&store, &node, "after a restart during the catch-up");
    drop(store);
    let (summary, _) = f.stop();
    assert!(summary.retries >= 1, "{summary:?}");

    // A follower killed in the middle of writing: blocks appended (one of them spending
    // committed outputs), a block record and txid written for the next, nothing committed.
    let coins = rpc(&node, "listunspent", json!([1]));
    let old = &coins.as_array().unwrap()[0];
    let old_coin = (str_of(&old["txid"]), old["vout"].as_u64().unwrap() as u32);
    let spending = spend(
        &node,
        &[(
            old_coin.0.clone(),
            u64::from(old_coin.1),
            chainwatch_testenv::litoshis(&old["amount"]).unwrap(),
            None,
        )],
        2,
    );
    node.generate(6).unwrap();
    {
        let mut store = Store::open_writer(&store_dir, CHAIN).unwrap();
        let committed = store.committed().clone();
        for h in committed.blocks..committed.blocks + 5 {
            let hash = block_hash(&node, u64::from(h));
            let raw = hex::decode(str_of(&rpc(&node, "getblock", json!([hash, 0])))).unwrap();
            store.append(&prepare_block(&raw).unwrap()).unwrap();
        }
        assert_eq!(
            spender(&store, &old_coin.0, old_coin.1),
            Some(spending.clone())
        );
        let next_tx = store.tx.len() as u32;
        store
            .blocks
            .push(BlockRec {
                hash: [7; 32],
                header: [0; 80],
                first_tx: next_tx,
                first_addr: store.addr_kind.len() as u32,
                size: 300,
                n_tx: 2,
            })
            .unwrap();
        store.tx_txid.push([9; 32]).unwrap();
        drop(store); // no commit, no close: as if killed
    }
    assert!(store_dir.join("DIRTY").exists());
    let stop = AtomicBool::new(false);
    let mut opts = test_options(&store_dir);
    opts.once = true;
    // Credentials from a cookie file this time.
    let cookie = tmp.path().join(".cookie");
    let userinfo = url
        .strip_prefix("http://")
        .and_then(|r| r.split_once('@'))
        .unwrap()
        .0;
    std::fs::write(&cookie, userinfo).unwrap();
    let port = node.rpc_port();
    let cookie_client = RpcClient::new(
        &format!("http://127.0.0.1:{port}"),
        RpcOptions {
            cookie: Some(cookie),
            ..RpcOptions::default()
        },
    )
    .unwrap();
    let (etx, erx) = channel();
    let summary = follow(&cookie_client, &opts, Some(etx), &stop, &mut |_| {}).unwrap();
    assert_eq!(summary.blocks_added, 6);
    assert!(!store_dir.join("DIRTY").exists());
    let heights: Vec<u32> = erx.try_iter().map(|e| e.height()).collect();
    assert_eq!(heights.len(), 6, "{heights:?}");
    let store = Store::open(&store_dir, CHAIN).unwrap();
    assert_eq!(store.committed().tip_hash, node_tip(&node));
    assert_eq!(spender(&store, &old_coin.0, old_coin.1), Some(spending));
    assert_eq!(store.tx_by_txid(&[9; 32]), None);
    assert_matches_blk_files(&store, &node, "after a crash mid-block");
}

/// Environment variables of the follower child process.
const CHILD_URL: &str = "CHAINWATCH_TEST_FOLLOW_URL";
const CHILD_STORE: &str = "CHAINWATCH_TEST_FOLLOW_STORE";

/// Not a test by itself: the child process `followers_killed_with_sigkill_resume` starts
/// and kills. Follows until killed, committing after every block.
#[test]
#[ignore = "child process of followers_killed_with_sigkill_resume"]
fn follower_child_process() {
    let (Ok(url), Ok(dir)) = (std::env::var(CHILD_URL), std::env::var(CHILD_STORE)) else {
        return;
    };
    let mut opts = test_options(Path::new(&dir));
    opts.max_batch = 3;
    opts.commit_interval = Duration::ZERO;
    let stop = AtomicBool::new(false);
    follow(&client(&url), &opts, None, &stop, &mut |_| {}).unwrap();
}

#[test]
fn followers_killed_with_sigkill_resume() {
    let node = Litecoind::start_with_args(&["-vbparams=mweb:32503680000:32503680001"])
        .expect("start litecoind");
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    node.generate(101).unwrap();
    for round in 0..12 {
        transact(&node, round);
        node.generate(25).unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    // Kill times from a fixed sequence spread over 40–290 ms (deterministic, varied).
    let mut seed = 0x2545_f491_u64;
    let mut kills_while_dirty = 0;
    let mut kills = 0;
    for _ in 0..40 {
        let before = Store::open(&store_dir, CHAIN)
            .map(|s| s.committed().blocks)
            .unwrap_or(0);
        if before as u64 > node.height().unwrap() {
            break;
        }
        let mut child = std::process::Command::new(&exe)
            .args(["--exact", "follower_child_process", "--ignored", "--quiet"])
            .env(CHILD_URL, node.rpc_url())
            .env(CHILD_STORE, &store_dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let ms = 40 + (seed >> 33) % 250;
        std::thread::sleep(Duration::from_millis(ms));
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the follower exited by itself: {status}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        if store_dir.join("DIRTY").exists() {
            kills_while_dirty += 1;
        }
        // Whatever the moment, a reader sees a consistent committed store.
        if let Ok(s) = Store::open(&store_dir, CHAIN) {
            let c = s.committed();
            if c.blocks > 0 {
                assert_eq!(
                    to_hex(&s.block_hash(c.blocks - 1).unwrap()),
                    c.tip_hash,
                    "after kill {kills}"
                );
            }
        }
    }
    assert!(
        kills >= 3 && kills_while_dirty >= 2,
        "{kills} kills, {kills_while_dirty} dirty"
    );
    let stop = AtomicBool::new(false);
    let mut opts = test_options(&store_dir);
    opts.once = true;
    follow(&client(&node.rpc_url()), &opts, None, &stop, &mut |_| {}).unwrap();
    let store = Store::open(&store_dir, CHAIN).unwrap();
    assert_eq!(store.committed().tip_hash, node_tip(&node));
    assert_matches_blk_files(&store, &node, "after kill -9s");
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{kills} kills, {kills_while_dirty} with uncommitted writes");
    }
}

/// Blocks/s of a catch-up over RPC, and the delay from `generatetoaddress` returning to
/// the block being committed in the store (its `Connected` event; then a reader finds it).
#[test]
#[ignore = "measurement; run with --release --ignored --nocapture"]
#[allow(clippy::print_stderr)]
fn catch_up_rate_and_tip_latency() {
    let node = Litecoind::start_with_args(&["-vbparams=mweb:32503680000:32503680001"])
        .expect("start litecoind");
    let tmp = tempfile::tempdir().unwrap();
    let address = node.new_address("bech32").unwrap();
    let n: u64 = std::env::var("BLOCKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let t = Instant::now();
    for _ in 0..n / 500 {
        node.generate_to(500, &address).unwrap();
    }
    // Some blocks with transactions too.
    for round in 0..20 {
        transact(&node, round);
        node.generate_to(1, &address).unwrap();
    }
    let height = node.height().unwrap();
    eprintln!("node mined {height} blocks in {:.1?}", t.elapsed());
    for (connections, max_batch) in [(1, 1), (2, 1), (1, 16), (2, 16), (4, 16), (2, 64), (2, 500)] {
        let dir = tmp.path().join(format!("s{connections}-{max_batch}"));
        let mut opts = FollowOptions::new(&dir, CHAIN);
        opts.once = true;
        opts.connections = connections;
        opts.max_batch = max_batch;
        let stop = AtomicBool::new(false);
        let t = Instant::now();
        let s = follow(&client(&node.rpc_url()), &opts, None, &stop, &mut |_| {}).unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(s.height as u64, height);
        eprintln!(
            "catch-up: {} blocks ({:.1} MB) in {secs:.2} s = {:.0} blocks/s ({connections} connection(s), batches of ≤{max_batch})",
            s.blocks_added,
            s.block_bytes as f64 / 1e6,
            s.blocks_added as f64 / secs
        );
    }
    // Latency at the tip.
    for (long_poll, poll_ms) in [(true, 1000), (false, 1000), (false, 100)] {
        let dir = tmp.path().join("s2-500");
        let mut opts = FollowOptions::new(&dir, CHAIN);
        opts.long_poll = long_poll;
        opts.poll = Duration::from_millis(poll_ms);
        let mut f = start(&node.rpc_url(), opts);
        f.synced(&node);
        let mut lat = Vec::new();
        for i in 0..20u64 {
            // Mine at varied moments of the poll cycle.
            std::thread::sleep(Duration::from_millis(37 * (i % 7) + 5));
            let hash = node.generate_to(1, &address).unwrap()[0].clone();
            let t = Instant::now();
            let want = from_hex(&hash).unwrap();
            loop {
                let e = f
                    .events
                    .recv_timeout(Duration::from_secs(10))
                    .expect("event");
                f.replay_event(e);
                if e.hash() == want {
                    break;
                }
            }
            lat.push(t.elapsed());
            let store = Store::open(&dir, CHAIN).unwrap();
            assert!(store.height_of_block(&want).is_some());
        }
        lat.sort();
        eprintln!(
            "tip latency (long poll {long_poll}, poll {poll_ms} ms): median {:.1?}, p90 {:.1?}, max {:.1?}",
            lat[lat.len() / 2],
            lat[lat.len() * 9 / 10],
            lat[lat.len() - 1]
        );
        f.stop();
    }
}
