//! Block events for later stages (clustering, tracing, alerting): one per block that joins
//! or leaves the store's chain, published when the change is committed.
//!
//! Events are plain data with a stable JSON form
//! (`{"event":"connected","height":7,"hash":"<rpc hex>"}`), so a broker can carry them
//! later; in-process they travel over a `std::sync::mpsc` channel. Delivery is at most
//! once: a process killed between a commit and the send loses those events, so a consumer
//! that keeps state records the tip it processed and reconciles with the store's committed
//! tip when it starts (as the cluster store does).

use crate::hash::{from_hex, to_hex, Hash32};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A block joined or left the store's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ChainEvent {
    /// The block is now the store's block at `height` (committed and readable).
    Connected {
        /// Its height.
        height: u32,
        /// Its hash (internal order; RPC hex in JSON).
        #[serde(with = "rpc_hex")]
        hash: Hash32,
    },
    /// The block at `height` left the store's chain (a reorg); events for higher blocks
    /// come first.
    Disconnected {
        /// Its height.
        height: u32,
        /// Its hash (internal order; RPC hex in JSON).
        #[serde(with = "rpc_hex")]
        hash: Hash32,
    },
}

impl ChainEvent {
    /// The block's height.
    pub fn height(&self) -> u32 {
        match *self {
            ChainEvent::Connected { height, .. } | ChainEvent::Disconnected { height, .. } => {
                height
            }
        }
    }

    /// The block's hash.
    pub fn hash(&self) -> Hash32 {
        match *self {
            ChainEvent::Connected { hash, .. } | ChainEvent::Disconnected { hash, .. } => hash,
        }
    }
}

mod rpc_hex {
    use super::*;

    pub fn serialize<S: Serializer>(hash: &Hash32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(hash))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash32, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() != 64 {
            return Err(serde::de::Error::custom("a block hash has 64 hex digits"));
        }
        from_hex(&text).ok_or_else(|| serde::de::Error::custom("a block hash has 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_round_trips() {
        let mut hash = [0u8; 32];
        hash[31] = 0xab;
        let e = ChainEvent::Disconnected { height: 7, hash };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"event":"disconnected","height":7,"hash":"ab{}"}}"#,
                "0".repeat(62)
            )
        );
        assert_eq!(serde_json::from_str::<ChainEvent>(&text).unwrap(), e);
        assert!(serde_json::from_str::<ChainEvent>(
            r#"{"event":"connected","height":1,"hash":"00"}"#
        )
        .is_err());
    }
}
