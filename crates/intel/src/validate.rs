//! Address validation per asset: which network an address belongs to, whether its
//! checksum holds, and the canonical form the store keeps and looks up.
//!
//! Checked formats: Bitcoin and Litecoin through [`chainwatch_types::Address::decode`]
//! (base58check and bech32/bech32m); EVM chains and tokens (`0x` + 40 hex, EIP-55 when
//! mixed case); base58check with known version bytes for BSV, BTG, DASH, DOGE, XVG,
//! ZEC (transparent; Sapling `zs1…` by its bech32 checksum) and TRON; XRP (classic
//! address, Ripple alphabet); Bitcoin Cash CashAddr or legacy; Monero (its block
//! base58 and Keccak checksum). Any other asset, and known forms not checked here (XRP
//! X-addresses, Zcash Sprout `zc…` and unified `u1…`), is kept unvalidated, never guessed.

use chainwatch_types::{Address, Chain};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// Outcome of checking one address string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// Canonical form: EVM, bech32 and CashAddr lower-case (CashAddr without prefix),
    /// base58 forms unchanged.
    pub address: String,
    /// Network the address was checked on (`BTC`, `ETH`, `TRX`, …), or the asset when
    /// it could not be checked.
    pub network: String,
    /// The chainwatch chain (Bitcoin/Litecoin networks only).
    pub chain: Option<Chain>,
    /// Whether the format and checksum were verified.
    pub validated: bool,
}

/// Normalises an asset or currency code: upper-case, `XBT` → `BTC`.
pub fn normalize_asset(asset: &str) -> String {
    let a = asset.trim().to_ascii_uppercase();
    if a == "XBT" {
        "BTC".to_string()
    } else {
        a
    }
}

/// Networks whose addresses this module knows how to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Net {
    /// A chainwatch chain (Bitcoin or Litecoin family).
    Chain(Chain),
    /// An EVM chain, with the network code it is reported as.
    Evm(&'static str),
    /// A token that lives on several chains: dispatched by the address shape.
    Token,
    Tron,
    BitcoinCash,
    /// Base58check with a one-byte version: network code and allowed versions.
    Base58(&'static str, &'static [u8]),
    Zcash,
    Ripple,
    Monero,
}

const EVM_CHAINS: &[&str] = &[
    "ETH", "ETC", "BSC", "BNB", "ARB", "MATIC", "POLYGON", "POL", "AVAX", "OP", "BASE", "FTM",
];

/// Tokens issued on several chains (Ethereum, TRON, Omni on Bitcoin).
const TOKENS: &[&str] = &[
    "USDT", "USDC", "DAI", "BUSD", "TUSD", "USDP", "PAX", "WETH", "WBTC",
];

fn net_of(code: &str) -> Option<Net> {
    let c = code.trim().to_ascii_uppercase().replace('_', "-");
    let net = match c.as_str() {
        "BTC" | "XBT" | "BITCOIN" => Net::Chain(Chain::Bitcoin),
        "BITCOIN-TESTNET" | "BTC-TESTNET" | "TBTC" | "BTC-TESTNET3" => {
            Net::Chain(Chain::BitcoinTestnet)
        }
        "BITCOIN-REGTEST" | "BTC-REGTEST" => Net::Chain(Chain::BitcoinRegtest),
        "LTC" | "LITECOIN" => Net::Chain(Chain::Litecoin),
        "LITECOIN-TESTNET" | "LTC-TESTNET" | "TLTC" => Net::Chain(Chain::LitecoinTestnet),
        "LITECOIN-REGTEST" | "LTC-REGTEST" => Net::Chain(Chain::LitecoinRegtest),
        "TRX" | "TRON" => Net::Tron,
        "BCH" => Net::BitcoinCash,
        "BSV" => Net::Base58("BSV", &[0x00, 0x05]),
        "BTG" => Net::Base58("BTG", &[38, 23]),
        "DASH" => Net::Base58("DASH", &[76, 16]),
        "DOGE" => Net::Base58("DOGE", &[30, 22]),
        "XVG" => Net::Base58("XVG", &[30, 33]),
        "ZEC" => Net::Zcash,
        "XRP" => Net::Ripple,
        "XMR" => Net::Monero,
        other => {
            if let Some(e) = EVM_CHAINS.iter().find(|e| **e == other) {
                Net::Evm(e)
            } else if TOKENS.contains(&other) {
                Net::Token
            } else {
                return None;
            }
        }
    };
    Some(net)
}

/// Checks `raw` as an address of `asset` on `network` (the network defaults to the asset).
///
/// `Ok` with `validated: false` when the network is one this module cannot check (the
/// address is kept as written); `Err` with the reason when the address is malformed or
/// fails its checksum.
pub fn check(asset: &str, network: Option<&str>, raw: &str) -> Result<Checked, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("empty address".to_string());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("address contains whitespace or control characters".to_string());
    }
    let code = network.unwrap_or(asset);
    let Some(net) = net_of(code) else {
        return Ok(Checked {
            address: s.to_string(),
            network: normalize_asset(code),
            chain: None,
            validated: false,
        });
    };
    let net = if net == Net::Token {
        token_network(s)
    } else {
        Some(net)
    };
    let Some(net) = net else {
        return Ok(Checked {
            address: s.to_string(),
            network: normalize_asset(code),
            chain: None,
            validated: false,
        });
    };
    check_on(net, s).map_err(|reason| match other_network(net, s) {
        Some(code) => format!("{reason}; it is a valid {code} address"),
        None => reason,
    })
}

/// A network other than `tried` on which `s` is a valid address (to explain mislabelled
/// entries such as a TRON address listed as XBT).
fn other_network(tried: Net, s: &str) -> Option<&'static str> {
    const CANDIDATES: [(&str, &str); 10] = [
        ("BTC", "BTC"),
        ("LTC", "LTC"),
        ("ETH", "EVM"),
        ("TRX", "TRX"),
        ("BCH", "BCH"),
        ("DASH", "DASH"),
        ("ZEC", "ZEC"),
        ("XRP", "XRP"),
        ("XMR", "XMR"),
        ("DOGE", "DOGE"),
    ];
    CANDIDATES.iter().find_map(|(code, name)| {
        let net = net_of(code)?;
        (net != tried && check_on(net, s).is_ok()).then_some(*name)
    })
}

/// The chain a multi-chain token address lives on, by its shape.
fn token_network(s: &str) -> Option<Net> {
    if s.starts_with("0x") || s.starts_with("0X") {
        Some(Net::Evm("ETH"))
    } else if s.starts_with('T') {
        Some(Net::Tron)
    } else if s.starts_with('1')
        || s.starts_with('3')
        || s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("bc1"))
    {
        // Omni-layer tokens on Bitcoin.
        Some(Net::Chain(Chain::Bitcoin))
    } else {
        None
    }
}

fn ok(address: String, network: &str, chain: Option<Chain>) -> Result<Checked, String> {
    Ok(Checked {
        address,
        network: network.to_string(),
        chain,
        validated: true,
    })
}

/// A well-known address form of `network` that this module does not check.
fn unchecked(s: &str, network: &str) -> Result<Checked, String> {
    Ok(Checked {
        address: s.to_string(),
        network: network.to_string(),
        chain: None,
        validated: false,
    })
}

fn check_on(net: Net, s: &str) -> Result<Checked, String> {
    match net {
        Net::Chain(chain) => {
            let addr = Address::decode(s, chain).map_err(|e| e.to_string())?;
            let canonical = match addr {
                Address::Witness { .. } => s.to_ascii_lowercase(),
                _ => s.to_string(),
            };
            let code = if chain.is_litecoin() { "LTC" } else { "BTC" };
            ok(canonical, code, Some(chain))
        }
        Net::Evm(code) => ok(check_evm(s)?, code, None),
        // `check` resolves tokens to their chain first.
        Net::Token => Err("token address of unknown chain".to_string()),
        Net::Tron => {
            let payload = base58check(s, bs58::Alphabet::BITCOIN)?;
            if payload.len() != 21 || payload[0] != 0x41 {
                return Err(format!(
                    "not a TRON address (expected version 0x41 and a 20-byte hash, got {} bytes)",
                    payload.len()
                ));
            }
            ok(s.to_string(), "TRX", None)
        }
        Net::BitcoinCash => {
            if s.starts_with('1') || s.starts_with('3') {
                let payload = base58check(s, bs58::Alphabet::BITCOIN)?;
                check_version("BCH legacy", &payload, &[0x00, 0x05])?;
                ok(s.to_string(), "BCH", None)
            } else {
                ok(check_cashaddr(s)?, "BCH", None)
            }
        }
        Net::Base58(code, versions) => {
            let payload = base58check(s, bs58::Alphabet::BITCOIN)?;
            check_version(code, &payload, versions)?;
            ok(s.to_string(), code, None)
        }
        Net::Zcash => {
            if s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("zs1")) {
                return ok(check_sapling(s)?, "ZEC", None);
            }
            // Sprout (zc…) and unified (u1…) addresses: real formats this module does not check.
            if s.starts_with("zc") || s.starts_with("u1") {
                return unchecked(s, "ZEC");
            }
            let payload = base58check(s, bs58::Alphabet::BITCOIN)?;
            // t1… (P2PKH) and t3… (P2SH) use two version bytes.
            if payload.len() != 22
                || !(payload[..2] == [0x1c, 0xb8] || payload[..2] == [0x1c, 0xbd])
            {
                return Err("not a Zcash transparent address (t1…/t3…)".to_string());
            }
            ok(s.to_string(), "ZEC", None)
        }
        Net::Ripple => {
            // X-addresses (classic address plus destination tag) are not checked here.
            if s.starts_with('X') {
                return unchecked(s, "XRP");
            }
            let payload = base58check(s, bs58::Alphabet::RIPPLE)?;
            check_version("XRP", &payload, &[0x00])?;
            ok(s.to_string(), "XRP", None)
        }
        Net::Monero => ok(check_monero(s)?, "XMR", None),
    }
}

fn check_version(code: &str, payload: &[u8], versions: &[u8]) -> Result<(), String> {
    if payload.len() != 21 {
        return Err(format!(
            "not a {code} address (decoded {} bytes, expected a version byte and a 20-byte hash)",
            payload.len()
        ));
    }
    if !versions.contains(&payload[0]) {
        return Err(format!(
            "version byte {} is not a {code} address version ({versions:?})",
            payload[0]
        ));
    }
    Ok(())
}

/// Decodes base58check (double SHA-256 checksum) and returns the payload without it.
fn base58check(s: &str, alphabet: &bs58::Alphabet) -> Result<Vec<u8>, String> {
    if s.len() > 64 {
        return Err(format!(
            "too long for a base58check address ({} chars)",
            s.len()
        ));
    }
    let bytes = bs58::decode(s)
        .with_alphabet(alphabet)
        .into_vec()
        .map_err(|e| format!("invalid base58: {e}"))?;
    if bytes.len() < 5 {
        return Err("invalid base58check: too short".to_string());
    }
    let (payload, sum) = bytes.split_at(bytes.len() - 4);
    let hash = Sha256::digest(Sha256::digest(payload));
    if hash[..4] != *sum {
        return Err("invalid base58check: checksum mismatch".to_string());
    }
    Ok(payload.to_vec())
}

/// Keccak-256 (the pre-standard SHA-3 Ethereum uses).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    use tiny_keccak::Hasher;
    let mut k = tiny_keccak::Keccak::v256();
    let mut out = [0u8; 32];
    k.update(data);
    k.finalize(&mut out);
    out
}

/// Checks an EVM address and returns it lower-case. Mixed case must be EIP-55.
pub fn check_evm(s: &str) -> Result<String, String> {
    let Some(hex) = s.strip_prefix("0x") else {
        return Err("EVM address must start with 0x".to_string());
    };
    if hex.len() != 40 {
        return Err(format!(
            "EVM address must have 40 hex digits, has {}",
            hex.len()
        ));
    }
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("EVM address has a non-hex character".to_string());
    }
    let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    let lower = hex.to_ascii_lowercase();
    if has_upper && has_lower {
        let hash = keccak256(lower.as_bytes());
        for (i, b) in hex.bytes().enumerate() {
            if b.is_ascii_alphabetic() {
                let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
                if (nibble >= 8) != b.is_ascii_uppercase() {
                    return Err("mixed-case EVM address fails its EIP-55 checksum".to_string());
                }
            }
        }
    }
    Ok(format!("0x{lower}"))
}

const CASHADDR_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn cashaddr_polymod(values: impl Iterator<Item = u8>) -> u64 {
    let mut c: u64 = 1;
    for d in values {
        let c0 = (c >> 35) as u8;
        c = ((c & 0x07_ffff_ffff) << 5) ^ u64::from(d);
        if c0 & 0x01 != 0 {
            c ^= 0x98_f2bc_8e61;
        }
        if c0 & 0x02 != 0 {
            c ^= 0x79_b76d_99e2;
        }
        if c0 & 0x04 != 0 {
            c ^= 0xf3_3e5f_b3c4;
        }
        if c0 & 0x08 != 0 {
            c ^= 0xae_2eab_e2a8;
        }
        if c0 & 0x10 != 0 {
            c ^= 0x1e_4f43_e470;
        }
    }
    c ^ 1
}

/// Checks a Bitcoin Cash CashAddr (with or without `bitcoincash:`), returns it lower-case
/// without the prefix.
fn check_cashaddr(s: &str) -> Result<String, String> {
    let has_upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = s.bytes().any(|b| b.is_ascii_lowercase());
    if has_upper && has_lower {
        return Err("CashAddr in mixed case".to_string());
    }
    let lower = s.to_ascii_lowercase();
    let payload = match lower.split_once(':') {
        Some(("bitcoincash", p)) => p,
        Some((prefix, _)) => return Err(format!("CashAddr prefix '{prefix}' is not bitcoincash")),
        None => lower.as_str(),
    };
    let mut values = Vec::with_capacity(payload.len());
    for ch in payload.bytes() {
        let v = CASHADDR_CHARSET
            .iter()
            .position(|c| *c == ch)
            .ok_or_else(|| format!("character '{}' is not in the CashAddr alphabet", ch as char))?;
        values.push(v as u8);
    }
    if values.len() != 42 {
        return Err(format!(
            "CashAddr of {} characters (expected 42 for a 160-bit hash)",
            values.len()
        ));
    }
    let prefix = b"bitcoincash".iter().map(|b| b & 0x1f);
    let sum = cashaddr_polymod(
        prefix
            .chain(std::iter::once(0))
            .chain(values.iter().copied()),
    );
    if sum != 0 {
        return Err("CashAddr checksum mismatch".to_string());
    }
    // First 5-bit group holds the top of the version byte: type 0 (P2PKH) or 1 (P2SH), size 0.
    let version = (values[0] << 3) | (values[1] >> 2);
    if version != 0x00 && version != 0x08 {
        return Err(format!(
            "CashAddr version byte {version:#04x} is not P2PKH/P2SH-160"
        ));
    }
    Ok(payload.to_string())
}

/// Checks a Zcash Sapling address (`zs1…`, bech32, 43-byte payload); returns it lower-case.
fn check_sapling(s: &str) -> Result<String, String> {
    let checked = bech32::primitives::decode::CheckedHrpstring::new::<bech32::Bech32>(s)
        .map_err(|e| format!("invalid bech32: {e}"))?;
    if checked.hrp().as_str() != "zs" {
        return Err("not a Zcash Sapling address".to_string());
    }
    let n = checked.byte_iter().count();
    if n != 43 {
        return Err(format!("Sapling payload of {n} bytes (expected 43)"));
    }
    Ok(s.to_ascii_lowercase())
}

/// Decoded byte count of a Monero base58 block of 0..=11 characters (`None`: impossible).
const XMR_BLOCK_BYTES: [Option<usize>; 12] = [
    Some(0),
    None,
    Some(1),
    Some(2),
    None,
    Some(3),
    Some(4),
    Some(5),
    None,
    Some(6),
    Some(7),
    Some(8),
];

fn monero_base58_decode(s: &str) -> Result<Vec<u8>, String> {
    let alphabet = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(s.len() * 8 / 11 + 8);
    for block in s.as_bytes().chunks(11) {
        let n = XMR_BLOCK_BYTES[block.len()]
            .ok_or_else(|| "Monero base58 of impossible length".to_string())?;
        let mut v: u128 = 0;
        for ch in block {
            let d = alphabet
                .iter()
                .position(|c| c == ch)
                .ok_or_else(|| format!("character '{}' is not base58", *ch as char))?;
            v = v * 58 + d as u128;
        }
        if n < 16 && v >> (8 * n) != 0 {
            return Err("Monero base58 block overflows".to_string());
        }
        out.extend_from_slice(&v.to_be_bytes()[16 - n..]);
    }
    Ok(out)
}

/// Checks a Monero mainnet address: standard (`4…`), integrated or subaddress (`8…`).
fn check_monero(s: &str) -> Result<String, String> {
    if s.len() != 95 && s.len() != 106 {
        return Err(format!(
            "a Monero address has 95 or 106 characters, this has {}",
            s.len()
        ));
    }
    let bytes = monero_base58_decode(s)?;
    let (body, sum) = bytes.split_at(bytes.len() - 4);
    if keccak256(body)[..4] != *sum {
        return Err("Monero checksum mismatch".to_string());
    }
    let expected_len = match body[0] {
        18 | 42 => 65,
        19 => 73,
        v => return Err(format!("network byte {v} is not a Monero mainnet address")),
    };
    if body.len() != expected_len {
        return Err("Monero address of the wrong length for its type".to_string());
    }
    Ok(s.to_string())
}

/// Key under which an address is indexed and looked up: EVM, bech32 and CashAddr forms
/// lower-case (CashAddr without its prefix), anything else as written (trimmed).
/// Borrows when the address is already in that form, as stored addresses are.
pub fn lookup_key(address: &str) -> Cow<'_, str> {
    fn lowered(s: &str) -> Cow<'_, str> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    }
    let s = address.trim();
    let b = s.as_bytes();
    if b.len() == 42
        && b[0] == b'0'
        && (b[1] == b'x' || b[1] == b'X')
        && b[2..].iter().all(u8::is_ascii_hexdigit)
    {
        return lowered(s);
    }
    let has_prefix = |p: &str| s.get(..p.len()).is_some_and(|x| x.eq_ignore_ascii_case(p));
    if has_prefix("bitcoincash:") {
        return lowered(&s["bitcoincash:".len()..]);
    }
    const BECH32_HRPS: [&str; 7] = ["bc1", "tb1", "bcrt1", "ltc1", "tltc1", "rltc1", "zs1"];
    if BECH32_HRPS.iter().any(|h| has_prefix(h)) {
        return lowered(s);
    }
    let upper = b.iter().any(u8::is_ascii_uppercase);
    let lower = b.iter().any(u8::is_ascii_lowercase);
    let cashaddr_like = b.len() == 42
        && matches!(b[0].to_ascii_lowercase(), b'q' | b'p')
        && !(upper && lower)
        && b.iter()
            .all(|c| CASHADDR_CHARSET.contains(&c.to_ascii_lowercase()));
    if cashaddr_like {
        return lowered(s);
    }
    Cow::Borrowed(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_empty() {
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn eip55_vectors() {
        for a in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            assert_eq!(check_evm(a).unwrap(), a.to_ascii_lowercase(), "{a}");
        }
        // One letter's case flipped breaks the checksum.
        assert!(check_evm("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD").is_err());
        // All lower or all upper case carries no checksum.
        assert!(check_evm("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").is_ok());
        assert!(check_evm("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED").is_ok());
        assert!(check_evm("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea").is_err());
        assert!(check_evm("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg").is_err());
        assert!(check_evm("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").is_err());
    }

    #[test]
    fn bitcoin_and_litecoin() {
        let c = check("BTC", None, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").unwrap();
        assert!(c.validated);
        assert_eq!(c.chain, Some(Chain::Bitcoin));
        let c = check("XBT", None, "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4").unwrap();
        assert_eq!(c.address, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4");
        assert!(check("BTC", None, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb").is_err());
        // Testnet addresses only when the network says so.
        let t = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx";
        assert!(check("BTC", None, t).is_err());
        let c = check("BTC", Some("bitcoin-testnet"), t).unwrap();
        assert_eq!(c.chain, Some(Chain::BitcoinTestnet));
        let c = check("LTC", None, "LNf2JDiuunBz7GMDKFYHN4rq5meXWxiwfb").unwrap();
        assert_eq!(c.chain, Some(Chain::Litecoin));
    }

    #[test]
    fn cashaddr_spec_vector() {
        // CashAddr spec: 1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu
        let c = check(
            "BCH",
            None,
            "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
        )
        .unwrap();
        assert_eq!(c.address, "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a");
        assert!(check("BCH", None, "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6b").is_err());
        assert!(check("BCH", None, "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu").is_ok());
        assert_eq!(
            lookup_key("bitcoincash:QPM2QSZNHKS23Z7629MMS6S4CWEF74VCWVY22GDX6A"),
            "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"
        );
        assert_eq!(
            lookup_key("0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"),
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
        );
        assert_eq!(
            lookup_key(" 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa "),
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
        );
        assert!(matches!(
            lookup_key("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn tokens_dispatch_by_shape() {
        let c = check("USDT", None, "TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR").unwrap();
        assert_eq!((c.network.as_str(), c.validated), ("TRX", true));
        let c = check("USDT", None, "0x19aa5fe80d33a56d56c78e82ea5e50e5d80b4dff").unwrap();
        assert_eq!(c.network, "ETH");
        let c = check("USDT", None, "16iWn2J1McqjToYLHSsAyS6En3QA8YQ91H").unwrap();
        assert_eq!(c.chain, Some(Chain::Bitcoin));
        // A TRON address listed as XBT (as in the real SDN list) is explained.
        let e = check("XBT", None, "TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR").unwrap_err();
        assert!(e.ends_with("it is a valid TRX address"), "{e}");
    }

    #[test]
    fn unknown_asset_is_kept_unvalidated() {
        let c = check("ADA", None, "addr1qxy").unwrap();
        assert!(!c.validated);
        // Known but unchecked forms of checked assets are kept too, not called invalid.
        assert!(
            !check(
                "XRP",
                None,
                "X7AcgcsBL6XDcUb289X4mJ8djcdyKaB5hJDWMArnXr61cqZ"
            )
            .unwrap()
            .validated
        );
        assert!(!check("ZEC", None, "zcU1Cd6zYyZCd2VJF8yKgmzjxdiiU1rgTTjEwoN1CGUWCziPkUTXUjXmX7TMqdMNsTfuiGN1jQoVN4kGxUR4sAPN4XZ7pxb").unwrap().validated);
        assert!(check("ADA", None, "has space").is_err());
    }

    #[test]
    fn monero() {
        // Monero's donation address (general fund).
        let a = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
        assert!(check("XMR", None, a).unwrap().validated);
        let mut bad = a.to_string();
        bad.replace_range(10..11, "z");
        assert!(check("XMR", None, &bad).is_err());
        assert!(check(
            "XMR",
            None,
            "5be5543ff73456ab9f2d207887e2af87322c651ea1a873c5b25b7ffae456c320"
        )
        .is_err());
    }
}
