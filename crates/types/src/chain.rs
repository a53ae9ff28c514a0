//! The chains and networks chainwatch reads, with their wire and address parameters.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A Bitcoin-family chain and network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Chain {
    /// Bitcoin mainnet.
    Bitcoin,
    /// Bitcoin testnet3.
    BitcoinTestnet,
    /// Bitcoin regtest.
    BitcoinRegtest,
    /// Litecoin mainnet.
    Litecoin,
    /// Litecoin testnet4.
    LitecoinTestnet,
    /// Litecoin regtest.
    LitecoinRegtest,
}

/// Address encoding parameters of a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressParams {
    /// Base58check version byte of P2PKH addresses.
    pub p2pkh: u8,
    /// Base58check version byte of P2SH addresses.
    pub p2sh: u8,
    /// A second P2SH version accepted when decoding (Litecoin's legacy `3…` addresses).
    pub p2sh_legacy: Option<u8>,
    /// Bech32/bech32m human-readable part of segwit addresses.
    pub hrp: &'static str,
}

/// Error for an unknown chain name.
#[derive(Debug, thiserror::Error)]
#[error("unknown chain '{0}' (expected one of: bitcoin, bitcoin-testnet, bitcoin-regtest, litecoin, litecoin-testnet, litecoin-regtest)")]
pub struct ChainParseError(pub String);

impl Chain {
    /// All chains, in a stable order.
    pub const ALL: [Chain; 6] = [
        Chain::Bitcoin,
        Chain::BitcoinTestnet,
        Chain::BitcoinRegtest,
        Chain::Litecoin,
        Chain::LitecoinTestnet,
        Chain::LitecoinRegtest,
    ];

    /// The name used on the command line and in the data directory (`bitcoin-regtest`, …).
    pub fn name(self) -> &'static str {
        match self {
            Chain::Bitcoin => "bitcoin",
            Chain::BitcoinTestnet => "bitcoin-testnet",
            Chain::BitcoinRegtest => "bitcoin-regtest",
            Chain::Litecoin => "litecoin",
            Chain::LitecoinTestnet => "litecoin-testnet",
            Chain::LitecoinRegtest => "litecoin-regtest",
        }
    }

    /// The four message-start bytes that frame blocks in `blk*.dat` files.
    pub fn magic(self) -> [u8; 4] {
        match self {
            Chain::Bitcoin => [0xf9, 0xbe, 0xb4, 0xd9],
            Chain::BitcoinTestnet => [0x0b, 0x11, 0x09, 0x07],
            Chain::BitcoinRegtest => [0xfa, 0xbf, 0xb5, 0xda],
            Chain::Litecoin => [0xfb, 0xc0, 0xb6, 0xdb],
            Chain::LitecoinTestnet => [0xfd, 0xd2, 0xc8, 0xf1],
            Chain::LitecoinRegtest => [0xfa, 0xbf, 0xb5, 0xda],
        }
    }

    /// Address encoding parameters.
    pub fn address_params(self) -> AddressParams {
        match self {
            Chain::Bitcoin => AddressParams {
                p2pkh: 0x00,
                p2sh: 0x05,
                p2sh_legacy: None,
                hrp: "bc",
            },
            Chain::BitcoinTestnet => AddressParams {
                p2pkh: 0x6f,
                p2sh: 0xc4,
                p2sh_legacy: None,
                hrp: "tb",
            },
            Chain::BitcoinRegtest => AddressParams {
                p2pkh: 0x6f,
                p2sh: 0xc4,
                p2sh_legacy: None,
                hrp: "bcrt",
            },
            Chain::Litecoin => AddressParams {
                p2pkh: 0x30,
                p2sh: 0x32,
                p2sh_legacy: Some(0x05),
                hrp: "ltc",
            },
            Chain::LitecoinTestnet => AddressParams {
                p2pkh: 0x6f,
                p2sh: 0x3a,
                p2sh_legacy: Some(0xc4),
                hrp: "tltc",
            },
            Chain::LitecoinRegtest => AddressParams {
                p2pkh: 0x6f,
                p2sh: 0x3a,
                p2sh_legacy: Some(0xc4),
                hrp: "rltc",
            },
        }
    }

    /// True for the Litecoin networks (whose blocks may carry MWEB data).
    pub fn is_litecoin(self) -> bool {
        matches!(
            self,
            Chain::Litecoin | Chain::LitecoinTestnet | Chain::LitecoinRegtest
        )
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Chain {
    type Err = ChainParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Chain::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| ChainParseError(s.to_string()))
    }
}
