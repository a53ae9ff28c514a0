//! Authentication: argon2id password hashes, SHA-256-hashed API tokens, and the
//! `Authorization` header (Bearer token, or HTTP Basic with a user name and its password
//! or one of its tokens, as TAXII clients send).
//!
//! Argon2 is deliberately slow, so a successful Basic check is remembered for a few
//! minutes under the SHA-256 of the credentials (never the password itself); the user is
//! still looked up on every request, so disabling a user takes effect at once.

use crate::store::{IntelStore, Principal, StoreError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Prefix of API tokens.
pub const TOKEN_PREFIX: &str = "cwt_";

/// How long a verified Basic credential is remembered.
const BASIC_CACHE_TTL: Duration = Duration::from_secs(300);

/// Why a request's credentials were refused (401).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password, revoked token, disabled user.
    #[error("invalid credentials")]
    Invalid,
    /// The header cannot be parsed.
    #[error("malformed Authorization header")]
    Malformed,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS generator does not fail on Linux after boot; a failure here must not
    // produce a predictable secret.
    if getrandom::fill(&mut b).is_err() {
        panic!("the operating system's random generator failed");
    }
    b
}

/// A new API token (`cwt_` + 43 base64url characters, 256 bits).
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", B64URL.encode(random_bytes::<32>()))
}

/// A new password (24 base64url characters, 144 bits).
pub fn new_password() -> String {
    B64URL.encode(random_bytes::<18>())
}

/// SHA-256 of a token, hex: the only form in which tokens are stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An argon2id PHC hash of a password.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).unwrap_or_else(|_| {
        SaltString::from_b64("c2FsdHNhbHRzYWx0").expect("constant salt is valid")
    });
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Whether `password` matches a PHC hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Resolves callers from `Authorization` headers.
#[derive(Default)]
pub struct Authenticator {
    basic_cache: Mutex<HashMap<[u8; 32], (i64, Instant)>>,
}

impl Authenticator {
    /// The caller of a request: `Ok(None)` without credentials.
    pub async fn principal(
        &self,
        store: &dyn IntelStore,
        header: Option<&str>,
    ) -> Result<Option<Principal>, AuthError> {
        let Some(h) = header.map(str::trim) else {
            return Ok(None);
        };
        let (scheme, rest) = h.split_once(' ').ok_or(AuthError::Malformed)?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return store
                .principal_by_token(&token_hash(rest))
                .await?
                .map(Some)
                .ok_or(AuthError::Invalid);
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(AuthError::Malformed);
        }
        let decoded = B64.decode(rest).map_err(|_| AuthError::Malformed)?;
        let text = String::from_utf8(decoded).map_err(|_| AuthError::Malformed)?;
        let (user, password) = text.split_once(':').ok_or(AuthError::Malformed)?;
        if password.starts_with(TOKEN_PREFIX) {
            let p = store
                .principal_by_token(&token_hash(password))
                .await?
                .ok_or(AuthError::Invalid)?;
            return if p.user == user {
                Ok(Some(p))
            } else {
                Err(AuthError::Invalid)
            };
        }
        let key: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        let cached = self
            .basic_cache
            .lock()
            .ok()
            .and_then(|c| c.get(&key).copied())
            .filter(|(_, at)| at.elapsed() < BASIC_CACHE_TTL)
            .map(|(uid, _)| uid);
        let uid = match cached {
            Some(uid) => uid,
            None => {
                let (u, hash) = store.user(user).await?.ok_or(AuthError::Invalid)?;
                if u.disabled {
                    return Err(AuthError::Invalid);
                }
                let pw = password.to_string();
                let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &pw))
                    .await
                    .unwrap_or(false);
                if !ok {
                    return Err(AuthError::Invalid);
                }
                if let Ok(mut c) = self.basic_cache.lock() {
                    if c.len() > 10_000 {
                        c.clear();
                    }
                    c.insert(key, (u.id, Instant::now()));
                }
                u.id
            }
        };
        store
            .principal_by_user(uid)
            .await?
            .map(Some)
            .ok_or(AuthError::Invalid)
    }

    /// Forgets remembered Basic credentials (after a password change or revocation).
    pub fn clear(&self) {
        if let Ok(mut c) = self.basic_cache.lock() {
            c.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets() {
        let h = hash_password("hunter2");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "hunter2"));
        assert!(!verify_password(&h, "hunter3"));
        let t = new_token();
        assert!(t.starts_with(TOKEN_PREFIX) && t.len() == 47);
        assert_ne!(t, new_token());
        assert_eq!(token_hash("a").len(), 64);
    }
}
