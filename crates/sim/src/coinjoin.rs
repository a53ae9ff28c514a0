//! CoinJoins: Whirlpool (tx0 premix, then 5-in/5-out rounds of one pool denomination
//! whose mining fee is paid by the premix inputs) and Wasabi 2 style rounds (≥ 20
//! distinct users, standard denominations kept only where at least two outputs share the
//! value, plus change and a coordinator fee).

use crate::economy::{outs_wu, take_inputs, Dest, Holder, Out, Sim, Style, Utxo, DUST};
use crate::economy::{O_THIEF, O_WASABI, O_WHIRLPOOL};
use crate::keys::{Addr, Kind};
use chainwatch_chain::Hash32;

/// Samourai's tx0 OP_RETURN payload size.
const TX0_DATA: u8 = 46;

/// Wasabi standard denominations: 1, 2, 5 × 10^k sats from 10,000 sats to 50 BTC.
fn denominations() -> impl DoubleEndedIterator<Item = u64> {
    (4..=9u32).flat_map(|k| [1u64, 2, 5].map(|m| m * 10u64.pow(k)))
}

impl Sim {
    /// A fresh address of a CoinJoin participant.
    pub fn holder_fresh(&mut self, who: Holder, kind: Kind) -> Addr {
        match who {
            Holder::User(u) => self.book.fresh(self.o_user0 + u as usize, kind),
            Holder::Thief => self.book.fresh(O_THIEF, kind),
        }
    }

    fn credit_holder(&mut self, who: Holder, u: Utxo) {
        match who {
            Holder::User(v) => self.credit_user(v as usize, u),
            Holder::Thief => self.thief.cj_out.push(u),
        }
    }

    fn whirlpool_fee_addr(&mut self) -> Addr {
        match self.wp_fee_addr {
            Some(a) => a,
            None => {
                let a = self.book.fresh(O_WHIRLPOOL, Kind::P2wpkh);
                self.wp_fee_addr = Some(a);
                a
            }
        }
    }

    fn wasabi_fee_addr(&mut self) -> Addr {
        match self.wasabi_addr {
            Some(a) => a,
            None => {
                let a = self.book.fresh(O_WASABI, Kind::P2wpkh);
                self.wasabi_addr = Some(a);
                a
            }
        }
    }

    /// Weight of a tx0 with `n` premix outputs (outputs and overhead).
    pub fn tx0_base_wu(n: u64, change: Kind) -> u64 {
        outs_wu(&[Kind::P2wpkh, change], TX0_DATA as u64 + 11) + n * Kind::P2wpkh.output_wu()
    }

    /// Builds a tx0 from `ins` (already chosen, covering everything): OP_RETURN, coordinator
    /// fee, `n` premix outputs of `denom + extra`, change. Premixes join the pool's queue.
    /// Returns the change output, if any.
    #[allow(clippy::too_many_arguments)]
    pub fn tx0(
        &mut self,
        who: Holder,
        ins: &[Utxo],
        p: usize,
        n: u64,
        extra: u64,
        fee: u64,
        change_kind: Kind,
    ) -> Option<Utxo> {
        let sum: u64 = ins.iter().map(|u| u.value).sum();
        let denom = self.wp[p].denom;
        let coord = self.wp[p].coord_fee;
        let change = sum - n * (denom + extra) - coord - fee;
        let fee_addr = self.whirlpool_fee_addr();
        let mut outs = Vec::with_capacity(n as usize + 3);
        outs.push(Out {
            value: 0,
            dest: Dest::Data(TX0_DATA),
        });
        outs.push(Out::to(fee_addr, coord));
        for _ in 0..n {
            let a = self.holder_fresh(who, Kind::P2wpkh);
            outs.push(Out::to(a, denom + extra));
        }
        if change >= DUST {
            let a = self.holder_fresh(who, change_kind);
            outs.push(Out::to(a, change));
        }
        let txid = self.emit(ins, &outs, Style::SERVICE);
        let mut change_utxo = None;
        for (i, o) in outs.iter().enumerate().skip(2) {
            let u = Self::utxo(txid, i, o).expect("address");
            if i < 2 + n as usize {
                self.wp[p].premix.push((who, u));
            } else {
                change_utxo = Some(u);
            }
        }
        change_utxo
    }

    /// A user enters Whirlpool with a tx0.
    pub fn whirlpool_tx0(&mut self) -> bool {
        let u = self.rng.index(self.users.len());
        let bal: u64 = self.users[u].utxos.iter().map(|x| x.value).sum();
        if bal < 3_000_000 {
            return false;
        }
        let p = if bal > 40_000_000 && self.rng.chance(0.5) {
            1
        } else {
            0
        };
        let (denom, coord) = (self.wp[p].denom, self.wp[p].coord_fee);
        let extra = self.rng.range(1_000, 4_000);
        let avail = (bal * 8 / 10).saturating_sub(coord);
        let n = self.rng.range(1, 10).min(avail / (denom + extra));
        if n == 0 {
            return false;
        }
        let fr = self.fee_rate();
        let change_kind = self.users[u].pref;
        let base = Self::tx0_base_wu(n, change_kind);
        let amount = n * (denom + extra) + coord;
        let mut w = std::mem::take(&mut self.users[u].utxos);
        let picked = take_inputs(&mut self.rng, &mut w, amount, base, fr, 6, false);
        self.users[u].utxos = w;
        let Some((ins, _, fee)) = picked else {
            return false;
        };
        if let Some(c) = self.tx0(Holder::User(u as u32), &ins, p, n, extra, fee, change_kind) {
            self.credit_user(u, c);
        }
        true
    }

    /// Runs this block's Whirlpool rounds in both pools.
    pub fn whirlpool_rounds(&mut self) {
        for p in 0..2 {
            let thief_waiting = self.wp[p]
                .premix
                .iter()
                .filter(|x| x.0 == Holder::Thief)
                .count();
            let mut rounds = self.wp[p].premix.len() / 6 + self.rng.range(0, 1) as usize;
            if thief_waiting > 0 {
                let left = self.thief.cj_deadline.saturating_sub(self.h).max(1) as usize;
                rounds += thief_waiting.div_ceil(left);
            }
            for _ in 0..rounds.min(300) {
                if !self.whirlpool_mix(p) {
                    break;
                }
            }
        }
    }

    /// One Whirlpool mix: 5 inputs of 5 different holders (at least one premix paying the
    /// mining fee, the rest premixes or free remixes), 5 outputs of exactly the denomination.
    fn whirlpool_mix(&mut self, p: usize) -> bool {
        let npre = self.wp[p].premix.len();
        if npre == 0 {
            return false;
        }
        let first = self.wp[p]
            .premix
            .iter()
            .position(|x| x.0 == Holder::Thief)
            .unwrap_or_else(|| self.rng.index(npre));
        let mut pre = vec![first];
        let mut re: Vec<usize> = Vec::new();
        let mut holders = vec![self.wp[p].premix[first].0];
        if self.rng.chance(0.5) {
            for _ in 0..10 {
                let i = self.rng.index(npre);
                let hd = self.wp[p].premix[i].0;
                if !pre.contains(&i) && !holders.contains(&hd) {
                    pre.push(i);
                    holders.push(hd);
                    break;
                }
            }
        }
        let nre = self.wp[p].remix.len();
        for _ in 0..30 {
            if holders.len() == 5 || nre == 0 {
                break;
            }
            let i = self.rng.index(nre);
            let hd = self.wp[p].remix[i].0;
            if !re.contains(&i) && !holders.contains(&hd) {
                re.push(i);
                holders.push(hd);
            }
        }
        for _ in 0..40 {
            if holders.len() == 5 {
                break;
            }
            let i = self.rng.index(npre);
            let hd = self.wp[p].premix[i].0;
            if !pre.contains(&i) && !holders.contains(&hd) {
                pre.push(i);
                holders.push(hd);
            }
        }
        if holders.len() < 5 {
            return false;
        }
        pre.sort_unstable_by(|a, b| b.cmp(a));
        re.sort_unstable_by(|a, b| b.cmp(a));
        let mut entries: Vec<(Holder, Utxo)> = Vec::with_capacity(5);
        for i in pre {
            entries.push(self.wp[p].premix.remove(i));
        }
        for i in re {
            entries.push(self.wp[p].remix.remove(i));
        }
        self.rng.shuffle(&mut entries);
        let denom = self.wp[p].denom;
        let ins: Vec<Utxo> = entries.iter().map(|e| e.1).collect();
        let mut order: Vec<usize> = (0..5).collect();
        self.rng.shuffle(&mut order);
        let mut outs = Vec::with_capacity(5);
        let mut owners = Vec::with_capacity(5);
        for &k in &order {
            let who = entries[k].0;
            let a = self.holder_fresh(who, Kind::P2wpkh);
            outs.push(Out::to(a, denom));
            owners.push(who);
        }
        let txid = self.emit(&ins, &outs, Style::SERVICE);
        self.record_coinjoin(txid, owners.contains(&Holder::Thief));
        for (i, o) in outs.iter().enumerate() {
            let u = Self::utxo(txid, i, o).expect("address");
            match owners[i] {
                Holder::User(_) if self.wp[p].remix.len() < 80 && self.rng.chance(0.5) => {
                    self.wp[p].remix.push((owners[i], u));
                }
                who => self.credit_holder(who, u),
            }
        }
        true
    }

    fn record_coinjoin(&mut self, txid: Hash32, thief: bool) {
        self.truth.coinjoins.push(txid);
        if thief {
            self.truth.thief_coinjoins.push(txid);
        }
    }

    /// A Wasabi round of 20–45 users (plus the thief's inputs with `with_thief`).
    /// Returns false (and changes nothing) if not enough users could join.
    pub fn wasabi_round(&mut self, with_thief: bool) -> bool {
        let fr = self.fee_rate();
        let want = self.rng.range(20, 45) as usize;
        let mut parts: Vec<(Holder, Vec<Utxo>)> = Vec::with_capacity(want + 1);
        let mut seen: Vec<usize> = Vec::with_capacity(want * 4);
        for _ in 0..want * 8 {
            if parts.len() >= want {
                break;
            }
            let u = self.rng.index(self.users.len());
            if seen.contains(&u) {
                continue;
            }
            seen.push(u);
            let w = &mut self.users[u].utxos;
            let mut idx: Vec<usize> = w
                .iter()
                .enumerate()
                .filter(|(_, x)| {
                    matches!(x.addr.kind(), Kind::P2wpkh | Kind::P2tr) && x.value >= 30_000
                })
                .map(|(i, _)| i)
                .collect();
            if idx.is_empty() {
                continue;
            }
            let take = (self.rng.range(1, 3) as usize).min(idx.len());
            idx.truncate(take);
            idx.sort_unstable_by(|a, b| b.cmp(a));
            let taken: Vec<Utxo> = idx.into_iter().map(|i| w.swap_remove(i)).collect();
            parts.push((Holder::User(u as u32), taken));
        }
        let thief_in = if with_thief {
            let n = self.thief.wasabi_fund.len().min(8);
            let t: Vec<Utxo> = self.thief.wasabi_fund.drain(..n).collect();
            t
        } else {
            Vec::new()
        };
        if parts.len() < 20 || (with_thief && thief_in.is_empty()) {
            for (who, us) in parts {
                if let Holder::User(u) = who {
                    self.users[u as usize].utxos.extend(us);
                }
            }
            self.thief.wasabi_fund.extend(thief_in);
            return false;
        }
        if !thief_in.is_empty() {
            parts.push((Holder::Thief, thief_in));
        }

        // Greedy decomposition into standard denominations, reserving the worst-case fees.
        const MAX_OUTS: usize = 8;
        let out_wu = Kind::P2tr.output_wu();
        let mut plan: Vec<Vec<u64>> = Vec::with_capacity(parts.len());
        for (_, us) in &parts {
            let a: u64 = us.iter().map(|u| u.value).sum();
            let in_wu: u64 = us.iter().map(|u| u.addr.kind().input_wu()).sum();
            let fee_max = Sim::fee(fr, in_wu + (MAX_OUTS as u64 + 1) * out_wu + 20);
            let coord_max = a * 3 / 1000 + 1;
            let mut rem = a.saturating_sub(fee_max + coord_max);
            let mut outs = Vec::new();
            while outs.len() < MAX_OUTS {
                match denominations().rev().find(|&d| d <= rem) {
                    Some(d) => {
                        outs.push(d);
                        rem -= d;
                    }
                    None => break,
                }
            }
            plan.push(outs);
        }
        // Keep only values at least two outputs share.
        let mut counts: Vec<(u64, usize)> = denominations().map(|d| (d, 0)).collect();
        for outs in &plan {
            for d in outs {
                if let Some(c) = counts.iter_mut().find(|c| c.0 == *d) {
                    c.1 += 1;
                }
            }
        }
        let shared = |d: &u64| counts.iter().any(|c| c.0 == *d && c.1 >= 2);
        let mut n_equal = 0;
        for outs in plan.iter_mut() {
            outs.retain(shared);
            n_equal += outs.len();
        }
        if n_equal < 4 {
            for (who, us) in parts {
                match who {
                    Holder::User(u) => self.users[u as usize].utxos.extend(us),
                    Holder::Thief => self.thief.wasabi_fund.extend(us),
                }
            }
            return false;
        }

        // Outputs: equal ones, change, coordinator fee.
        let mut outs: Vec<(Out, Option<Holder>)> = Vec::new();
        let mut ins: Vec<Utxo> = Vec::new();
        let mut coord_total = 0u64;
        for ((who, us), dens) in parts.iter().zip(&plan) {
            let a: u64 = us.iter().map(|u| u.value).sum();
            let in_wu: u64 = us.iter().map(|u| u.addr.kind().input_wu()).sum();
            let fee_p = Sim::fee(fr, in_wu + (dens.len() as u64 + 1) * out_wu + 20);
            let mixed: u64 = dens.iter().sum();
            let coord_p = mixed * 3 / 1000;
            let change = a - mixed - fee_p - coord_p;
            coord_total += coord_p;
            let kind = match who {
                Holder::User(u) if self.users[*u as usize].pref == Kind::P2tr => Kind::P2tr,
                _ => Kind::P2wpkh,
            };
            for &d in dens {
                let addr = self.holder_fresh(*who, kind);
                outs.push((Out::to(addr, d), Some(*who)));
            }
            if change >= DUST {
                let addr = self.holder_fresh(*who, kind);
                outs.push((Out::to(addr, change), Some(*who)));
            }
            ins.extend_from_slice(us);
        }
        if coord_total >= DUST {
            let a = self.wasabi_fee_addr();
            outs.push((Out::to(a, coord_total), None));
        }
        // Wasabi orders inputs and outputs by value, largest first.
        self.rng.shuffle(&mut ins);
        ins.sort_by_key(|u| std::cmp::Reverse(u.value));
        self.rng.shuffle(&mut outs);
        outs.sort_by_key(|o| std::cmp::Reverse(o.0.value));
        let plain: Vec<Out> = outs.iter().map(|o| o.0).collect();
        let txid = self.emit(&ins, &plain, Style::SERVICE);
        self.record_coinjoin(txid, parts.iter().any(|p| p.0 == Holder::Thief));
        for (i, (o, who)) in outs.iter().enumerate() {
            if let Some(who) = who {
                let u = Self::utxo(txid, i, o).expect("address");
                self.credit_holder(*who, u);
            }
        }
        true
    }
}
