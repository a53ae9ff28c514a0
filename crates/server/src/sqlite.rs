//! [`IntelStore`] on an embedded SQLite database (`DATA/intel.sqlite`, WAL mode).
//!
//! One writer connection on a thread of its own that runs the writes in the order they
//! come (SQLite has one writer at a time anyway), and a small pool of reader connections
//! that WAL lets run beside it on tokio's blocking pool (or, for point look-ups, on the
//! request's thread). Schema changes are numbered SQL files applied in order and
//! recorded in `PRAGMA user_version`. Visibility is pushed into the SQL (see
//! [`visible`]), mirroring `chainwatch_intel::policy::can_read`.

use crate::id_index::{IdIndex, SharedIdIndex};
use crate::store::*;
use async_trait::async_trait;
use chainwatch_intel::audit::{AuditEntry, AuditEvent, AuditHead, PreparedEvent, GENESIS};
use chainwatch_intel::policy::Reader;
use chainwatch_intel::signing::NodeKey;
use chainwatch_intel::stix::{format_timestamp_us, now_timestamp};
use chainwatch_intel::tlp::Tlp;
use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_watch.sql"),
    include_str!("../migrations/sqlite/0003_object_keys.sql"),
    include_str!("../migrations/sqlite/0004_objects_and_statuses.sql"),
    include_str!("../migrations/sqlite/0005_id_index_in_memory.sql"),
    include_str!("../migrations/sqlite/0006_collection_numbers.sql"),
];

/// How long a status resource (one per TAXII POST) is kept: a client polls it shortly
/// after its request; older ones are deleted whenever a new one is stored.
pub const STATUS_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Stores a status resource and deletes those older than [`STATUS_RETENTION`].
fn store_status(tx: &Transaction<'_>, id: &str, org_id: i64, body: &str) -> StoreResult<()> {
    let now = now_us();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO statuses (id, org_id, body, created) VALUES (?, ?, ?, ?)",
    )
    .and_then(|mut s| s.execute(params![id, org_id, body, now]))
    .map_err(db)?;
    tx.prepare_cached("DELETE FROM statuses WHERE created < ?")
        .and_then(|mut s| s.execute([now - STATUS_RETENTION.as_micros() as i64]))
        .map_err(db)?;
    Ok(())
}

/// The index on [`id_key`], built by migration 3 once the keys are filled in (and
/// replaced by the in-memory [`IdIndex`] in migration 5).
const OBJECTS_KEY_INDEX: &str = "CREATE INDEX objects_key ON objects(id_key, version_us)";

/// The key objects are looked up by: the first 63 bits of the SHA-256 of the STIX id
/// (a hash no one can steer many ids into, so a lookup reads one or two rows). Rows
/// with the same key are told apart by `stix_id` (and `collection_id`) in every query.
pub fn id_key(stix_id: &str) -> i64 {
    let h = Sha256::digest(stix_id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    (u64::from_be_bytes(b) >> 1) as i64
}

/// Fills in `id_key` after migration 3 rebuilt the table, then builds its index.
fn fill_id_keys(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let rows: Vec<(i64, String)> = tx
        .prepare("SELECT seq, stix_id FROM objects")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut up = tx.prepare("UPDATE objects SET id_key = ? WHERE seq = ?")?;
    for (seq, stix_id) in rows {
        up.execute(params![id_key(&stix_id), seq])?;
    }
    tx.execute_batch(OBJECTS_KEY_INDEX)
}
const POOL_MAX: usize = 8;

fn db(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            return StoreError::Exists(msg.clone().unwrap_or_else(|| "record".into()));
        }
    }
    StoreError::Db(e.to_string())
}

/// The writer thread's connection and what it keeps between writes.
struct Writer {
    conn: Connection,
    state: WriteState,
}

/// What the writer keeps between writes.
struct WriteState {
    /// The last `date_added` given (µs; every object gets a later one).
    last_added: i64,
    /// The rows of each id key (see [`IdIndex`]), shared with the readers.
    ids: SharedIdIndex,
    /// Rows the open transaction added to `ids` (indexed at once, so that readers whose
    /// snapshot has them find them; taken out again if it is rolled back).
    rows_added: Vec<(i64, i64)>,
    /// Rows the open transaction deleted: taken out of `ids` only once it committed
    /// (readers whose snapshot still has them must still find them).
    rows_deleted: Vec<(i64, i64)>,
    /// The audit log's last entry (seq, hash) as the open transaction leaves it; `None`:
    /// not known (read from the table when needed).
    audit_head: Option<(i64, String)>,
    /// Whether entries were appended since the signed head record was last written.
    audit_head_unsigned: bool,
}

impl WriteState {
    /// Forgets what a rolled-back transaction may have left: the audit head is read again,
    /// and the rows it indexed are taken out.
    fn rolled_back(&mut self, last_added: i64) {
        self.last_added = last_added;
        self.audit_head = None;
        self.audit_head_unsigned = false;
        self.rows_deleted.clear();
        if !self.rows_added.is_empty() {
            let mut ids = self.ids.write();
            for (key, seq) in self.rows_added.drain(..) {
                ids.remove(key, seq);
            }
        }
    }

    /// After the commit: the deleted rows leave the index.
    fn committed(&mut self) {
        self.rows_added.clear();
        if !self.rows_deleted.is_empty() {
            let mut ids = self.ids.write();
            for (key, seq) in self.rows_deleted.drain(..) {
                ids.remove(key, seq);
            }
        }
    }

    /// Indexes row `seq` under `key`.
    fn add_row(&mut self, key: i64, seq: i64) {
        self.ids.write().insert(key, seq);
        self.rows_added.push((key, seq));
    }

    /// Takes row `seq` out of the index once the transaction commits.
    fn delete_row(&mut self, key: i64, seq: i64) {
        self.rows_deleted.push((key, seq));
    }
}

/// A write queued for the writer thread.
trait QueuedWrite: Send {
    /// Runs within the open transaction; answers whether to keep its changes (`false`:
    /// the transaction is rolled back). A write that shares commits must be able to run
    /// again, in a transaction of its own, after the transaction of its group was rolled
    /// back.
    fn run(&mut self, tx: &Transaction<'_>, state: &mut WriteState) -> bool;
    /// Whether it may share one commit with the writes of this kind queued right after it
    /// (TAXII writes answered before their commit, [`CompleteWrite`]); otherwise it has a
    /// transaction alone.
    fn shares_commit(&self) -> bool {
        false
    }
    /// Tells the caller how it ended, once the transaction ended (`Ok`: committed; an
    /// error also when it never ran).
    fn finish(self: Box<Self>, transaction: StoreResult<()>);
}

/// A write: runs in a transaction, answers `Some` to keep its changes (commit) and
/// `None` to have them rolled back.
trait WriteFn<T>:
    FnOnce(&Transaction<'_>, &mut WriteState) -> StoreResult<Option<T>> + Send + 'static
{
}

impl<T, F> WriteFn<T> for F where
    F: FnOnce(&Transaction<'_>, &mut WriteState) -> StoreResult<Option<T>> + Send + 'static
{
}

/// A write waiting for the writer thread.
type WriteJob = Box<dyn QueuedWrite>;

/// The answer to a write handed to the writer thread (`queued`: whether it was).
async fn answer_of<T>(
    queued: StoreResult<()>,
    answer: tokio::sync::oneshot::Receiver<StoreResult<T>>,
) -> StoreResult<T> {
    queued?;
    answer
        .await
        .map_err(|_| StoreError::Db("the writer thread has stopped".into()))?
}

/// The write of [`IntelStore::add_objects_complete`]: it holds every object, the status
/// resource and the audit entry, so that it can run again, alone, if the transaction it
/// shared with other writes is rolled back.
struct CompleteWrite {
    collection: String,
    author_org: i64,
    objects: Vec<NewObject>,
    audit: PreparedEvent,
    status: NewStatus,
    outcome: Option<StoreResult<(Vec<AddOutcome>, String)>>,
    done: tokio::sync::oneshot::Sender<StoreResult<(Vec<AddOutcome>, String)>>,
}

impl QueuedWrite for CompleteWrite {
    fn run(&mut self, tx: &Transaction<'_>, state: &mut WriteState) -> bool {
        let outcome = collection_number(tx, &self.collection)
            .and_then(|c| insert_objects(tx, state, c, self.author_org, &self.objects))
            .and_then(|outcomes| {
                let ids = self.objects.iter().map(|o| o.info.id.as_str());
                let body = close_taxii_write(tx, state, &self.status, ids, &outcomes, &self.audit)?;
                Ok((outcomes, body))
            });
        let kept = outcome.is_ok();
        self.outcome = Some(outcome);
        kept
    }

    fn shares_commit(&self) -> bool {
        true
    }

    fn finish(self: Box<Self>, transaction: StoreResult<()>) {
        let answer = match (transaction, self.outcome) {
            (Ok(()), Some(outcome)) | (Err(_), Some(outcome @ Err(_))) => outcome,
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(StoreError::Db("the write never ran".into())),
        };
        let _ = self.done.send(answer);
    }
}

/// A [`QueuedWrite`] of a [`WriteFn`]: its caller gets its answer once the transaction
/// ended.
struct ClosureWrite<T, F> {
    f: Option<F>,
    outcome: Option<StoreResult<Option<T>>>,
    done: tokio::sync::oneshot::Sender<StoreResult<Option<T>>>,
}

impl<T: Send + 'static, F: WriteFn<T>> QueuedWrite for ClosureWrite<T, F> {
    fn run(&mut self, tx: &Transaction<'_>, state: &mut WriteState) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let outcome = f(tx, state);
        let keep = matches!(outcome, Ok(Some(_)));
        self.outcome = Some(outcome);
        keep
    }

    fn finish(self: Box<Self>, transaction: StoreResult<()>) {
        let answer = match (transaction, self.outcome) {
            // Kept and committed, or declined (its own answer either way).
            (Ok(()), Some(outcome)) | (Err(_), Some(outcome @ (Ok(None) | Err(_)))) => outcome,
            // Kept, but the commit failed; or it never ran.
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(StoreError::Db("the write never ran".into())),
        };
        let _ = self.done.send(answer);
    }
}

/// Most writes sharing one commit.
const MAX_GROUP: usize = 16;

struct Inner {
    path: PathBuf,
    /// The rows of each id key (the writer's, shared).
    ids: SharedIdIndex,
    /// The writer thread's queue; the thread ends when this is dropped.
    writes: Mutex<std::sync::mpsc::Sender<WriteJob>>,
    readers: Mutex<Vec<Connection>>,
}

/// Runs the writes on their own thread in the order they were queued: a thread that is
/// always there, so a request's write starts at once instead of waiting for a thread of
/// the blocking pool. A write that shares commits and the ones of its kind waiting behind
/// it run in one transaction (one commit for several TAXII requests when they come
/// faster than they commit); any other write has a transaction alone. After each commit
/// it wakes the checkpointer. Stops when the queue's sender is dropped.
fn spawn_writer(
    key: Arc<NodeKey>,
    mut writer: Writer,
    checkpoint: SyncSender<()>,
) -> std::io::Result<std::sync::mpsc::Sender<WriteJob>> {
    let (tx, rx) = std::sync::mpsc::channel::<WriteJob>();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            let mut next: Option<WriteJob> = None;
            loop {
                let job = match next.take() {
                    Some(job) => job,
                    None => match rx.recv() {
                        Ok(job) => job,
                        Err(_) => break,
                    },
                };
                let shares = job.shares_commit();
                let mut group = vec![job];
                while shares && group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(j) if j.shares_commit() => group.push(j),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                run_group(&mut writer, &key, group);
                let _ = checkpoint.try_send(());
            }
        })?;
    Ok(tx)
}

/// Runs writes in one immediate transaction, signs the audit head if entries were added,
/// commits, and tells each how it ended. If a write of several fails or declines, or the
/// commit fails, everything is rolled back and each write runs again in a transaction of
/// its own: the others are kept, and it answers its own outcome. (No savepoint per write:
/// one makes SQLite keep the original of every page the write changes, a fifth of a
/// 500-object TAXII write's cost, and failures are rare.)
fn run_group(w: &mut Writer, key: &NodeKey, mut group: Vec<Box<dyn QueuedWrite>>) {
    match run_transaction(w, key, &mut group) {
        Ok(()) => group.into_iter().for_each(|g| g.finish(Ok(()))),
        Err(failure) if group.len() == 1 => {
            // A write that declined answers its own outcome.
            let ended = failure.map_or(Ok(()), Err);
            group.into_iter().for_each(|g| g.finish(ended.clone()));
        }
        Err(_) => {
            for write in group {
                run_group(w, key, vec![write]);
            }
        }
    }
}

/// Runs `writes` in one transaction and commits it. On failure it is rolled back (with
/// what the writer state kept of it): `Err(None)` if a write declined, `Err(Some(e))` if
/// the transaction failed.
fn run_transaction(
    w: &mut Writer,
    key: &NodeKey,
    writes: &mut [Box<dyn QueuedWrite>],
) -> Result<(), Option<StoreError>> {
    let Writer { conn, state } = w;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| Some(db(e)))?;
    let start = state.last_added;
    for write in writes.iter_mut() {
        // A write that panics (a bug) is a write that failed: the writer thread, which every
        // write needs, goes on.
        let kept = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write.run(&tx, state)));
        if !matches!(kept, Ok(true)) {
            if kept.is_err() {
                tracing::error!("a store write panicked; it was rolled back");
            }
            // Dropping the transaction rolls it back.
            drop(tx);
            state.rolled_back(start);
            return Err(None);
        }
    }
    let committed = sign_audit_head(&tx, state, key).and_then(|()| tx.commit().map_err(db));
    match committed {
        Ok(()) => {
            state.committed();
            Ok(())
        }
        Err(e) => {
            state.rolled_back(start);
            Err(Some(e))
        }
    }
}

impl Inner {
    /// Hands `job` to the writer thread.
    fn queue(&self, job: WriteJob) -> StoreResult<()> {
        self.writes
            .lock()
            .map_err(|_| StoreError::Db("writer queue poisoned".into()))
            .and_then(|q| {
                q.send(job)
                    .map_err(|_| StoreError::Db("the writer thread has stopped".into()))
            })
    }

    /// A pooled reader connection, if one is free.
    fn pooled_reader(&self) -> Option<Connection> {
        self.readers.lock().ok().and_then(|mut p| p.pop())
    }

    /// Runs `f` on `conn`, then puts `conn` back in the pool (unless the pool is full).
    fn read_on<T>(&self, conn: Connection, f: impl FnOnce(&Connection) -> T) -> T {
        let out = f(&conn);
        if let Ok(mut p) = self.readers.lock() {
            if p.len() < POOL_MAX {
                p.push(conn);
            }
        }
        out
    }
}

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    // The page size only applies to a new database (it is fixed once the first page is
    // written): 16 KiB pages make a commit write a quarter as many WAL frames.
    c.execute_batch(
        "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON;",
    )?;
    Ok(c)
}

/// Opens a connection for queries: [`open_conn`] with the SQL functions of
/// [`add_functions`].
fn open_reader(path: &Path, ids: &SharedIdIndex) -> rusqlite::Result<Connection> {
    let c = open_conn(path)?;
    add_functions(&c, ids.clone())?;
    Ok(c)
}

/// Adds to `c` the SQL functions that read the id index, as JSON arrays of rows for
/// `json_each`: `other_rows(id_key, seq)`, the other rows indexed under the key, or NULL
/// when there are none (nearly every object has one version); `id_rows(ids)`, the rows
/// indexed under the keys of a JSON array of STIX ids. Being called while the statement
/// runs, they see every row its snapshot holds (rows are indexed before their commit). The
/// rows may include some the caller cannot see or that are not that object (see
/// [`IdIndex`]): queries join them back to `objects` and check the key and the id.
fn add_functions(c: &Connection, ids: SharedIdIndex) -> rusqlite::Result<()> {
    let index = ids.clone();
    c.create_scalar_function(
        "id_rows",
        1,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8,
        move |ctx| {
            let stix_ids: Vec<String> = serde_json::from_str(&ctx.get::<String>(0)?)
                .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
            let index = index.read();
            let rows: Vec<i64> = stix_ids
                .iter()
                .flat_map(|i| index.rows(id_key(i)))
                .copied()
                .collect();
            Ok(serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into()))
        },
    )?;
    c.create_scalar_function(
        "other_rows",
        2,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8,
        move |ctx| {
            let key: i64 = ctx.get(0)?;
            let seq: i64 = ctx.get(1)?;
            let index = ids.read();
            let rows = index.rows(key);
            if rows.iter().all(|&r| r == seq) {
                return Ok(None);
            }
            let others: Vec<String> = rows
                .iter()
                .filter(|&&r| r != seq)
                .map(i64::to_string)
                .collect();
            Ok(Some(format!("[{}]", others.join(","))))
        },
    )
}

/// WAL frames after which the writer checkpoints at commit by itself (125 MiB of 16 KiB
/// pages; SQLite's default is 1,000). Under a steady stream of writes the checkpointer's
/// passive checkpoints never catch up with the end of the log, so the log is only
/// restarted from the top after one of these; by then the checkpointer has copied most
/// frames, but this commit still waits for the database file to be synced (some 20 ms
/// here). At 1,000 frames that came every 25 TAXII writes of 500 objects and cost a fifth
/// of the throughput under load (`bench taxii --objects 50000`: 283–288k vs 224–243k
/// objects/s answered after commit); a longer log only costs disk space and a longer
/// recovery after a crash.
const WRITER_AUTOCHECKPOINT: u32 = 8000;
/// Size the WAL file is cut back to once it has been checkpointed, bytes: the log's full
/// size, so that it is rewritten in place rather than grown again.
const WAL_SIZE_LIMIT: u64 = 128 << 20;
/// Pause of the checkpointer between two checkpoints, so that a burst of commits is
/// copied into the database in one go.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(100);

/// Copies committed WAL frames into the database file on its own thread and connection,
/// so that no request waits for a checkpoint (and its fsync). Commits are durable in the
/// WAL already; this only keeps the log short. Stops when the store is dropped.
fn spawn_checkpointer(path: PathBuf) -> SyncSender<()> {
    let (tx, rx) = sync_channel::<()>(1);
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let mut conn = None;
            while rx.recv().is_ok() {
                std::thread::sleep(CHECKPOINT_PAUSE);
                while rx.try_recv().is_ok() {}
                if conn.is_none() {
                    conn = open_conn(&path).ok();
                }
                if let Some(c) = &conn {
                    if let Err(e) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            }
        });
    if let Err(e) = spawned {
        // Without the thread the writer's own auto-checkpoint still bounds the log.
        tracing::warn!(error = %e, "no checkpointer thread");
    }
    tx
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
        // Migrations rebuild tables: foreign keys are off meanwhile (a dropped parent
        // table would otherwise cascade into its children) and checked afterwards.
        conn.execute_batch("PRAGMA foreign_keys = OFF")
            .map_err(db)?;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(db)?;
            tx.execute_batch(m)
                .map_err(|e| StoreError::Db(format!("schema migration {}: {e}", i + 1)))?;
            if i + 1 == 3 {
                fill_id_keys(&tx).map_err(db)?;
            }
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
                .optional()
                .map_err(db)?;
            if let Some(table) = broken {
                return Err(StoreError::Db(format!(
                    "schema migration {} left dangling references in {table}",
                    i + 1
                )));
            }
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .map_err(db)?;
            tx.commit().map_err(db)?;
        }
        conn.execute_batch("PRAGMA foreign_keys = ON").map_err(db)?;
        let last_added: i64 = conn
            .query_row(
                "SELECT COALESCE(MAX(date_added), 0) FROM objects",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        // SQLite's default page cache (2 MiB) stays: a larger one only costs a fresh process
        // page faults, while index pages it drops come back from the OS's cache.
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT}; \
             PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"
        ))
        .map_err(db)?;
        let ids = SharedIdIndex::new(load_id_index(&conn)?);
        add_functions(&conn, ids.clone()).map_err(db)?;
        let writes = spawn_writer(
            key,
            Writer {
                state: WriteState {
                    last_added,
                    ids: ids.clone(),
                    rows_added: Vec::new(),
                    rows_deleted: Vec::new(),
                    audit_head: None,
                    audit_head_unsigned: false,
                },
                conn,
            },
            spawn_checkpointer(path.to_path_buf()),
        )
        .map_err(|e| StoreError::Db(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                ids,
                writes: Mutex::new(writes),
                readers: Mutex::new(Vec::new()),
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
            let conn = match inner.pooled_reader() {
                Some(c) => c,
                None => open_reader(&inner.path, &inner.ids).map_err(db)?,
            };
            inner.read_on(conn, f)
        })
        .await
        .map_err(|e| StoreError::Db(format!("task: {e}")))?
    }

    /// Runs `f` on a pooled reader connection on the calling thread: for the point look-ups
    /// every request starts with (credentials, collection), which read a few cached pages in
    /// microseconds, less than handing them to the blocking pool and back takes. Opening a
    /// connection is file I/O, so without a free pooled one `f` goes to the blocking pool.
    async fn read_now<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        match self.inner.pooled_reader() {
            Some(conn) => self.inner.read_on(conn, f),
            None => self.read(f).await,
        }
    }

    /// Runs `f` in a write transaction on the writer thread.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &mut WriteState) -> StoreResult<T> + Send + 'static,
    {
        self.queue_write(move |tx, state| f(tx, state).map(Some))
            .await
            .and_then(|v| v.ok_or_else(|| StoreError::Db("write abandoned".into())))
    }

    /// Queues `f` for the writer thread at once (it runs, and commits, even if the
    /// returned future is dropped), in a transaction of its own: committed when it answers
    /// `Some`, rolled back when it answers `None` or fails.
    fn queue_write<T, F>(&self, f: F) -> impl Future<Output = StoreResult<Option<T>>> + Send
    where
        T: Send + 'static,
        F: WriteFn<T>,
    {
        let (done, answer) = tokio::sync::oneshot::channel();
        let queued = self.inner.queue(Box::new(ClosureWrite {
            f: Some(f),
            outcome: None,
            done,
        }));
        answer_of(queued, answer)
    }
}

/// Ends a TAXII write whose objects `ids` were inserted with `outcomes`: stores its status
/// resource and its audit entry; answers the status JSON.
fn close_taxii_write<'a>(
    tx: &Transaction<'_>,
    state: &mut WriteState,
    status: &NewStatus,
    ids: impl ExactSizeIterator<Item = &'a str>,
    outcomes: &[AddOutcome],
    audit: &PreparedEvent,
) -> StoreResult<String> {
    let body = status.render(ids, outcomes);
    store_status(tx, &status.id, status.org_id, &body)?;
    append_audit(tx, state, audit)?;
    Ok(body)
}

/// How long the writer waits for the next part of a fed write by polling before it
/// sleeps: the request thread sends the parts every few hundred microseconds, and waking
/// a sleeping thread takes some fifty on a virtual machine.
const FEED_POLL: Duration = Duration::from_micros(100);

/// The next part of a fed write (`None` once the sender is gone), polled for
/// [`FEED_POLL`] before waiting.
fn next_fed(feed: &Receiver<Feed>) -> Option<Feed> {
    let start = std::time::Instant::now();
    loop {
        match feed.try_recv() {
            Ok(item) => return Some(item),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return None,
            Err(std::sync::mpsc::TryRecvError::Empty) if start.elapsed() < FEED_POLL => {
                std::hint::spin_loop();
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => return feed.recv().ok(),
        }
    }
}

/// The write of [`IntelStore::add_objects_fed`]: inserts the objects as they arrive on
/// `feed`; at [`Feed::End`] stores the status resource and the audit entry and asks for
/// the commit; if the sender goes away first, asks for the rollback.
fn fed_write(
    collection: String,
    author_org: i64,
    feed: Receiver<Feed>,
    status: NewStatus,
) -> impl WriteFn<(Vec<AddOutcome>, String)> {
    move |tx, state| {
        let collection = collection_number(tx, &collection)?;
        let mut ids: Vec<String> = Vec::new();
        let mut outcomes = Vec::new();
        while let Some(item) = next_fed(&feed) {
            match item {
                Feed::Objects(objects) => {
                    outcomes.extend(insert_objects(tx, state, collection, author_org, &objects)?);
                    ids.extend(objects.into_iter().map(|o| o.info.id));
                }
                Feed::End(audit) => {
                    let ids = ids.iter().map(String::as_str);
                    let body = close_taxii_write(tx, state, &status, ids, &outcomes, &audit)?;
                    return Ok(Some((outcomes, body)));
                }
            }
        }
        // The sender went away without `End`: roll back.
        Ok(None)
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

/// Appends an audit entry after the last one (known to the writer, or read once). The
/// signed head record is rewritten once per transaction, before its commit
/// ([`sign_audit_head`]), not once per entry: grouped writes share one signature.
fn append_audit(
    tx: &Transaction<'_>,
    state: &mut WriteState,
    ev: &PreparedEvent,
) -> StoreResult<()> {
    let (seq, prev) = match state.audit_head.take() {
        Some(head) => head,
        None => last_audit_entry(tx)?,
    };
    let seq = seq + 1;
    let time = now_timestamp();
    let hash = ev.hash(seq, &time, &prev);
    let e = &ev.event;
    tx.prepare_cached(
        "INSERT INTO audit (seq, time, actor, org, action, target, detail, prev_hash, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut s| {
        s.execute(params![
            seq,
            time,
            e.actor,
            e.org,
            e.action,
            e.target,
            ev.detail_canonical,
            prev,
            hash
        ])
    })
    .map_err(db)?;
    state.audit_head = Some((seq, hash));
    state.audit_head_unsigned = true;
    Ok(())
}

/// The last audit entry's (seq, hash), or (0, [`GENESIS`]) for an empty log.
fn last_audit_entry(c: &Connection) -> StoreResult<(i64, String)> {
    Ok(c.query_row(
        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(db)?
    .unwrap_or((0, GENESIS.to_string())))
}

/// Rewrites the signed audit head record if the transaction appended entries.
fn sign_audit_head(tx: &Transaction<'_>, state: &mut WriteState, key: &NodeKey) -> StoreResult<()> {
    if !state.audit_head_unsigned {
        return Ok(());
    }
    let (seq, hash) = match state.audit_head.clone() {
        Some(head) => head,
        None => last_audit_entry(tx)?,
    };
    let head = AuditHead { seq, hash };
    let head_json = serde_json::to_string(&head).unwrap_or_default();
    let sig = key.sign_bytes(head_json.as_bytes());
    let value = serde_json::json!({"head": head, "signature": sig}).to_string();
    // An upsert changes the row in place; a REPLACE would delete and reinsert it, writing
    // the key's index page too.
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('audit_head', ?) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .and_then(|mut s| s.execute(params![value]))
    .map_err(db)?;
    state.audit_head_unsigned = false;
    Ok(())
}

/// Inserts objects (skipping those already present: the same collection, id and version,
/// or for objects without a version the same content), giving each the next `date_added`
/// after `state.last_added`, and indexes them by id key.
///
/// Only the rows the id index holds under an object's key are looked at for duplicates
/// (by row id): a new object, nearly every one, costs no look-up. The index holds the rows
/// inserted earlier in the same transaction, so duplicates within one write are caught too.
fn insert_objects(
    tx: &Transaction<'_>,
    state: &mut WriteState,
    collection: CollectionNumber,
    author_org: i64,
    objects: &[NewObject],
) -> StoreResult<Vec<AddOutcome>> {
    let mut out = Vec::with_capacity(objects.len());
    let mut t = now_us().max(state.last_added + 1);
    let mut ins = tx
        .prepare_cached(
            "INSERT INTO objects (coll, stix_id, id_key, stix_type, spec_version, version, \
             version_us, date_added, tlp, author_org, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .map_err(db)?;
    let mut find_version = tx
        .prepare_cached(
            "SELECT version FROM objects WHERE seq = ? AND id_key = ? AND version_us = ? \
             AND coll = ? AND stix_id = ?",
        )
        .map_err(db)?;
    let mut find_body = tx
        .prepare_cached(
            "SELECT version FROM objects WHERE seq = ? AND id_key = ? AND coll = ? \
             AND stix_id = ? AND body = ?",
        )
        .map_err(db)?;
    let mut rec = tx
        .prepare_cached("INSERT OR IGNORE INTO object_recipients (seq, org_id) VALUES (?, ?)")
        .map_err(db)?;
    let mut recipient_org = tx
        .prepare_cached(
            "SELECT id FROM orgs WHERE identity_id = ?1 OR name = ?1 ORDER BY id LIMIT 1",
        )
        .map_err(db)?;
    'objects: for o in objects {
        let key = o.id_key;
        debug_assert_eq!(
            key,
            id_key(&o.info.id),
            "NewObject::id_key of {}",
            o.info.id
        );
        let stored = state.ids.rows(key);
        let date_added = t;
        let (version, version_us) = match (&o.info.version, o.info.version_us) {
            (Some(v), Some(us)) => {
                for &seq in &stored {
                    let dup: Option<String> = find_version
                        .query_row(params![seq, key, us, collection.0, o.info.id], |r| r.get(0))
                        .optional()
                        .map_err(db)?;
                    if let Some(version) = dup {
                        out.push(AddOutcome::Duplicate { seq, version });
                        continue 'objects;
                    }
                }
                (v.clone(), us)
            }
            _ => {
                // Objects without a version: identical content is the same object.
                for &seq in &stored {
                    let dup: Option<String> = find_body
                        .query_row(params![seq, key, collection.0, o.info.id, o.body], |r| {
                            r.get(0)
                        })
                        .optional()
                        .map_err(db)?;
                    if let Some(version) = dup {
                        out.push(AddOutcome::Duplicate { seq, version });
                        continue 'objects;
                    }
                }
                (format_timestamp_us(date_added), date_added)
            }
        };
        ins.execute(params![
            collection.0,
            o.info.id,
            key,
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
        let seq = tx.last_insert_rowid();
        for r in &o.recipients {
            rec.execute(params![seq, r]).map_err(db)?;
        }
        for r in &o.recipient_refs {
            let org: Option<i64> = recipient_org
                .query_row([r], |row| row.get(0))
                .optional()
                .map_err(db)?;
            if let Some(org) = org {
                rec.execute(params![seq, org]).map_err(db)?;
            }
        }
        state.add_row(key, seq);
        t += 1;
        out.push(AddOutcome::Added { seq, version });
    }
    state.last_added = t - 1;
    Ok(out)
}

/// A collection's number, by which its objects name it (`objects.coll`).
#[derive(Clone, Copy, Debug)]
struct CollectionNumber(i64);

/// The number of the collection with id `id`.
fn collection_number(tx: &Transaction<'_>, id: &str) -> StoreResult<CollectionNumber> {
    let num: Option<Option<i64>> = tx
        .prepare_cached("SELECT num FROM collections WHERE id = ?")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(db)?;
    match num {
        Some(Some(n)) => Ok(CollectionNumber(n)),
        Some(None) => Err(StoreError::Db(format!(
            "collection {id} has no number (added outside chainwatch?)"
        ))),
        None => Err(StoreError::Db(format!("no collection {id}"))),
    }
}

/// Deletes the objects at rows `seqs` (with their recipients and report links); they leave
/// the id index once the transaction commits. Answers how many there were.
fn delete_rows(tx: &Transaction<'_>, state: &mut WriteState, seqs: &[i64]) -> StoreResult<usize> {
    let mut n = 0;
    for s in seqs {
        tx.execute("DELETE FROM object_recipients WHERE seq = ?", [s])
            .map_err(db)?;
        tx.execute("DELETE FROM report_objects WHERE seq = ?", [s])
            .map_err(db)?;
        let key: Option<i64> = tx
            .query_row(
                "DELETE FROM objects WHERE seq = ? RETURNING id_key",
                [s],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        if let Some(key) = key {
            state.delete_row(key, *s);
            n += 1;
        }
    }
    Ok(n)
}

/// The id index of every stored object, read from `objects_added` (a scan of some 60
/// bytes per object, not of the objects), sized for the highest row id.
fn load_id_index(c: &Connection) -> StoreResult<IdIndex> {
    let rows: i64 = c
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM objects", [], |r| {
            r.get(0)
        })
        .map_err(db)?;
    let mut index = IdIndex::with_capacity(usize::try_from(rows).unwrap_or(0));
    let mut st = c
        .prepare("SELECT id_key, seq FROM objects INDEXED BY objects_added")
        .map_err(db)?;
    let mut pairs = st.query([]).map_err(db)?;
    while let Some(r) = pairs.next().map_err(db)? {
        index.insert(r.get(0).map_err(db)?, r.get(1).map_err(db)?);
    }
    Ok(index)
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

/// The SQL (and its arguments) of [`IntelStore::query_objects`].
fn object_query_sql(q: &ObjectQuery) -> (String, Vec<Sql>) {
    let f = &q.filter;
    let mut args: Vec<Sql> = vec![Sql::Text(q.collection.clone())];
    // With ids, the rows the id index holds under them (`id_rows`) are read by row id: the
    // unary `+` keeps the planner from walking the whole collection in `objects_added`
    // instead.
    let mut sql = format!(
        "SELECT {OBJECT_COLUMNS}{} FROM objects o \
         WHERE {}o.coll = (SELECT num FROM collections WHERE id = ?)",
        if q.without_body { "" } else { ", o.body" },
        if f.ids.is_empty() { "" } else { "+" }
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
        sql.push_str(&format!(
            " AND o.seq IN (SELECT value FROM json_each(id_rows(?))) AND o.stix_id IN ({})",
            placeholders(f.ids.len())
        ));
        args.push(Sql::Text(serde_json::to_string(&f.ids).unwrap_or_default()));
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
    sql.push_str(&visible(
        "o",
        "seq",
        "object_recipients",
        "seq",
        reader,
        &mut args,
    ));
    let v = &f.versions;
    if !q.all_versions && !v.all {
        let mut parts = Vec::new();
        for (want, op) in [(v.last, ">"), (v.first, "<")] {
            if want {
                // The object's other rows come from the id index (`other_rows`: NULL,
                // and so no row, for an object with one version), each read by row id
                // (`CROSS JOIN` keeps that order: the planner would rather walk the
                // collection).
                let mut p = format!(
                    "NOT EXISTS (SELECT 1 FROM json_each(other_rows(o.id_key, o.seq)) k \
                     CROSS JOIN objects o2 ON o2.seq = k.value WHERE o2.id_key = o.id_key \
                     AND o2.version_us {op} o.version_us AND o2.coll = o.coll \
                     AND o2.stix_id = o.stix_id AND "
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
        // No version asked for (the TAXII layer asks for `last` then): no restriction.
        if !parts.is_empty() {
            sql.push_str(&format!(" AND ({})", parts.join(" OR ")));
        }
    }
    sql.push_str(" ORDER BY o.date_added, o.seq LIMIT ?");
    args.push(Sql::Integer(f.limit as i64 + 1));
    (sql, args)
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

/// The start of every report query: the columns [`row_report`] reads.
const SELECT_REPORTS: &str = "SELECT r.id, r.collection_id, r.title, r.tlp, r.author_org, \
     og.name, r.actor, r.created, r.summary FROM reports r JOIN orgs og ON og.id = r.author_org";

/// Runs a report query (`SELECT_REPORTS …`) and loads each report's recipients.
fn query_reports(c: &Connection, sql: &str, args: Vec<Sql>) -> StoreResult<Vec<ReportRecord>> {
    let mut st = c.prepare_cached(sql).map_err(db)?;
    let mut out: Vec<ReportRecord> = st
        .query_map(params_from_iter(args), row_report)
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    for r in &mut out {
        load_report_recipients(c, r)?;
    }
    Ok(out)
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
        self.write(move |tx, _| {
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
        self.write(move |tx, _| {
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
        self.write(move |tx, _| {
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
        self.write(move |tx, _| {
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
        self.write(move |tx, _| {
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
        self.write(move |tx, _| {
            Ok(tx
                .execute("UPDATE tokens SET revoked = 1 WHERE id = ?", [id])
                .map_err(db)?
                > 0)
        })
        .await
    }

    async fn principal_by_token(&self, sha256_hex: &str) -> StoreResult<Option<Principal>> {
        let h = sha256_hex.to_string();
        self.read_now(move |c| {
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
        self.read_now(move |c| load_principal(c, user_id)).await
    }

    async fn create_collection(&self, new: NewCollection) -> StoreResult<Collection> {
        self.write(move |tx, _| {
            tx.execute(
                "INSERT INTO collections (id, title, description, community_id, public_read, created, num) \
                 VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(num), 0) + 1 FROM collections))",
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
        self.read_now(move |c| Ok(load_collections(c, Some(&id))?.pop()))
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
        self.write(move |tx, state| {
            let number = collection_number(tx, &collection)?;
            let out = insert_objects(tx, state, number, author_org, &objects)?;
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
            append_audit(tx, state, &audit.into())?;
            Ok(out)
        })
        .await
    }

    fn add_objects_fed(
        self: Arc<Self>,
        collection: String,
        author_org: i64,
        feed: Receiver<Feed>,
        status: NewStatus,
    ) -> StoreFuture<Option<(Vec<AddOutcome>, String)>> {
        Box::pin(self.queue_write(fed_write(collection, author_org, feed, status)))
    }

    fn add_objects_complete(
        self: Arc<Self>,
        collection: String,
        author_org: i64,
        objects: Vec<NewObject>,
        audit: PreparedEvent,
        status: NewStatus,
    ) -> StoreFuture<(Vec<AddOutcome>, String)> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let queued = self.inner.queue(Box::new(CompleteWrite {
            collection,
            author_org,
            objects,
            audit,
            status,
            outcome: None,
            done,
        }));
        Box::pin(answer_of(queued, answer))
    }

    fn id_index_size(&self) -> Option<(usize, usize)> {
        let index = self.inner.ids.read();
        Some((index.len(), index.heap_bytes()))
    }

    async fn query_objects(&self, q: ObjectQuery) -> StoreResult<Vec<StoredObject>> {
        self.read(move |c| {
            let f = &q.filter;
            if !f.spec_version_matches() {
                return Ok(Vec::new());
            }
            let (sql, args) = object_query_sql(&q);
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
        self.write(move |tx, state| {
            let n = delete_rows(tx, state, &seqs)?;
            append_audit(tx, state, &audit.into())?;
            Ok(n)
        })
        .await
    }

    async fn put_status(&self, status: StatusRecord) -> StoreResult<()> {
        self.write(move |tx, _| {
            store_status(tx, &status.id, status.org_id, &status.body.to_string())
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

    async fn theft_reports_unfiltered(&self) -> StoreResult<Vec<ReportRecord>> {
        self.read(move |c| {
            let sql = format!(
                "{SELECT_REPORTS} WHERE json_extract(r.summary, '$.kind') = 'theft' \
                 ORDER BY r.created, r.id"
            );
            query_reports(c, &sql, Vec::new())
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
            let mut sql = format!("{SELECT_REPORTS} WHERE ");
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
            query_reports(c, &sql, args)
        })
        .await
    }

    async fn report(&self, id: &str, reader: Option<Reader>) -> StoreResult<Option<ReportRecord>> {
        let id = id.to_string();
        self.read(move |c| {
            let mut args = vec![Sql::Text(id)];
            let sql = format!(
                "{SELECT_REPORTS} WHERE r.id = ? AND {}",
                visible(
                    "r",
                    "id",
                    "report_recipients",
                    "report_id",
                    reader.as_ref(),
                    &mut args
                )
            );
            Ok(query_reports(c, &sql, args)?.pop())
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
        self.write(move |tx, state| append_audit(tx, state, &event.into()))
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
        self.write(move |tx, _| {
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
        self.write(move |tx, _| {
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
        self.write(move |tx, _| {
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
        self.write(move |tx, _| {
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
        self.write(move |tx, _| {
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
        self.write(move |tx, _| {
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
        self.write(move |tx, _| {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens (creating) the store at `path` with the collections the tests write to, "c"
    /// and "d" (objects name their collection by its number).
    fn open_with_collections(path: &Path) -> SqliteStore {
        let store = SqliteStore::open(path, key()).unwrap();
        open_conn(path)
            .unwrap()
            .execute_batch(
                "INSERT OR IGNORE INTO collections (id, title, created, num) \
                 VALUES ('c', 'C', 't', (SELECT COALESCE(MAX(num), 0) + 1 FROM collections)); \
                 INSERT OR IGNORE INTO collections (id, title, created, num) \
                 VALUES ('d', 'D', 't', (SELECT COALESCE(MAX(num), 0) + 1 FROM collections));",
            )
            .unwrap();
        store
    }
    use chainwatch_intel::taxii::{Filter, VersionMatch};

    fn key() -> Arc<NodeKey> {
        Arc::new(NodeKey::from_seed(&[7; 32]))
    }

    fn plan(c: &Connection, q: &ObjectQuery) -> String {
        let (sql, args) = object_query_sql(q);
        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows: Vec<String> = st
            .query_map(params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.join("\n")
    }

    #[test]
    fn object_queries_use_the_right_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intel.sqlite");
        drop(open_with_collections(&path));
        let c = open_reader(&path, &SharedIdIndex::default()).unwrap();
        let reader = Some(Reader {
            org: 1,
            client_of: None,
            communities: vec![1],
        });
        let mut q = ObjectQuery {
            collection: "c".into(),
            reader,
            filter: Filter {
                limit: 100,
                versions: VersionMatch {
                    last: true,
                    ..Default::default()
                },
                ..Default::default()
            },
            after: None,
            all_versions: false,
            without_body: false,
        };
        // Paging a collection walks `objects_added` in order; the latest-version check
        // reads the object's other rows (from the id index) by row id.
        let p = plan(&c, &q);
        assert!(p.contains("USING INDEX objects_added (coll=?"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "no sort: {p}");
        assert!(
            p.contains("SEARCH o2 USING INTEGER PRIMARY KEY (rowid=?)"),
            "{p}"
        );
        // With ids, the rows the id index gave are read by row id, not by walking the
        // collection.
        q.filter.ids = vec!["indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".into()];
        let p = plan(&c, &q);
        assert!(
            p.contains("SEARCH o USING INTEGER PRIMARY KEY (rowid=?)"),
            "{p}"
        );
        assert!(!p.contains("objects_added"), "{p}");
        // The id index is read back from an index, not from the table.
        let p: String = c
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id_key, seq FROM objects INDEXED BY objects_added",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(p.contains("COVERING INDEX objects_added"), "{p}");
        // No index on the key in the database (each insert would write a random page).
        let indexes: Vec<String> = c
            .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'objects'")
            .unwrap()
            .query_map([], |r| r.get::<_, Option<String>>(0))
            .unwrap()
            .filter_map(|r| r.unwrap())
            .collect();
        assert!(
            indexes.iter().all(|i| !i.contains("(id_key")),
            "{indexes:?}"
        );
    }

    #[test]
    fn schema_2_databases_migrate_with_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intel.sqlite");
        let ids = [
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "identity--1c2f3a42-3a5e-4c4e-9d89-0a0b3c4d5e6f",
        ];
        {
            // A database as the previous release left it, with 4 KiB pages.
            let c = Connection::open(&path).unwrap();
            c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
                .unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.execute_batch(MIGRATIONS[1]).unwrap();
            c.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO orgs (id, name, kind, identity_id, created) VALUES (1, 'a', 'fiu', 'identity--a', 't');
                 INSERT INTO orgs (id, name, kind, identity_id, created) VALUES (2, 'b', 'fiu', 'identity--b', 't');
                 INSERT INTO collections (id, title, created) VALUES ('c', 'C', 't');
                 INSERT INTO reports (id, collection_id, title, tlp, author_org, created, summary)
                     VALUES ('r', 'c', 'R', 4, 1, 't', '{}');",
            )
            .unwrap();
            let mut ins = c
                .prepare(
                    "INSERT INTO objects (seq, collection_id, stix_id, stix_type, spec_version, version, \
                     version_us, date_added, tlp, author_org, body) VALUES (?, 'c', ?, 't', '2.1', ?, ?, ?, 4, 1, ?)",
                )
                .unwrap();
            for (seq, id, us) in [(1, ids[0], 10), (2, ids[0], 20), (3, ids[1], 10)] {
                ins.execute(params![
                    seq,
                    id,
                    format!("v{us}"),
                    us,
                    seq * 100,
                    format!("{{\"n\":{seq}}}")
                ])
                .unwrap();
            }
            c.execute_batch(
                "INSERT INTO object_recipients (seq, org_id) VALUES (2, 2);
                 INSERT INTO report_objects (report_id, seq) VALUES ('r', 1), ('r', 2), ('r', 3);",
            )
            .unwrap();
            assert_eq!(
                c.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
                    .unwrap(),
                4096
            );
        }
        let store = open_with_collections(&path);
        drop(store);
        let c = open_conn(&path).unwrap();
        let version: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        let rows: Vec<(i64, String, i64, String)> = c
            .prepare("SELECT seq, stix_id, id_key, body FROM objects ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 3);
        for (seq, id, key, body) in &rows {
            assert_eq!(*key, id_key(id));
            assert_eq!(body, &format!("{{\"n\":{seq}}}"));
        }
        let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count("SELECT COUNT(*) FROM object_recipients"), 1);
        assert_eq!(count("SELECT COUNT(*) FROM report_objects"), 3);
        assert!(c
            .prepare("PRAGMA foreign_key_check")
            .unwrap()
            .query([])
            .unwrap()
            .next()
            .unwrap()
            .is_none());
        let indexes: String = c
            .query_row(
                "SELECT group_concat(name) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'objects'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, "objects_added", "{indexes}");
        assert!(
            !indexes.contains("autoindex"),
            "the text unique index is gone: {indexes}"
        );
        // The cascade still holds after the rebuild.
        c.execute("DELETE FROM objects WHERE seq = 2", []).unwrap();
        assert_eq!(count("SELECT COUNT(*) FROM object_recipients"), 0);
        assert_eq!(count("SELECT COUNT(*) FROM report_objects"), 2);
    }

    /// The audit event of a test's write.
    fn audit() -> AuditEvent {
        AuditEvent {
            actor: "t".into(),
            org: None,
            action: "add".into(),
            target: "c".into(),
            detail: serde_json::Value::Null,
        }
    }

    /// An anonymous query of collection `c` for the object `id` (without bodies).
    fn by_id(id: &str, versions: VersionMatch) -> ObjectQuery {
        ObjectQuery {
            collection: "c".into(),
            reader: None,
            filter: Filter {
                ids: vec![id.to_string()],
                limit: 10,
                versions,
                ..Default::default()
            },
            after: None,
            all_versions: false,
            without_body: true,
        }
    }

    /// The versions (µs) of the object `id` that `versions` matches, in the order read.
    async fn versions_of(store: &SqliteStore, id: &str, versions: VersionMatch) -> Vec<i64> {
        let found = store.query_objects(by_id(id, versions)).await.unwrap();
        found.iter().map(|o| o.version_us).collect()
    }

    fn new_object(id: &str, version_us: i64) -> NewObject {
        let version = format_timestamp_us(version_us);
        NewObject {
            id_key: id_key(id),
            info: chainwatch_intel::stix::ObjectInfo {
                id: id.into(),
                ty: "indicator".into(),
                spec_version: "2.1".into(),
                version: Some(version.clone()),
                version_us: Some(version_us),
            },
            tlp: Tlp::Clear,
            recipients: Vec::new(),
            recipient_refs: Vec::new(),
            body: format!(r#"{{"id":"{id}","modified":"{version}"}}"#),
        }
    }

    #[tokio::test]
    async fn a_write_that_fails_in_a_group_leaves_the_others_and_its_index_rows_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intel.sqlite");
        let store = Arc::new(open_with_collections(&path));
        let id = |n: usize| format!("indicator--00000000-0000-4000-8000-00000000000{n}");
        // The database refuses the object of write 2 (as a full disk would refuse all).
        open_conn(&path)
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER refuse_2 BEFORE INSERT ON objects \
                 WHEN NEW.stix_id LIKE '%-000000000002' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
            )
            .unwrap();
        let audit = |n: usize| {
            PreparedEvent::from(AuditEvent {
                actor: "t".into(),
                org: None,
                action: "taxii.add".into(),
                target: "c".into(),
                detail: serde_json::json!({ "n": n }),
            })
        };
        let status = |n: usize| NewStatus {
            id: format!("status-{n}"),
            org_id: 1,
            request_timestamp: "2025-01-01T00:00:00.000Z".into(),
        };
        // A write whose feed stays open keeps the writer busy while four complete ones
        // queue up behind it (so they run as one group).
        let (busy_feed, busy_fed) = std::sync::mpsc::channel();
        let busy = store
            .clone()
            .add_objects_fed("c".into(), 1, busy_fed, status(0));
        let queued: Vec<_> = (1..=4)
            .map(|n| {
                store.clone().add_objects_complete(
                    "c".into(),
                    1,
                    vec![new_object(&id(n), 10)],
                    audit(n),
                    status(n),
                )
            })
            .collect();
        busy_feed
            .send(Feed::Objects(vec![new_object(&id(0), 10)]))
            .unwrap();
        busy_feed.send(Feed::End(audit(0))).unwrap();
        assert!(busy.await.unwrap().is_some());
        let mut outcomes = Vec::new();
        for q in queued {
            outcomes.push(q.await.map(|(o, _)| o.len()).map_err(|e| e.to_string()));
        }
        assert_eq!(outcomes[0], Ok(1));
        assert!(
            matches!(&outcomes[1], Err(e) if e.contains("refused by the test")),
            "{outcomes:?}"
        );
        assert_eq!(outcomes[2..], [Ok(1), Ok(1)]);
        for (n, stored) in [(0, true), (1, true), (2, false), (3, true), (4, true)] {
            assert_eq!(
                store
                    .status(&format!("status-{n}"))
                    .await
                    .unwrap()
                    .is_some(),
                stored,
                "status {n}"
            );
        }
        let c = open_conn(&path).unwrap();
        let rows: Vec<(i64, String)> = c
            .prepare("SELECT seq, stix_id FROM objects ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows.iter().map(|(_, i)| i.clone()).collect::<Vec<_>>(),
            [0, 1, 3, 4].map(id)
        );
        // The id index holds the kept rows, and nothing of the failed write or of the
        // rolled-back group (whose row ids the writes run again reused).
        for (n, (seq, _)) in [0, 1, 3, 4].into_iter().zip(&rows) {
            assert_eq!(store.inner.ids.rows(id_key(&id(n))), [*seq], "{n}");
        }
        assert!(store.inner.ids.rows(id_key(&id(2))).is_empty());
        assert_eq!(store.inner.ids.read().len(), 4);
        // A write alone that declines leaves nothing in the index either.
        let (feed, fed) = std::sync::mpsc::channel();
        feed.send(Feed::Objects(vec![new_object(&id(5), 10)]))
            .unwrap();
        drop(feed);
        let alone = store.clone().add_objects_fed("c".into(), 1, fed, status(5));
        assert!(alone.await.unwrap().is_none());
        assert!(store.inner.ids.rows(id_key(&id(5))).is_empty());
        assert_eq!(store.inner.ids.read().len(), 4);
        // Four audit entries, chained without a gap where the failed one was, and the
        // signed head names the last.
        let (log, head) = store.audit_log().await.unwrap();
        assert_eq!(log.len(), 4);
        let (head, signature) = head.expect("a signed head");
        assert_eq!(
            chainwatch_intel::audit::verify_chain(&log, Some(&head)),
            Ok(4)
        );
        let head_json = serde_json::to_string(&head).unwrap();
        assert!(key().verify_bytes(head_json.as_bytes(), &signature));
    }

    #[tokio::test]
    async fn duplicates_are_found_within_a_slice_across_slices_and_per_collection() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_collections(&dir.path().join("intel.sqlite"));
        let (a, b) = (
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "indicator--1c2f3a42-3a5e-4c4e-9d89-0a0b3c4d5e6f",
        );
        let added = |out: &[AddOutcome]| -> Vec<bool> {
            out.iter()
                .map(|o| matches!(o, AddOutcome::Added { .. }))
                .collect()
        };
        // In one slice: a twice (same version), a at another version, b.
        let first = vec![
            new_object(a, 10),
            new_object(a, 10),
            new_object(a, 20),
            new_object(b, 10),
        ];
        let out = store
            .add_objects("c", 1, first, None, audit())
            .await
            .unwrap();
        assert_eq!(added(&out), [true, false, true, true]);
        assert_eq!(
            out[1].seq(),
            out[0].seq(),
            "the duplicate names the stored row"
        );
        // A later slice: the stored versions are found, a new one is added.
        let second = vec![new_object(b, 10), new_object(a, 20), new_object(a, 30)];
        let out = store
            .add_objects("c", 1, second, None, audit())
            .await
            .unwrap();
        assert_eq!(added(&out), [false, false, true]);
        // Another collection holds its own copies.
        let out = store
            .add_objects("d", 1, vec![new_object(a, 10)], None, audit())
            .await
            .unwrap();
        assert_eq!(added(&out), [true]);
        let c = open_conn(&dir.path().join("intel.sqlite")).unwrap();
        let rows: i64 = c
            .query_row("SELECT COUNT(*) FROM objects", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 5);
        // Reopened, the store reads its id index back.
        drop(store);
        let store = open_with_collections(&dir.path().join("intel.sqlite"));
        let out = store
            .add_objects(
                "c",
                1,
                vec![new_object(a, 30), new_object(b, 40)],
                None,
                audit(),
            )
            .await
            .unwrap();
        assert_eq!(added(&out), [false, true]);
    }

    #[tokio::test]
    async fn objects_are_found_by_id_and_version_after_reopening_and_deleting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intel.sqlite");
        let ids: Vec<String> = (0..12_000)
            .map(|i| format!("indicator--00000000-0000-4000-8000-{i:012}"))
            .collect();
        let store = open_with_collections(&path);
        for chunk in ids.chunks(3_000) {
            let objects = chunk.iter().map(|id| new_object(id, 1)).collect();
            let out = store
                .add_objects("c", 1, objects, None, audit())
                .await
                .unwrap();
            assert!(out.iter().all(|o| matches!(o, AddOutcome::Added { .. })));
        }
        // A second version of every 1000th object.
        let newer: Vec<NewObject> = ids
            .iter()
            .step_by(1000)
            .map(|id| new_object(id, 2))
            .collect();
        let out = store
            .add_objects("c", 1, newer, None, audit())
            .await
            .unwrap();
        assert!(out.iter().all(|o| matches!(o, AddOutcome::Added { .. })));
        drop(store);
        // Reopened, the store reads its id index back.
        let store = open_with_collections(&path);
        assert_eq!(store.inner.ids.read().len(), 12_012);
        let again: Vec<NewObject> = ids
            .iter()
            .step_by(997)
            .map(|id| new_object(id, 1))
            .collect();
        let n = again.len();
        let out = store
            .add_objects("c", 1, again, None, audit())
            .await
            .unwrap();
        assert_eq!(out.len(), n);
        assert!(out
            .iter()
            .all(|o| matches!(o, AddOutcome::Duplicate { .. })));
        let last = VersionMatch {
            last: true,
            ..Default::default()
        };
        let first = VersionMatch {
            first: true,
            ..Default::default()
        };
        let all = VersionMatch {
            all: true,
            ..Default::default()
        };
        let s = &store;
        assert_eq!(versions_of(s, &ids[3000], last.clone()).await, [2]);
        assert_eq!(versions_of(s, &ids[3000], first).await, [1]);
        assert_eq!(versions_of(s, &ids[3000], all.clone()).await, [1, 2]);
        assert_eq!(versions_of(s, &ids[3001], last.clone()).await, [1]);
        // A page of the collection shows each object once, at its latest version.
        let page = store
            .query_objects(ObjectQuery {
                collection: "c".into(),
                reader: None,
                filter: Filter {
                    limit: 20_000,
                    versions: last.clone(),
                    ..Default::default()
                },
                after: None,
                all_versions: false,
                without_body: true,
            })
            .await
            .unwrap();
        assert_eq!(page.len(), 12_000);
        assert_eq!(page.iter().filter(|o| o.version_us == 2).count(), 12);
        // Deleting the newer version leaves the older one the latest, and takes the row out
        // of the index.
        let newest = store
            .query_objects(by_id(&ids[3000], last.clone()))
            .await
            .unwrap();
        assert_eq!(
            store
                .delete_objects(vec![newest[0].seq], audit())
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.inner.ids.rows(id_key(&ids[3000])).len(), 1);
        assert_eq!(versions_of(s, &ids[3000], last).await, [1]);
        assert_eq!(versions_of(s, &ids[3000], all).await, [1]);
        let unknown = "indicator--00000000-0000-4000-8000-999999999999";
        assert!(versions_of(s, unknown, VersionMatch::default())
            .await
            .is_empty());
    }

    #[tokio::test]
    async fn deleted_rows_leave_the_id_index_only_once_the_delete_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_collections(&dir.path().join("intel.sqlite"));
        let id = "indicator--00000000-0000-4000-8000-000000000042";
        let objects = vec![new_object(id, 1), new_object(id, 2)];
        let out = store
            .add_objects("c", 1, objects, None, audit())
            .await
            .unwrap();
        let seqs: Vec<i64> = out.iter().map(AddOutcome::seq).collect();
        let ids = store.inner.ids.clone();
        let rows = move || {
            let mut r = ids.rows(id_key(id));
            r.sort_unstable();
            r
        };
        assert_eq!(rows(), seqs);
        // A delete rolled back, then one committed: the rows stay indexed until the commit.
        let newest = seqs[1];
        for (commit, left, latest) in [(false, seqs.clone(), 2), (true, vec![seqs[0]], 1)] {
            let during = rows.clone();
            let deleted = store
                .write(move |tx, state| {
                    assert_eq!(delete_rows(tx, state, &[newest])?, 1);
                    assert_eq!(during().len(), 2, "still indexed before the commit");
                    match commit {
                        true => Ok(()),
                        false => Err(StoreError::Db("rolled back by the test".into())),
                    }
                })
                .await;
            assert_eq!(deleted.is_ok(), commit);
            assert_eq!(rows(), left);
            let last = VersionMatch {
                last: true,
                ..Default::default()
            };
            assert_eq!(versions_of(&store, id, last).await, [latest]);
        }
    }

    #[tokio::test]
    async fn a_write_that_panics_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_collections(&dir.path().join("intel.sqlite"));
        let panicked = store
            .write(|tx, _| -> StoreResult<()> {
                tx.execute("INSERT INTO meta (key, value) VALUES ('t', 'x')", [])
                    .map_err(db)?;
                panic!("a bug in a write");
            })
            .await;
        assert!(panicked.is_err());
        // Rolled back, and the writer still writes.
        assert_eq!(store.meta("t").await.unwrap(), None);
        store.set_meta("t", "y").await.unwrap();
        assert_eq!(store.meta("t").await.unwrap().as_deref(), Some("y"));
    }

    #[tokio::test]
    async fn statuses_expire_after_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intel.sqlite");
        let store = open_with_collections(&path);
        let put = |id: &str| StatusRecord {
            id: id.into(),
            org_id: 1,
            body: serde_json::json!({"id": id}),
        };
        for id in ["old", "recent"] {
            store.put_status(put(id)).await.unwrap();
        }
        // "old" was stored just past the retention, "recent" just inside it.
        let now = now_us();
        let retention = STATUS_RETENTION.as_micros() as i64;
        let c = open_conn(&path).unwrap();
        c.execute(
            "UPDATE statuses SET created = ? WHERE id = 'old'",
            [now - retention - 1_000_000],
        )
        .unwrap();
        c.execute(
            "UPDATE statuses SET created = ? WHERE id = 'recent'",
            [now - retention + 60_000_000],
        )
        .unwrap();
        assert!(
            store.status("old").await.unwrap().is_some(),
            "only a new status purges"
        );
        store.put_status(put("new")).await.unwrap();
        assert!(store.status("old").await.unwrap().is_none());
        for id in ["recent", "new"] {
            let s = store.status(id).await.unwrap().expect(id);
            assert_eq!(s.body["id"], id);
        }
    }

    /// Migration 6 names each object's collection by number: an object whose collection
    /// does not exist stops it with a message that says so, and the store is left as it
    /// was (version 5).
    #[test]
    fn objects_without_a_collection_stop_migration_6_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intel.sqlite");
        {
            let c = Connection::open(&path).unwrap();
            for m in &MIGRATIONS[..5] {
                c.execute_batch(m).unwrap();
            }
            c.execute_batch(
                "PRAGMA user_version = 5;
                 INSERT INTO collections (id, title, created) VALUES ('c', 'C', 't');
                 INSERT INTO objects (seq, collection_id, stix_id, id_key, stix_type, spec_version, \
                     version, version_us, date_added, tlp, author_org, body) \
                 VALUES (1, 'gone', 'indicator--x', 7, 'indicator', '2.1', 'v', 1, 1, 0, 1, '{}');",
            )
            .unwrap();
        }
        let Err(e) = SqliteStore::open(&path, key()) else {
            panic!("migration 6 ran over an object without a collection");
        };
        let e = e.to_string();
        assert!(
            e.contains("schema migration 6") && e.contains("collection that does not exist"),
            "{e}"
        );
        let c = Connection::open(&path).unwrap();
        let version: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 5);
        let kept: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM objects WHERE collection_id = 'gone'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, 1);
    }

    #[tokio::test]
    async fn migrated_rows_are_found_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intel.sqlite");
        let id = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.execute_batch(MIGRATIONS[1]).unwrap();
            c.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO orgs (id, name, kind, identity_id, created) VALUES (1, 'a', 'fiu', 'identity--a', 't');
                 INSERT INTO collections (id, title, created) VALUES ('c', 'C', 't');
                 INSERT INTO collections (id, title, created) VALUES ('d', 'D', 't');",
            )
            .unwrap();
            // The same object in two collections, a later version in the second.
            for (seq, us, coll) in [(1, 10, "c"), (2, 20, "c"), (3, 30, "d")] {
                c.execute(
                    "INSERT INTO objects (seq, collection_id, stix_id, stix_type, spec_version, version, \
                     version_us, date_added, tlp, author_org, body) VALUES (?, ?, ?, 'indicator', '2.1', ?, ?, ?, 0, 1, '{}')",
                    params![seq, coll, id, format!("v{us}"), us, seq],
                )
                .unwrap();
            }
        }
        let store = open_with_collections(&path);
        // Each row keeps its collection: in `d`, only the row of `d`.
        let in_d = ObjectQuery {
            collection: "d".into(),
            ..by_id(
                id,
                VersionMatch {
                    all: true,
                    ..Default::default()
                },
            )
        };
        let found = store.query_objects(in_d).await.unwrap();
        assert_eq!(found.iter().map(|o| o.seq).collect::<Vec<_>>(), [3]);
        let q = |versions| by_id(id, versions);
        let latest = store
            .query_objects(q(VersionMatch {
                last: true,
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(latest.iter().map(|o| o.seq).collect::<Vec<_>>(), [2]);
        let all = store
            .query_objects(q(VersionMatch {
                all: true,
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
    }
}
