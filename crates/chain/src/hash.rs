//! Double SHA-256 and the byte-reversed hex form in which Bitcoin shows hashes.

use sha2::{Digest, Sha256};

/// A 32-byte hash in internal (hashing) byte order.
pub type Hash32 = [u8; 32];

/// SHA-256 of SHA-256 of `data`.
pub fn sha256d(data: &[u8]) -> Hash32 {
    let first = Sha256::digest(data);
    Sha256::digest(first).into()
}

/// Byte-reversed hex, as block explorers and RPC show txids and block hashes.
pub fn to_hex(hash: &Hash32) -> String {
    let mut rev = *hash;
    rev.reverse();
    hex::encode(rev)
}

/// Parses the byte-reversed hex form back to internal order.
pub fn from_hex(s: &str) -> Option<Hash32> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim(), &mut out).ok()?;
    out.reverse();
    Some(out)
}

/// The merkle root of txids as Bitcoin computes it (last hash doubled on odd levels).
pub fn merkle_root(txids: &[Hash32]) -> Hash32 {
    if txids.is_empty() {
        return [0; 32];
    }
    let mut level: Vec<Hash32> = txids.to_vec();
    let mut buf = [0u8; 64];
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            buf[..32].copy_from_slice(&pair[0]);
            buf[32..].copy_from_slice(pair.get(1).unwrap_or(&pair[0]));
            next.push(sha256d(&buf));
        }
        level = next;
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_reverses_bytes() {
        let h =
            from_hex("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f").unwrap();
        assert_eq!(h[31], 0);
        assert_eq!(h[0], 0x6f);
        assert_eq!(
            to_hex(&h),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        assert!(from_hex("zz").is_none());
    }
}
