//! A node: its data directory, signing key, identity, community, community collection,
//! and the administrative operations the `chainwatch admin …` commands call.

use crate::auth::{hash_password, new_password, new_token, token_hash};
use crate::sqlite::SqliteStore;
use crate::store::*;
use chainwatch_intel::audit::{verify_chain, AuditError, AuditEvent, AuditHead};
use chainwatch_intel::report::ActorResolver;
use chainwatch_intel::signing::NodeKey;
use chainwatch_intel::TagStore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the community every organisation joins by default.
pub const NODE_COMMUNITY: &str = "node";

/// Errors of node operations.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Bad input from the operator (unknown org, bad role…): exit code 2.
    #[error("{0}")]
    BadInput(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The tag store (MISP galaxy actors) could not be opened.
    #[error("tag store: {0}")]
    Tags(String),
}

impl NodeError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        NodeError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An opened node.
pub struct Node {
    /// The store.
    pub store: Arc<dyn IntelStore>,
    /// The node's signing key.
    pub key: Arc<NodeKey>,
    /// Key for `next` tokens (derived from the node key's seed).
    pub next_key: [u8; 32],
    /// The node's STIX identity id.
    pub identity: String,
    /// The node's community.
    pub community: Community,
    /// The community collection's id.
    pub community_collection: String,
    /// Actor look-up (the tag store's MISP galaxy actors).
    pub actors: Arc<dyn ActorResolver + Send + Sync>,
    /// The data directory.
    pub data_dir: PathBuf,
}

/// What `audit verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct AuditCheck {
    /// Entries checked.
    pub entries: usize,
    /// Last sequence number and hash (record them elsewhere to anchor the log).
    pub head: Option<AuditHead>,
    /// Whether the head record's signature is the node key's.
    pub head_signature_ok: bool,
    /// What is wrong, if anything.
    pub error: Option<String>,
}

impl AuditCheck {
    /// True when the chain, the head and its signature all check.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

fn load_or_create_key(data: &Path) -> Result<[u8; 32], NodeError> {
    let path = data.join("node.key");
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let bytes = hex::decode(s.trim()).map_err(|_| {
                NodeError::BadInput(format!("{}: not a hex Ed25519 seed", path.display()))
            })?;
            bytes.try_into().map_err(|_| {
                NodeError::BadInput(format!("{}: the seed must be 32 bytes", path.display()))
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed = crate::auth::random_bytes::<32>();
            let tmp = data.join("node.key.tmp");
            write_private(&tmp, hex::encode(seed).as_bytes())
                .map_err(|e| NodeError::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| NodeError::io(&path, e))?;
            Ok(seed)
        }
        Err(e) => Err(NodeError::io(&path, e)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn admin_event(action: &str, target: &str, detail: serde_json::Value) -> AuditEvent {
    AuditEvent {
        actor: "admin".into(),
        org: None,
        action: action.into(),
        target: target.into(),
        detail,
    }
}

impl Node {
    /// Opens the node in `data` (creating the directory, key, database, node community
    /// and community collection on first use). Actors are read from `data/tags`
    /// (`chainwatch tags import` fills it with MISP galaxy files).
    pub async fn open(data: &Path) -> Result<Node, NodeError> {
        std::fs::create_dir_all(data).map_err(|e| NodeError::io(data, e))?;
        let seed = load_or_create_key(data)?;
        let key = Arc::new(NodeKey::from_seed(&seed));
        let next_key: [u8; 32] = Sha256::new()
            .chain_update(b"chainwatch next-token key\0")
            .chain_update(seed)
            .finalize()
            .into();
        let db_path = data.join("intel.sqlite");
        let store = SqliteStore::open(&db_path, key.clone())?;
        let store: Arc<dyn IntelStore> = Arc::new(store);
        let identity = match store.meta("node_identity").await? {
            Some(i) => i,
            None => {
                let i = chainwatch_intel::stix::new_id("identity");
                store.set_meta("node_identity", &i).await?;
                i
            }
        };
        let community = match store.community(NODE_COMMUNITY).await? {
            Some(c) => c,
            None => store.create_community(NODE_COMMUNITY).await?,
        };
        let community_collection = match store.meta("community_collection").await? {
            Some(c) => c,
            None => {
                let c = store
                    .create_collection(NewCollection {
                        id: uuid::Uuid::new_v4().to_string(),
                        title: "Community".into(),
                        description: Some(
                            "The node's community collection: every member organisation reads and writes it; \
                             anyone reads its TLP:CLEAR objects."
                                .into(),
                        ),
                        community_id: Some(community.id),
                        public_read: true,
                        grants: Vec::new(),
                    })
                    .await?;
                store.set_meta("community_collection", &c.id).await?;
                c.id
            }
        };
        let tags_dir = data.join("tags");
        let tags = TagStore::open(&tags_dir).map_err(|e| NodeError::Tags(e.to_string()))?;
        Ok(Node {
            store,
            key,
            next_key,
            identity,
            community,
            community_collection,
            actors: Arc::new(tags),
            data_dir: data.to_path_buf(),
        })
    }

    /// Imports MISP galaxy files (or any tag source) into the node's tag store and
    /// reloads the actors.
    pub fn import_tags(&mut self, paths: &[PathBuf]) -> Result<(), NodeError> {
        let mut tags = TagStore::open(self.data_dir.join("tags"))
            .map_err(|e| NodeError::Tags(e.to_string()))?;
        let s = tags.import_paths(paths);
        if let Some(f) = s.failed.first() {
            return Err(NodeError::Tags(format!("{}: {}", f.path, f.error)));
        }
        self.actors = Arc::new(tags);
        Ok(())
    }

    /// Creates a community.
    pub async fn create_community(&self, name: &str) -> Result<Community, NodeError> {
        if name.trim().is_empty() {
            return Err(NodeError::BadInput("community name is empty".into()));
        }
        let c = match self.store.create_community(name.trim()).await {
            Err(StoreError::Exists(m)) => {
                return Err(NodeError::BadInput(format!("{m} already exists")))
            }
            r => r?,
        };
        self.store
            .audit(admin_event(
                "admin.community.create",
                &c.name,
                json!({"id": c.id}),
            ))
            .await?;
        Ok(c)
    }

    async fn community_named(&self, name: &str) -> Result<Community, NodeError> {
        self.store
            .community(name)
            .await?
            .ok_or_else(|| NodeError::BadInput(format!("no community {name:?}")))
    }

    async fn org_named(&self, name: &str) -> Result<Org, NodeError> {
        self.store
            .org(name)
            .await?
            .ok_or_else(|| NodeError::BadInput(format!("no organisation {name:?}")))
    }

    /// Creates an organisation in `communities` (default: the node's community).
    pub async fn create_org(
        &self,
        name: &str,
        kind: &str,
        communities: &[String],
        client_of: Option<&str>,
    ) -> Result<Org, NodeError> {
        let name = name.trim();
        if name.is_empty() || name.starts_with("identity--") {
            return Err(NodeError::BadInput(format!(
                "bad organisation name {name:?}"
            )));
        }
        if !["exchange", "agency", "fiu", "vendor"].contains(&kind) {
            return Err(NodeError::BadInput(format!(
                "organisation kind {kind:?} is not exchange, agency, fiu or vendor"
            )));
        }
        let mut ids = Vec::new();
        if communities.is_empty() {
            ids.push(self.community.id);
        }
        for c in communities {
            ids.push(self.community_named(c).await?.id);
        }
        let client_of = match client_of {
            Some(p) => Some(self.org_named(p).await?.id),
            None => None,
        };
        let org = match self
            .store
            .create_org(NewOrg {
                name: name.to_string(),
                kind: kind.to_string(),
                identity_id: chainwatch_intel::stix::new_id("identity"),
                client_of,
                communities: ids,
            })
            .await
        {
            Err(StoreError::Exists(m)) => {
                return Err(NodeError::BadInput(format!("{m} already exists")))
            }
            r => r?,
        };
        self.store
            .audit(admin_event(
                "admin.org.create",
                &org.name,
                json!({"id": org.id, "kind": org.kind, "identity": org.identity_id,
                       "communities": org.communities.iter().map(|c| &c.name).collect::<Vec<_>>(),
                       "client_of": org.client_of}),
            ))
            .await?;
        Ok(org)
    }

    /// Creates a user with a one-time password (generated unless given); returns the
    /// user and the password.
    pub async fn create_user(
        &self,
        org: &str,
        name: &str,
        role: Role,
        password: Option<String>,
    ) -> Result<(User, String), NodeError> {
        let name = name.trim();
        if name.is_empty() || name.contains(':') {
            return Err(NodeError::BadInput(format!(
                "bad user name {name:?} (empty or with ':')"
            )));
        }
        let org = self.org_named(org).await?;
        let password = password.unwrap_or_else(new_password);
        let pw = password.clone();
        let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| NodeError::BadInput(format!("hashing failed: {e}")))?;
        let user = match self.store.create_user(org.id, name, role, &hash).await {
            Err(StoreError::Exists(m)) => {
                return Err(NodeError::BadInput(format!("{m} already exists")))
            }
            r => r?,
        };
        self.store
            .audit(admin_event(
                "admin.user.create",
                &user.name,
                json!({"id": user.id, "org": org.name, "role": role.name()}),
            ))
            .await?;
        Ok((user, password))
    }

    /// Creates an API token for a user; returns the record and the token (shown once).
    pub async fn create_token(
        &self,
        user: &str,
        label: Option<&str>,
    ) -> Result<(TokenRecord, String), NodeError> {
        let (u, _) = self
            .store
            .user(user)
            .await?
            .ok_or_else(|| NodeError::BadInput(format!("no user {user:?}")))?;
        let token = new_token();
        let prefix: String = token.chars().take(10).collect();
        let rec = self
            .store
            .create_token(u.id, &token_hash(&token), &prefix, label)
            .await?;
        self.store
            .audit(admin_event(
                "admin.token.create",
                &u.name,
                json!({"token_id": rec.id, "prefix": prefix}),
            ))
            .await?;
        Ok((rec, token))
    }

    /// Revokes a token by id.
    pub async fn revoke_token(&self, id: i64) -> Result<(), NodeError> {
        if !self.store.revoke_token(id).await? {
            return Err(NodeError::BadInput(format!("no token {id}")));
        }
        self.store
            .audit(admin_event(
                "admin.token.revoke",
                &id.to_string(),
                json!({}),
            ))
            .await?;
        Ok(())
    }

    /// Disables (revokes) or re-enables a user.
    pub async fn set_user_disabled(&self, user: &str, disabled: bool) -> Result<(), NodeError> {
        if !self.store.set_user_disabled(user, disabled).await? {
            return Err(NodeError::BadInput(format!("no user {user:?}")));
        }
        let action = if disabled {
            "admin.user.revoke"
        } else {
            "admin.user.enable"
        };
        self.store
            .audit(admin_event(action, user, json!({})))
            .await?;
        Ok(())
    }

    /// Creates a collection: read and written by `community` members (if given), read
    /// by anyone when `public_read`, plus per-organisation grants `(org, read, write)`.
    pub async fn create_collection(
        &self,
        title: &str,
        description: Option<&str>,
        community: Option<&str>,
        public_read: bool,
        grants: &[(String, bool, bool)],
    ) -> Result<Collection, NodeError> {
        if title.trim().is_empty() {
            return Err(NodeError::BadInput("collection title is empty".into()));
        }
        let community_id = match community {
            Some(c) => Some(self.community_named(c).await?.id),
            None => None,
        };
        let mut gs = Vec::new();
        for (org, read, write) in grants {
            gs.push(Grant {
                org_id: self.org_named(org).await?.id,
                read: *read || *write,
                write: *write,
            });
        }
        let c = self
            .store
            .create_collection(NewCollection {
                id: uuid::Uuid::new_v4().to_string(),
                title: title.trim().to_string(),
                description: description.map(str::to_string),
                community_id,
                public_read,
                grants: gs,
            })
            .await?;
        self.store
            .audit(admin_event(
                "admin.collection.create",
                &c.id,
                json!({"title": c.title, "community": community, "public_read": public_read,
                       "grants": c.grants}),
            ))
            .await?;
        Ok(c)
    }

    /// Checks the audit log's chain, its head record and the head's signature.
    pub async fn verify_audit(&self) -> Result<AuditCheck, NodeError> {
        let (entries, head) = self.store.audit_log().await?;
        let n = entries.len();
        let mut check = AuditCheck {
            entries: n,
            head: head.as_ref().map(|h| h.0.clone()),
            head_signature_ok: false,
            error: None,
        };
        match &head {
            Some((h, sig)) => {
                let msg = serde_json::to_string(h).unwrap_or_default();
                check.head_signature_ok = self.key.verify_bytes(msg.as_bytes(), sig);
                if !check.head_signature_ok {
                    check.error =
                        Some("the audit head record's signature is not the node key's".into());
                    return Ok(check);
                }
            }
            None if n > 0 => {
                check.error = Some("the audit head record is missing".into());
                return Ok(check);
            }
            None => {}
        }
        let empty_head = AuditHead {
            seq: 0,
            hash: chainwatch_intel::audit::GENESIS.into(),
        };
        let h = head.as_ref().map(|h| &h.0).unwrap_or(&empty_head);
        if let Err(e) = verify_chain(&entries, Some(h)) {
            check.error = Some(match e {
                AuditError::Head { .. } => e.to_string(),
                other => other.to_string(),
            });
        }
        Ok(check)
    }
}
