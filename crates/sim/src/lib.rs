//! Scenario simulator: writes real Bitcoin Core style `blk*.dat` files of a synthetic
//! economy in which an exchange is robbed and the loot laundered, plus the ground truth.
//!
//! [`run`] writes into a directory:
//! - `blocks/blk00000.dat`, … — records of network magic, size and block, a new file when
//!   the next record would reach 128 MiB, optionally XOR-obfuscated with `blocks/xor.dat`
//!   (Bitcoin Core 28+), optionally out of order within windows of heights, optionally
//!   with stale side branches;
//! - `truth.json` — the theft, stolen deposits per exchange and laundering path, CoinJoin
//!   and mixer transactions, peel chains, stale blocks, and every address grouped by owner;
//! - `tags.yaml` — a GraphSense TagPack with what an investigator would know (exchange hot
//!   wallets, the mixer's known address);
//! - `incident.json` — the theft as the victim would report it.
//!
//! The chain is consensus-shaped: own genesis, regtest difficulty with ground nonces, BIP34
//! heights, BIP141 witness commitments, correct txids/merkle roots, 100-block coinbase
//! maturity, conserved values, no double spends. The subsidy is 50 coins halving every
//! 150 blocks on the regtest chains (210,000 on Bitcoin mainnet/testnet, 840,000 on
//! Litecoin). Keys and signatures are deterministic dummies of the right shapes (nobody
//! can verify them); scripts commit to the keys in the witnesses as real ones do.
//!
//! The same [`SimConfig`] always gives byte-identical output. Blocks `1..=100` hold only
//! coinbases (nothing is spendable before maturity); the heist happens in the middle of
//! the remaining blocks and the laundering fills most of the rest.
//!
//! The economy: 5 mining pools (payouts to users, sales at exchanges); users (one per 40
//! target transactions, 200–50,000) paying each other and merchants with change (mostly
//! fresh change addresses), consolidating, using the mixer and Whirlpool; merchants
//! cashing out; 6 exchanges with per-user deposit addresses swept into 1–2 hot addresses
//! and batched withdrawals with change back to the hot wallet; a custodial mixer (fresh
//! deposit addresses, FIFO pool, payouts after a delay, 2% fee); Whirlpool (0.01 and
//! 0.05 BTC pools) and Wasabi 2 style rounds. Entities in `truth.json` are named after
//! their owner: the exchanges' names, `mixer`, `thief`, `whirlpool-coordinator`,
//! `wasabi-coordinator`, `pool-N`, `merchant-N`, `user-N`. Besides the fields of the
//! brief, `truth.json` has `chain`, `seed`, `thief_coinjoin_txids` and
//! `all_mixer_deposit_txids` (`mixer_deposit_txids` are the thief's; `coinjoin_txids`
//! are all CoinJoins).
//!
//! Generation runs on one thread; writing the blk files (XOR, shuffle) runs on a second
//! one, and the address strings of `truth.json` are encoded on two threads.
//!
//! Known limits: with more than about 2,500 transactions per block the blocks exceed the
//! 4M weight-unit limit (nothing here enforces it); signatures do not verify; the genesis
//! coinbase pays a pool but, as in Bitcoin, is never spent.

mod blk;
mod block;
mod coinjoin;
mod economy;
mod heist;
mod keys;
mod rng;
mod truth;

use crate::block::{BlockBuilder, CoinbaseSpec};
use crate::economy::{block_time, subsidy, Sim, MATURITY};
use crate::rng::{mix64, Rng};
use chainwatch_types::Chain;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The fewest blocks a scenario needs (coinbase maturity, an economy, a heist, laundering).
pub const MIN_BLOCKS: u32 = 150;
/// The most transactions a scenario may ask for (address serial numbers have 29 bits).
pub const MAX_TXS: u64 = 150_000_000;

/// What to simulate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Seed of everything; the same config gives byte-identical files.
    pub seed: u64,
    /// Main-chain blocks including genesis (at least [`MIN_BLOCKS`]).
    pub blocks: u32,
    /// Target total number of main-chain transactions (coinbases included).
    pub txs: u64,
    /// Chain whose magic, address format and subsidy schedule to use.
    pub chain: Chain,
    /// Write blocks shuffled within windows of this many heights (0 = in order).
    pub shuffle_window: u32,
    /// Number of stale blocks (side branches of 1–2 blocks) to add.
    pub stale: u32,
    /// Obfuscate the blk files with an XOR key in `blocks/xor.dat`.
    pub xor: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            blocks: 1_000,
            txs: 200_000,
            chain: Chain::BitcoinRegtest,
            shuffle_window: 0,
            stale: 0,
            xor: false,
        }
    }
}

/// What [`run`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct SimSummary {
    /// Main-chain blocks written (including genesis).
    pub blocks: u32,
    /// Main-chain transactions (coinbases included).
    pub txs: u64,
    /// Bytes written to blk files (stale blocks and framing included).
    pub bytes: u64,
    /// Hash of the tip (RPC byte order).
    pub tip_hash: String,
    /// Height of the tip.
    pub height: u32,
    /// Wall-clock seconds taken.
    pub seconds: f64,
}

/// Why a simulation failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration cannot be simulated.
    #[error("bad simulation config: {0}")]
    BadConfig(String),
}

fn validate(cfg: &SimConfig) -> Result<(), SimError> {
    let bad = |s: String| Err(SimError::BadConfig(s));
    if cfg.blocks < MIN_BLOCKS {
        return bad(format!(
            "blocks must be at least {MIN_BLOCKS} (coinbases mature after {MATURITY} blocks), got {}",
            cfg.blocks
        ));
    }
    let min_txs = cfg.blocks as u64 + 10 * (cfg.blocks - MATURITY - 1) as u64;
    if cfg.txs < min_txs {
        return bad(format!(
            "txs must be at least {min_txs} for {} blocks (10 per block after maturity), got {}",
            cfg.blocks, cfg.txs
        ));
    }
    if cfg.txs > MAX_TXS {
        return bad(format!("txs must be at most {MAX_TXS}, got {}", cfg.txs));
    }
    if cfg.stale > cfg.blocks / 2 {
        return bad(format!(
            "stale must be at most half the blocks ({}), got {}",
            cfg.blocks / 2,
            cfg.stale
        ));
    }
    if cfg.shuffle_window > 10_000 {
        return bad(format!(
            "shuffle_window must be at most 10000, got {}",
            cfg.shuffle_window
        ));
    }
    Ok(())
}

/// The blk-file XOR key for `seed`: 8 non-zero bytes.
pub fn xor_key(seed: u64) -> [u8; 8] {
    let mut k = mix64(seed ^ 0x786f_722e_6461_7400).to_le_bytes();
    for b in k.iter_mut() {
        if *b == 0 {
            *b = 0x5a;
        }
    }
    k
}

/// Stale branches: (fork height, length), sorted by fork height, `stale` blocks in total.
fn plan_stale(rng: &mut Rng, cfg: &SimConfig) -> Vec<(u32, u32)> {
    let last = cfg.blocks - 1;
    let mut left = cfg.stale;
    let mut plan = Vec::new();
    while left > 0 {
        let len = (rng.range(1, 2) as u32).min(left);
        // The main chain must stay strictly longer than the branch past the fork.
        let fork = rng.range(1, (last - 1 - len) as u64) as u32;
        plan.push((fork, len));
        left -= len;
    }
    plan.sort_unstable();
    plan
}

/// Generates the scenario into `out_dir` (see the crate docs); calls `progress` with the
/// number of main-chain blocks generated so far and the total. Existing `blk*.dat` and
/// `xor.dat` files in `out_dir/blocks` are removed first.
pub fn run(
    cfg: &SimConfig,
    out_dir: &Path,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<SimSummary, SimError> {
    let t0 = Instant::now();
    validate(cfg)?;
    std::fs::create_dir_all(out_dir).map_err(|source| SimError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let xor = cfg.xor.then(|| xor_key(cfg.seed));
    let writer = blk::BlkWriter::new(&out_dir.join("blocks"), cfg.chain.magic(), xor)?;
    let mut layout_rng = Rng::new(cfg.seed ^ 0x006c_6179_6f75_7400);
    let stale_plan = plan_stale(&mut layout_rng, cfg);
    let mut layout = blk::Sink::spawn(
        writer,
        cfg.shuffle_window,
        Rng::new(cfg.seed ^ 0x7368_7566_666c_6500),
    );
    let mut sim = Sim::new(cfg);
    sim.plan_heist();

    // Genesis.
    let (spk, value) = sim.genesis_coinbase();
    let tag = format!("chainwatch-sim genesis, seed {}", cfg.seed).into_bytes();
    let spec = CoinbaseSpec {
        height: 0,
        tag: &tag,
        script_pubkey: &spk,
        value,
        witness_commitment: false,
    };
    let mut buf = layout.buffer();
    let (_, genesis, _, n) =
        BlockBuilder::default().finish([0; 32], block_time(cfg.seed, 0), &spec, &mut buf);
    sim.truth.tip = genesis;
    sim.tx_count = n as u64;
    layout.push(buf, true)?;
    progress(1, cfg.blocks);

    let stale_spk = sim.stale_coinbase_script();
    let mut next_stale = 0;
    let mut stale_builder = BlockBuilder::default();
    for h in 1..cfg.blocks {
        sim.fill_block(h);
        let mut buf = layout.buffer();
        let (_, hash, _) = sim.finish_block(sim.truth.tip, &mut buf);
        layout.push(buf, true)?;
        while next_stale < stale_plan.len() && stale_plan[next_stale].0 == h {
            let (_, len) = stale_plan[next_stale];
            next_stale += 1;
            let mut parent = hash;
            for k in 1..=len {
                let height = h + k;
                let mut tag = b"/cw-sim stale/".to_vec();
                tag.extend_from_slice(&layout_rng.next_u64().to_le_bytes());
                let spec = CoinbaseSpec {
                    height,
                    tag: &tag,
                    script_pubkey: &stale_spk,
                    value: subsidy(height, sim.halving),
                    witness_commitment: true,
                };
                let time = block_time(cfg.seed, height) + 1 + layout_rng.below(60) as u32;
                let mut buf = layout.buffer();
                let (_, sh, _, _) = stale_builder.finish(parent, time, &spec, &mut buf);
                layout.push(buf, false)?;
                sim.truth.stale.push(sh);
                parent = sh;
            }
        }
        progress(h + 1, cfg.blocks);
    }
    let bytes = layout.finish()?;
    let height = cfg.blocks - 1;
    sim.write_truth(out_dir, height)?;
    Ok(SimSummary {
        blocks: cfg.blocks,
        txs: sim.tx_count,
        bytes,
        tip_hash: chainwatch_chain::to_hex(&sim.truth.tip),
        height,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
