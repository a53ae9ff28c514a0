//! Output scripts, the compact keys the store gives them, and address strings.
//!
//! STUB: signatures are fixed (other crates code against them); bodies to be implemented.

use crate::chain::Chain;
use serde::{Deserialize, Serialize};

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
    /// Decodes the byte stored in the chain store's address-kind column.
    pub fn from_u8(b: u8) -> Option<AddrKind> {
        todo!("{b}")
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

impl Address {
    /// Parses an address string for `chain` (bech32 case-insensitive but not mixed-case).
    pub fn decode(s: &str, chain: Chain) -> Result<Address, AddressError> {
        todo!("{s}{chain}")
    }

    /// Encodes as the canonical string for `chain` (lower-case bech32/bech32m, base58check).
    pub fn encode(&self, chain: Chain) -> String {
        todo!("{chain}")
    }

    /// The scriptPubKey that pays to this address.
    pub fn script_pubkey(&self) -> Vec<u8> {
        todo!()
    }

    /// The address a scriptPubKey pays to, if it has an address form (P2PKH, P2SH, witness v0 with
    /// 20/32-byte program, witness v1..=16 with 2..=40-byte program).
    pub fn from_script(script: &[u8]) -> Option<Address> {
        todo!("{script:?}")
    }
}

impl AddrKey {
    /// Classifies a scriptPubKey. Hot path of ingest: no allocation.
    pub fn from_script(script: &[u8]) -> AddrKey {
        todo!("{script:?}")
    }

    /// The string users see: the address for address kinds; `nulldata:<64 hex>` or
    /// `script:<64 hex>` (SHA-256 of the script) otherwise. Unknown witness versions are
    /// `Script` keys and show as `script:…`.
    pub fn display(&self, chain: Chain) -> String {
        todo!("{chain}")
    }

    /// Parses what [`AddrKey::display`] prints (an address for `chain`, or a `script:`/`nulldata:` id).
    pub fn parse(s: &str, chain: Chain) -> Result<AddrKey, AddressError> {
        todo!("{s}{chain}")
    }

    /// The scriptPubKey for address kinds (`None` for `NullData`/`Script`, whose hash cannot be inverted).
    pub fn script_pubkey(&self) -> Option<Vec<u8>> {
        todo!()
    }
}
