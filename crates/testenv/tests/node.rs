//! Starts a real `litecoind` and exercises every helper.

use chainwatch_testenv::{litoshis, Litecoind};
use serde_json::json;

#[test]
fn node_mines_sends_stops_and_restarts() {
    let mut node = Litecoind::start().expect("start litecoind");
    assert!(node.rpc_url().starts_with("http://"));
    let hashes = node.generate(101).expect("generate");
    assert_eq!(hashes.len(), 101);
    assert_eq!(node.height().unwrap(), 101);

    let legacy = node.new_address("legacy").unwrap();
    let p2sh = node.new_address("p2sh-segwit").unwrap();
    let bech32 = node.new_address("bech32").unwrap();
    assert!(
        legacy.starts_with('m') || legacy.starts_with('n'),
        "{legacy}"
    );
    assert!(p2sh.starts_with('Q'), "{p2sh}");
    assert!(bech32.starts_with("rltc1q"), "{bech32}");
    let err = node.new_address("bech32m").unwrap_err();
    assert!(
        matches!(err, chainwatch_testenv::Error::Rpc { code: -5, .. }),
        "{err}"
    );

    let txid = node.send(&p2sh, 123_456_789).unwrap();
    node.generate(1).unwrap();
    let tx = node.rpc("gettransaction", json!([txid])).unwrap();
    assert_eq!(tx["confirmations"], json!(1));
    let out = node.rpc("getrawtransaction", json!([txid, true])).unwrap()["vout"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["scriptPubKey"]["addresses"][0] == json!(p2sh))
        .cloned()
        .expect("output to the p2sh-segwit address");
    assert_eq!(litoshis(&out["value"]), Some(123_456_789));

    let tip = node.rpc("getbestblockhash", json!([])).unwrap();
    node.stop().unwrap();
    assert!(!node.is_running());
    assert!(node.rpc("getblockcount", json!([])).is_err());
    let blk0 = node.blocks_dir().join("blk00000.dat");
    assert!(blk0.is_file(), "{}", blk0.display());
    assert!(!node.blocks_dir().join("xor.dat").exists());

    node.restart().unwrap();
    assert_eq!(node.rpc("getbestblockhash", json!([])).unwrap(), tip);
    // The wallet is loaded again and still has its funds.
    node.send(&legacy, 100_000).unwrap();
}

#[test]
fn a_node_that_refuses_its_options_reports_why() {
    // 0.21.2 refuses -bind together with -listen=0 (one reason testenv does not pass -bind).
    let err = match Litecoind::start_with_args(&["-bind=127.0.0.1"]) {
        Ok(_) => panic!("litecoind accepted -bind with -listen=0"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(
        matches!(err, chainwatch_testenv::Error::Exited { .. }),
        "{text}"
    );
    assert!(text.contains("-listen=0"), "{text}");
}
