//! `chainwatch follow` through the binary against a real Litecoin Core regtest node: `--once`
//! catches up to the node's tip; the store equals a blk-file ingest of the node's files; wrong
//! credentials exit 2.

mod common;
use chainwatch_chain::store::{store_dir, Store};
use chainwatch_testenv::Litecoind;
use chainwatch_types::Chain;
use common::*;

#[test]
fn follow_once_catches_up_like_a_blk_ingest() {
    let mut node = Litecoind::start().expect("litecoind (apt-get install litecoind)");
    node.generate(30).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("followed");
    let url = node.rpc_url();
    let s = json(
        &data,
        &[
            "follow",
            "--rpc",
            &url,
            "--chain",
            "litecoin-regtest",
            "--once",
            "--json",
        ],
    );
    assert!(
        s.to_string().contains("30"),
        "summary should reach height 30: {s}"
    );
    // Bad credentials: exit 2 with the reason, no password echoed.
    // rpc_url() is http://USER:PASS@HOST:PORT: swap the credentials.
    let creds = url.split("://").nth(1).unwrap().split('@').next().unwrap();
    let bad = url.replace(creds, "nobody:wrong");
    let out = cw(
        &dir.path().join("bad"),
        &[
            "follow",
            "--rpc",
            &bad,
            "--chain",
            "litecoin-regtest",
            "--once",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("wrong"));
    node.stop().unwrap();
    let ingested = dir.path().join("ingested");
    ok(
        &ingested,
        &[
            "ingest",
            "--blocks",
            node.blocks_dir().to_str().unwrap(),
            "--chain",
            "litecoin-regtest",
        ],
    );
    let chain = Chain::LitecoinRegtest;
    let a = Store::open(&store_dir(&data, chain), chain).unwrap();
    let b = Store::open(&store_dir(&ingested, chain), chain).unwrap();
    assert_eq!(a.committed().blocks, 31);
    assert_eq!(a.fingerprint(), b.fingerprint());
}
