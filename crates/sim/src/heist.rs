//! The heist and its laundering, the way DPRK groups have done it: the richest exchange's
//! hot wallet is drained in a few transactions; the loot is split; long peel chains
//! deposit small amounts at other exchanges; part goes through the custodial mixer (paid
//! out to exchange deposit addresses directly or to fresh thief addresses that then
//! deposit); part through Whirlpool and Wasabi CoinJoins, whose outputs are consolidated
//! (many-in/1-out) and deposited; the rest is held, consolidated and peeled later; some
//! decoy dust goes to random users.

use crate::economy::{
    outs_wu, split_amount, Holder, Out, PayTo, Sim, Style, Utxo, DUST, EXCHANGES, NE, O_EX0,
    O_MIXER, O_THIEF,
};
use crate::keys::{Addr, Kind};
use crate::truth::Cat;
use std::cmp::Reverse;

/// A scheduled step of the heist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ev {
    /// Drain the victim's hot wallet.
    Drain,
    /// Split the loot into the laundering buckets.
    Split,
    /// Next step of peel chain `n`.
    PeelStep(usize),
    /// Send one chunk to the mixer.
    MixerDeposit,
    /// Enter Whirlpool.
    ThiefTx0,
    /// Join a Wasabi round.
    ThiefWasabi,
    /// Consolidate CoinJoin outputs and deposit them.
    CjConsolidate,
    /// Consolidate the held outputs and start a late peel chain.
    HoldConsolidate,
    /// Deposit mixer payouts received at thief addresses.
    MixedDeposit,
    /// Send decoy dust to random users.
    Dust,
}

/// A peel chain (or a short deposit chain after mixing).
#[derive(Clone, Debug)]
pub struct PeelChain {
    /// The output the chain continues from (None once finished).
    pub head: Option<Utxo>,
    /// Steps left before the final deposit.
    pub steps_left: u32,
    /// Typical peel amount.
    pub peel: u64,
    /// Largest gap in blocks between steps.
    pub gap: u32,
    /// Which stolen-deposit category its deposits count in.
    pub cat: Cat,
    /// Index in the truth's `peel_chains`, for real peel chains.
    pub record: Option<usize>,
}

/// The thief's wallet, by laundering bucket.
#[derive(Default)]
pub struct Thief {
    /// Outputs of the drain transactions.
    pub fund: Vec<Utxo>,
    /// Chunks to send to the mixer.
    pub mixer_fund: Vec<Utxo>,
    /// Mixer payouts received at thief addresses.
    pub mixer_out: Vec<Utxo>,
    /// The chunk for Whirlpool, with (pool, premix count, fee allowance).
    pub wp_fund: Vec<(Utxo, usize, u64, u64)>,
    /// Chunks for Wasabi.
    pub wasabi_fund: Vec<Utxo>,
    /// CoinJoin outputs (postmix, Wasabi outputs and change).
    pub cj_out: Vec<Utxo>,
    /// Held outputs.
    pub hold: Vec<Utxo>,
    /// Whether the held outputs were consolidated already.
    pub hold_done: bool,
    /// Funds for decoy dust.
    pub dust_fund: Vec<Utxo>,
    /// Peel chains.
    pub chains: Vec<PeelChain>,
    /// The thief's accounts (deposit addresses) at each exchange.
    pub accounts: [Vec<Addr>; NE],
    /// Laundering window in blocks.
    pub window: u32,
    /// Height by which CoinJoin outputs should be consolidated.
    pub cj_deadline: u32,
}

impl Sim {
    /// Sets the heist's timing and schedules the drain.
    pub fn plan_heist(&mut self) {
        let window = (self.last_h.saturating_sub(2 + self.heist_h)).max(8);
        self.thief.window = window;
        self.thief.cj_deadline = self.heist_h + 1 + window * 2 / 3;
        self.schedule(self.heist_h, Ev::Drain);
    }

    /// A fresh thief address.
    pub fn thief_fresh(&mut self, kind: Kind) -> Addr {
        self.book.fresh(O_THIEF, kind)
    }

    fn thief_kind(&mut self) -> Kind {
        match self.rng.weighted(&[60, 20, 20]) {
            0 => Kind::P2wpkh,
            1 => Kind::P2pkh,
            _ => Kind::P2shP2wpkh,
        }
    }

    /// A deposit address of one of the thief's accounts at exchange `e` (sometimes a new account).
    pub fn thief_deposit_addr(&mut self, e: usize) -> Addr {
        let n = self.thief.accounts[e].len();
        if n == 0 || self.rng.chance(0.35) {
            let a = self.book.fresh(O_EX0 + e, EXCHANGES[e].deposit);
            self.thief.accounts[e].push(a);
            a
        } else {
            self.thief.accounts[e][self.rng.index(n)]
        }
    }

    /// A random exchange other than the victim.
    fn other_exchange(&mut self) -> usize {
        let v = self.truth.victim.unwrap_or(usize::MAX);
        loop {
            let e = self.rng.index(NE);
            if e != v {
                return e;
            }
        }
    }

    fn thief_style(&mut self) -> Style {
        self.user_style(false)
    }

    fn window_frac(&mut self, num: u32, den: u32) -> u32 {
        let w = (self.thief.window * num / den).max(1);
        self.rng.range(1, w as u64) as u32
    }

    /// Runs every heist event due at the current height (including ones scheduled meanwhile).
    pub fn run_events(&mut self) {
        for _ in 0..100_000 {
            let h = self.h;
            let due = self
                .events
                .iter()
                .enumerate()
                .filter(|(_, e)| e.0 <= h)
                .min_by_key(|(_, e)| (e.0, e.1))
                .map(|(i, _)| i);
            let Some(i) = due else {
                return;
            };
            let (_, _, ev) = self.events.swap_remove(i);
            match ev {
                Ev::Drain => self.ev_drain(),
                Ev::Split => self.ev_split(),
                Ev::PeelStep(c) => self.ev_peel(c),
                Ev::MixerDeposit => self.ev_mixer_deposit(),
                Ev::ThiefTx0 => self.ev_tx0(),
                Ev::ThiefWasabi => {
                    if !self.wasabi_round(true) && self.h < self.thief.cj_deadline {
                        self.schedule(h + 1, Ev::ThiefWasabi);
                    }
                }
                Ev::CjConsolidate => self.ev_cj_consolidate(),
                Ev::HoldConsolidate => self.ev_hold(),
                Ev::MixedDeposit => self.ev_mixed_deposit(),
                Ev::Dust => self.ev_dust(),
            }
        }
    }

    fn ev_drain(&mut self) {
        let e = (0..NE)
            .max_by_key(|&e| (self.hot_balance(e), Reverse(e)))
            .expect("exchanges");
        if self.ex[e].hot_utxos.is_empty() {
            if self.h < self.last_h {
                self.schedule(self.h + 1, Ev::Drain);
            }
            return;
        }
        self.truth.victim = Some(e);
        let mut w = std::mem::take(&mut self.ex[e].hot_utxos);
        w.sort_by_key(|u| (Reverse(u.value), u.txid, u.vout));
        let keep = w.split_off(w.len().min(900));
        self.ex[e].hot_utxos = keep;
        let n_tx = (self.rng.range(2, 4) as usize).min(w.len());
        let mut groups: Vec<Vec<Utxo>> = vec![Vec::new(); n_tx];
        for (i, u) in w.into_iter().enumerate() {
            groups[i % n_tx].push(u);
        }
        let style = self.ex[e].style;
        for ins in groups {
            let fr = self.fee_rate();
            let sum: u64 = ins.iter().map(|u| u.value).sum();
            let two = self.rng.chance(0.5);
            let k1 = self.thief_kind();
            let k2 = self.thief_kind();
            let kinds: &[Kind] = if two { &[k1, k2] } else { &[k1] };
            let in_wu: u64 = ins.iter().map(|u| u.addr.kind().input_wu()).sum();
            let fee = Sim::fee(fr, in_wu + outs_wu(kinds, 0));
            if sum < fee + 2 * DUST {
                continue;
            }
            let net = sum - fee;
            let mut outs = Vec::new();
            if two {
                let a = self.rng.pct(net, 40, 60);
                let x = self.thief_fresh(k1);
                let y = self.thief_fresh(k2);
                outs.push(Out::to(x, a));
                outs.push(Out::to(y, net - a));
            } else {
                let x = self.thief_fresh(k1);
                outs.push(Out::to(x, net));
            }
            let txid = self.emit(&ins, &outs, style);
            self.truth.theft_txids.push(txid);
            for (i, o) in outs.iter().enumerate() {
                let u = Self::utxo(txid, i, o).expect("address");
                self.truth.theft_outputs.push((txid, i as u32));
                self.truth.theft_total += u.value;
                self.thief.fund.push(u);
            }
        }
        self.schedule(self.h + 1, Ev::Split);
    }

    fn ev_split(&mut self) {
        let ins = std::mem::take(&mut self.thief.fund);
        if ins.is_empty() {
            return;
        }
        let total: u64 = ins.iter().map(|u| u.value).sum();
        let fr = self.fee_rate();
        #[derive(Clone, Copy, PartialEq)]
        enum B {
            Peel,
            Mixer,
            Wp,
            Wasabi,
            Dust,
            Hold,
        }
        let mut plan: Vec<(B, u64, Kind)> = Vec::new();
        let n_peel = self.rng.range(3, 5);
        for v in split_amount(&mut self.rng, total * 45 / 100, n_peel) {
            let k = self.thief_kind();
            plan.push((B::Peel, v, k));
        }
        let n_mix = self.rng.range(4, 8);
        for v in split_amount(&mut self.rng, total * 20 / 100, n_mix) {
            if v >= 200_000 {
                plan.push((B::Mixer, v, Kind::P2wpkh));
            }
        }
        // Whirlpool: as many premixes as 8% buys (at most 70, Samourai's limit).
        let wp_budget = total * 8 / 100;
        let extra = 3_000u64;
        let pool = if wp_budget >= 10 * (5_000_000 + extra) + 400_000 {
            Some(1)
        } else if wp_budget >= 5 * (1_000_000 + extra) + 200_000 {
            Some(0)
        } else {
            None
        };
        let mut wp_plan = None;
        if let Some(p) = pool {
            let (denom, coord) = (self.wp[p].denom, self.wp[p].coord_fee);
            let n = ((wp_budget - coord - 150_000) / (denom + extra)).min(70);
            let fee_budget = 100_000 + 2_000 * n;
            plan.push((
                B::Wp,
                n * (denom + extra) + coord + fee_budget,
                Kind::P2wpkh,
            ));
            wp_plan = Some((p, n, extra));
        }
        let n_was = self.rng.range(3, 6);
        let each = (total * 8 / 100 / n_was).min(150_000_000);
        if each >= 300_000 {
            for _ in 0..n_was {
                let v = self.rng.pct(each, 80, 120);
                plan.push((B::Wasabi, v, Kind::P2wpkh));
            }
        }
        let dust = (total / 100).min(3_000_000);
        if dust >= 200_000 {
            plan.push((B::Dust, dust, Kind::P2wpkh));
        }
        let n_hold = self.rng.range(8, 20);
        let in_wu: u64 = ins.iter().map(|u| u.addr.kind().input_wu()).sum();
        let n_out = plan.len() as u64 + n_hold;
        let fee = Sim::fee(
            fr,
            in_wu + outs_wu(&[], 0) + n_out * Kind::P2wpkh.output_wu(),
        );
        let used: u64 = plan.iter().map(|p| p.1).sum();
        let rest = total.saturating_sub(used + fee);
        if rest < n_hold * 10_000 {
            // Too little left to hold: fold the rest into the first peel chain.
            if total < used + fee {
                self.thief.fund = ins; // cannot happen with the percentages above
                return;
            }
            plan[0].1 += rest;
        } else {
            for v in split_amount(&mut self.rng, rest, n_hold) {
                let k = self.thief_kind();
                plan.push((B::Hold, v, k));
            }
        }
        self.rng.shuffle(&mut plan);
        let mut outs = Vec::with_capacity(plan.len());
        for &(_, v, k) in &plan {
            let a = self.thief_fresh(k);
            outs.push(Out::to(a, v));
        }
        let style = self.thief_style();
        let txid = self.emit(&ins, &outs, style);
        let h = self.h;
        let w = self.thief.window;
        for (i, o) in outs.iter().enumerate() {
            let u = Self::utxo(txid, i, o).expect("address");
            match plan[i].0 {
                B::Peel => {
                    let steps = self.rng.range(10, 40) as u32;
                    let at = h + self.window_frac(1, 8);
                    self.start_chain(u, steps, w * 2 / 3, Cat::Peel, true, at);
                }
                B::Mixer => {
                    self.thief.mixer_fund.push(u);
                    let at = h + self.window_frac(1, 4);
                    self.schedule(at, Ev::MixerDeposit);
                }
                B::Wp => {
                    let (p, n, extra) = wp_plan.expect("planned");
                    self.thief.wp_fund.push((u, p, n, extra));
                    let at = h + self.window_frac(1, 5);
                    self.schedule(at, Ev::ThiefTx0);
                }
                B::Wasabi => self.thief.wasabi_fund.push(u),
                B::Dust => self.thief.dust_fund.push(u),
                B::Hold => self.thief.hold.push(u),
            }
        }
        if !self.thief.wasabi_fund.is_empty() {
            let at = h + 1 + self.window_frac(1, 3);
            self.schedule(at, Ev::ThiefWasabi);
        }
        if !self.thief.dust_fund.is_empty() {
            for _ in 0..3 {
                let at = h + self.window_frac(9, 10);
                self.schedule(at, Ev::Dust);
            }
        }
        if !self.thief.hold.is_empty() {
            let at = h + w / 2 + self.window_frac(1, 4);
            self.schedule(at, Ev::HoldConsolidate);
        }
        let at = self.thief.cj_deadline;
        self.schedule(at, Ev::CjConsolidate);
    }

    /// Starts a chain from `head` with `steps` peels spread over about `span` blocks.
    fn start_chain(&mut self, head: Utxo, steps: u32, span: u32, cat: Cat, record: bool, at: u32) {
        let record = record.then(|| {
            self.truth.peel_chains.push(Vec::new());
            self.truth.peel_chains.len() - 1
        });
        let peel = head.value / (steps as u64 + 1);
        self.thief.chains.push(PeelChain {
            head: Some(head),
            steps_left: steps,
            peel,
            gap: span / steps.max(1),
            cat,
            record,
        });
        let n = self.thief.chains.len() - 1;
        self.schedule(at, Ev::PeelStep(n));
    }

    fn ev_peel(&mut self, c: usize) {
        let Some(head) = self.thief.chains[c].head else {
            return;
        };
        let fr = self.fee_rate();
        let e = self.other_exchange();
        let dep_kind = EXCHANGES[e].deposit;
        let next_kind = self.thief_kind();
        let v = head.value;
        let in_wu = head.addr.kind().input_wu();
        let fee2 = Sim::fee(fr, in_wu + outs_wu(&[dep_kind, next_kind], 0));
        let peel = {
            let p = self.thief.chains[c].peel;
            self.rng.pct(p, 60, 140).max(10_000)
        };
        let cat = self.thief.chains[c].cat;
        let record = self.thief.chains[c].record;
        let style = self.thief_style();
        if self.thief.chains[c].steps_left == 0 || v < 2 * peel + fee2 + DUST {
            // Final step: everything left goes to the deposit.
            let fee1 = Sim::fee(fr, in_wu + outs_wu(&[dep_kind], 0));
            self.thief.chains[c].head = None;
            if v < fee1 + DUST {
                return;
            }
            let dep = self.thief_deposit_addr(e);
            let outs = [Out::to(dep, v - fee1)];
            let txid = self.emit(&[head], &outs, style);
            self.after_deposit(txid, e, &outs[0], cat, record);
            return;
        }
        let dep = self.thief_deposit_addr(e);
        let next = self.thief_fresh(next_kind);
        let mut outs = vec![Out::to(dep, peel), Out::to(next, v - peel - fee2)];
        let dep_first = self.rng.chance(0.5);
        if !dep_first {
            outs.reverse();
        }
        let txid = self.emit(&[head], &outs, style);
        let (di, ni) = if dep_first { (0, 1) } else { (1, 0) };
        self.after_deposit_at(txid, e, &outs[di], di, cat, record);
        let nu = Self::utxo(txid, ni, &outs[ni]).expect("address");
        let ch = &mut self.thief.chains[c];
        ch.head = Some(nu);
        ch.steps_left -= 1;
        let gap = ch.gap;
        let at = self.h + self.rng.range(0, gap as u64) as u32;
        self.schedule(at, Ev::PeelStep(c));
    }

    fn after_deposit(
        &mut self,
        txid: chainwatch_chain::Hash32,
        e: usize,
        o: &Out,
        cat: Cat,
        record: Option<usize>,
    ) {
        self.after_deposit_at(txid, e, o, 0, cat, record)
    }

    fn after_deposit_at(
        &mut self,
        txid: chainwatch_chain::Hash32,
        e: usize,
        o: &Out,
        vout: usize,
        cat: Cat,
        record: Option<usize>,
    ) {
        let u = Self::utxo(txid, vout, o).expect("address");
        self.ex[e].pending.push_back((self.h, u));
        self.truth.stolen_add(e, cat, txid, u.value);
        if let Some(r) = record {
            self.truth.peel_chains[r].push(txid);
        }
    }

    fn ev_mixer_deposit(&mut self) {
        let Some(u) = self.thief.mixer_fund.pop() else {
            return;
        };
        let fr = self.fee_rate();
        let fee = Sim::fee(
            fr,
            u.addr.kind().input_wu() + outs_wu(&[Kind::P2shP2wpkh], 0),
        );
        if u.value < fee + 100_000 {
            return;
        }
        let d = self.book.fresh(O_MIXER, Kind::P2shP2wpkh);
        let outs = [Out::to(d, u.value - fee)];
        let style = self.thief_style();
        let txid = self.emit(&[u], &outs, style);
        self.truth.mixer_deposits.push(txid);
        self.truth.all_mixer_deposits.push(txid);
        let dep = Self::utxo(txid, 0, &outs[0]).expect("address");
        self.mixer.pending.push_back((self.h, dep));
        let payout = dep.value * 98 / 100;
        let parts = self.rng.range(1, 3);
        let mut to = Vec::new();
        for v in split_amount(&mut self.rng, payout, parts) {
            let dest = if self.rng.chance(0.5) {
                PayTo::ThiefEx(self.other_exchange() as u8)
            } else {
                PayTo::Thief
            };
            to.push((dest, v));
        }
        let due = self.h + 1 + self.window_frac(1, 5);
        self.mixer_owe(due, to);
    }

    fn ev_mixed_deposit(&mut self) {
        let all = std::mem::take(&mut self.thief.mixer_out);
        for chunk in all.chunks(3) {
            let fr = self.fee_rate();
            let e = self.other_exchange();
            let dep_kind = EXCHANGES[e].deposit;
            let sum: u64 = chunk.iter().map(|u| u.value).sum();
            let in_wu: u64 = chunk.iter().map(|u| u.addr.kind().input_wu()).sum();
            let fee = Sim::fee(fr, in_wu + outs_wu(&[dep_kind], 0));
            if sum < fee + DUST {
                continue;
            }
            let dep = self.thief_deposit_addr(e);
            let outs = [Out::to(dep, sum - fee)];
            let style = self.thief_style();
            let txid = self.emit(chunk, &outs, style);
            self.after_deposit(txid, e, &outs[0], Cat::AfterMixer, None);
        }
    }

    fn ev_tx0(&mut self) {
        let Some((u, p, n, extra)) = self.thief.wp_fund.pop() else {
            return;
        };
        let fr = self.fee_rate();
        let base = Self::tx0_base_wu(n, Kind::P2wpkh);
        let fee = Sim::fee(fr, base + u.addr.kind().input_wu());
        let need = n * (self.wp[p].denom + extra) + self.wp[p].coord_fee + fee;
        if u.value < need {
            self.thief.hold.push(u);
            return;
        }
        if let Some(c) = self.tx0(Holder::Thief, &[u], p, n, extra, fee, Kind::P2wpkh) {
            if self.thief.hold_done {
                self.thief.cj_out.push(c);
            } else {
                self.thief.hold.push(c);
            }
        }
    }

    fn ev_cj_consolidate(&mut self) {
        let in_flight = self.wp.iter().any(|w| {
            w.premix
                .iter()
                .chain(&w.remix)
                .any(|x| x.0 == Holder::Thief)
        }) || !self.thief.wasabi_fund.is_empty()
            || !self.thief.wp_fund.is_empty();
        if in_flight && self.h + 3 < self.last_h {
            self.schedule(self.h + 1, Ev::CjConsolidate);
            return;
        }
        let all = std::mem::take(&mut self.thief.cj_out);
        for chunk in all.chunks(200) {
            let fr = self.fee_rate();
            let sum: u64 = chunk.iter().map(|u| u.value).sum();
            let in_wu: u64 = chunk.iter().map(|u| u.addr.kind().input_wu()).sum();
            let fee = Sim::fee(fr, in_wu + outs_wu(&[Kind::P2wpkh], 0));
            if sum < fee + DUST {
                continue;
            }
            let a = self.thief_fresh(Kind::P2wpkh);
            let outs = [Out::to(a, sum - fee)];
            let style = self.thief_style();
            let txid = self.emit(chunk, &outs, style);
            let u = Self::utxo(txid, 0, &outs[0]).expect("address");
            let steps = self.rng.range(1, 3) as u32;
            let at = self.h + 1 + self.window_frac(1, 10);
            let span = (self.last_h.saturating_sub(at + 1)).min(self.thief.window / 6);
            self.start_chain(u, steps, span, Cat::AfterCoinjoin, false, at);
        }
    }

    fn ev_hold(&mut self) {
        self.thief.hold_done = true;
        let ins = std::mem::take(&mut self.thief.hold);
        if ins.is_empty() {
            return;
        }
        let fr = self.fee_rate();
        let sum: u64 = ins.iter().map(|u| u.value).sum();
        let in_wu: u64 = ins.iter().map(|u| u.addr.kind().input_wu()).sum();
        let k = self.thief_kind();
        let fee = Sim::fee(fr, in_wu + outs_wu(&[k], 0));
        if sum < fee + DUST {
            return;
        }
        let a = self.thief_fresh(k);
        let outs = [Out::to(a, sum - fee)];
        let style = self.thief_style();
        let txid = self.emit(&ins, &outs, style);
        let u = Self::utxo(txid, 0, &outs[0]).expect("address");
        let steps = self.rng.range(8, 25) as u32;
        let at = self.h + 1;
        let span = self.last_h.saturating_sub(at + 2);
        self.start_chain(u, steps, span, Cat::Peel, true, at);
    }

    fn ev_dust(&mut self) {
        let Some(u) = self.thief.dust_fund.pop() else {
            return;
        };
        let fr = self.fee_rate();
        let n = self.rng.range(10, 30) as usize;
        let plan: Vec<(usize, u64)> = (0..n)
            .map(|_| {
                (
                    self.rng.index(self.users.len()),
                    self.rng.range(DUST, 1_500),
                )
            })
            .collect();
        let mut kinds: Vec<Kind> = plan.iter().map(|&(v, _)| self.users[v].pref).collect();
        kinds.push(Kind::P2wpkh);
        let fee = Sim::fee(fr, u.addr.kind().input_wu() + outs_wu(&kinds, 0));
        let paid: u64 = plan.iter().map(|p| p.1).sum();
        if u.value < paid + fee + DUST {
            self.thief.hold.push(u);
            return;
        }
        let mut outs = Vec::with_capacity(n + 1);
        for &(v, x) in &plan {
            let a = self.user_recv(v);
            outs.push(Out::to(a, x));
        }
        let c = self.thief_fresh(Kind::P2wpkh);
        outs.push(Out::to(c, u.value - paid - fee));
        let style = self.thief_style();
        let txid = self.emit(&[u], &outs, style);
        for (i, o) in outs.iter().enumerate() {
            let x = Self::utxo(txid, i, o).expect("address");
            if i < n {
                self.credit_user(plan[i].0, x);
            } else {
                self.thief.dust_fund.push(x);
            }
        }
    }
}
