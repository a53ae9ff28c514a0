//! [`IntelStore`] on an embedded SQLite database (`DATA/intel.sqlite`, WAL mode).
//!
//! One writer connection behind a mutex (SQLite has one writer at a time anyway) and a
//! small pool of reader connections that WAL lets run beside it; every call runs on
//! tokio's blocking pool. Schema changes are numbered SQL files applied in order and
//! recorded in `PRAGMA user_version`. Visibility is pushed into the SQL (see
//! [`visible`]), mirroring `chainwatch_intel::policy::can_read`.

use crate::store::*;
use async_trait::async_trait;
use chainwatch_intel::audit::{AuditEntry, AuditEvent, AuditHead, GENESIS};
use chainwatch_intel::policy::Reader;
use chainwatch_intel::signing::NodeKey;
use chainwatch_intel::stix::{format_timestamp_us, now_timestamp};
use chainwatch_intel::tlp::Tlp;
use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_watch.sql"),
];
const POOL_MAX: usize = 8;

fn db(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            return StoreError::Exists(msg.clone().unwrap_or_else(|| "record".into()));
        }
    }
    StoreError::Db(e.to_string())
}

struct Writer {
    conn: Connection,
    last_added: i64,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
    key: Arc<NodeKey>,
}

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )?;
    Ok(c)
}

impl SqliteStore {
    /// Opens (creating and migrating) the database at `path`; `key` signs the audit head.
    pub fn open(path: &Path, key: Arc<NodeKey>) -> StoreResult<SqliteStore> {
        let mut conn = open_conn(path).map_err(db)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        if version as usize > MIGRATIONS.len() {
            return Err(StoreError::Db(format!(
                "{} has schema {version}, newer than this chainwatch ({})",
                path.display(),
                MIGRATIONS.len()
            )));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(db)?;
            tx.execute_batch(m).map_err(db)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .map_err(db)?;
            tx.commit().map_err(db)?;
        }
        let last_added: i64 = conn
            .query_row(
                "SELECT COALESCE(MAX(date_added), 0) FROM objects",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(Writer { conn, last_added }),
                readers: Mutex::new(Vec::new()),
                key,
            }),
        })
    }

    /// Runs `f` on a reader connection in the blocking pool.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.readers.lock().ok().and_then(|mut p| p.pop());
            let conn = match conn {
                Some(c) => c,
                None => open_conn(&inner.path).map_err(db)?,
            };
            let out = f(&conn);
            if let Ok(mut p) = inner.readers.lock() {
                if p.len() < POOL_MAX {
                    p.push(conn);
                }
            }
            out
        })
        .await
        .map_err(|e| StoreError::Db(format!("task: {e}")))?
    }

    /// Runs `f` in a write transaction in the blocking pool.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &mut i64, &NodeKey) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut w = inner
                .writer
                .lock()
                .map_err(|_| StoreError::Db("writer lock poisoned".into()))?;
            let Writer { conn, last_added } = &mut *w;
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db)?;
            let before = *last_added;
            match f(&tx, last_added, &inner.key) {
                Ok(v) => {
                    tx.commit().map_err(db)?;
                    Ok(v)
                }
                Err(e) => {
                    *last_added = before;
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| StoreError::Db(format!("task: {e}")))?
    }
}

/// The SQL condition "the reader may see row `a`" (see `chainwatch_intel::policy`):
/// `rec` is the recipients table, `rec_key` its column that points at `a.key`.
fn visible(
    a: &str,
    key: &str,
    rec: &str,
    rec_key: &str,
    reader: Option<&Reader>,
    args: &mut Vec<Sql>,
) -> String {
    let Some(r) = reader else {
        return format!("{a}.tlp = 0");
    };
    args.push(Sql::Integer(r.org));
    args.push(Sql::Integer(r.org));
    args.push(Sql::Integer(r.org));
    args.push(Sql::Integer(r.client_of.unwrap_or(-1)));
    format!(
        "({a}.tlp = 0 OR {a}.author_org = ? \
         OR ({a}.tlp = 1 AND EXISTS (SELECT 1 FROM community_members m1 JOIN community_members m2 \
             ON m1.community_id = m2.community_id WHERE m1.org_id = {a}.author_org AND m2.org_id = ?)) \
         OR ({a}.tlp >= 2 AND EXISTS (SELECT 1 FROM {rec} rr WHERE rr.{rec_key} = {a}.{key} \
             AND (rr.org_id = ? OR ({a}.tlp = 2 AND rr.org_id = ?)))))"
    )
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

fn tlp_of(code: i64) -> Tlp {
    Tlp::from_code(code).unwrap_or(Tlp::Red)
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn append_audit(tx: &Transaction<'_>, key: &NodeKey, ev: AuditEvent) -> StoreResult<()> {
    let (seq, prev): (i64, String) = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db)?
        .unwrap_or((0, GENESIS.to_string()));
    let e = ev.chain(seq + 1, now_timestamp(), &prev);
    tx.prepare_cached(
        "INSERT INTO audit (seq, time, actor, org, action, target, detail, prev_hash, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut s| {
        s.execute(params![
            e.seq,
            e.time,
            e.actor,
            e.org,
            e.action,
            e.target,
            e.detail.to_string(),
            e.prev_hash,
            e.hash
        ])
    })
    .map_err(db)?;
    let head = AuditHead {
        seq: e.seq,
        hash: e.hash.clone(),
    };
    let head_json = serde_json::to_string(&head).unwrap_or_default();
    let sig = key.sign_bytes(head_json.as_bytes());
    let value = serde_json::json!({"head": head, "signature": sig}).to_string();
    tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_head', ?)")
        .and_then(|mut s| s.execute(params![value]))
        .map_err(db)?;
    Ok(())
}

fn load_org(c: &Connection, where_: &str, arg: Sql) -> StoreResult<Option<Org>> {
    let sql =
        format!("SELECT id, name, kind, identity_id, client_of, created FROM orgs WHERE {where_}");
    let org = c
        .query_row(&sql, [arg], |r| {
            Ok(Org {
                id: r.get(0)?,
                name: r.get(1)?,
                kind: r.get(2)?,
                identity_id: r.get(3)?,
                client_of: r.get(4)?,
                communities: Vec::new(),
                created: r.get(5)?,
            })
        })
        .optional()
        .map_err(db)?;
    let Some(mut org) = org else { return Ok(None) };
    let mut st = c
        .prepare_cached(
            "SELECT c.id, c.name FROM community_members m JOIN communities c ON c.id = m.community_id \
             WHERE m.org_id = ? ORDER BY c.id",
        )
        .map_err(db)?;
    org.communities = st
        .query_map([org.id], |r| {
            Ok(Community {
                id: r.get(0)?,
                name: r.get(1)?,
            })
        })
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    Ok(Some(org))
}

fn load_principal(c: &Connection, user_id: i64) -> StoreResult<Option<Principal>> {
    let p = c
        .prepare_cached(
            "SELECT u.id, u.name, u.role, o.id, o.name, o.identity_id, o.client_of FROM users u \
             JOIN orgs o ON o.id = u.org_id WHERE u.id = ? AND u.disabled = 0",
        )
        .and_then(|mut s| {
            s.query_row([user_id], |r| {
                Ok(Principal {
                    user_id: r.get(0)?,
                    user: r.get(1)?,
                    role: Role::parse(&r.get::<_, String>(2)?).unwrap_or(Role::Reader),
                    org_id: r.get(3)?,
                    org: r.get(4)?,
                    org_identity: r.get(5)?,
                    client_of: r.get(6)?,
                    communities: Vec::new(),
                })
            })
            .optional()
        })
        .map_err(db)?;
    let Some(mut p) = p else { return Ok(None) };
    let mut st = c
        .prepare_cached("SELECT community_id FROM community_members WHERE org_id = ? ORDER BY 1")
        .map_err(db)?;
    p.communities = st
        .query_map([p.org_id], |r| r.get(0))
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    Ok(Some(p))
}

fn load_collections(c: &Connection, id: Option<&str>) -> StoreResult<Vec<Collection>> {
    let sql = format!(
        "SELECT id, title, description, community_id, public_read, created FROM collections {} ORDER BY created, id",
        if id.is_some() { "WHERE id = ?" } else { "" }
    );
    let mut st = c.prepare_cached(&sql).map_err(db)?;
    let args: Vec<Sql> = id.map(|i| Sql::Text(i.to_string())).into_iter().collect();
    let mut cols: Vec<Collection> = st
        .query_map(params_from_iter(args), |r| {
            Ok(Collection {
                id: r.get(0)?,
                title: r.get(1)?,
                description: r.get(2)?,
                community_id: r.get(3)?,
                public_read: r.get::<_, i64>(4)? != 0,
                grants: Vec::new(),
                created: r.get(5)?,
            })
        })
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    let mut gs = c
        .prepare_cached(
            "SELECT org_id, can_read, can_write FROM collection_grants WHERE collection_id = ? ORDER BY org_id",
        )
        .map_err(db)?;
    for col in &mut cols {
        col.grants = gs
            .query_map([&col.id], |r| {
                Ok(Grant {
                    org_id: r.get(0)?,
                    read: r.get::<_, i64>(1)? != 0,
                    write: r.get::<_, i64>(2)? != 0,
                })
            })
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?;
    }
    Ok(cols)
}

const OBJECT_COLUMNS: &str = "o.seq, o.date_added, o.stix_id, o.stix_type, o.version, o.version_us, o.spec_version, o.tlp, o.author_org";

fn row_object(r: &rusqlite::Row<'_>, with_body: bool) -> rusqlite::Result<StoredObject> {
    Ok(StoredObject {
        seq: r.get(0)?,
        date_added: r.get(1)?,
        stix_id: r.get(2)?,
        stix_type: r.get(3)?,
        version: r.get(4)?,
        version_us: r.get(5)?,
        spec_version: r.get(6)?,
        tlp: tlp_of(r.get(7)?),
        author_org: r.get(8)?,
        body: if with_body { r.get(9)? } else { String::new() },
    })
}

fn load_report_recipients(c: &Connection, rep: &mut ReportRecord) -> StoreResult<()> {
    let mut st = c
        .prepare_cached("SELECT org_id FROM report_recipients WHERE report_id = ? ORDER BY org_id")
        .map_err(db)?;
    rep.recipients = st
        .query_map([&rep.id], |r| r.get(0))
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    Ok(())
}

fn row_report(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportRecord> {
    Ok(ReportRecord {
        id: r.get(0)?,
        collection: r.get(1)?,
        title: r.get(2)?,
        tlp: tlp_of(r.get(3)?),
        author_org: r.get(4)?,
        author: r.get(5)?,
        recipients: Vec::new(),
        actor: r.get(6)?,
        created: r.get(7)?,
        summary: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
    })
}

#[async_trait]
impl IntelStore for SqliteStore {
    async fn create_community(&self, name: &str) -> StoreResult<Community> {
        let name = name.to_string();
        self.write(move |tx, _, _| {
            tx.execute(
                "INSERT INTO communities (name, created) VALUES (?, ?)",
                params![name, now_timestamp()],
            )
            .map_err(|e| match db(e) {
                StoreError::Exists(_) => StoreError::Exists(format!("community {name:?}")),
                o => o,
            })?;
            Ok(Community {
                id: tx.last_insert_rowid(),
                name,
            })
        })
        .await
    }

    async fn community(&self, name: &str) -> StoreResult<Option<Community>> {
        let name = name.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id, name FROM communities WHERE name = ?",
                [name],
                |r| {
                    Ok(Community {
                        id: r.get(0)?,
                        name: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn create_org(&self, new: NewOrg) -> StoreResult<Org> {
        self.write(move |tx, _, _| {
            tx.execute(
                "INSERT INTO orgs (name, kind, identity_id, client_of, created) VALUES (?, ?, ?, ?, ?)",
                params![new.name, new.kind, new.identity_id, new.client_of, now_timestamp()],
            )
            .map_err(|e| match db(e) {
                StoreError::Exists(_) => StoreError::Exists(format!("organisation {:?}", new.name)),
                o => o,
            })?;
            let id = tx.last_insert_rowid();
            for c in &new.communities {
                tx.execute(
                    "INSERT OR IGNORE INTO community_members (community_id, org_id) VALUES (?, ?)",
                    params![c, id],
                )
                .map_err(db)?;
            }
            load_org(tx, "id = ?", Sql::Integer(id))?
                .ok_or_else(|| StoreError::NotFound("organisation".into()))
        })
        .await
    }

    async fn org(&self, name_or_identity: &str) -> StoreResult<Option<Org>> {
        let k = name_or_identity.to_string();
        self.read(move |c| {
            if k.starts_with("identity--") {
                load_org(c, "identity_id = ?", Sql::Text(k))
            } else {
                load_org(c, "name = ?", Sql::Text(k))
            }
        })
        .await
    }

    async fn orgs(&self) -> StoreResult<Vec<Org>> {
        self.read(|c| {
            let ids: Vec<i64> = c
                .prepare("SELECT id FROM orgs ORDER BY id")
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                .map_err(db)?;
            let mut out = Vec::new();
            for id in ids {
                out.extend(load_org(c, "id = ?", Sql::Integer(id))?);
            }
            Ok(out)
        })
        .await
    }

    async fn create_user(
        &self,
        org_id: i64,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> StoreResult<User> {
        let (name, hash) = (name.to_string(), password_hash.to_string());
        self.write(move |tx, _, _| {
            let created = now_timestamp();
            tx.execute(
                "INSERT INTO users (name, org_id, role, password_hash, created) VALUES (?, ?, ?, ?, ?)",
                params![name, org_id, role.name(), hash, created],
            )
            .map_err(|e| match db(e) {
                StoreError::Exists(_) => StoreError::Exists(format!("user {name:?}")),
                o => o,
            })?;
            let org: String = tx
                .query_row("SELECT name FROM orgs WHERE id = ?", [org_id], |r| r.get(0))
                .map_err(db)?;
            Ok(User {
                id: tx.last_insert_rowid(),
                name,
                org_id,
                org,
                role,
                disabled: false,
                created,
            })
        })
        .await
    }

    async fn user(&self, name: &str) -> StoreResult<Option<(User, String)>> {
        let name = name.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT u.id, u.name, u.org_id, o.name, u.role, u.disabled, u.created, u.password_hash \
                 FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.name = ?",
            )
            .and_then(|mut s| {
                s.query_row([name], |r| {
                    Ok((
                        User {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            org_id: r.get(2)?,
                            org: r.get(3)?,
                            role: Role::parse(&r.get::<_, String>(4)?).unwrap_or(Role::Reader),
                            disabled: r.get::<_, i64>(5)? != 0,
                            created: r.get(6)?,
                        },
                        r.get(7)?,
                    ))
                })
                .optional()
            })
            .map_err(db)
        })
        .await
    }

    async fn set_user_disabled(&self, name: &str, disabled: bool) -> StoreResult<bool> {
        let name = name.to_string();
        self.write(move |tx, _, _| {
            let n = tx
                .execute(
                    "UPDATE users SET disabled = ? WHERE name = ?",
                    params![disabled as i64, name],
                )
                .map_err(db)?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_token(
        &self,
        user_id: i64,
        sha256_hex: &str,
        prefix: &str,
        label: Option<&str>,
    ) -> StoreResult<TokenRecord> {
        let (h, prefix, label) = (
            sha256_hex.to_string(),
            prefix.to_string(),
            label.map(str::to_string),
        );
        self.write(move |tx, _, _| {
            let created = now_timestamp();
            tx.execute(
                "INSERT INTO tokens (user_id, token_sha256, prefix, label, created) VALUES (?, ?, ?, ?, ?)",
                params![user_id, h, prefix, label, created],
            )
            .map_err(db)?;
            let user: String = tx
                .query_row("SELECT name FROM users WHERE id = ?", [user_id], |r| r.get(0))
                .map_err(db)?;
            Ok(TokenRecord {
                id: tx.last_insert_rowid(),
                user,
                label,
                prefix,
                created,
                revoked: false,
            })
        })
        .await
    }

    async fn revoke_token(&self, id: i64) -> StoreResult<bool> {
        self.write(move |tx, _, _| {
            Ok(tx
                .execute("UPDATE tokens SET revoked = 1 WHERE id = ?", [id])
                .map_err(db)?
                > 0)
        })
        .await
    }

    async fn principal_by_token(&self, sha256_hex: &str) -> StoreResult<Option<Principal>> {
        let h = sha256_hex.to_string();
        self.read(move |c| {
            let uid: Option<i64> = c
                .prepare_cached("SELECT user_id FROM tokens WHERE token_sha256 = ? AND revoked = 0")
                .and_then(|mut s| s.query_row([h], |r| r.get(0)).optional())
                .map_err(db)?;
            match uid {
                Some(u) => load_principal(c, u),
                None => Ok(None),
            }
        })
        .await
    }

    async fn principal_by_user(&self, user_id: i64) -> StoreResult<Option<Principal>> {
        self.read(move |c| load_principal(c, user_id)).await
    }

    async fn create_collection(&self, new: NewCollection) -> StoreResult<Collection> {
        self.write(move |tx, _, _| {
            tx.execute(
                "INSERT INTO collections (id, title, description, community_id, public_read, created) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![
                    new.id,
                    new.title,
                    new.description,
                    new.community_id,
                    new.public_read as i64,
                    now_timestamp()
                ],
            )
            .map_err(db)?;
            for g in &new.grants {
                tx.execute(
                    "INSERT OR REPLACE INTO collection_grants (collection_id, org_id, can_read, can_write) \
                     VALUES (?, ?, ?, ?)",
                    params![new.id, g.org_id, g.read as i64, g.write as i64],
                )
                .map_err(db)?;
            }
            load_collections(tx, Some(&new.id))?
                .pop()
                .ok_or_else(|| StoreError::NotFound("collection".into()))
        })
        .await
    }

    async fn collections(&self) -> StoreResult<Vec<Collection>> {
        self.read(|c| load_collections(c, None)).await
    }

    async fn collection(&self, id: &str) -> StoreResult<Option<Collection>> {
        let id = id.to_string();
        self.read(move |c| Ok(load_collections(c, Some(&id))?.pop()))
            .await
    }

    async fn add_objects(
        &self,
        collection: &str,
        author_org: i64,
        objects: Vec<NewObject>,
        report: Option<ReportRecord>,
        audit: AuditEvent,
    ) -> StoreResult<Vec<AddOutcome>> {
        let collection = collection.to_string();
        self.write(move |tx, last_added, key| {
            let mut out = Vec::with_capacity(objects.len());
            let mut t = now_us().max(*last_added + 1);
            let mut ins = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO objects (collection_id, stix_id, stix_type, spec_version, version, \
                     version_us, date_added, tlp, author_org, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .map_err(db)?;
            let mut find_version = tx
                .prepare_cached(
                    "SELECT seq, version FROM objects WHERE collection_id = ? AND stix_id = ? AND version_us = ?",
                )
                .map_err(db)?;
            let mut find_body = tx
                .prepare_cached(
                    "SELECT seq, version FROM objects WHERE collection_id = ? AND stix_id = ? AND body = ?",
                )
                .map_err(db)?;
            let mut rec = tx
                .prepare_cached("INSERT OR IGNORE INTO object_recipients (seq, org_id) VALUES (?, ?)")
                .map_err(db)?;
            for o in objects {
                let date_added = t;
                let (version, version_us) = match (&o.info.version, o.info.version_us) {
                    (Some(v), Some(us)) => (v.clone(), us),
                    _ => {
                        // Objects without a version: identical content is the same object.
                        let dup = find_body
                            .query_row(params![collection, o.info.id, o.body], |r| {
                                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                            })
                            .optional()
                            .map_err(db)?;
                        if let Some((seq, version)) = dup {
                            out.push(AddOutcome::Duplicate { seq, version });
                            continue;
                        }
                        (format_timestamp_us(date_added), date_added)
                    }
                };
                let n = ins
                    .execute(params![
                        collection,
                        o.info.id,
                        o.info.ty,
                        o.info.spec_version,
                        version,
                        version_us,
                        date_added,
                        o.tlp.code(),
                        author_org,
                        o.body
                    ])
                    .map_err(db)?;
                if n == 0 {
                    let (seq, version) = find_version
                        .query_row(params![collection, o.info.id, version_us], |r| {
                            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                        })
                        .map_err(db)?;
                    out.push(AddOutcome::Duplicate { seq, version });
                    continue;
                }
                let seq = tx.last_insert_rowid();
                for r in &o.recipients {
                    rec.execute(params![seq, r]).map_err(db)?;
                }
                t += 1;
                out.push(AddOutcome::Added { seq, version });
            }
            *last_added = t - 1;
            if let Some(rep) = report {
                tx.execute(
                    "INSERT INTO reports (id, collection_id, title, tlp, author_org, actor, created, summary) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    params![
                        rep.id,
                        rep.collection,
                        rep.title,
                        rep.tlp.code(),
                        rep.author_org,
                        rep.actor,
                        rep.created,
                        rep.summary.to_string()
                    ],
                )
                .map_err(|e| match db(e) {
                    StoreError::Exists(_) => StoreError::Exists(format!("report {}", rep.id)),
                    o => o,
                })?;
                for r in &rep.recipients {
                    tx.execute(
                        "INSERT OR IGNORE INTO report_recipients (report_id, org_id) VALUES (?, ?)",
                        params![rep.id, r],
                    )
                    .map_err(db)?;
                }
                let mut link = tx
                    .prepare_cached("INSERT OR IGNORE INTO report_objects (report_id, seq) VALUES (?, ?)")
                    .map_err(db)?;
                for o in &out {
                    link.execute(params![rep.id, o.seq()]).map_err(db)?;
                }
            }
            append_audit(tx, key, audit)?;
            Ok(out)
        })
        .await
    }

    async fn query_objects(&self, q: ObjectQuery) -> StoreResult<Vec<StoredObject>> {
        self.read(move |c| {
            let f = &q.filter;
            if !f.spec_version_matches() {
                return Ok(Vec::new());
            }
            let mut args: Vec<Sql> = vec![Sql::Text(q.collection.clone())];
            let mut sql = format!(
                "SELECT {OBJECT_COLUMNS}{} FROM objects o WHERE o.collection_id = ?",
                if q.without_body { "" } else { ", o.body" }
            );
            if let Some(a) = q.after {
                sql.push_str(" AND (o.date_added > ? OR (o.date_added = ? AND o.seq > ?))");
                args.extend([
                    Sql::Integer(a.date_added),
                    Sql::Integer(a.date_added),
                    Sql::Integer(a.seq),
                ]);
            }
            if let Some(t) = f.added_after {
                sql.push_str(" AND o.date_added > ?");
                args.push(Sql::Integer(t));
            }
            if !f.ids.is_empty() {
                sql.push_str(&format!(" AND o.stix_id IN ({})", placeholders(f.ids.len())));
                args.extend(f.ids.iter().map(|i| Sql::Text(i.clone())));
            }
            if !f.types.is_empty() {
                sql.push_str(&format!(
                    " AND o.stix_type IN ({})",
                    placeholders(f.types.len())
                ));
                args.extend(f.types.iter().map(|i| Sql::Text(i.clone())));
            }
            let reader = q.reader.as_ref();
            sql.push_str(" AND ");
            sql.push_str(&visible("o", "seq", "object_recipients", "seq", reader, &mut args));
            let v = &f.versions;
            if !q.all_versions && !v.all {
                let mut parts = Vec::new();
                for (want, op) in [(v.last, ">"), (v.first, "<")] {
                    if want {
                        let mut p = format!(
                            "NOT EXISTS (SELECT 1 FROM objects o2 WHERE o2.collection_id = o.collection_id \
                             AND o2.stix_id = o.stix_id AND o2.version_us {op} o.version_us AND "
                        );
                        p.push_str(&visible(
                            "o2",
                            "seq",
                            "object_recipients",
                            "seq",
                            reader,
                            &mut args,
                        ));
                        p.push(')');
                        parts.push(p);
                    }
                }
                if !v.at.is_empty() {
                    parts.push(format!("o.version_us IN ({})", placeholders(v.at.len())));
                    args.extend(v.at.iter().map(|t| Sql::Integer(*t)));
                }
                sql.push_str(&format!(" AND ({})", parts.join(" OR ")));
            }
            sql.push_str(" ORDER BY o.date_added, o.seq LIMIT ?");
            args.push(Sql::Integer(f.limit as i64 + 1));
            let mut st = c.prepare_cached(&sql).map_err(db)?;
            let with_body = !q.without_body;
            let rows = st
                .query_map(params_from_iter(args), |r| row_object(r, with_body))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            Ok(rows)
        })
        .await
    }

    async fn delete_objects(&self, seqs: Vec<i64>, audit: AuditEvent) -> StoreResult<usize> {
        self.write(move |tx, _, key| {
            let mut n = 0;
            for s in &seqs {
                tx.execute("DELETE FROM object_recipients WHERE seq = ?", [s])
                    .map_err(db)?;
                tx.execute("DELETE FROM report_objects WHERE seq = ?", [s])
                    .map_err(db)?;
                n += tx
                    .execute("DELETE FROM objects WHERE seq = ?", [s])
                    .map_err(db)?;
            }
            append_audit(tx, key, audit)?;
            Ok(n)
        })
        .await
    }

    async fn put_status(&self, status: StatusRecord) -> StoreResult<()> {
        self.write(move |tx, _, _| {
            tx.execute(
                "INSERT OR REPLACE INTO statuses (id, org_id, body) VALUES (?, ?, ?)",
                params![status.id, status.org_id, status.body.to_string()],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn status(&self, id: &str) -> StoreResult<Option<StatusRecord>> {
        let id = id.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id, org_id, body FROM statuses WHERE id = ?",
                [id],
                |r| {
                    Ok(StatusRecord {
                        id: r.get(0)?,
                        org_id: r.get(1)?,
                        body: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
                    })
                },
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn reports(
        &self,
        reader: Option<Reader>,
        text: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<ReportRecord>> {
        self.read(move |c| {
            let mut args = Vec::new();
            let mut sql = String::from(
                "SELECT r.id, r.collection_id, r.title, r.tlp, r.author_org, og.name, r.actor, r.created, r.summary \
                 FROM reports r JOIN orgs og ON og.id = r.author_org WHERE ",
            );
            sql.push_str(&visible(
                "r",
                "id",
                "report_recipients",
                "report_id",
                reader.as_ref(),
                &mut args,
            ));
            if let Some(t) = text.filter(|t| !t.trim().is_empty()) {
                let like = format!(
                    "%{}%",
                    t.trim().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
                );
                sql.push_str(
                    " AND (r.title LIKE ? ESCAPE '\\' OR r.actor LIKE ? ESCAPE '\\' OR r.summary LIKE ? ESCAPE '\\')",
                );
                args.extend([Sql::Text(like.clone()), Sql::Text(like.clone()), Sql::Text(like)]);
            }
            sql.push_str(" ORDER BY r.created DESC, r.id LIMIT ?");
            args.push(Sql::Integer(limit as i64));
            let mut st = c.prepare_cached(&sql).map_err(db)?;
            let mut out: Vec<ReportRecord> = st
                .query_map(params_from_iter(args), row_report)
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            for r in &mut out {
                load_report_recipients(c, r)?;
            }
            Ok(out)
        })
        .await
    }

    async fn report(&self, id: &str, reader: Option<Reader>) -> StoreResult<Option<ReportRecord>> {
        let id = id.to_string();
        self.read(move |c| {
            let mut args = vec![Sql::Text(id)];
            let sql = format!(
                "SELECT r.id, r.collection_id, r.title, r.tlp, r.author_org, og.name, r.actor, r.created, r.summary \
                 FROM reports r JOIN orgs og ON og.id = r.author_org WHERE r.id = ? AND {}",
                visible("r", "id", "report_recipients", "report_id", reader.as_ref(), &mut args)
            );
            let rep = c
                .query_row(&sql, params_from_iter(args), row_report)
                .optional()
                .map_err(db)?;
            match rep {
                Some(mut r) => {
                    load_report_recipients(c, &mut r)?;
                    Ok(Some(r))
                }
                None => Ok(None),
            }
        })
        .await
    }

    async fn report_objects(
        &self,
        id: &str,
        reader: Option<Reader>,
    ) -> StoreResult<Vec<StoredObject>> {
        let id = id.to_string();
        self.read(move |c| {
            let mut args = vec![Sql::Text(id)];
            let sql = format!(
                "SELECT {OBJECT_COLUMNS}, o.body FROM report_objects ro JOIN objects o ON o.seq = ro.seq \
                 WHERE ro.report_id = ? AND {} ORDER BY o.seq",
                visible("o", "seq", "object_recipients", "seq", reader.as_ref(), &mut args)
            );
            let mut st = c.prepare(&sql).map_err(db)?;
            let rows = st
                .query_map(params_from_iter(args), |r| row_object(r, true))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            Ok(rows)
        })
        .await
    }

    async fn audit(&self, event: AuditEvent) -> StoreResult<()> {
        self.write(move |tx, _, key| append_audit(tx, key, event))
            .await
    }

    async fn audit_log(&self) -> StoreResult<(Vec<AuditEntry>, Option<(AuditHead, String)>)> {
        self.read(|c| {
            let mut st = c
                .prepare(
                    "SELECT seq, time, actor, org, action, target, detail, prev_hash, hash FROM audit ORDER BY seq",
                )
                .map_err(db)?;
            let entries = st
                .query_map([], |r| {
                    Ok(AuditEntry {
                        seq: r.get(0)?,
                        time: r.get(1)?,
                        actor: r.get(2)?,
                        org: r.get(3)?,
                        action: r.get(4)?,
                        target: r.get(5)?,
                        detail: serde_json::from_str(&r.get::<_, String>(6)?)
                            .unwrap_or(serde_json::Value::Null),
                        prev_hash: r.get(7)?,
                        hash: r.get(8)?,
                    })
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            let head: Option<String> = c
                .query_row("SELECT value FROM meta WHERE key = 'audit_head'", [], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db)?;
            let head = head.and_then(|h| {
                let v: serde_json::Value = serde_json::from_str(&h).ok()?;
                let head: AuditHead = serde_json::from_value(v.get("head")?.clone()).ok()?;
                Some((head, v.get("signature")?.as_str()?.to_string()))
            });
            Ok((entries, head))
        })
        .await
    }
    /// A value of the `meta` table.
    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_string();
        self.read(move |c| {
            c.query_row("SELECT value FROM meta WHERE key = ?", [key], |r| r.get(0))
                .optional()
                .map_err(db)
        })
        .await
    }

    /// Sets a value of the `meta` table.
    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |tx, _, _| {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                params![key, value],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn add_org_addresses(
        &self,
        org_id: i64,
        chain: &str,
        addresses: Vec<(String, Option<String>)>,
    ) -> StoreResult<usize> {
        let chain = chain.to_string();
        self.write(move |tx, _, _| {
            let mut n = 0;
            for (a, label) in addresses {
                n += tx
                    .execute(
                        "INSERT OR IGNORE INTO org_addresses (org_id, chain, address, label) VALUES (?, ?, ?, ?)",
                        params![org_id, chain, a, label],
                    )
                    .map_err(db)?;
            }
            Ok(n)
        })
        .await
    }

    async fn org_addresses(
        &self,
        org_id: Option<i64>,
    ) -> StoreResult<Vec<(i64, String, String, Option<String>)>> {
        self.read(move |c| {
            let mut st = c
                .prepare(
                    "SELECT org_id, chain, address, label FROM org_addresses \
                     WHERE (?1 IS NULL OR org_id = ?1) ORDER BY org_id, chain, address",
                )
                .map_err(db)?;
            let rows = st
                .query_map([org_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
        .await
    }

    async fn put_findings(&self, report_id: &str, body: String) -> StoreResult<()> {
        let id = report_id.to_string();
        self.write(move |tx, _, _| {
            tx.execute(
                "INSERT OR REPLACE INTO findings (report_id, body, updated) VALUES (?, ?, ?)",
                params![id, body, now_us()],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn findings(&self, report_id: &str) -> StoreResult<Option<String>> {
        let id = report_id.to_string();
        self.read(move |c| {
            c.query_row("SELECT body FROM findings WHERE report_id = ?", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn upsert_alert(
        &self,
        org_id: i64,
        report_id: &str,
        alert: serde_json::Value,
    ) -> StoreResult<Option<AlertRecord>> {
        let id = report_id.to_string();
        self.write(move |tx, _, _| {
            let body = alert.to_string();
            let old: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, body FROM alerts WHERE org_id = ? AND report_id = ?",
                    params![org_id, id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            let now = now_us();
            let aid = match old {
                Some((_, b)) if b == body => return Ok(None),
                Some((aid, _)) => {
                    tx.execute(
                        "UPDATE alerts SET body = ?, updated = ?, state = 'new' WHERE id = ?",
                        params![body, now, aid],
                    )
                    .map_err(db)?;
                    aid
                }
                None => {
                    tx.execute(
                        "INSERT INTO alerts (org_id, report_id, state, created, updated, body) VALUES (?, ?, 'new', ?, ?, ?)",
                        params![org_id, id, now, now, body],
                    )
                    .map_err(db)?;
                    tx.last_insert_rowid()
                }
            };
            tx.query_row(
                "SELECT id, org_id, state, created, updated, body FROM alerts WHERE id = ?",
                [aid],
                row_alert,
            )
            .map(Some)
            .map_err(db)
        })
        .await
    }

    async fn alerts(
        &self,
        org_id: i64,
        state: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<AlertRecord>> {
        self.read(move |c| {
            let mut st = c
                .prepare(
                    "SELECT id, org_id, state, created, updated, body FROM alerts \
                     WHERE org_id = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY id DESC LIMIT ?3",
                )
                .map_err(db)?;
            let rows = st
                .query_map(params![org_id, state, limit as i64], row_alert)
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
        .await
    }

    async fn set_alert_state(&self, org_id: i64, id: i64, state: &str) -> StoreResult<bool> {
        let state = state.to_string();
        self.write(move |tx, _, _| {
            let n = tx
                .execute(
                    "UPDATE alerts SET state = ?, updated = ? WHERE id = ? AND org_id = ?",
                    params![state, now_us(), id, org_id],
                )
                .map_err(db)?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_webhook(
        &self,
        org_id: i64,
        url: &str,
        secret: &str,
    ) -> StoreResult<WebhookRecord> {
        let (url, secret) = (url.to_string(), secret.to_string());
        self.write(move |tx, _, _| {
            let now = now_us();
            tx.execute(
                "INSERT INTO webhooks (org_id, url, secret, created) VALUES (?, ?, ?, ?)",
                params![org_id, url, secret, now],
            )
            .map_err(db)?;
            Ok(WebhookRecord {
                id: tx.last_insert_rowid(),
                org_id,
                url,
                created: format_timestamp_us(now),
            })
        })
        .await
    }

    async fn webhooks(&self, org_id: i64) -> StoreResult<Vec<(WebhookRecord, String)>> {
        self.read(move |c| {
            let mut st = c
                .prepare("SELECT id, org_id, url, created, secret FROM webhooks WHERE org_id = ? ORDER BY id")
                .map_err(db)?;
            let rows = st
                .query_map([org_id], |r| {
                    Ok((
                        WebhookRecord {
                            id: r.get(0)?,
                            org_id: r.get(1)?,
                            url: r.get(2)?,
                            created: format_timestamp_us(r.get(3)?),
                        },
                        r.get(4)?,
                    ))
                })
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
        .await
    }

    async fn add_delivery(&self, d: DeliveryRecord) -> StoreResult<()> {
        self.write(move |tx, _, _| {
            tx.execute(
                "INSERT INTO deliveries (webhook_id, alert_id, attempt, status, error, at) VALUES (?, ?, ?, ?, ?, ?)",
                params![d.webhook_id, d.alert_id, d.attempt, d.status, d.error, now_us()],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn deliveries(&self, org_id: i64, limit: usize) -> StoreResult<Vec<DeliveryRecord>> {
        self.read(move |c| {
            let mut st = c
                .prepare(
                    "SELECT d.webhook_id, d.alert_id, d.attempt, d.status, d.error, d.at FROM deliveries d \
                     JOIN webhooks w ON w.id = d.webhook_id WHERE w.org_id = ? ORDER BY d.id DESC LIMIT ?",
                )
                .map_err(db)?;
            let rows = st
                .query_map(params![org_id, limit as i64], |r| {
                    Ok(DeliveryRecord {
                        webhook_id: r.get(0)?,
                        alert_id: r.get(1)?,
                        attempt: r.get(2)?,
                        status: r.get(3)?,
                        error: r.get(4)?,
                        at: format_timestamp_us(r.get(5)?),
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
        .await
    }
}

fn row_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRecord> {
    let body: String = r.get(5)?;
    Ok(AlertRecord {
        id: r.get(0)?,
        org_id: r.get(1)?,
        state: r.get(2)?,
        created: format_timestamp_us(r.get(3)?),
        updated: format_timestamp_us(r.get(4)?),
        alert: serde_json::from_str(&body).unwrap_or_default(),
    })
}
