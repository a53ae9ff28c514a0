//! Output scripts, the compact keys the store gives them, and address strings.
//!
//! * [`AddrKey::from_script`] classifies a scriptPubKey (P2PKH, P2SH, P2WPKH, P2WSH, P2TR,
//!   `OP_RETURN` data, anything else) without allocating.
//! * [`AddrKey::display`] / [`AddrKey::parse`] turn keys into what users read and back:
//!   base58check for P2PKH/P2SH, bech32 (BIP173) for witness v0, bech32m (BIP350) for
//!   witness v1, and `nulldata:<sha256>` / `script:<sha256>` for scripts without an
//!   address form.
//! * [`Address`] is a decoded address string of any segwit version, with its scriptPubKey.

use crate::chain::Chain;
use bech32::primitives::decode::SegwitHrpstringError;
use bech32::{Fe32, Hrp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[cfg(test)]
mod tests;

/// What kind of output script an [`AddrKey`] stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum AddrKind {
    /// Pay to public-key hash (`OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG`).
    P2pkh = 1,
    /// Pay to script hash (`OP_HASH160 <20> OP_EQUAL`).
    P2sh = 2,
    /// Segwit v0, 20-byte program.
    P2wpkh = 3,
    /// Segwit v0, 32-byte program.
    P2wsh = 4,
    /// Segwit v1, 32-byte program (taproot).
    P2tr = 5,
    /// Provably unspendable `OP_RETURN` data output; the key hash is SHA-256 of the script.
    NullData = 6,
    /// Any other script (P2PK, bare multisig, unknown witness versions, non-standard);
    /// the key hash is SHA-256 of the script.
    Script = 7,
}

impl AddrKind {
    /// All kinds, in discriminant order.
    pub const ALL: [AddrKind; 7] = [
        AddrKind::P2pkh,
        AddrKind::P2sh,
        AddrKind::P2wpkh,
        AddrKind::P2wsh,
        AddrKind::P2tr,
        AddrKind::NullData,
        AddrKind::Script,
    ];

    /// Decodes the byte stored in the chain store's address-kind column.
    pub fn from_u8(b: u8) -> Option<AddrKind> {
        Some(match b {
            1 => AddrKind::P2pkh,
            2 => AddrKind::P2sh,
            3 => AddrKind::P2wpkh,
            4 => AddrKind::P2wsh,
            5 => AddrKind::P2tr,
            6 => AddrKind::NullData,
            7 => AddrKind::Script,
            _ => return None,
        })
    }

    /// The byte stored in the chain store's address-kind column (the `repr(u8)` discriminant).
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Significant bytes of [`AddrKey::hash`] for this kind: 20 for the hash160 kinds
    /// (the rest are zero), 32 otherwise.
    pub fn hash_len(self) -> usize {
        match self {
            AddrKind::P2pkh | AddrKind::P2sh | AddrKind::P2wpkh => 20,
            _ => 32,
        }
    }

    /// True for the kinds that have an address string (everything but `NullData` and `Script`).
    pub fn has_address(self) -> bool {
        !matches!(self, AddrKind::NullData | AddrKind::Script)
    }
}

/// The compact identity of an output script: kind plus a 32-byte hash. 20-byte hashes
/// (P2PKH, P2SH, P2WPKH) sit in the first 20 bytes with the rest zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddrKey {
    /// The script kind.
    pub kind: AddrKind,
    /// The hash or program that identifies the script within its kind.
    pub hash: [u8; 32],
}

/// A decoded address string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// Base58check P2PKH.
    P2pkh([u8; 20]),
    /// Base58check P2SH.
    P2sh([u8; 20]),
    /// Segwit address of any version (BIP173 bech32 for v0, BIP350 bech32m for v1+).
    Witness {
        /// Witness version 0..=16.
        version: u8,
        /// Witness program, 2..=40 bytes (20 or 32 for v0).
        program: Vec<u8>,
    },
}

/// Why an address string or key could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Base58 decoding or its checksum failed.
    #[error("invalid base58check: {0}")]
    Base58(String),
    /// Bech32/bech32m decoding failed (checksum, characters, case, variant, padding).
    #[error("invalid bech32: {0}")]
    Bech32(String),
    /// A version byte or human-readable part that belongs to another network.
    #[error("address is for another network (expected {expected})")]
    WrongNetwork {
        /// The chain that was asked for.
        expected: Chain,
    },
    /// A witness version/program combination that is not allowed.
    #[error("invalid witness program: {0}")]
    WitnessProgram(String),
    /// A `script:`/`nulldata:` id that is not 64 hex digits.
    #[error("invalid script id: {0}")]
    ScriptId(String),
}

// Script opcodes used by the standard output templates.
const OP_0: u8 = 0x00;
const OP_1: u8 = 0x51;
const OP_16: u8 = 0x60;
const OP_RETURN: u8 = 0x6a;
const OP_DUP: u8 = 0x76;
const OP_EQUAL: u8 = 0x87;
const OP_EQUALVERIFY: u8 = 0x88;
const OP_HASH160: u8 = 0xa9;
const OP_CHECKSIG: u8 = 0xac;

/// Longest string accepted by the base58 decoder (a 25-byte payload is at most 35 characters);
/// keeps the quadratic base58 decoding cheap on garbage input.
const MAX_BASE58_LEN: usize = 64;

impl Address {
    /// Parses an address string for `chain` (bech32 case-insensitive but not mixed-case).
    ///
    /// Base58check strings must carry one of the chain's P2PKH/P2SH version bytes (or its
    /// legacy P2SH byte); segwit strings must use the chain's human-readable part, the
    /// checksum variant of their witness version (bech32 for v0, bech32m for v1..=16) and a
    /// 2..=40-byte program (20 or 32 bytes for v0). Addresses of another network give
    /// [`AddressError::WrongNetwork`].
    pub fn decode(s: &str, chain: Chain) -> Result<Address, AddressError> {
        if has_known_hrp(s) {
            return decode_segwit(s, chain);
        }
        match decode_base58(s, chain) {
            Ok(addr) => Ok(addr),
            // A well-formed segwit address whose human-readable part no chain here uses.
            Err(_) if bech32::segwit::decode(s).is_ok() => {
                Err(AddressError::WrongNetwork { expected: chain })
            }
            Err(e) => Err(e),
        }
    }

    /// Encodes as the canonical string for `chain` (lower-case bech32/bech32m, base58check).
    ///
    /// # Panics
    ///
    /// If a [`Address::Witness`] breaks the segwit rules (version above 16, program not
    /// 2..=40 bytes, v0 program not 20 or 32 bytes). [`Address::decode`] and
    /// [`Address::from_script`] never produce such values.
    pub fn encode(&self, chain: Chain) -> String {
        let params = chain.address_params();
        match self {
            Address::P2pkh(hash) => base58check_encode(params.p2pkh, hash),
            Address::P2sh(hash) => base58check_encode(params.p2sh, hash),
            Address::Witness { version, program } => {
                check_witness(*version, program).unwrap_or_else(|e| panic!("{e}"));
                let version = Fe32::try_from(*version).expect("checked: version <= 16");
                bech32::segwit::encode(chain_hrp(chain), version, program)
                    .unwrap_or_else(|e| panic!("segwit encoding failed: {e}"))
            }
        }
    }

    /// The scriptPubKey that pays to this address.
    ///
    /// # Panics
    ///
    /// If a [`Address::Witness`] has a version above 16 or a program longer than 75 bytes
    /// (neither has a script form of `OP_n <push>`).
    pub fn script_pubkey(&self) -> Vec<u8> {
        match self {
            Address::P2pkh(hash) => {
                let mut s = Vec::with_capacity(25);
                s.extend_from_slice(&[OP_DUP, OP_HASH160, 20]);
                s.extend_from_slice(hash);
                s.extend_from_slice(&[OP_EQUALVERIFY, OP_CHECKSIG]);
                s
            }
            Address::P2sh(hash) => {
                let mut s = Vec::with_capacity(23);
                s.extend_from_slice(&[OP_HASH160, 20]);
                s.extend_from_slice(hash);
                s.push(OP_EQUAL);
                s
            }
            Address::Witness { version, program } => witness_script(*version, program),
        }
    }

    /// The address a scriptPubKey pays to, if it has an address form (P2PKH, P2SH, witness v0 with
    /// 20/32-byte program, witness v1..=16 with 2..=40-byte program).
    pub fn from_script(script: &[u8]) -> Option<Address> {
        if let Some(hash) = p2pkh_hash(script) {
            return Some(Address::P2pkh(*hash));
        }
        if let Some(hash) = p2sh_hash(script) {
            return Some(Address::P2sh(*hash));
        }
        let (version, program) = witness_program(script)?;
        Some(Address::Witness {
            version,
            program: program.to_vec(),
        })
    }

    /// The store key of the script this address pays to (a `Script` key for witness
    /// versions/lengths without a kind of their own).
    pub fn key(&self) -> AddrKey {
        match self {
            Address::P2pkh(hash) => AddrKey::new20(AddrKind::P2pkh, hash),
            Address::P2sh(hash) => AddrKey::new20(AddrKind::P2sh, hash),
            Address::Witness { .. } => AddrKey::from_script(&self.script_pubkey()),
        }
    }
}

impl AddrKey {
    /// Classifies a scriptPubKey. Hot path of ingest: no allocation.
    pub fn from_script(script: &[u8]) -> AddrKey {
        if let Some(hash) = p2pkh_hash(script) {
            return AddrKey::new20(AddrKind::P2pkh, hash);
        }
        if let Some(hash) = p2sh_hash(script) {
            return AddrKey::new20(AddrKind::P2sh, hash);
        }
        match script {
            [OP_0, 20, program @ ..] if program.len() == 20 => {
                AddrKey::new20(AddrKind::P2wpkh, program)
            }
            [OP_0, 32, program @ ..] if program.len() == 32 => AddrKey {
                kind: AddrKind::P2wsh,
                hash: to_array(program),
            },
            [OP_1, 32, program @ ..] if program.len() == 32 => AddrKey {
                kind: AddrKind::P2tr,
                hash: to_array(program),
            },
            [OP_RETURN, ..] => AddrKey {
                kind: AddrKind::NullData,
                hash: Sha256::digest(script).into(),
            },
            _ => AddrKey {
                kind: AddrKind::Script,
                hash: Sha256::digest(script).into(),
            },
        }
    }

    /// The string users see: the address for address kinds; `nulldata:<64 hex>` or
    /// `script:<64 hex>` (SHA-256 of the script) otherwise. Unknown witness versions are
    /// `Script` keys and show as `script:…`.
    pub fn display(&self, chain: Chain) -> String {
        match self.address() {
            Some(addr) => addr.encode(chain),
            None => {
                let prefix = match self.kind {
                    AddrKind::NullData => "nulldata",
                    _ => "script",
                };
                format!("{prefix}:{}", hex::encode(self.hash))
            }
        }
    }

    /// Parses what [`AddrKey::display`] prints (an address for `chain`, or a `script:`/`nulldata:` id).
    ///
    /// Any valid address for `chain` is accepted, including Litecoin's legacy P2SH versions and
    /// upper-case bech32; a segwit address whose version/length has no kind of its own gives
    /// the `Script` key [`AddrKey::from_script`] gives its scriptPubKey.
    pub fn parse(s: &str, chain: Chain) -> Result<AddrKey, AddressError> {
        if let Some(id) = s.strip_prefix("script:") {
            return Ok(AddrKey {
                kind: AddrKind::Script,
                hash: parse_script_id(id)?,
            });
        }
        if let Some(id) = s.strip_prefix("nulldata:") {
            return Ok(AddrKey {
                kind: AddrKind::NullData,
                hash: parse_script_id(id)?,
            });
        }
        Ok(Address::decode(s, chain)?.key())
    }

    /// The scriptPubKey for address kinds (`None` for `NullData`/`Script`, whose hash cannot be inverted).
    pub fn script_pubkey(&self) -> Option<Vec<u8>> {
        self.address().map(|addr| addr.script_pubkey())
    }

    /// The address of an address kind (`None` for `NullData`/`Script`).
    pub fn address(&self) -> Option<Address> {
        let hash20 = || -> [u8; 20] { to_array(&self.hash[..20]) };
        Some(match self.kind {
            AddrKind::P2pkh => Address::P2pkh(hash20()),
            AddrKind::P2sh => Address::P2sh(hash20()),
            AddrKind::P2wpkh => Address::Witness {
                version: 0,
                program: self.hash[..20].to_vec(),
            },
            AddrKind::P2wsh => Address::Witness {
                version: 0,
                program: self.hash.to_vec(),
            },
            AddrKind::P2tr => Address::Witness {
                version: 1,
                program: self.hash.to_vec(),
            },
            AddrKind::NullData | AddrKind::Script => return None,
        })
    }

    /// A key with a 20-byte hash in the first 20 bytes and zeros after.
    fn new20(kind: AddrKind, hash: &[u8]) -> AddrKey {
        let mut full = [0u8; 32];
        full[..20].copy_from_slice(hash);
        AddrKey { kind, hash: full }
    }
}

/// Copies a slice whose length the caller has checked into an array.
fn to_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

/// The hash of `OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG`.
fn p2pkh_hash(script: &[u8]) -> Option<&[u8; 20]> {
    match script {
        [OP_DUP, OP_HASH160, 20, hash @ .., OP_EQUALVERIFY, OP_CHECKSIG] => hash.try_into().ok(),
        _ => None,
    }
}

/// The hash of `OP_HASH160 <20> OP_EQUAL`.
fn p2sh_hash(script: &[u8]) -> Option<&[u8; 20]> {
    match script {
        [OP_HASH160, 20, hash @ .., OP_EQUAL] => hash.try_into().ok(),
        _ => None,
    }
}

/// Version and program of a witness output `OP_n <2..=40 bytes>` (BIP141), with v0 limited
/// to 20/32-byte programs.
fn witness_program(script: &[u8]) -> Option<(u8, &[u8])> {
    let [op, len, program @ ..] = script else {
        return None;
    };
    let version = match *op {
        OP_0 => 0,
        OP_1..=OP_16 => op - (OP_1 - 1),
        _ => return None,
    };
    if usize::from(*len) != program.len() || check_witness(version, program).is_err() {
        return None;
    }
    Some((version, program))
}

/// The segwit rules on version and program length (BIP141, BIP173, BIP350).
fn check_witness(version: u8, program: &[u8]) -> Result<(), AddressError> {
    if version > 16 {
        return Err(AddressError::WitnessProgram(format!(
            "witness version {version} is above 16"
        )));
    }
    if !(2..=40).contains(&program.len()) {
        return Err(AddressError::WitnessProgram(format!(
            "witness program of {} bytes (must be 2..=40)",
            program.len()
        )));
    }
    if version == 0 && program.len() != 20 && program.len() != 32 {
        return Err(AddressError::WitnessProgram(format!(
            "witness v0 program of {} bytes (must be 20 or 32)",
            program.len()
        )));
    }
    Ok(())
}

/// `OP_n <push program>`.
fn witness_script(version: u8, program: &[u8]) -> Vec<u8> {
    assert!(version <= 16, "witness version {version} is above 16");
    assert!(
        program.len() <= 75,
        "witness program of {} bytes does not fit a direct push",
        program.len()
    );
    let op = if version == 0 {
        OP_0
    } else {
        OP_1 - 1 + version
    };
    let mut s = Vec::with_capacity(program.len() + 2);
    s.push(op);
    s.push(program.len() as u8);
    s.extend_from_slice(program);
    s
}

fn chain_hrp(chain: Chain) -> Hrp {
    Hrp::parse(chain.address_params().hrp).expect("chain hrps are valid bech32 hrps")
}

/// Whether `s` looks like a segwit address of one of our chains: the part before the last
/// `1` is (case-insensitively) a known human-readable part.
fn has_known_hrp(s: &str) -> bool {
    let Some((hrp, _)) = s.rsplit_once('1') else {
        return false;
    };
    Chain::ALL
        .iter()
        .any(|c| c.address_params().hrp.eq_ignore_ascii_case(hrp))
}

fn decode_segwit(s: &str, chain: Chain) -> Result<Address, AddressError> {
    let (hrp, version, program) = bech32::segwit::decode(s).map_err(|e| {
        let msg = error_chain(&e);
        match e.0 {
            SegwitHrpstringError::InvalidWitnessVersion(_)
            | SegwitHrpstringError::WitnessLength(_) => AddressError::WitnessProgram(msg),
            _ => AddressError::Bech32(msg),
        }
    })?;
    if hrp != chain_hrp(chain) {
        return Err(AddressError::WrongNetwork { expected: chain });
    }
    let version = version.to_u8();
    // The bech32 crate checks these already; keep the rules explicit here.
    check_witness(version, &program)?;
    Ok(Address::Witness { version, program })
}

/// An error's message followed by those of its sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = inner.source();
    }
    msg
}

fn sha256d(data: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(data)).into()
}

fn base58check_encode(version: u8, hash: &[u8; 20]) -> String {
    let mut buf = [0u8; 25];
    buf[0] = version;
    buf[1..21].copy_from_slice(hash);
    let check = sha256d(&buf[..21]);
    buf[21..].copy_from_slice(&check[..4]);
    bs58::encode(buf).into_string()
}

/// Version byte and 20-byte hash of a base58check string.
fn base58check_decode(s: &str) -> Result<(u8, [u8; 20]), AddressError> {
    if s.len() > MAX_BASE58_LEN {
        return Err(AddressError::Base58(format!(
            "{} characters is too long for an address",
            s.len()
        )));
    }
    let data = bs58::decode(s)
        .into_vec()
        .map_err(|e| AddressError::Base58(e.to_string()))?;
    if data.len() < 5 {
        return Err(AddressError::Base58(format!(
            "{} bytes is too short for a checksummed payload",
            data.len()
        )));
    }
    let (payload, check) = data.split_at(data.len() - 4);
    if sha256d(payload)[..4] != *check {
        return Err(AddressError::Base58("checksum mismatch".into()));
    }
    if payload.len() != 21 {
        return Err(AddressError::Base58(format!(
            "payload of {} bytes (expected 21: version and 20-byte hash)",
            payload.len()
        )));
    }
    Ok((payload[0], to_array(&payload[1..])))
}

fn decode_base58(s: &str, chain: Chain) -> Result<Address, AddressError> {
    let (version, hash) = base58check_decode(s)?;
    let params = chain.address_params();
    if version == params.p2pkh {
        Ok(Address::P2pkh(hash))
    } else if version == params.p2sh || Some(version) == params.p2sh_legacy {
        Ok(Address::P2sh(hash))
    } else {
        Err(AddressError::WrongNetwork { expected: chain })
    }
}

/// The 32-byte hash of a `script:`/`nulldata:` id (64 hex digits).
fn parse_script_id(id: &str) -> Result<[u8; 32], AddressError> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(id, &mut hash)
        .map_err(|e| AddressError::ScriptId(format!("{id:?}: expected 64 hex digits ({e})")))?;
    Ok(hash)
}
