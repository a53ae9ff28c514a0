//! The simulated economy: actors with their UTXO sets, and the activities that turn into
//! transactions (payments, exchange deposits, sweeps and withdrawals, pool payouts, the
//! custodial mixer). CoinJoins are in [`crate::coinjoin`], the heist in [`crate::heist`].
//!
//! Only the actors' unspent outputs are kept; every transaction is serialized into the
//! current block as soon as it is built.

use crate::block::{BlockBuilder, CoinbaseSpec};
use crate::heist::{Ev, Thief};
use crate::keys::{Addr, Keys, Kind, MAX_ADDR_ID};
use crate::rng::{mix64, Rng};
use crate::truth::{Cat, Truth};
use crate::SimConfig;
use chainwatch_chain::{Hash32, OutPoint, Tx, TxIn, TxOut};
use chainwatch_types::Chain;
use std::collections::VecDeque;

/// Satoshis per coin.
pub const COIN: u64 = 100_000_000;
/// Smallest output value the wallets create (P2PKH dust limit).
pub const DUST: u64 = 546;
/// Blocks before a coinbase output may be spent.
pub const MATURITY: u32 = 100;
/// Number of exchanges.
pub const NE: usize = 6;
/// Number of mining pools.
pub const NP: usize = 5;
/// Fixed start time of the chain (genesis), Unix seconds.
pub const START_TIME: u32 = 1_600_000_000;

/// Static description of an exchange.
pub struct ExchangeDef {
    /// Entity name (truth, tags actor).
    pub name: &'static str,
    /// Display label (tags).
    pub label: &'static str,
    /// Kind of the per-user deposit addresses.
    pub deposit: Kind,
    /// Kind of the hot-wallet addresses.
    pub hot: Kind,
}

/// The exchanges of every scenario.
pub const EXCHANGES: [ExchangeDef; NE] = [
    ExchangeDef {
        name: "coinhaven",
        label: "Coinhaven",
        deposit: Kind::P2pkh,
        hot: Kind::P2pkh,
    },
    ExchangeDef {
        name: "bitmarket",
        label: "Bitmarket",
        deposit: Kind::P2shP2wpkh,
        hot: Kind::P2wsh,
    },
    ExchangeDef {
        name: "kryptex",
        label: "Kryptex",
        deposit: Kind::P2wpkh,
        hot: Kind::P2wpkh,
    },
    ExchangeDef {
        name: "hanbit",
        label: "Hanbit",
        deposit: Kind::P2wpkh,
        hot: Kind::P2shP2wpkh,
    },
    ExchangeDef {
        name: "vaultix",
        label: "Vaultix",
        deposit: Kind::P2tr,
        hot: Kind::P2tr,
    },
    ExchangeDef {
        name: "satbank",
        label: "Satbank",
        deposit: Kind::P2shP2wpkh,
        hot: Kind::P2wsh,
    },
];

/// Owner index of mining pool 0 in the address book.
pub const O_POOL0: usize = 0;
/// Owner index of exchange 0.
pub const O_EX0: usize = NP;
/// Owner index of the mixer.
pub const O_MIXER: usize = NP + NE;
/// Owner index of the thief.
pub const O_THIEF: usize = O_MIXER + 1;
/// Owner index of the Whirlpool coordinator.
pub const O_WHIRLPOOL: usize = O_MIXER + 2;
/// Owner index of the Wasabi coordinator.
pub const O_WASABI: usize = O_MIXER + 3;
/// Owner index of merchant 0.
pub const O_MERCHANT0: usize = O_MIXER + 4;

/// An unspent output owned by some actor.
#[derive(Clone, Copy, Debug)]
pub struct Utxo {
    /// Txid (internal order).
    pub txid: Hash32,
    /// Output index.
    pub vout: u32,
    /// Value in satoshis.
    pub value: u64,
    /// The address it pays to.
    pub addr: Addr,
}

/// Every address created, grouped by owner (only serial numbers and kinds are kept).
pub struct Book {
    next: u32,
    /// Per owner, the addresses in creation order.
    pub lists: Vec<Vec<Addr>>,
}

impl Book {
    /// Creates a new address of `kind` owned by `owner`.
    pub fn fresh(&mut self, owner: usize, kind: Kind) -> Addr {
        assert!(self.next <= MAX_ADDR_ID, "address space exhausted");
        let a = Addr::new(self.next, kind);
        self.next += 1;
        self.lists[owner].push(a);
        a
    }
}

/// Where an output goes.
#[derive(Clone, Copy, Debug)]
pub enum Dest {
    /// To an address.
    A(Addr),
    /// An `OP_RETURN` output with this many random data bytes.
    Data(u8),
}

/// An output to build.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    /// Value in satoshis.
    pub value: u64,
    /// Destination.
    pub dest: Dest,
}

impl Out {
    /// Output paying `value` to `a`.
    pub fn to(a: Addr, value: u64) -> Out {
        Out {
            value,
            dest: Dest::A(a),
        }
    }
}

/// Version, lock time and sequence of a transaction.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// `nVersion`.
    pub version: i32,
    /// `nLockTime`.
    pub lock_time: u32,
    /// `nSequence` of every input.
    pub sequence: u32,
}

impl Style {
    /// A service wallet: no lock time, final sequences.
    pub const SERVICE: Style = Style {
        version: 1,
        lock_time: 0,
        sequence: u32::MAX,
    };
    /// A service wallet with version 2.
    pub const SERVICE2: Style = Style {
        version: 2,
        lock_time: 0,
        sequence: u32::MAX,
    };
}

/// Weight of a transaction's fixed fields (version, counts, lock time) plus the segwit marker.
pub const TX_OVERHEAD_WU: u64 = 42;

/// A user (a person with a wallet).
pub struct User {
    /// Unspent outputs.
    pub utxos: Vec<Utxo>,
    /// Preferred address kind of the wallet.
    pub pref: Kind,
    /// A receive address sometimes handed out again.
    pub recv: Option<Addr>,
    /// The user's deposit address at each exchange (created on first deposit).
    pub dep: [Option<Addr>; NE],
    /// Preferred exchange.
    pub fav: u8,
}

/// A merchant: receives payments at a few reused addresses, cashes out at an exchange.
pub struct Merchant {
    /// Reused receive addresses.
    pub addrs: Vec<Addr>,
    /// Address kind.
    pub kind: Kind,
    /// Unspent outputs.
    pub utxos: Vec<Utxo>,
    /// The exchange it sells at.
    pub ex: usize,
    /// Its deposit address there.
    pub dep: Option<Addr>,
}

/// A mining pool.
pub struct Pool {
    /// Coinbase address (reused).
    pub cb: Option<Addr>,
    /// Address kind.
    pub kind: Kind,
    /// Coinbase outputs not yet mature, with their height.
    pub immature: VecDeque<(u32, Utxo)>,
    /// Spendable outputs.
    pub utxos: Vec<Utxo>,
    /// Exchange it sells at, and its deposit address there.
    pub ex: usize,
    /// Deposit address at `ex`.
    pub dep: Option<Addr>,
}

/// An exchange.
pub struct Exchange {
    /// Hot-wallet addresses (1–2, reused; these are what the tags reveal).
    pub hot: Vec<Addr>,
    /// Hot-wallet UTXOs (sweeps, withdrawal change).
    pub hot_utxos: Vec<Utxo>,
    /// Deposits not yet swept, oldest first, with the height they were made at.
    pub pending: VecDeque<(u32, Utxo)>,
    /// Sweep when at least this many deposits wait…
    pub sweep_min: usize,
    /// …or the oldest is this many blocks old.
    pub sweep_age: u32,
    /// At most this many inputs per sweep.
    pub sweep_max: usize,
    /// Transaction style.
    pub style: Style,
}

/// Who a mixer payout goes to.
#[derive(Clone, Copy, Debug)]
pub enum PayTo {
    /// A fresh address of a user.
    User(u32),
    /// A fresh thief address.
    Thief,
    /// A thief account's deposit address at an exchange.
    ThiefEx(u8),
}

/// A payout the mixer owes.
pub struct Payout {
    /// Height from which it may be paid.
    pub due: u32,
    /// Destinations and amounts.
    pub to: Vec<(PayTo, u64)>,
}

/// The custodial mixer.
pub struct Mixer {
    /// The pool address (the mixer's known address).
    pub pool_addr: Option<Addr>,
    /// Pooled funds, oldest first (payouts use the oldest coins).
    pub pool: VecDeque<Utxo>,
    /// Deposits not yet swept into the pool.
    pub pending: VecDeque<(u32, Utxo)>,
    /// Payouts owed.
    pub owed: VecDeque<Payout>,
}

/// A party in a CoinJoin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// User `n`.
    User(u32),
    /// The thief.
    Thief,
}

/// A Whirlpool pool (one denomination).
pub struct Whirl {
    /// Pool denomination.
    pub denom: u64,
    /// Coordinator fee paid in the tx0.
    pub coord_fee: u64,
    /// Premix outputs waiting for a round (value = denom + miner-fee allowance).
    pub premix: Vec<(Holder, Utxo)>,
    /// Postmix outputs of exactly `denom` that remix for free.
    pub remix: Vec<(Holder, Utxo)>,
}

/// The whole simulation state.
pub struct Sim {
    /// Chain (address format, subsidy schedule).
    pub chain: Chain,
    /// Seed.
    pub seed: u64,
    /// Key derivation.
    pub keys: Keys,
    /// Economy randomness.
    pub rng: Rng,
    /// Randomness for signatures and OP_RETURN payloads.
    pub sig: Rng,
    /// Address book.
    pub book: Book,
    /// The block being built.
    pub blk: BlockBuilder,
    /// Height of the block being built.
    pub h: u32,
    /// Height of the last block.
    pub last_h: u32,
    /// Base fee rate of the current block, sat/vB.
    pub feerate: u64,
    /// Blocks between halvings.
    pub halving: u32,
    /// Mining pools.
    pub pools: Vec<Pool>,
    /// Owner index of user 0.
    pub o_user0: usize,
    /// Users.
    pub users: Vec<User>,
    /// Merchants.
    pub merchants: Vec<Merchant>,
    /// Exchanges.
    pub ex: Vec<Exchange>,
    /// The mixer.
    pub mixer: Mixer,
    /// Whirlpool pools (0.01 and 0.05 BTC).
    pub wp: [Whirl; 2],
    /// Whirlpool coordinator fee address.
    pub wp_fee_addr: Option<Addr>,
    /// Wasabi coordinator fee address.
    pub wasabi_addr: Option<Addr>,
    /// Next height with a Wasabi round.
    pub wasabi_next: u32,
    /// Blocks between Wasabi rounds.
    pub wasabi_every: u32,
    /// The thief.
    pub thief: Thief,
    /// Ground truth.
    pub truth: Truth,
    /// Scheduled heist events: (height, sequence, event).
    pub events: Vec<(u32, u64, Ev)>,
    /// Sequence counter for events.
    pub ev_seq: u64,
    /// Height of the heist.
    pub heist_h: u32,
    /// Transactions in the main chain so far (coinbases included).
    pub tx_count: u64,
    /// Non-coinbase transactions still to generate, and blocks left to put them in.
    budget: u64,
    /// Pool that mined the current block.
    miner: usize,
}

/// Picks inputs from `wallet` (removing them) until they pay `amount` plus the fee of a
/// transaction whose outputs and overhead weigh `base_wu`; returns (inputs, sum, fee).
/// With `consolidate`, large wallets add a few extra inputs. On failure the wallet is
/// left with the same outputs.
pub fn take_inputs(
    rng: &mut Rng,
    wallet: &mut Vec<Utxo>,
    amount: u64,
    base_wu: u64,
    fr: u64,
    max_in: usize,
    consolidate: bool,
) -> Option<(Vec<Utxo>, u64, u64)> {
    let mut sel: Vec<Utxo> = Vec::new();
    let mut sum = 0u64;
    let mut wu = base_wu;
    while !wallet.is_empty() && sel.len() < max_in {
        let u = wallet.swap_remove(rng.index(wallet.len()));
        sum += u.value;
        wu += u.addr.kind().input_wu();
        sel.push(u);
        if sum >= amount + fr * wu.div_ceil(4) {
            if consolidate && wallet.len() > 8 {
                let extra = (wallet.len() - 8).min(rng.range(1, 8) as usize);
                for _ in 0..extra {
                    let i = rng.index(wallet.len());
                    let cost = fr * wallet[i].addr.kind().input_wu().div_ceil(4);
                    if wallet[i].value > cost + DUST {
                        let u = wallet.swap_remove(i);
                        sum += u.value;
                        wu += u.addr.kind().input_wu();
                        sel.push(u);
                    }
                }
            }
            let fee = fr * wu.div_ceil(4);
            debug_assert!(sum >= amount + fee);
            return Some((sel, sum, fee));
        }
    }
    wallet.append(&mut sel);
    None
}

/// Weight of a transaction's outputs plus overhead.
pub fn outs_wu(kinds: &[Kind], data_bytes: u64) -> u64 {
    TX_OVERHEAD_WU + kinds.iter().map(|k| k.output_wu()).sum::<u64>() + data_bytes * 4
}

fn sum_values(u: &[Utxo]) -> u64 {
    u.iter().map(|u| u.value).sum()
}

/// Block subsidy at `height` with halvings every `interval` blocks.
pub fn subsidy(height: u32, interval: u32) -> u64 {
    let halvings = height / interval;
    if halvings >= 64 {
        0
    } else {
        (50 * COIN) >> halvings
    }
}

/// Blocks between halvings: 150 on the regtest networks, else the mainnet schedule.
pub fn halving_interval(chain: Chain) -> u32 {
    match chain {
        Chain::BitcoinRegtest | Chain::LitecoinRegtest => 150,
        Chain::Bitcoin | Chain::BitcoinTestnet => 210_000,
        Chain::Litecoin | Chain::LitecoinTestnet => 840_000,
    }
}

/// Block time at `height`: ten minutes apart with up to five minutes of jitter (strictly increasing).
pub fn block_time(seed: u64, height: u32) -> u32 {
    START_TIME + 600 * height + (mix64(seed ^ 0x7469_6d65 ^ ((height as u64) << 20)) % 300) as u32
}

fn pick_kind(rng: &mut Rng, table: &[(Kind, u32)]) -> Kind {
    let w: Vec<u32> = table.iter().map(|t| t.1).collect();
    table[rng.weighted(&w)].0
}

/// Address kinds of user wallets, by popularity.
const USER_KINDS: [(Kind, u32); 5] = [
    (Kind::P2pkh, 15),
    (Kind::P2shP2wpkh, 20),
    (Kind::P2wpkh, 45),
    (Kind::P2wsh, 5),
    (Kind::P2tr, 15),
];

impl Sim {
    /// Sets up the actors for `cfg`.
    pub fn new(cfg: &SimConfig) -> Sim {
        let mut rng = Rng::new(cfg.seed ^ 0x0065_636f_6e6f_6d79);
        let n_users = (cfg.txs / 40).clamp(200, 50_000) as usize;
        let n_merchants = (n_users / 40).clamp(10, 1000);
        let o_user0 = O_MERCHANT0 + n_merchants;
        let users = (0..n_users)
            .map(|_| User {
                utxos: Vec::new(),
                pref: pick_kind(&mut rng, &USER_KINDS),
                recv: None,
                dep: [None; NE],
                fav: rng.index(NE) as u8,
            })
            .collect();
        let merchants = (0..n_merchants)
            .map(|_| Merchant {
                addrs: Vec::new(),
                kind: pick_kind(
                    &mut rng,
                    &[
                        (Kind::P2wpkh, 50),
                        (Kind::P2shP2wpkh, 30),
                        (Kind::P2pkh, 20),
                    ],
                ),
                utxos: Vec::new(),
                ex: rng.index(NE),
                dep: None,
            })
            .collect();
        let pools = (0..NP)
            .map(|_| Pool {
                cb: None,
                kind: pick_kind(&mut rng, &[(Kind::P2wpkh, 60), (Kind::P2pkh, 40)]),
                immature: VecDeque::new(),
                utxos: Vec::new(),
                ex: rng.index(NE),
                dep: None,
            })
            .collect();
        let ex = (0..NE)
            .map(|i| Exchange {
                hot: Vec::new(),
                hot_utxos: Vec::new(),
                pending: VecDeque::new(),
                sweep_min: rng.range(3, 12) as usize,
                sweep_age: rng.range(1, 6) as u32,
                sweep_max: rng.range(40, 150) as usize,
                style: if i % 2 == 0 {
                    Style::SERVICE
                } else {
                    Style::SERVICE2
                },
            })
            .collect();
        let last_h = cfg.blocks - 1;
        let active = last_h - MATURITY;
        let heist_h = MATURITY + 1 + active / 2;
        let n_owners = o_user0 + n_users;
        let coinbases = cfg.blocks as u64;
        Sim {
            chain: cfg.chain,
            seed: cfg.seed,
            keys: Keys::new(cfg.seed),
            sig: Rng::new(cfg.seed ^ 0x0073_6967_6e61_7475),
            rng,
            book: Book {
                next: 0,
                lists: vec![Vec::new(); n_owners],
            },
            blk: BlockBuilder::default(),
            h: 0,
            last_h,
            feerate: 1,
            halving: halving_interval(cfg.chain),
            pools,
            o_user0,
            users,
            merchants,
            ex,
            mixer: Mixer {
                pool_addr: None,
                pool: VecDeque::new(),
                pending: VecDeque::new(),
                owed: VecDeque::new(),
            },
            wp: [
                Whirl {
                    denom: 1_000_000,
                    coord_fee: 50_000,
                    premix: Vec::new(),
                    remix: Vec::new(),
                },
                Whirl {
                    denom: 5_000_000,
                    coord_fee: 175_000,
                    premix: Vec::new(),
                    remix: Vec::new(),
                },
            ],
            wp_fee_addr: None,
            wasabi_addr: None,
            wasabi_next: MATURITY + 10,
            wasabi_every: (active / 12).clamp(3, 30),
            thief: Thief::default(),
            truth: Truth::new(),
            events: Vec::new(),
            ev_seq: 0,
            heist_h,
            tx_count: 0,
            budget: cfg.txs.saturating_sub(coinbases),
            miner: 0,
        }
    }

    // ----- plumbing -------------------------------------------------------------------

    /// A per-transaction fee rate around the block's base rate.
    pub fn fee_rate(&mut self) -> u64 {
        let b = self.feerate;
        self.rng.range(b * 7 / 10, b * 13 / 10).max(1)
    }

    /// Fee for a transaction of `wu` weight units at `fr`.
    pub fn fee(fr: u64, wu: u64) -> u64 {
        fr * wu.div_ceil(4)
    }

    /// A user wallet's style: modern wallets use version 2, RBF and anti-fee-sniping lock times.
    pub fn user_style(&mut self, legacy: bool) -> Style {
        if legacy {
            Style {
                version: 1,
                lock_time: 0,
                sequence: u32::MAX,
            }
        } else if self.rng.chance(0.6) {
            Style {
                version: 2,
                lock_time: self.h - 1,
                sequence: 0xffff_fffd,
            }
        } else {
            Style {
                version: 2,
                lock_time: 0,
                sequence: 0xffff_fffe,
            }
        }
    }

    /// Builds, signs and serializes a transaction into the current block; returns its txid.
    pub fn emit(&mut self, ins: &[Utxo], outs: &[Out], style: Style) -> Hash32 {
        let mut sum_in = 0u64;
        let mut inputs = Vec::with_capacity(ins.len());
        for u in ins {
            let mut i = TxIn {
                prevout: OutPoint {
                    txid: u.txid,
                    vout: u.vout,
                },
                script_sig: Vec::new(),
                sequence: style.sequence,
                witness: Vec::new(),
            };
            self.keys.sign(u.addr, &mut self.sig, &mut i);
            sum_in += u.value;
            inputs.push(i);
        }
        let mut sum_out = 0u64;
        let mut outputs = Vec::with_capacity(outs.len());
        for o in outs {
            let mut spk = Vec::with_capacity(34);
            match o.dest {
                Dest::A(a) => self.keys.script_pubkey(a, &mut spk),
                Dest::Data(n) => {
                    spk.push(0x6a);
                    if n > 75 {
                        spk.push(0x4c);
                    }
                    spk.push(n);
                    let at = spk.len();
                    spk.resize(at + n as usize, 0);
                    self.sig.fill(&mut spk[at..]);
                }
            }
            sum_out += o.value;
            outputs.push(TxOut {
                value: o.value,
                script_pubkey: spk,
            });
        }
        assert!(
            sum_in >= sum_out && !ins.is_empty(),
            "simulator bug: inputs {sum_in} < outputs {sum_out}"
        );
        let tx = Tx {
            version: style.version,
            inputs,
            outputs,
            lock_time: style.lock_time,
        };
        self.blk.add(&tx, sum_in - sum_out)
    }

    /// The outputs of a just-emitted transaction that pay addresses, as UTXOs.
    pub fn utxo(txid: Hash32, vout: usize, o: &Out) -> Option<Utxo> {
        match o.dest {
            Dest::A(addr) => Some(Utxo {
                txid,
                vout: vout as u32,
                value: o.value,
                addr,
            }),
            Dest::Data(_) => None,
        }
    }

    /// Schedules a heist event at height `at` (clamped to the chain).
    pub fn schedule(&mut self, at: u32, ev: Ev) {
        let at = at.min(self.last_h);
        self.ev_seq += 1;
        self.events.push((at, self.ev_seq, ev));
    }

    /// A fresh address of user `u` of the wallet's kind.
    fn user_fresh(&mut self, u: usize) -> Addr {
        let kind = self.users[u].pref;
        self.book.fresh(self.o_user0 + u, kind)
    }

    /// An address to pay user `u` at: sometimes the reused receive address, else fresh.
    /// (Always of the wallet's preferred kind.)
    pub fn user_recv(&mut self, u: usize) -> Addr {
        if let Some(a) = self.users[u].recv {
            if self.rng.chance(0.35) {
                return a;
            }
        }
        let a = self.user_fresh(u);
        if self.users[u].recv.is_none() || self.rng.chance(0.2) {
            self.users[u].recv = Some(a);
        }
        a
    }

    /// Gives an output to user `u`.
    pub fn credit_user(&mut self, u: usize, utxo: Utxo) {
        self.users[u].utxos.push(utxo);
    }

    fn pick_funded_user(&mut self, min: u64) -> Option<usize> {
        for _ in 0..24 {
            let u = self.rng.index(self.users.len());
            if sum_values(&self.users[u].utxos) >= min {
                return Some(u);
            }
        }
        None
    }

    /// An exchange hot-wallet address (one of at most two, created on first use).
    pub fn hot_addr(&mut self, e: usize) -> Addr {
        let n = self.ex[e].hot.len();
        if n == 0 || (n < 2 && self.rng.chance(0.3)) {
            let a = self.book.fresh(O_EX0 + e, EXCHANGES[e].hot);
            self.ex[e].hot.push(a);
            return a;
        }
        self.ex[e].hot[self.rng.index(n)]
    }

    /// The mixer's pool address.
    pub fn mixer_pool_addr(&mut self) -> Addr {
        match self.mixer.pool_addr {
            Some(a) => a,
            None => {
                let a = self.book.fresh(O_MIXER, Kind::P2wpkh);
                self.mixer.pool_addr = Some(a);
                a
            }
        }
    }

    fn pool_cb_addr(&mut self, p: usize) -> Addr {
        match self.pools[p].cb {
            Some(a) => a,
            None => {
                let a = self.book.fresh(O_POOL0 + p, self.pools[p].kind);
                self.pools[p].cb = Some(a);
                a
            }
        }
    }

    // ----- blocks ---------------------------------------------------------------------

    /// The genesis coinbase spec parts: miner script and value. Genesis pays pool 0 (its
    /// output is never spent, as in Bitcoin).
    pub fn genesis_coinbase(&mut self) -> (Vec<u8>, u64) {
        let a = self.pool_cb_addr(0);
        let mut spk = Vec::new();
        self.keys.script_pubkey(a, &mut spk);
        (spk, subsidy(0, self.halving))
    }

    /// A scriptPubKey that already appears in the chain (for stale blocks' coinbases).
    pub fn stale_coinbase_script(&mut self) -> Vec<u8> {
        let mut spk = Vec::new();
        self.keys
            .script_pubkey(self.pools[0].cb.expect("genesis paid pool 0"), &mut spk);
        spk
    }

    /// Generates the non-coinbase transactions of block `h`.
    pub fn fill_block(&mut self, h: u32) {
        self.h = h;
        self.feerate = 1 + mix64(self.seed ^ 0x6665_6573 ^ ((h as u64) << 24)) % 25;
        // Coinbases that matured.
        for p in 0..NP {
            while let Some(&(at, u)) = self.pools[p].immature.front() {
                if h - at < MATURITY {
                    break;
                }
                self.pools[p].immature.pop_front();
                self.pools[p].utxos.push(u);
            }
        }
        if h <= MATURITY {
            return;
        }
        let blocks_left = (self.last_h - h + 1) as u64;
        let share = self.budget / blocks_left;
        let target = if blocks_left == 1 {
            self.budget
        } else {
            self.rng.range(share * 7 / 10, share * 13 / 10)
        } as usize;

        self.pool_payouts();
        self.exchange_sweeps(false);
        self.mixer_round();
        self.whirlpool_rounds();
        if h >= self.wasabi_next {
            if self.wasabi_round(false) {
                self.wasabi_next = h + self.rng.range(1, self.wasabi_every as u64 * 2) as u32;
            } else {
                self.wasabi_next = h + 1;
            }
        }
        self.run_events();

        let mut fails = 0;
        while self.blk.len() < target && fails < 200 {
            let ok = match self.rng.weighted(&[400, 220, 130, 40, 20, 30, 5, 10]) {
                0 => self.pay(false),
                1 => self.pay(true),
                2 => self.deposit(),
                3 => self.withdraw(),
                4 => self.merchant_cashout(),
                5 => self.consolidate(),
                6 => self.mixer_deposit(),
                _ => self.whirlpool_tx0(),
            };
            if ok {
                fails = 0;
            } else {
                fails += 1;
            }
        }
        if h == self.last_h {
            // The exchanges sweep everything before the chain ends.
            self.exchange_sweeps(true);
        }
        self.budget = self.budget.saturating_sub(self.blk.len() as u64);
    }

    /// Finishes the current block (coinbase to a pool chosen by hash rate); returns the
    /// header, hash and number of transactions; `out` receives the serialization.
    pub fn finish_block(
        &mut self,
        prev: Hash32,
        out: &mut Vec<u8>,
    ) -> (chainwatch_chain::BlockHeader, Hash32, usize) {
        let h = self.h;
        self.miner = self.rng.weighted(&[30, 25, 20, 15, 10]);
        let p = self.miner;
        let a = self.pool_cb_addr(p);
        let mut spk = Vec::new();
        self.keys.script_pubkey(a, &mut spk);
        let value = subsidy(h, self.halving) + self.blk.fees;
        let mut tag = format!("/cw-sim pool-{p}/").into_bytes();
        tag.extend_from_slice(&self.rng.next_u64().to_le_bytes());
        let spec = CoinbaseSpec {
            height: h,
            tag: &tag,
            script_pubkey: &spk,
            value,
            witness_commitment: true,
        };
        let time = block_time(self.seed, h);
        let (header, hash, cb_txid, n) = self.blk.finish(prev, time, &spec, out);
        self.pools[p].immature.push_back((
            h,
            Utxo {
                txid: cb_txid,
                vout: 0,
                value,
                addr: a,
            },
        ));
        self.truth.tip = hash;
        self.tx_count += n as u64;
        (header, hash, n)
    }

    // ----- miners ---------------------------------------------------------------------

    fn pool_payouts(&mut self) {
        for p in 0..NP {
            if self.pools[p].utxos.is_empty() || !self.rng.chance(0.7) {
                continue;
            }
            let fr = self.fee_rate();
            let mut w = std::mem::take(&mut self.pools[p].utxos);
            let n_in = self.rng.range(1, 3).min(w.len() as u64) as usize;
            let ins: Vec<Utxo> = (0..n_in)
                .map(|_| {
                    let i = self.rng.index(w.len());
                    w.swap_remove(i)
                })
                .collect();
            self.pools[p].utxos = w;
            let sum = sum_values(&ins);
            let n_users = self.rng.range(5, 40) as usize;
            let sell = self.rng.chance(0.35);
            let operator = self.rng.chance(0.08);
            let in_wu: u64 = ins.iter().map(|u| u.addr.kind().input_wu()).sum();
            // Size the fee for the largest possible output set.
            let fee = Self::fee(fr, in_wu + TX_OVERHEAD_WU + (n_users as u64 + 3) * 43 * 4);
            if sum < fee + 10 * DUST * n_users as u64 {
                self.pools[p].utxos.extend(ins);
                continue;
            }
            let mut left = sum - fee;
            let mut outs: Vec<Out> = Vec::with_capacity(n_users + 3);
            let mut tgt: Vec<Tgt> = Vec::with_capacity(n_users + 3);
            if sell {
                let v = self.rng.pct(left, 20, 50);
                let e = self.pools[p].ex;
                let d = match self.pools[p].dep {
                    Some(d) => d,
                    None => {
                        let d = self.book.fresh(O_EX0 + e, EXCHANGES[e].deposit);
                        self.pools[p].dep = Some(d);
                        d
                    }
                };
                outs.push(Out::to(d, v));
                tgt.push(Tgt::Ex(e));
                left -= v;
            }
            if operator {
                // The mixer operator mines too: this is how its pool gets started.
                let v = self.rng.pct(left, 10, 30);
                let a = self.mixer_pool_addr();
                outs.push(Out::to(a, v));
                tgt.push(Tgt::Mixer);
                left -= v;
            }
            let keep = self.rng.pct(left, 0, 10);
            left -= keep;
            let per = left / n_users as u64;
            for i in 0..n_users {
                let u = self.rng.index(self.users.len());
                let v = if i + 1 == n_users {
                    left - per * (n_users as u64 - 1)
                } else {
                    per
                };
                let a = self.user_recv(u);
                outs.push(Out::to(a, v));
                tgt.push(Tgt::User(u));
            }
            if keep >= DUST {
                let a = self.pool_cb_addr(p);
                outs.push(Out::to(a, keep));
                tgt.push(Tgt::Pool);
            }
            let txid = self.emit(&ins, &outs, Style::SERVICE);
            for (i, o) in outs.iter().enumerate() {
                let u = Self::utxo(txid, i, o).expect("address");
                match tgt[i] {
                    Tgt::Ex(e) => self.ex[e].pending.push_back((self.h, u)),
                    Tgt::Mixer => self.mixer.pool.push_back(u),
                    Tgt::Pool => self.pools[p].utxos.push(u),
                    Tgt::User(uu) => self.credit_user(uu, u),
                }
            }
        }
    }

    // ----- users ----------------------------------------------------------------------

    /// A payment from a user to another user or to a merchant, with change.
    fn pay(&mut self, to_merchant: bool) -> bool {
        let Some(u) = self.pick_funded_user(20_000) else {
            return false;
        };
        let fr = self.fee_rate();
        let bal = sum_values(&self.users[u].utxos);
        let amount = if to_merchant {
            self.rng.log_uniform(5_000, 3_000_000).min(bal * 9 / 10)
        } else {
            self.rng.log_uniform(bal / 200 + 1, bal * 9 / 10)
        };
        if amount < 2 * DUST {
            return false;
        }
        let (payee_kind, m, v) = if to_merchant {
            let m = self.rng.index(self.merchants.len());
            (self.merchants[m].kind, m, 0)
        } else {
            let mut v = self.rng.index(self.users.len());
            if v == u {
                v = (v + 1) % self.users.len();
            }
            (self.users[v].pref, 0, v)
        };
        let change_kind = self.users[u].pref;
        let data = if self.rng.chance(0.02) {
            self.rng.range(20, 80)
        } else {
            0
        };
        let mut kinds = vec![payee_kind, change_kind];
        if data > 0 {
            kinds.push(Kind::P2pkh); // value + length bytes, roughly
        }
        let base = outs_wu(&kinds, data);
        let mut w = std::mem::take(&mut self.users[u].utxos);
        let consolidate = w.len() > 8;
        let max_in = if consolidate { 14 } else { 6 };
        let picked = take_inputs(&mut self.rng, &mut w, amount, base, fr, max_in, consolidate);
        let Some((ins, sum, fee)) = picked else {
            self.users[u].utxos = w;
            return false;
        };
        self.users[u].utxos = w;
        let change = sum - amount - fee;
        let payee = if to_merchant {
            let n = self.merchants[m].addrs.len();
            if n == 0 || (n < 8 && self.rng.chance(0.05)) {
                let a = self.book.fresh(O_MERCHANT0 + m, payee_kind);
                self.merchants[m].addrs.push(a);
                a
            } else {
                self.merchants[m].addrs[self.rng.index(n)]
            }
        } else {
            self.user_recv(v)
        };
        let mut outs = vec![Out::to(payee, amount)];
        if change >= DUST {
            let a = if self.rng.chance(0.15) {
                ins[0].addr
            } else {
                self.user_fresh(u)
            };
            outs.push(Out::to(a, change));
        }
        if self.rng.chance(0.5) {
            outs.reverse();
        }
        if data > 0 {
            outs.push(Out {
                value: 0,
                dest: Dest::Data(data as u8),
            });
        }
        let legacy = self.users[u].pref == Kind::P2pkh;
        let style = self.user_style(legacy);
        let txid = self.emit(&ins, &outs, style);
        for (i, o) in outs.iter().enumerate() {
            let Some(ux) = Self::utxo(txid, i, o) else {
                continue;
            };
            if ux.addr == payee {
                if to_merchant {
                    self.merchants[m].utxos.push(ux);
                } else {
                    self.credit_user(v, ux);
                }
            } else {
                self.credit_user(u, ux);
            }
        }
        true
    }

    /// A user deposits at an exchange (to the user's own deposit address there).
    fn deposit(&mut self) -> bool {
        let Some(u) = self.pick_funded_user(100_000) else {
            return false;
        };
        let fr = self.fee_rate();
        let e = if self.rng.chance(0.7) {
            self.users[u].fav as usize
        } else {
            self.rng.index(NE)
        };
        let bal = sum_values(&self.users[u].utxos);
        let amount = self.rng.pct(bal, 20, 95);
        let dep_kind = EXCHANGES[e].deposit;
        let base = outs_wu(&[dep_kind, self.users[u].pref], 0);
        let mut w = std::mem::take(&mut self.users[u].utxos);
        let picked = take_inputs(&mut self.rng, &mut w, amount, base, fr, 8, false);
        self.users[u].utxos = w;
        let Some((ins, sum, fee)) = picked else {
            return false;
        };
        let d = match self.users[u].dep[e] {
            Some(d) => d,
            None => {
                let d = self.book.fresh(O_EX0 + e, dep_kind);
                self.users[u].dep[e] = Some(d);
                d
            }
        };
        let change = sum - amount - fee;
        let mut outs = vec![Out::to(d, amount)];
        if change >= DUST {
            let a = self.user_fresh(u);
            outs.push(Out::to(a, change));
        }
        let legacy = self.users[u].pref == Kind::P2pkh;
        let style = self.user_style(legacy);
        let txid = self.emit(&ins, &outs, style);
        let dep = Self::utxo(txid, 0, &outs[0]).expect("address");
        self.ex[e].pending.push_back((self.h, dep));
        if let Some(o) = outs.get(1) {
            let c = Self::utxo(txid, 1, o).expect("address");
            self.credit_user(u, c);
        }
        true
    }

    /// A user with many small outputs consolidates them to a fresh address of their own.
    fn consolidate(&mut self) -> bool {
        let mut found = None;
        for _ in 0..8 {
            let u = self.rng.index(self.users.len());
            if self.users[u].utxos.len() >= 10 {
                found = Some(u);
                break;
            }
        }
        let Some(u) = found else {
            return false;
        };
        let fr = self.fee_rate();
        let mut w = std::mem::take(&mut self.users[u].utxos);
        let n = (self.rng.range(6, 30) as usize).min(w.len());
        let ins: Vec<Utxo> = (0..n)
            .map(|_| {
                let i = self.rng.index(w.len());
                w.swap_remove(i)
            })
            .collect();
        self.users[u].utxos = w;
        let sum = sum_values(&ins);
        let in_wu: u64 = ins.iter().map(|u| u.addr.kind().input_wu()).sum();
        let fee = Self::fee(fr, in_wu + outs_wu(&[self.users[u].pref], 0));
        if sum < fee + DUST {
            self.users[u].utxos.extend(ins);
            return false;
        }
        let a = self.user_fresh(u);
        let outs = [Out::to(a, sum - fee)];
        let legacy = self.users[u].pref == Kind::P2pkh;
        let style = self.user_style(legacy);
        let txid = self.emit(&ins, &outs, style);
        let c = Self::utxo(txid, 0, &outs[0]).expect("address");
        self.credit_user(u, c);
        true
    }

    // ----- merchants ------------------------------------------------------------------

    fn merchant_cashout(&mut self) -> bool {
        let m = self.rng.index(self.merchants.len());
        if self.merchants[m].utxos.len() < 4 {
            return false;
        }
        let fr = self.fee_rate();
        let e = self.merchants[m].ex;
        let mut w = std::mem::take(&mut self.merchants[m].utxos);
        let n = (self.rng.range(4, 40) as usize).min(w.len());
        let ins: Vec<Utxo> = w.drain(..n).collect();
        self.merchants[m].utxos = w;
        let sum = sum_values(&ins);
        let in_wu: u64 = ins.iter().map(|u| u.addr.kind().input_wu()).sum();
        let fee = Self::fee(fr, in_wu + outs_wu(&[EXCHANGES[e].deposit], 0));
        if sum < fee + DUST {
            self.merchants[m].utxos.extend(ins);
            return false;
        }
        let d = match self.merchants[m].dep {
            Some(d) => d,
            None => {
                let d = self.book.fresh(O_EX0 + e, EXCHANGES[e].deposit);
                self.merchants[m].dep = Some(d);
                d
            }
        };
        let outs = [Out::to(d, sum - fee)];
        let txid = self.emit(&ins, &outs, Style::SERVICE2);
        let u = Self::utxo(txid, 0, &outs[0]).expect("address");
        self.ex[e].pending.push_back((self.h, u));
        true
    }

    // ----- exchanges ------------------------------------------------------------------

    /// Sweeps deposits (from earlier blocks, or all with `all`) into hot wallets.
    pub fn exchange_sweeps(&mut self, all: bool) {
        let h = self.h;
        for (e, def) in EXCHANGES.iter().enumerate() {
            for _ in 0..1000 {
                let ready = self.ex[e]
                    .pending
                    .iter()
                    .take_while(|(at, _)| all || *at < h)
                    .count();
                if ready == 0 {
                    break;
                }
                let oldest = self.ex[e].pending[0].0;
                if !all && ready < self.ex[e].sweep_min && h - oldest < self.ex[e].sweep_age {
                    break;
                }
                let n = ready.min(self.ex[e].sweep_max);
                let fr = self.fee_rate();
                let ins: Vec<Utxo> = self.ex[e].pending.drain(..n).map(|(_, u)| u).collect();
                let sum = sum_values(&ins);
                let in_wu: u64 = ins.iter().map(|u| u.addr.kind().input_wu()).sum();
                let fee = Self::fee(fr, in_wu + outs_wu(&[def.hot], 0));
                if sum < fee + DUST {
                    // Dust deposits: leave them (never swept).
                    break;
                }
                let hot = self.hot_addr(e);
                let outs = [Out::to(hot, sum - fee)];
                let style = self.ex[e].style;
                let txid = self.emit(&ins, &outs, style);
                let u = Self::utxo(txid, 0, &outs[0]).expect("address");
                self.ex[e].hot_utxos.push(u);
            }
        }
    }

    /// Hot-wallet balance of exchange `e`.
    pub fn hot_balance(&self, e: usize) -> u64 {
        sum_values(&self.ex[e].hot_utxos)
    }

    /// A batched withdrawal: several users paid from the hot wallet, change back to it.
    fn withdraw(&mut self) -> bool {
        let e = self.rng.index(NE);
        let bal = self.hot_balance(e);
        if bal < 2_000_000 {
            return false;
        }
        let fr = self.fee_rate();
        let n = self.rng.range(2, 40) as usize;
        // A small share of the hot wallet per batch (smaller with more, poorer users), so
        // that exchanges hold roughly a tenth of all coins.
        let mid = (125_000 / self.users.len() as u64).clamp(2, 40);
        let permille = self.rng.range(mid / 2, mid * 3 / 2);
        let budget = ((bal as u128 * permille as u128) / 1000) as u64;
        let mut plan: Vec<(usize, u64)> = Vec::with_capacity(n);
        let mut total = 0u64;
        for _ in 0..n {
            let v = self.rng.log_uniform(100_000, 200_000_000);
            if total + v > budget {
                break;
            }
            total += v;
            let u = self.rng.index(self.users.len());
            plan.push((u, v));
        }
        if plan.is_empty() {
            return false;
        }
        let mut kinds: Vec<Kind> = plan.iter().map(|&(u, _)| self.users[u].pref).collect();
        kinds.push(EXCHANGES[e].hot);
        let base = outs_wu(&kinds, 0);
        let mut w = std::mem::take(&mut self.ex[e].hot_utxos);
        let picked = take_inputs(&mut self.rng, &mut w, total, base, fr, 20, false);
        self.ex[e].hot_utxos = w;
        let Some((ins, sum, fee)) = picked else {
            return false;
        };
        let mut outs: Vec<Out> = Vec::with_capacity(plan.len() + 1);
        for &(u, v) in &plan {
            let a = self.user_recv(u);
            outs.push(Out::to(a, v));
        }
        let change = sum - total - fee;
        let change_at = if change >= DUST {
            let a = if self.rng.chance(0.2) {
                self.book.fresh(O_EX0 + e, EXCHANGES[e].hot)
            } else {
                self.hot_addr(e)
            };
            let at = self.rng.index(outs.len() + 1);
            outs.insert(at, Out::to(a, change));
            Some(at)
        } else {
            None
        };
        let style = self.ex[e].style;
        let txid = self.emit(&ins, &outs, style);
        let mut k = 0;
        for (i, o) in outs.iter().enumerate() {
            let u = Self::utxo(txid, i, o).expect("address");
            if Some(i) == change_at {
                self.ex[e].hot_utxos.push(u);
            } else {
                let owner = plan[k].0;
                k += 1;
                self.credit_user(owner, u);
            }
        }
        true
    }

    // ----- mixer ----------------------------------------------------------------------

    /// A user sends coins through the mixer, to be paid back to fresh addresses later.
    fn mixer_deposit(&mut self) -> bool {
        let Some(u) = self.pick_funded_user(1_000_000) else {
            return false;
        };
        let fr = self.fee_rate();
        let bal = sum_values(&self.users[u].utxos);
        let amount = self.rng.pct(bal, 10, 80);
        let base = outs_wu(&[Kind::P2shP2wpkh, self.users[u].pref], 0);
        let mut w = std::mem::take(&mut self.users[u].utxos);
        let picked = take_inputs(&mut self.rng, &mut w, amount, base, fr, 8, false);
        self.users[u].utxos = w;
        let Some((ins, sum, fee)) = picked else {
            return false;
        };
        let d = self.book.fresh(O_MIXER, Kind::P2shP2wpkh);
        let change = sum - amount - fee;
        let mut outs = vec![Out::to(d, amount)];
        if change >= DUST {
            let a = self.user_fresh(u);
            outs.push(Out::to(a, change));
        }
        let style = self.user_style(false);
        let txid = self.emit(&ins, &outs, style);
        self.truth.all_mixer_deposits.push(txid);
        let dep = Self::utxo(txid, 0, &outs[0]).expect("address");
        self.mixer.pending.push_back((self.h, dep));
        if let Some(o) = outs.get(1) {
            let c = Self::utxo(txid, 1, o).expect("address");
            self.credit_user(u, c);
        }
        let payout = amount * 98 / 100;
        let parts = self.rng.range(1, 3);
        let to = split_amount(&mut self.rng, payout, parts)
            .into_iter()
            .map(|v| (PayTo::User(u as u32), v))
            .collect();
        let due = self.h + self.rng.range(2, 24) as u32;
        self.mixer.owed.push_back(Payout { due, to });
        true
    }

    /// Registers a mixer deposit made by the thief.
    pub fn mixer_owe(&mut self, due: u32, to: Vec<(PayTo, u64)>) {
        self.mixer.owed.push_back(Payout { due, to });
    }

    /// The mixer sweeps deposits into its pool and pays what is due from the pool.
    fn mixer_round(&mut self) {
        let h = self.h;
        let ready = self
            .mixer
            .pending
            .iter()
            .take_while(|(at, _)| *at < h)
            .count();
        if ready >= 3 || (ready > 0 && h - self.mixer.pending[0].0 >= 3) {
            let n = ready.min(100);
            let fr = self.fee_rate();
            let ins: Vec<Utxo> = self.mixer.pending.drain(..n).map(|(_, u)| u).collect();
            let sum = sum_values(&ins);
            let in_wu: u64 = ins.iter().map(|u| u.addr.kind().input_wu()).sum();
            let fee = Self::fee(fr, in_wu + outs_wu(&[Kind::P2wpkh], 0));
            if sum >= fee + DUST {
                let a = self.mixer_pool_addr();
                let outs = [Out::to(a, sum - fee)];
                let txid = self.emit(&ins, &outs, Style::SERVICE);
                let u = Self::utxo(txid, 0, &outs[0]).expect("address");
                self.mixer.pool.push_back(u);
            }
        }
        // Payouts in order; stop at the first that is not due or cannot be funded.
        let mut paid = 0;
        while let Some(p) = self.mixer.owed.front() {
            if p.due > h || paid >= 50 {
                break;
            }
            let to_list = p.to.clone();
            let total: u64 = to_list.iter().map(|t| t.1).sum();
            let fr = self.fee_rate();
            let mut kinds: Vec<Kind> = to_list
                .iter()
                .map(|t| match t.0 {
                    PayTo::User(u) => self.users[u as usize].pref,
                    PayTo::Thief => Kind::P2wpkh,
                    PayTo::ThiefEx(e) => EXCHANGES[e as usize].deposit,
                })
                .collect();
            kinds.push(Kind::P2wpkh);
            let mut wu = outs_wu(&kinds, 0);
            let mut ins = Vec::new();
            let mut sum = 0;
            while sum < total + Self::fee(fr, wu) {
                let Some(u) = self.mixer.pool.pop_front() else {
                    break;
                };
                sum += u.value;
                wu += u.addr.kind().input_wu();
                ins.push(u);
            }
            let fee = Self::fee(fr, wu);
            if sum < total + fee {
                for u in ins.into_iter().rev() {
                    self.mixer.pool.push_front(u);
                }
                break;
            }
            let p = self.mixer.owed.pop_front().expect("front");
            let mut outs = Vec::with_capacity(p.to.len() + 1);
            for &(to, v) in &p.to {
                let a = match to {
                    PayTo::User(u) => self.user_fresh(u as usize),
                    PayTo::Thief => self.thief_fresh(Kind::P2wpkh),
                    PayTo::ThiefEx(e) => self.thief_deposit_addr(e as usize),
                };
                outs.push(Out::to(a, v));
            }
            let change = sum - total - fee;
            if change >= DUST {
                let a = self.mixer_pool_addr();
                outs.push(Out::to(a, change));
            }
            let txid = self.emit(&ins, &outs, Style::SERVICE);
            for (i, o) in outs.iter().enumerate() {
                let u = Self::utxo(txid, i, o).expect("address");
                if i >= p.to.len() {
                    self.mixer.pool.push_back(u);
                    continue;
                }
                match p.to[i].0 {
                    PayTo::User(uu) => self.credit_user(uu as usize, u),
                    PayTo::Thief => {
                        self.thief.mixer_out.push(u);
                        let at = self.h
                            + self.rng.range(1, (self.thief.window / 10).max(1) as u64) as u32;
                        self.schedule(at, Ev::MixedDeposit);
                    }
                    PayTo::ThiefEx(e) => {
                        let e = e as usize;
                        self.ex[e].pending.push_back((self.h, u));
                        self.truth.stolen_add(e, Cat::AfterMixer, txid, u.value);
                    }
                }
            }
            paid += 1;
        }
    }
}

/// Where a pool payout output goes.
#[derive(Clone, Copy)]
enum Tgt {
    Ex(usize),
    Mixer,
    Pool,
    User(usize),
}

/// Splits `total` into `parts` random positive parts.
pub fn split_amount(rng: &mut Rng, total: u64, parts: u64) -> Vec<u64> {
    let parts = parts.max(1);
    let mut w: Vec<u64> = (0..parts).map(|_| rng.range(50, 150)).collect();
    let ws: u64 = w.iter().sum();
    let mut out = Vec::with_capacity(parts as usize);
    let mut left = total;
    for (i, x) in w.iter_mut().enumerate() {
        let v = if i as u64 + 1 == parts {
            left
        } else {
            ((total as u128 * *x as u128) / ws as u128) as u64
        };
        left -= v;
        out.push(v);
    }
    out
}
