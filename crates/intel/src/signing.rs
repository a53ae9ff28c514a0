//! Ed25519 signatures of STIX objects over their RFC 8785 canonical form.
//!
//! A node signs each object of a report it originates; the signature travels inside the
//! object as the custom property [`SIGNATURE_PROPERTY`], so it survives TAXII transport
//! object by object:
//!
//! ```json
//! "x_chainwatch_signature": {"alg": "Ed25519", "key_id": "ed25519:…", "public_key": "<base64>",
//!                            "signer": "identity--…", "signature": "<base64>"}
//! ```
//!
//! The signed bytes are the canonical JSON ([`crate::canonical`]) of the object with the
//! property present but its `signature` member removed, so the key, key id and signer are
//! covered too. A valid signature proves the object is unchanged since a holder of that
//! key signed it; whether the key is trusted (a node's published key) is the reader's call:
//! compare `key_id` with the key the node publishes at `/api/node`.

use crate::canonical::to_canonical_bytes;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The custom property that carries an object's signature.
pub const SIGNATURE_PROPERTY: &str = "x_chainwatch_signature";

/// Why a signature does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature property is malformed.
    #[error("malformed {SIGNATURE_PROPERTY}: {0}")]
    Malformed(String),
    /// The signature does not match the object.
    #[error(
        "signature does not match the object (edited after signing, or signed by another key)"
    )]
    Mismatch,
}

/// A node's Ed25519 signing key.
pub struct NodeKey {
    key: SigningKey,
}

impl NodeKey {
    /// The key of a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> NodeKey {
        NodeKey {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The public key, base64.
    pub fn public_key(&self) -> String {
        B64.encode(self.key.verifying_key().as_bytes())
    }

    /// The key id: `ed25519:` and the first 16 bytes of the SHA-256 of the public key, hex.
    pub fn key_id(&self) -> String {
        key_id(self.key.verifying_key().as_bytes())
    }

    /// Signs raw bytes (used for the audit log head).
    pub fn sign_bytes(&self, msg: &[u8]) -> String {
        B64.encode(self.key.sign(msg).to_bytes())
    }

    /// Whether `signature` (base64) is this key's signature of `msg`.
    pub fn verify_bytes(&self, msg: &[u8], signature: &str) -> bool {
        verify_raw(&self.key.verifying_key(), msg, signature).is_ok()
    }

    /// Signs an object in place (replacing an older signature), naming `signer` (the
    /// node's identity id).
    pub fn sign_object(&self, object: &mut Value, signer: &str) {
        let Some(m) = object.as_object_mut() else {
            return;
        };
        m.insert(
            SIGNATURE_PROPERTY.to_string(),
            json!({
                "alg": "Ed25519",
                "key_id": self.key_id(),
                "public_key": self.public_key(),
                "signer": signer,
            }),
        );
        let sig = self.key.sign(&to_canonical_bytes(object));
        if let Some(p) = object
            .get_mut(SIGNATURE_PROPERTY)
            .and_then(Value::as_object_mut)
        {
            p.insert(
                "signature".into(),
                Value::String(B64.encode(sig.to_bytes())),
            );
        }
    }
}

fn key_id(pk: &[u8]) -> String {
    format!("ed25519:{}", hex::encode(&Sha256::digest(pk)[..16]))
}

fn verify_raw(key: &VerifyingKey, msg: &[u8], signature: &str) -> Result<(), SignatureError> {
    let bytes = B64
        .decode(signature)
        .map_err(|e| SignatureError::Malformed(format!("signature is not base64: {e}")))?;
    let arr: [u8; 64] = bytes
        .try_into()
        .map_err(|_| SignatureError::Malformed("signature is not 64 bytes".into()))?;
    key.verify_strict(msg, &Signature::from_bytes(&arr))
        .map_err(|_| SignatureError::Mismatch)
}

/// Who signed a verified object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// Key id (`ed25519:…`).
    pub key_id: String,
    /// Public key, base64.
    pub public_key: String,
    /// The signer's identity id as written in the signature.
    pub signer: Option<String>,
}

/// Verifies an object's signature: `Ok(None)` when it carries none.
pub fn verify_object(object: &Value) -> Result<Option<Signer>, SignatureError> {
    let Some(prop) = object.get(SIGNATURE_PROPERTY) else {
        return Ok(None);
    };
    let field = |k: &str| {
        prop.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| SignatureError::Malformed(format!("no '{k}'")))
    };
    if field("alg")? != "Ed25519" {
        return Err(SignatureError::Malformed("alg is not Ed25519".into()));
    }
    let pk_b64 = field("public_key")?;
    let signature = field("signature")?.to_string();
    let pk: [u8; 32] = B64
        .decode(pk_b64)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| SignatureError::Malformed("public_key is not 32 bytes of base64".into()))?;
    let key = VerifyingKey::from_bytes(&pk)
        .map_err(|_| SignatureError::Malformed("public_key is not an Ed25519 key".into()))?;
    let kid = key_id(&pk);
    if field("key_id")? != kid {
        return Err(SignatureError::Malformed(
            "key_id does not match public_key".into(),
        ));
    }
    let mut unsigned = object.clone();
    if let Some(p) = unsigned
        .get_mut(SIGNATURE_PROPERTY)
        .and_then(Value::as_object_mut)
    {
        p.remove("signature");
    }
    verify_raw(&key, &to_canonical_bytes(&unsigned), &signature)?;
    Ok(Some(Signer {
        key_id: kid,
        public_key: pk_b64.to_string(),
        signer: prop
            .get("signer")
            .and_then(Value::as_str)
            .map(str::to_string),
    }))
}

/// The outcome of checking every object of a bundle.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BundleVerification {
    /// Objects whose signature verifies.
    pub verified: usize,
    /// Objects without a signature.
    pub unsigned: usize,
    /// Objects whose signature fails, with the reason.
    pub failures: Vec<(String, String)>,
    /// Distinct keys that signed verified objects.
    pub keys: Vec<Signer>,
}

impl BundleVerification {
    /// True when at least one object is signed and no signature fails.
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.verified > 0
    }
}

/// Verifies every object of a bundle (or a single object, or a list of objects).
pub fn verify_bundle(doc: &Value) -> BundleVerification {
    let objects: Vec<&Value> = match doc {
        Value::Array(a) => a.iter().collect(),
        v if v.get("type").and_then(Value::as_str) == Some("bundle") => v
            .get("objects")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        v if v.get("objects").is_some_and(Value::is_array) => v["objects"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        v => vec![v],
    };
    let mut out = BundleVerification::default();
    for o in objects {
        let id = o
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("(no id)")
            .to_string();
        match verify_object(o) {
            Ok(None) => out.unsigned += 1,
            Ok(Some(s)) => {
                out.verified += 1;
                if !out.keys.iter().any(|k| k.key_id == s.key_id) {
                    out.keys.push(s);
                }
            }
            Err(e) => out.failures.push((id, e.to_string())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_tamper() {
        let key = NodeKey::from_seed(&[7; 32]);
        let mut o =
            json!({"type": "incident", "id": "incident--1", "name": "Theft €", "n": [1, 2.5]});
        key.sign_object(&mut o, "identity--node");
        let s = verify_object(&o).unwrap().unwrap();
        assert_eq!(s.key_id, key.key_id());
        // Key order and whitespace do not matter (canonical form).
        let reparsed: Value =
            serde_json::from_str(&serde_json::to_string_pretty(&o).unwrap()).unwrap();
        assert!(verify_object(&reparsed).unwrap().is_some());
        // Any edit fails.
        let mut edited = o.clone();
        edited["name"] = json!("Theft $");
        assert_eq!(verify_object(&edited), Err(SignatureError::Mismatch));
        let mut edited = o.clone();
        edited[SIGNATURE_PROPERTY]["signer"] = json!("identity--other");
        assert_eq!(verify_object(&edited), Err(SignatureError::Mismatch));
        // Another key's signature over the same object with this key's id is rejected.
        let other = NodeKey::from_seed(&[8; 32]);
        let mut forged = o.clone();
        forged[SIGNATURE_PROPERTY]["public_key"] = json!(other.public_key());
        assert!(verify_object(&forged).is_err());
        assert!(verify_object(&json!({"id": "x"})).unwrap().is_none());
    }
}
