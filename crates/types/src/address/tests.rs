//! Tests of the address module: BIP173/BIP350 vectors, base58check, key round trips.

use super::*;
use std::cell::Cell;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn h20(s: &str) -> [u8; 20] {
    unhex(s).try_into().unwrap()
}

/// The chain whose hrp a BIP test vector uses.
fn bip_chain(addr: &str) -> Chain {
    let lower = addr.to_ascii_lowercase();
    if lower.starts_with("bc1") {
        Chain::Bitcoin
    } else if lower.starts_with("tb1") {
        Chain::BitcoinTestnet
    } else {
        panic!("no chain for {addr}")
    }
}

// ---------------------------------------------------------------------------------------------
// Allocation counting, for the no-allocation promise of `AddrKey::from_script`.

struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const-initialised thread-local
// `Cell` that never allocates.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> usize {
    ALLOCATIONS.with(|n| n.get())
}

// ---------------------------------------------------------------------------------------------
// BIP173 / BIP350 vectors, verbatim from the BIP texts.

/// BIP350 "valid segwit addresses" with their scriptPubKeys. (The BIP173 list with the v0
/// entries identical; its v1+ entries used bech32 and are now invalid, see below.)
const BIP350_VALID: [(&str, &str); 8] = [
    (
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "0014751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    ("BC1SW50QGDZ25J", "6002751e"),
    (
        "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
        "5210751e76e8199196d454941c45d1b3a323",
    ),
    (
        "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
];

/// BIP173 "valid segwit addresses". The v0 ones stay valid; the v1+ ones carry a bech32
/// checksum, which BIP350 made invalid (v1+ must use bech32m). `true` = still valid.
const BIP173_VALID: [(&str, &str, bool); 6] = [
    (
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "0014751e76e8199196d454941c45d1b3a323f1433bd6",
        true,
    ),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
        true,
    ),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
        "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
        false,
    ),
    ("BC1SW50QA3JX3S", "6002751e", false),
    (
        "bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj",
        "5210751e76e8199196d454941c45d1b3a323",
        false,
    ),
    (
        "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
        true,
    ),
];

/// BIP173 "invalid segwit addresses".
const BIP173_INVALID: [&str; 10] = [
    "tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", // invalid human-readable part
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", // invalid checksum
    "BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", // invalid witness version
    "bc1rw5uspcuh",                               // invalid program length
    "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90", // invalid program length
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", // invalid program length for v0 (BIP141)
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7", // mixed case
    "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", // zero padding of more than 4 bits
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv", // non-zero padding
    "bc1gmk9yu",                            // empty data section
];

/// BIP350 "invalid segwit addresses".
const BIP350_INVALID: [&str; 15] = [
    "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", // invalid human-readable part
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", // bech32 instead of bech32m
    "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf", // bech32 instead of bech32m
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", // bech32 instead of bech32m
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",                     // bech32m instead of bech32
    "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47", // bech32m instead of bech32
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", // invalid char in checksum
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", // invalid witness version
    "bc1pw5dgrnzv",                                                   // program length 1 byte
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav", // 41 bytes
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", // invalid program length for v0 (BIP141)
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq", // mixed case
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", // zero padding > 4 bits
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j", // non-zero padding
    "bc1gmk9yu",                            // empty data section
];

/// BIP173 strings that are not valid bech32 (0x20/0x7F/0x80/0xFF written as chars).
const BIP173_INVALID_BECH32: [&str; 12] = [
    "\u{20}1nwldj5", // HRP character out of range
    "\u{7f}1axkwrx", // HRP character out of range
    "\u{80}1eym55h", // HRP character out of range
    "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx", // too long
    "pzry9x0s0muk",   // no separator character
    "1pzry9x0s0muk",  // empty HRP
    "x1b4n0q5v",      // invalid data character
    "li1dgmt3",       // too short checksum
    "de1lg7wt\u{ff}", // invalid character in checksum
    "A1G7SGD8",       // checksum calculated with uppercase form of HRP
    "10a06t8",        // empty HRP
    "1qzzfhee",       // empty HRP
];

/// BIP350 strings that are not valid bech32m.
const BIP350_INVALID_BECH32M: [&str; 14] = [
    "\u{20}1xj0phk", // HRP character out of range
    "\u{7f}1g6xzxy", // HRP character out of range
    "\u{80}1vctc34", // HRP character out of range
    "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4", // too long
    "qyrz8wqd2c9m",  // no separator character
    "1qyrz8wqd2c9m", // empty HRP
    "y1b0jsk6g",     // invalid data character
    "lt1igcx5c0",    // invalid data character
    "in1muywd",      // too short checksum
    "mm1crxm3i",     // invalid character in checksum
    "au1s5cgom",     // invalid character in checksum
    "M1VUXWEZ",      // checksum calculated with uppercase form of HRP
    "16plkw9",       // empty HRP
    "1p2gdwpf",      // empty HRP
];

/// Valid BIP173 bech32 / BIP350 bech32m strings: checksums fine, but none is an address of
/// any chain here (foreign or empty hrp, no witness data).
const BIP_VALID_NON_ADDRESS: [&str; 14] = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
];

fn check_valid_segwit_vector(addr: &str, script_hex: &str) {
    let chain = bip_chain(addr);
    let script = unhex(script_hex);
    let decoded = Address::decode(addr, chain).unwrap_or_else(|e| panic!("{addr}: {e}"));
    assert_eq!(hex::encode(decoded.script_pubkey()), script_hex, "{addr}");
    assert_eq!(decoded.encode(chain), addr.to_ascii_lowercase(), "{addr}");
    assert_eq!(
        Address::from_script(&script).as_ref(),
        Some(&decoded),
        "{addr}"
    );
    // The store key of the address is the key of its script, whatever its version.
    let key = AddrKey::parse(addr, chain).unwrap();
    assert_eq!(key, AddrKey::from_script(&script), "{addr}");
    assert_eq!(AddrKey::parse(&key.display(chain), chain).unwrap(), key);
    // Every other chain refuses it as another network's address.
    for other in Chain::ALL.into_iter().filter(|&c| c != chain) {
        assert_eq!(
            Address::decode(addr, other),
            Err(AddressError::WrongNetwork { expected: other }),
            "{addr} on {other}"
        );
    }
}

#[test]
fn bip350_valid_addresses() {
    for (addr, script_hex) in BIP350_VALID {
        check_valid_segwit_vector(addr, script_hex);
    }
}

#[test]
fn bip173_valid_addresses_under_bip350() {
    for (addr, script_hex, still_valid) in BIP173_VALID {
        if still_valid {
            check_valid_segwit_vector(addr, script_hex);
        } else {
            for chain in Chain::ALL {
                let err = Address::decode(addr, chain).unwrap_err();
                assert!(matches!(err, AddressError::Bech32(_)), "{addr}: {err:?}");
            }
            // The same program re-encoded with bech32m is the BIP350 vector for the script.
            let script = unhex(script_hex);
            let reencoded = Address::from_script(&script)
                .unwrap()
                .encode(Chain::Bitcoin);
            assert!(
                BIP350_VALID
                    .iter()
                    .any(|(a, s)| *s == script_hex && a.eq_ignore_ascii_case(&reencoded)),
                "{reencoded}"
            );
        }
    }
}

#[test]
fn bip173_and_bip350_invalid_addresses() {
    for addr in BIP173_INVALID.into_iter().chain(BIP350_INVALID) {
        for chain in Chain::ALL {
            assert!(
                Address::decode(addr, chain).is_err(),
                "{addr} decoded on {chain}"
            );
            assert!(
                AddrKey::parse(addr, chain).is_err(),
                "{addr} parsed on {chain}"
            );
        }
    }
}

#[test]
fn invalid_address_error_kinds() {
    let cases = [
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "bech32"),
        ("BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", "witness"),
        // BIP173's v3 "invalid program length" vector carries a bech32 checksum, which
        // BIP350 already rejects for v1+.
        ("bc1rw5uspcuh", "bech32"),
        ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "witness"),
        ("bc1pw5dgrnzv", "witness"),
        (
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
            "witness",
        ),
        (
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
            "bech32",
        ),
        ("bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", "bech32"),
        (
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
            "bech32",
        ),
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "bech32"),
        ("tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", "network"),
        (
            "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
            "network",
        ),
    ];
    for (addr, kind) in cases {
        let err = Address::decode(addr, Chain::Bitcoin).unwrap_err();
        let ok = match kind {
            "bech32" => matches!(err, AddressError::Bech32(_)),
            "witness" => matches!(err, AddressError::WitnessProgram(_)),
            "network" => {
                err == AddressError::WrongNetwork {
                    expected: Chain::Bitcoin,
                }
            }
            _ => unreachable!(),
        };
        assert!(ok, "{addr}: expected {kind} error, got {err:?}");
    }
}

#[test]
fn bip_invalid_bech32_strings_are_not_addresses() {
    let all = BIP173_INVALID_BECH32
        .into_iter()
        .chain(BIP350_INVALID_BECH32M)
        .chain(BIP_VALID_NON_ADDRESS);
    for s in all {
        for chain in Chain::ALL {
            assert!(Address::decode(s, chain).is_err(), "{s:?} on {chain}");
            assert!(AddrKey::parse(s, chain).is_err(), "{s:?} on {chain}");
        }
    }
}

#[test]
fn segwit_case_rules() {
    let lower = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    let upper = lower.to_ascii_uppercase();
    let a = Address::decode(lower, Chain::Bitcoin).unwrap();
    assert_eq!(Address::decode(&upper, Chain::Bitcoin).unwrap(), a);
    assert_eq!(a.encode(Chain::Bitcoin), lower);
    assert_eq!(
        AddrKey::parse(&upper, Chain::Bitcoin).unwrap(),
        AddrKey::parse(lower, Chain::Bitcoin).unwrap()
    );
    // Mixed case anywhere (hrp or data) is rejected.
    for mixed in [
        "Bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3T4",
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3t4",
    ] {
        let err = Address::decode(mixed, Chain::Bitcoin).unwrap_err();
        assert!(matches!(err, AddressError::Bech32(_)), "{mixed}: {err:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Base58check.

/// Real addresses with their hash: (address, chain, is_p2sh, hash160).
const BASE58_KNOWN: [(&str, Chain, bool, &str); 4] = [
    // Genesis coinbase pubkey.
    (
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        Chain::Bitcoin,
        false,
        "62e907b15cbf27d5425399ebf6f0fb50ebb88f18",
    ),
    // rust-bitcoin's address tests.
    (
        "132F25rTsvBdp9JzLLBHP5mvGY66i1xdiM",
        Chain::Bitcoin,
        false,
        "162c5ea71c0b23f5b9022ef047c4a86470a5b070",
    ),
    (
        "33iFwdLuRpW1uK1RTRqsoi8rR4NpDzk66k",
        Chain::Bitcoin,
        true,
        "162c5ea71c0b23f5b9022ef047c4a86470a5b070",
    ),
    // The genesis hash160 as a script hash.
    (
        "3Ai1JZ8pdJb2ksieUV8FsxSNVJCpoPi8W6",
        Chain::Bitcoin,
        true,
        "62e907b15cbf27d5425399ebf6f0fb50ebb88f18",
    ),
];

#[test]
fn base58_known_addresses() {
    for (addr, chain, is_p2sh, hash_hex) in BASE58_KNOWN {
        let hash = h20(hash_hex);
        let expected = if is_p2sh {
            Address::P2sh(hash)
        } else {
            Address::P2pkh(hash)
        };
        assert_eq!(Address::decode(addr, chain).unwrap(), expected, "{addr}");
        assert_eq!(expected.encode(chain), addr);
        let script = expected.script_pubkey();
        let script_hex = if is_p2sh {
            format!("a914{hash_hex}87")
        } else {
            format!("76a914{hash_hex}88ac")
        };
        assert_eq!(hex::encode(&script), script_hex);
        assert_eq!(Address::from_script(&script), Some(expected.clone()));
        let key = AddrKey::from_script(&script);
        assert_eq!(key.display(chain), addr);
        assert_eq!(AddrKey::parse(addr, chain).unwrap(), key);
        assert_eq!(
            key.kind,
            if is_p2sh {
                AddrKind::P2sh
            } else {
                AddrKind::P2pkh
            }
        );
        assert_eq!(&key.hash[..20], &hash);
        assert_eq!(key.hash[20..], [0u8; 12]);
    }
}

#[test]
fn real_addresses_decode_only_on_their_network() {
    // (address, chains it decodes on, expected kind)
    let cases: [(&str, &[Chain], AddrKind); 8] = [
        (
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            &[Chain::Bitcoin],
            AddrKind::P2pkh,
        ),
        // Litecoin accepts Bitcoin-style `3…` P2SH as legacy.
        (
            "33iFwdLuRpW1uK1RTRqsoi8rR4NpDzk66k",
            &[Chain::Bitcoin, Chain::Litecoin],
            AddrKind::P2sh,
        ),
        // Bitcoin testnet (also the testnet/regtest versions of Litecoin).
        (
            "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
            &[
                Chain::BitcoinTestnet,
                Chain::BitcoinRegtest,
                Chain::LitecoinTestnet,
                Chain::LitecoinRegtest,
            ],
            AddrKind::P2pkh,
        ),
        (
            "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc",
            &[
                Chain::BitcoinTestnet,
                Chain::BitcoinRegtest,
                Chain::LitecoinTestnet,
                Chain::LitecoinRegtest,
            ],
            AddrKind::P2sh,
        ),
        // Litecoin mainnet (Trust Wallet's Litecoin tests).
        (
            "LV7LV7Z4bWDEjYkfx9dQo6k6RjGbXsg6hS",
            &[Chain::Litecoin],
            AddrKind::P2pkh,
        ),
        (
            "M8eTgzhoFTErAjkGa6cyBomcHfxAprbDgD",
            &[Chain::Litecoin],
            AddrKind::P2sh,
        ),
        (
            "ltc1qytnqzjknvv03jwfgrsmzt0ycmwqgl0asjnaxwu",
            &[Chain::Litecoin],
            AddrKind::P2wpkh,
        ),
        (
            "ltc1qx88q7zjd74lxwgkjmmwlqv5pd3vujuehexfttt",
            &[Chain::Litecoin],
            AddrKind::P2wpkh,
        ),
    ];
    for (addr, good, kind) in cases {
        for chain in Chain::ALL {
            if good.contains(&chain) {
                let a = Address::decode(addr, chain).unwrap_or_else(|e| panic!("{addr}: {e}"));
                let key = AddrKey::parse(addr, chain).unwrap();
                assert_eq!(key.kind, kind, "{addr}");
                assert_eq!(key, a.key());
                // Re-encoding uses the chain's canonical versions; it decodes to the same key.
                let canonical = key.display(chain);
                assert_eq!(AddrKey::parse(&canonical, chain).unwrap(), key);
            } else {
                assert_eq!(
                    Address::decode(addr, chain),
                    Err(AddressError::WrongNetwork { expected: chain }),
                    "{addr} on {chain}"
                );
            }
        }
    }
}

#[test]
fn litecoin_segwit_known_hash() {
    // A published P2WPKH test vector (address, hash160).
    let addr = "ltc1qx88q7zjd74lxwgkjmmwlqv5pd3vujuehexfttt";
    let hash = "31ce0f0a4df57e6722d2deddf032816c59c97337";
    let a = Address::decode(addr, Chain::Litecoin).unwrap();
    assert_eq!(
        a,
        Address::Witness {
            version: 0,
            program: unhex(hash),
        }
    );
    assert_eq!(hex::encode(a.script_pubkey()), format!("0014{hash}"));
    let key = AddrKey::parse(addr, Chain::Litecoin).unwrap();
    assert_eq!(key.kind, AddrKind::P2wpkh);
    assert_eq!(key.display(Chain::Litecoin), addr);
    // The same hash as a legacy P2PKH is an L… address on Litecoin.
    let legacy = Address::P2pkh(h20(hash)).encode(Chain::Litecoin);
    assert!(legacy.starts_with('L'), "{legacy}");
    assert_eq!(
        Address::decode(&legacy, Chain::Litecoin),
        Ok(Address::P2pkh(h20(hash)))
    );
}

#[test]
fn litecoin_legacy_p2sh() {
    let hash = h20("162c5ea71c0b23f5b9022ef047c4a86470a5b070");
    let legacy = "33iFwdLuRpW1uK1RTRqsoi8rR4NpDzk66k";
    let a = Address::decode(legacy, Chain::Litecoin).unwrap();
    assert_eq!(a, Address::P2sh(hash));
    let canonical = a.encode(Chain::Litecoin);
    assert!(canonical.starts_with('M'), "{canonical}");
    assert_eq!(Address::decode(&canonical, Chain::Litecoin).unwrap(), a);
    // The M… form is not a Bitcoin address.
    assert_eq!(
        Address::decode(&canonical, Chain::Bitcoin),
        Err(AddressError::WrongNetwork {
            expected: Chain::Bitcoin
        })
    );
    // Testnet: legacy 0xc4 (`2…`) and canonical 0x3a (`Q…`).
    let t = Address::decode(
        "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc",
        Chain::LitecoinTestnet,
    )
    .unwrap();
    let q = t.encode(Chain::LitecoinTestnet);
    assert!(q.starts_with('Q'), "{q}");
    assert_eq!(Address::decode(&q, Chain::LitecoinRegtest).unwrap(), t);
    assert!(Address::decode(&q, Chain::BitcoinTestnet).is_err());
}

#[test]
fn base58_rejections() {
    let good = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa";
    let is_base58 = |r: Result<Address, AddressError>| matches!(r, Err(AddressError::Base58(_)));
    // Checksum: change the last character, and one in the middle.
    assert!(is_base58(Address::decode(
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",
        Chain::Bitcoin
    )));
    assert!(is_base58(Address::decode(
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DjvfNa",
        Chain::Bitcoin
    )));
    // Characters outside the alphabet: 0, O, I, l.
    for bad in ["0", "O", "I", "l"] {
        let s = format!("{}{bad}{}", &good[..10], &good[11..]);
        assert!(is_base58(Address::decode(&s, Chain::Bitcoin)), "{s}");
    }
    // Truncated and extended strings.
    assert!(is_base58(Address::decode(&good[..33], Chain::Bitcoin)));
    assert!(is_base58(Address::decode(
        &format!("{good}1"),
        Chain::Bitcoin
    )));
    assert!(Address::decode("", Chain::Bitcoin).is_err());
    assert!(Address::decode("1", Chain::Bitcoin).is_err());
    assert!(is_base58(Address::decode(&"1".repeat(200), Chain::Bitcoin)));
    // Well-formed base58check with the wrong payload length (19 and 21 hash bytes).
    for len in [19usize, 21, 32] {
        let mut payload = vec![0u8; len + 1];
        payload[1..]
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = i as u8);
        let check = sha256d(&payload);
        payload.extend_from_slice(&check[..4]);
        let s = bs58::encode(&payload).into_string();
        let r = Address::decode(&s, Chain::Bitcoin);
        assert!(is_base58(r.clone()), "{len}: {r:?}");
    }
    // Valid checksum and length, version of no network here.
    let s = base58check_encode(0x99, &[7; 20]);
    for chain in Chain::ALL {
        assert_eq!(
            Address::decode(&s, chain),
            Err(AddressError::WrongNetwork { expected: chain })
        );
    }
}

// ---------------------------------------------------------------------------------------------
// AddrKind and AddrKey.

#[test]
fn addr_kind_from_u8() {
    for kind in AddrKind::ALL {
        assert_eq!(AddrKind::from_u8(kind as u8), Some(kind));
        assert_eq!(kind.as_u8(), kind as u8);
    }
    let valid: Vec<u8> = (0..=255u8)
        .filter(|&b| AddrKind::from_u8(b).is_some())
        .collect();
    assert_eq!(valid, [1, 2, 3, 4, 5, 6, 7]);
}

fn sha(script: &[u8]) -> [u8; 32] {
    Sha256::digest(script).into()
}

#[test]
fn from_script_classification() {
    let h20 = [0x11u8; 20];
    let h32 = [0x22u8; 32];
    let mut k20 = [0u8; 32];
    k20[..20].copy_from_slice(&h20);
    let cat = |parts: &[&[u8]]| parts.concat();

    let exact: [(Vec<u8>, AddrKind, [u8; 32]); 5] = [
        (
            cat(&[&[0x76, 0xa9, 0x14], &h20, &[0x88, 0xac]]),
            AddrKind::P2pkh,
            k20,
        ),
        (cat(&[&[0xa9, 0x14], &h20, &[0x87]]), AddrKind::P2sh, k20),
        (cat(&[&[0x00, 0x14], &h20]), AddrKind::P2wpkh, k20),
        (cat(&[&[0x00, 0x20], &h32]), AddrKind::P2wsh, h32),
        (cat(&[&[0x51, 0x20], &h32]), AddrKind::P2tr, h32),
    ];
    for (script, kind, hash) in exact {
        assert_eq!(AddrKey::from_script(&script), AddrKey { kind, hash });
    }

    let nulldata = [
        vec![0x6a],
        cat(&[&[0x6a, 0x04], b"abcd"]),
        cat(&[&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed], &h32]),
    ];
    for script in nulldata {
        let key = AddrKey::from_script(&script);
        assert_eq!(key.kind, AddrKind::NullData);
        assert_eq!(key.hash, sha(&script));
    }

    let pubkey = [0x02u8; 33];
    let other: Vec<Vec<u8>> = vec![
        vec![],
        cat(&[&[0x21], &pubkey, &[0xac]]), // P2PK
        cat(&[&[0x51, 0x21], &pubkey, &[0x21], &pubkey, &[0x52, 0xae]]), // bare multisig
        cat(&[&[0x76, 0xa9, 0x14], &h20, &[0x88]]), // truncated P2PKH
        cat(&[&[0x76, 0xa9, 0x14], &h20, &[0x88, 0xac, 0x00]]), // P2PKH + trailing byte
        cat(&[&[0x76, 0xa9, 0x15], &h20, &[0x00, 0x88, 0xac]]), // 21-byte push
        cat(&[&[0xa9, 0x14], &h20, &[0x88]]), // P2SH with wrong final opcode
        cat(&[&[0x00, 0x14], &h20, &[0x00]]), // v0 push shorter than the data
        cat(&[&[0x00, 0x15], &h20, &[0x00]]), // v0, 21 bytes
        cat(&[&[0x00, 0x10], &h20[..16]]), // v0, 16 bytes
        cat(&[&[0x51, 0x14], &h20]),       // v1, 20 bytes
        cat(&[&[0x51, 0x20], &h32, &[0x00]]), // v1 with trailing byte
        cat(&[&[0x52, 0x20], &h32]),       // v2
        cat(&[&[0x60, 0x02, 0x75, 0x1e]]), // v16
        vec![0x51],
        vec![0x00, 0x00],
    ];
    for script in other {
        let key = AddrKey::from_script(&script);
        assert_eq!(key.kind, AddrKind::Script, "{}", hex::encode(&script));
        assert_eq!(key.hash, sha(&script));
        assert_eq!(key.script_pubkey(), None);
        assert_eq!(key.address(), None);
    }
}

#[test]
fn from_script_does_not_allocate() {
    let scripts: [&[u8]; 4] = [
        &[0x00; 22],
        &[0x6a, 0x01, 0x02],
        &[0x51, 0x21, 0x02, 0x03],
        &[
            0x76, 0xa9, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x88,
            0xac,
        ],
    ];
    let long = [0xabu8; 10_000];
    let before = allocations();
    let mut acc = 0u8;
    for _ in 0..100 {
        for s in scripts.iter().copied().chain([&long[..]]) {
            let k = std::hint::black_box(AddrKey::from_script(std::hint::black_box(s)));
            acc ^= k.hash[0];
        }
    }
    let after = allocations();
    std::hint::black_box(acc);
    assert_eq!(after - before, 0, "AddrKey::from_script allocated");
    // The counter works: a Vec allocates.
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocations() > after);
    drop(v);
}

/// Sample scripts of every kind (several witness shapes for `Script`).
fn sample_scripts(h20: &[u8; 20], h32: &[u8; 32]) -> Vec<Vec<u8>> {
    vec![
        [&[0x76, 0xa9, 0x14][..], h20, &[0x88, 0xac]].concat(),
        [&[0xa9, 0x14][..], h20, &[0x87]].concat(),
        [&[0x00, 0x14][..], h20].concat(),
        [&[0x00, 0x20][..], h32].concat(),
        [&[0x51, 0x20][..], h32].concat(),
        [&[0x6a, 0x20][..], h32].concat(),
        [&[0x21][..], h32, &[0x02], &[0xac]].concat(),
        [&[0x52, 0x14][..], h20].concat(),
        [&[0x51, 0x14][..], h20].concat(),
        [&[0x60, 0x02][..], &h32[..2]].concat(),
    ]
}

fn check_key_round_trips(script: &[u8], chain: Chain) {
    let key = AddrKey::from_script(script);
    let shown = key.display(chain);
    assert_eq!(
        AddrKey::parse(&shown, chain),
        Ok(key),
        "{shown} on {chain} ({})",
        hex::encode(script)
    );
    match key.script_pubkey() {
        Some(spk) => {
            assert!(key.kind.has_address());
            assert_eq!(spk, script);
            assert_eq!(AddrKey::from_script(&spk), key);
            let addr = key.address().unwrap();
            assert_eq!(addr.encode(chain), shown);
            assert_eq!(Address::decode(&shown, chain).as_ref(), Ok(&addr));
            assert_eq!(Address::from_script(script).as_ref(), Some(&addr));
        }
        None => {
            assert!(!key.kind.has_address());
            let prefix = if key.kind == AddrKind::NullData {
                "nulldata:"
            } else {
                "script:"
            };
            assert_eq!(shown, format!("{prefix}{}", hex::encode(key.hash)));
        }
    }
    // Scripts with an address form (including unknown witness versions) parse from their
    // address to the same key as `from_script`.
    if let Some(addr) = Address::from_script(script) {
        assert_eq!(addr.script_pubkey(), script);
        let s = addr.encode(chain);
        assert_eq!(Address::decode(&s, chain).as_ref(), Ok(&addr), "{s}");
        assert_eq!(AddrKey::parse(&s, chain), Ok(key), "{s}");
        if let Address::Witness { .. } = addr {
            let upper = s.to_ascii_uppercase();
            assert_eq!(AddrKey::parse(&upper, chain), Ok(key), "{upper}");
        }
    }
}

#[test]
fn addr_key_round_trips_every_kind_every_chain() {
    let h20: [u8; 20] = std::array::from_fn(|i| i as u8 * 7 + 1);
    let h32: [u8; 32] = std::array::from_fn(|i| 255 - i as u8 * 3);
    let scripts = sample_scripts(&h20, &h32);
    let kinds: Vec<AddrKind> = scripts
        .iter()
        .map(|s| AddrKey::from_script(s).kind)
        .collect();
    for kind in AddrKind::ALL {
        assert!(kinds.contains(&kind), "no sample of {kind:?}");
    }
    for chain in Chain::ALL {
        for script in &scripts {
            check_key_round_trips(script, chain);
        }
    }
}

#[test]
fn addr_key_display_examples() {
    let genesis =
        AddrKey::from_script(&unhex("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"));
    assert_eq!(
        genesis.display(Chain::Bitcoin),
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    );
    let wpkh = AddrKey::from_script(&unhex("0014751e76e8199196d454941c45d1b3a323f1433bd6"));
    assert_eq!(
        wpkh.display(Chain::Bitcoin),
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    );
    let tr = AddrKey::from_script(&unhex(
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ));
    assert_eq!(
        tr.display(Chain::Bitcoin),
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
    );
    // sha256("") and sha256(0x6a).
    let empty = AddrKey::from_script(&[]);
    assert_eq!(
        empty.display(Chain::Bitcoin),
        "script:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let ret = AddrKey::from_script(&[0x6a]);
    assert_eq!(ret.kind, AddrKind::NullData);
    assert!(ret.display(Chain::Litecoin).starts_with("nulldata:"));
    // A v2 witness address shows as a script id, but its address parses to that key.
    let v2 = "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs";
    let key = AddrKey::parse(v2, Chain::Bitcoin).unwrap();
    assert_eq!(key.kind, AddrKind::Script);
    assert_eq!(
        key.hash,
        sha(&unhex("5210751e76e8199196d454941c45d1b3a323"))
    );
    assert!(key.display(Chain::Bitcoin).starts_with("script:"));
}

#[test]
fn script_id_parsing() {
    let hash = sha(b"x");
    let id = hex::encode(hash);
    for (prefix, kind) in [
        ("script:", AddrKind::Script),
        ("nulldata:", AddrKind::NullData),
    ] {
        for chain in Chain::ALL {
            let key = AddrKey::parse(&format!("{prefix}{id}"), chain).unwrap();
            assert_eq!(key, AddrKey { kind, hash });
            assert_eq!(key.display(chain), format!("{prefix}{id}"));
            let upper = AddrKey::parse(&format!("{prefix}{}", id.to_uppercase()), chain);
            assert_eq!(upper, Ok(key));
        }
        for bad in [
            String::new(),
            id[..62].to_string(),
            format!("{id}00"),
            format!("{}zz", &id[..62]),
            format!(" {}", &id[1..]),
        ] {
            let r = AddrKey::parse(&format!("{prefix}{bad}"), Chain::Bitcoin);
            assert!(
                matches!(r, Err(AddressError::ScriptId(_))),
                "{bad:?}: {r:?}"
            );
        }
    }
    // Only the exact lower-case prefixes are ids.
    assert!(AddrKey::parse(&format!("Script:{id}"), Chain::Bitcoin).is_err());
    assert!(AddrKey::parse(&format!("p2sh:{id}"), Chain::Bitcoin).is_err());
}

#[test]
fn address_from_script_rules() {
    let p = |v: u8, len: usize| Address::Witness {
        version: v,
        program: vec![0x5a; len],
    };
    for (v, len, ok) in [
        (0, 20, true),
        (0, 32, true),
        (0, 2, false),
        (0, 21, false),
        (0, 40, false),
        (1, 1, false),
        (1, 2, true),
        (1, 20, true),
        (1, 40, true),
        (1, 41, false),
        (16, 2, true),
        (16, 40, true),
    ] {
        let op = if v == 0 { 0 } else { 0x50 + v };
        let script = [&[op, len as u8][..], &vec![0x5a; len]].concat();
        let got = Address::from_script(&script);
        assert_eq!(got.is_some(), ok, "v{v} len {len}");
        if ok {
            assert_eq!(got, Some(p(v, len)));
            assert_eq!(p(v, len).script_pubkey(), script);
        }
    }
    // Pushes through OP_PUSHDATA1, or version opcodes outside OP_0/OP_1..OP_16, are not witness.
    assert_eq!(
        Address::from_script(&[&[0x00, 0x4c, 20][..], &[1; 20]].concat()),
        None
    );
    assert_eq!(
        Address::from_script(&[&[0x4f, 20][..], &[1; 20]].concat()),
        None
    );
    assert_eq!(
        Address::from_script(&[&[0x50, 20][..], &[1; 20]].concat()),
        None
    );
    assert_eq!(
        Address::from_script(&[&[0x61, 20][..], &[1; 20]].concat()),
        None
    );
    assert_eq!(Address::from_script(&[0x6a, 0x01, 0x00]), None);
}

// ---------------------------------------------------------------------------------------------
// Property-style loop with a deterministic PRNG.

/// xorshift64*: small, deterministic, good enough to spread test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.next() as u8)
    }
}

#[test]
fn property_round_trips() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..400 {
        let h20: [u8; 20] = rng.bytes();
        let h32: [u8; 32] = rng.bytes();
        let chain = Chain::ALL[i % Chain::ALL.len()];
        for script in sample_scripts(&h20, &h32) {
            check_key_round_trips(&script, chain);
        }
        // Any witness version/length with an address form.
        let version = rng.below(17) as u8;
        let len = if version == 0 {
            [20, 32][rng.below(2) as usize]
        } else {
            2 + rng.below(39) as usize
        };
        let program: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let addr = Address::Witness { version, program };
        let s = addr.encode(chain);
        assert_eq!(Address::decode(&s, chain).as_ref(), Ok(&addr), "{s}");
        assert_eq!(
            Address::decode(&s.to_ascii_uppercase(), chain).as_ref(),
            Ok(&addr)
        );
        assert_eq!(
            Address::from_script(&addr.script_pubkey()),
            Some(addr.clone())
        );
        assert_eq!(
            AddrKey::parse(&s, chain),
            Ok(AddrKey::from_script(&addr.script_pubkey()))
        );
        // A one-character substitution in the data part is always caught (bech32 detects
        // up to 4 substitutions).
        let pos = s.rfind('1').unwrap()
            + 1
            + rng.below((s.len() - s.rfind('1').unwrap() - 1) as u64) as usize;
        let charset = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
        let old = s.as_bytes()[pos];
        let new = loop {
            let c = charset[rng.below(32) as usize];
            if c != old {
                break c;
            }
        };
        let mut corrupted = s.clone().into_bytes();
        corrupted[pos] = new;
        let corrupted = String::from_utf8(corrupted).unwrap();
        assert!(Address::decode(&corrupted, chain).is_err(), "{corrupted}");
        // Random scripts of random length.
        let n = rng.below(60) as usize;
        let mut script: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        if n > 0 && rng.below(4) == 0 {
            script[0] = 0x6a;
        }
        check_key_round_trips(&script, chain);
        // Base58: one substituted character is caught by the checksum (or changes the
        // version into another network's).
        let b58 = Address::P2pkh(h20).encode(chain);
        let alphabet = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
        let pos = rng.below(b58.len() as u64) as usize;
        let old = b58.as_bytes()[pos];
        let new = loop {
            let c = alphabet[rng.below(58) as usize];
            if c != old {
                break c;
            }
        };
        let mut bad = b58.into_bytes();
        bad[pos] = new;
        let bad = String::from_utf8(bad).unwrap();
        assert!(Address::decode(&bad, chain).is_err(), "{bad}");
    }
}
