//! Deterministic dummy keys, output scripts and input signatures of the right shapes.
//!
//! Every address the simulator creates is an [`Addr`]: a 29-bit serial number plus a
//! 3-bit script [`Kind`]. Its public key(s) are a pure function of the seed and the serial
//! number, so nothing but the 4-byte `Addr` needs to be stored; the script is derived from
//! the keys exactly as a wallet would (HASH160 of the compressed key for P2PKH/P2WPKH,
//! HASH160 of the `0014{20}` redeem script for P2SH-P2WPKH, SHA-256 of a 2-of-3 multisig
//! witness script for P2WSH, a 32-byte x-only key for P2TR). Signatures are random bytes
//! of the right shape (DER with low S for ECDSA, 64 bytes for Schnorr): nobody verifies them.

use crate::rng::{mix64, splitmix64, Rng};
use chainwatch_chain::TxIn;
use chainwatch_types::Address;
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

/// The kinds of scripts the simulated wallets use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// Legacy pay-to-public-key-hash.
    P2pkh = 0,
    /// P2WPKH nested in P2SH.
    P2shP2wpkh = 1,
    /// Native segwit v0 key hash.
    P2wpkh = 2,
    /// Native segwit v0 script hash of a 2-of-3 multisig.
    P2wsh = 3,
    /// Taproot, key-path spends.
    P2tr = 4,
}

impl Kind {
    fn from_bits(b: u32) -> Kind {
        match b {
            0 => Kind::P2pkh,
            1 => Kind::P2shP2wpkh,
            2 => Kind::P2wpkh,
            3 => Kind::P2wsh,
            _ => Kind::P2tr,
        }
    }

    /// Weight units of an input spending this kind (with a 72-byte DER signature).
    pub fn input_wu(self) -> u64 {
        match self {
            Kind::P2pkh => 148 * 4,
            Kind::P2shP2wpkh => 64 * 4 + 108,
            Kind::P2wpkh => 41 * 4 + 108,
            Kind::P2wsh => 41 * 4 + 253,
            Kind::P2tr => 41 * 4 + 66,
        }
    }

    /// Weight units of an output paying this kind.
    pub fn output_wu(self) -> u64 {
        4 * match self {
            Kind::P2pkh => 34,
            Kind::P2shP2wpkh => 32,
            Kind::P2wpkh => 31,
            Kind::P2wsh | Kind::P2tr => 43,
        }
    }
}

/// An address created by the simulator: kind in the top 3 bits, serial number below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr(pub u32);

/// The largest serial number an [`Addr`] can hold.
pub const MAX_ADDR_ID: u32 = (1 << 29) - 1;

impl Addr {
    /// Packs a serial number and a kind.
    pub fn new(id: u32, kind: Kind) -> Addr {
        debug_assert!(id <= MAX_ADDR_ID);
        Addr(((kind as u32) << 29) | id)
    }
    /// The script kind.
    pub fn kind(self) -> Kind {
        Kind::from_bits(self.0 >> 29)
    }
    /// The serial number.
    pub fn id(self) -> u32 {
        self.0 & MAX_ADDR_ID
    }
}

/// HASH160 = RIPEMD-160(SHA-256(data)).
pub fn hash160(data: &[u8]) -> [u8; 20] {
    let sha = Sha256::digest(data);
    Ripemd160::digest(sha).into()
}

/// log2 of the number of entries of the program cache.
const CACHE_BITS: u32 = 16;

/// Derives the dummy key material of the addresses of one simulation.
///
/// A small direct-mapped cache remembers recent programs (hashes), so that reused
/// addresses and soon-spent outputs are not hashed again.
#[derive(Clone, Debug)]
pub struct Keys {
    seed: u64,
    cache: Vec<(u32, [u8; 32])>,
}

impl Keys {
    /// Key material for `seed`.
    pub fn new(seed: u64) -> Keys {
        Keys {
            seed: mix64(seed ^ 0x6b65_7973_6b65_7973),
            cache: vec![(u32::MAX, [0; 32]); 1 << CACHE_BITS],
        }
    }

    /// [`Keys::program`] through the cache. The HASH160 of the key of a P2SH-P2WPKH
    /// address is cached under the P2WPKH address with the same serial number.
    fn program_cached(&mut self, a: Addr) -> [u8; 32] {
        let slot = (a.0.wrapping_mul(0x9e37_79b1) >> (32 - CACHE_BITS)) as usize;
        if self.cache[slot].0 == a.0 {
            return self.cache[slot].1;
        }
        let p = match a.kind() {
            Kind::P2shP2wpkh => {
                let inner = self.program_cached(Addr::new(a.id(), Kind::P2wpkh));
                let mut rs = [0u8; 22];
                rs[1] = 0x14;
                rs[2..].copy_from_slice(&inner[..20]);
                let mut p = [0u8; 32];
                p[..20].copy_from_slice(&hash160(&rs));
                p
            }
            _ => self.program(a).0,
        };
        self.cache[slot] = (a.0, p);
        p
    }

    fn words(&self, id: u32, idx: u32) -> [u8; 32] {
        let mut s = self.seed ^ (((id as u64) << 8) | idx as u64);
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut s).to_le_bytes());
        }
        out
    }

    /// The `idx`-th compressed public key of address `id`.
    pub fn pubkey(&self, id: u32, idx: u32) -> [u8; 33] {
        let w = self.words(id, idx);
        let mut pk = [0u8; 33];
        pk[0] = 0x02 | (w[31] & 1);
        pk[1..].copy_from_slice(&w);
        pk
    }

    /// The 2-of-3 multisig witness script of a P2WSH address.
    pub fn witness_script(&self, id: u32) -> [u8; 105] {
        let mut ws = [0u8; 105];
        ws[0] = 0x52; // OP_2
        for i in 0..3 {
            ws[1 + i * 34] = 0x21;
            ws[2 + i * 34..35 + i * 34].copy_from_slice(&self.pubkey(id, i as u32));
        }
        ws[103] = 0x53; // OP_3
        ws[104] = 0xae; // OP_CHECKMULTISIG
        ws
    }

    /// The hash or key an address commits to: 20 bytes (P2PKH, P2SH, P2WPKH) or 32.
    pub fn program(&self, a: Addr) -> ([u8; 32], usize) {
        let mut p = [0u8; 32];
        let id = a.id();
        match a.kind() {
            Kind::P2pkh | Kind::P2wpkh => {
                p[..20].copy_from_slice(&hash160(&self.pubkey(id, 0)));
                (p, 20)
            }
            Kind::P2shP2wpkh => {
                p[..20].copy_from_slice(&hash160(&self.redeem_script(id)));
                (p, 20)
            }
            Kind::P2wsh => {
                p.copy_from_slice(&Sha256::digest(self.witness_script(id)));
                (p, 32)
            }
            Kind::P2tr => {
                p.copy_from_slice(&self.words(id, 7));
                (p, 32)
            }
        }
    }

    fn redeem_script(&self, id: u32) -> [u8; 22] {
        let mut rs = [0u8; 22];
        rs[0] = 0x00;
        rs[1] = 0x14;
        rs[2..].copy_from_slice(&hash160(&self.pubkey(id, 0)));
        rs
    }

    /// Appends the scriptPubKey paying to `a`.
    pub fn script_pubkey(&mut self, a: Addr, out: &mut Vec<u8>) {
        let p = self.program_cached(a);
        let n = if matches!(a.kind(), Kind::P2wsh | Kind::P2tr) {
            32
        } else {
            20
        };
        match a.kind() {
            Kind::P2pkh => {
                out.extend_from_slice(&[0x76, 0xa9, 0x14]);
                out.extend_from_slice(&p[..20]);
                out.extend_from_slice(&[0x88, 0xac]);
            }
            Kind::P2shP2wpkh => {
                out.extend_from_slice(&[0xa9, 0x14]);
                out.extend_from_slice(&p[..20]);
                out.push(0x87);
            }
            Kind::P2wpkh | Kind::P2wsh => {
                out.extend_from_slice(&[0x00, n as u8]);
                out.extend_from_slice(&p[..n]);
            }
            Kind::P2tr => {
                out.extend_from_slice(&[0x51, 0x20]);
                out.extend_from_slice(&p);
            }
        }
    }

    /// The address `a` as a chainwatch [`Address`].
    pub fn address(&self, a: Addr) -> Address {
        let (p, n) = self.program(a);
        let h20 = || -> [u8; 20] { p[..20].try_into().expect("20") };
        match a.kind() {
            Kind::P2pkh => Address::P2pkh(h20()),
            Kind::P2shP2wpkh => Address::P2sh(h20()),
            Kind::P2wpkh | Kind::P2wsh => Address::Witness {
                version: 0,
                program: p[..n].to_vec(),
            },
            Kind::P2tr => Address::Witness {
                version: 1,
                program: p.to_vec(),
            },
        }
    }

    /// Fills the scriptSig and witness of `input`, which spends an output paying to `a`.
    pub fn sign(&mut self, a: Addr, rng: &mut Rng, input: &mut TxIn) {
        let id = a.id();
        match a.kind() {
            Kind::P2pkh => {
                let mut ss = Vec::with_capacity(107);
                let at = ss.len();
                ss.push(0);
                der_sig(rng, &mut ss);
                ss[at] = (ss.len() - at - 1) as u8;
                ss.push(0x21);
                ss.extend_from_slice(&self.pubkey(id, 0));
                input.script_sig = ss;
            }
            Kind::P2shP2wpkh => {
                let inner = self.program_cached(Addr::new(id, Kind::P2wpkh));
                let mut ss = Vec::with_capacity(23);
                ss.extend_from_slice(&[22, 0x00, 0x14]);
                ss.extend_from_slice(&inner[..20]);
                input.script_sig = ss;
                input.witness = vec![sig_vec(rng), self.pubkey(id, 0).to_vec()];
            }
            Kind::P2wpkh => {
                input.witness = vec![sig_vec(rng), self.pubkey(id, 0).to_vec()];
            }
            Kind::P2wsh => {
                input.witness = vec![
                    Vec::new(),
                    sig_vec(rng),
                    sig_vec(rng),
                    self.witness_script(id).to_vec(),
                ];
            }
            Kind::P2tr => {
                let mut s = vec![0u8; 64];
                rng.fill(&mut s);
                input.witness = vec![s];
            }
        }
    }
}

fn sig_vec(rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::with_capacity(72);
    der_sig(rng, &mut v);
    v
}

/// Appends a DER-encoded ECDSA signature (minimal, low S) plus SIGHASH_ALL: 71 or 72 bytes.
pub fn der_sig(rng: &mut Rng, out: &mut Vec<u8>) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    rng.fill(&mut r);
    rng.fill(&mut s);
    if r[0] == 0 {
        r[0] = 1;
    }
    s[0] &= 0x7f;
    if s[0] == 0 {
        s[0] = 1;
    }
    let rlen = if r[0] & 0x80 != 0 { 33 } else { 32 };
    out.push(0x30);
    out.push((4 + rlen + 32) as u8);
    out.push(0x02);
    out.push(rlen as u8);
    if rlen == 33 {
        out.push(0);
    }
    out.extend_from_slice(&r);
    out.push(0x02);
    out.push(32);
    out.extend_from_slice(&s);
    out.push(0x01);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_packing_round_trips() {
        for kind in [
            Kind::P2pkh,
            Kind::P2shP2wpkh,
            Kind::P2wpkh,
            Kind::P2wsh,
            Kind::P2tr,
        ] {
            let a = Addr::new(MAX_ADDR_ID, kind);
            assert_eq!(a.kind(), kind);
            assert_eq!(a.id(), MAX_ADDR_ID);
            let b = Addr::new(12345, kind);
            assert_eq!((b.kind(), b.id()), (kind, 12345));
        }
    }

    #[test]
    fn cached_scripts_match_the_address_form() {
        let mut keys = Keys::new(4);
        let kinds = [
            Kind::P2pkh,
            Kind::P2shP2wpkh,
            Kind::P2wpkh,
            Kind::P2wsh,
            Kind::P2tr,
        ];
        for round in 0..2 {
            for id in 0..3000u32 {
                let a = Addr::new(id * 40_000 % MAX_ADDR_ID, kinds[id as usize % 5]);
                let mut spk = Vec::new();
                keys.script_pubkey(a, &mut spk);
                assert_eq!(spk, keys.address(a).script_pubkey(), "{a:?} round {round}");
            }
        }
    }

    #[test]
    fn der_signatures_have_the_right_shape() {
        let mut rng = Rng::new(3);
        let mut lens = [0usize; 2];
        for _ in 0..500 {
            let mut v = Vec::new();
            der_sig(&mut rng, &mut v);
            assert!(v.len() == 71 || v.len() == 72, "{}", v.len());
            lens[v.len() - 71] += 1;
            assert_eq!(v[0], 0x30);
            assert_eq!(v[1] as usize, v.len() - 3);
            let rlen = v[3] as usize;
            assert_eq!(v[4 + rlen], 0x02);
            assert_eq!(v[5 + rlen], 32);
            assert!(v[6 + rlen] < 0x80 && v[6 + rlen] != 0, "low S, minimal");
            assert_eq!(*v.last().unwrap(), 0x01);
        }
        assert!(lens[0] > 100 && lens[1] > 100);
    }

    #[test]
    fn scripts_commit_to_the_keys_in_the_witness() {
        let mut keys = Keys::new(9);
        let mut rng = Rng::new(1);
        let blank = || TxIn {
            prevout: chainwatch_chain::OutPoint::NULL,
            script_sig: Vec::new(),
            sequence: 0,
            witness: Vec::new(),
        };
        // P2WPKH: program = HASH160(pubkey in witness).
        let a = Addr::new(77, Kind::P2wpkh);
        let mut spk = Vec::new();
        keys.script_pubkey(a, &mut spk);
        let mut i = blank();
        keys.sign(a, &mut rng, &mut i);
        assert_eq!(&spk[..2], &[0x00, 0x14]);
        assert_eq!(&spk[2..], &hash160(&i.witness[1]));
        // P2SH-P2WPKH: scriptSig pushes 0014{HASH160(pk)}, program = HASH160(redeem).
        let a = Addr::new(78, Kind::P2shP2wpkh);
        let mut spk = Vec::new();
        keys.script_pubkey(a, &mut spk);
        let mut i = blank();
        keys.sign(a, &mut rng, &mut i);
        assert_eq!(i.script_sig.len(), 23);
        assert_eq!(&i.script_sig[3..], &hash160(&i.witness[1]));
        assert_eq!(&spk[2..22], &hash160(&i.script_sig[1..]));
        // P2WSH: program = SHA-256(witness script), 2-of-3.
        let a = Addr::new(79, Kind::P2wsh);
        let mut spk = Vec::new();
        keys.script_pubkey(a, &mut spk);
        let mut i = blank();
        keys.sign(a, &mut rng, &mut i);
        assert_eq!(i.witness.len(), 4);
        assert!(i.witness[0].is_empty());
        let ws = &i.witness[3];
        assert_eq!(&spk[2..], Sha256::digest(ws).as_slice());
        assert_eq!((ws[0], ws[103], ws[104]), (0x52, 0x53, 0xae));
        // P2PKH: scriptSig = <sig> <33-byte pubkey>.
        let a = Addr::new(80, Kind::P2pkh);
        let mut spk = Vec::new();
        keys.script_pubkey(a, &mut spk);
        let mut i = blank();
        keys.sign(a, &mut rng, &mut i);
        let sl = i.script_sig[0] as usize;
        assert!(sl == 71 || sl == 72);
        assert_eq!(i.script_sig[1 + sl], 0x21);
        assert_eq!(&spk[3..23], &hash160(&i.script_sig[2 + sl..]));
        // P2TR: one 64-byte signature.
        let a = Addr::new(81, Kind::P2tr);
        let mut spk = Vec::new();
        keys.script_pubkey(a, &mut spk);
        assert_eq!(spk.len(), 34);
        let mut i = blank();
        keys.sign(a, &mut rng, &mut i);
        assert_eq!(i.witness.len(), 1);
        assert_eq!(i.witness[0].len(), 64);
    }
}
