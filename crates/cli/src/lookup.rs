//! `tx`, `address` and `block`: look-ups in the chain store.

use crate::{pick_chain, BadInput};
use chainwatch_chain::store::{store_dir, Store};
use chainwatch_chain::{from_hex, Hash32};
use chainwatch_types::{AddrKey, Chain};
use serde::Serialize;
use std::path::Path;

fn open(data: &Path, chain: Option<Chain>) -> anyhow::Result<Store> {
    let chain = pick_chain(data, chain)?;
    Store::open(&store_dir(data, chain), chain).map_err(|e| BadInput(e.to_string()).into())
}

fn parse_hash(s: &str, what: &str) -> anyhow::Result<Hash32> {
    if s.len() != 64 {
        return Err(BadInput(format!("'{s}' is not a {what} (64 hex digits)")).into());
    }
    from_hex(s).ok_or_else(|| BadInput(format!("'{s}' is not a {what} (64 hex digits)")).into())
}

#[allow(clippy::print_stdout)]
fn emit<T: Serialize>(v: &T, json: bool, human: impl FnOnce(&T)) {
    if json {
        println!("{}", serde_json::to_string_pretty(v).expect("serializable"));
    } else {
        human(v);
    }
}

/// `chainwatch tx TXID`.
#[allow(clippy::print_stdout)]
pub fn tx(data: &Path, chain: Option<Chain>, txid: &str, json: bool) -> anyhow::Result<()> {
    let store = open(data, chain)?;
    let hash = parse_hash(txid, "txid")?;
    let tx_num = store
        .tx_by_txid(&hash)
        .ok_or_else(|| BadInput(format!("tx {txid} is not in the store")))?;
    emit(&store.tx_view(tx_num), json, |t| {
        println!(
            "tx {} at height {} (block {})",
            t.txid, t.height, t.block_hash
        );
        if let Some(fee) = t.fee {
            println!("fee {fee}");
        }
        for (i, inp) in t.inputs.iter().enumerate() {
            match (&inp.prev_txid, inp.prev_vout) {
                (Some(p), Some(v)) => println!(
                    "  in  {i:>3}  {p}:{v}  {}  {}",
                    inp.address.as_deref().unwrap_or(""),
                    inp.value.unwrap_or(0)
                ),
                _ => println!("  in  {i:>3}  coinbase"),
            }
        }
        for o in &t.outputs {
            println!(
                "  out {:>3}  {}  {}  {}",
                o.vout,
                o.address,
                o.value,
                o.spent_by
                    .as_deref()
                    .map(|s| format!("spent by {s}"))
                    .unwrap_or_else(|| "unspent".into())
            );
        }
    });
    Ok(())
}

/// `chainwatch address ADDR`.
#[allow(clippy::print_stdout)]
pub fn address(data: &Path, chain: Option<Chain>, addr: &str, json: bool) -> anyhow::Result<()> {
    let store = open(data, chain)?;
    let key = AddrKey::parse(addr.trim(), store.chain())
        .map_err(|e| BadInput(format!("'{addr}' is not a {} address: {e}", store.chain())))?;
    let view = store
        .address_view(&key)
        .ok_or_else(|| BadInput(format!("address {addr} never appears on the stored chain")))?;
    emit(&view, json, |a| {
        println!("address   {} ({:?}, id {})", a.address, a.kind, a.addr_id);
        println!("received  {}", a.received);
        println!("sent      {}", a.sent);
        println!("balance   {}", a.balance);
        println!("txs       {} (outputs {})", a.tx_count, a.output_count);
        println!("heights   {}..={}", a.first_height, a.last_height);
    });
    Ok(())
}

/// `chainwatch block HEIGHT|HASH`.
#[allow(clippy::print_stdout)]
pub fn block(data: &Path, chain: Option<Chain>, which: &str, json: bool) -> anyhow::Result<()> {
    let store = open(data, chain)?;
    let height = if which.len() == 64 {
        let hash = parse_hash(which, "block hash")?;
        store
            .height_of_block(&hash)
            .ok_or_else(|| BadInput(format!("block {which} is not in the store")))?
    } else {
        which
            .parse::<u32>()
            .map_err(|_| BadInput(format!("'{which}' is neither a height nor a block hash")))?
    };
    let view = store.block_view(height).ok_or_else(|| {
        BadInput(format!(
            "no block at height {height} (tip is {})",
            store.committed().blocks as i64 - 1
        ))
    })?;
    emit(&view, json, |b| {
        println!("block {} height {}", b.hash, b.height);
        println!(
            "prev {}  time {}  bits {}  size {}",
            b.prev_hash, b.time, b.bits, b.size
        );
        println!("{} txs", b.tx_count);
        for t in &b.txids {
            println!("  {t}");
        }
    });
    Ok(())
}
