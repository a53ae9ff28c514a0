//! TAXII POSTs answered before their objects are committed (`Prefer: respond-async`,
//! RFC 7240): their status resources, kept in memory while the store's writer has the
//! objects queued, and a bound on how many such writes may wait at once.
//!
//! A client that asks for it gets `202` with a status `pending` as soon as every object
//! passed validation (a refused object still fails the whole request with `422`, nothing
//! queued); the objects are committed in the order the requests came, and the status then
//! reads `complete` from the store (the same resource a synchronous POST answers with).
//! The client sends its next envelope meanwhile: validation of one request overlaps the
//! commit of the one before. A write that fails leaves a status with every object counted
//! as a failure, kept here for [`FAILED_RETENTION`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Writes that may be queued at once; a further asynchronous POST waits for a slot.
pub const MAX_QUEUED_WRITES: usize = 8;
/// How long the status of a failed asynchronous write stays readable.
pub const FAILED_RETENTION: Duration = Duration::from_secs(3600);
/// Failed statuses kept at most (the oldest go first).
const MAX_FAILED: usize = 10_000;

struct Entry {
    org_id: i64,
    body: String,
    /// Whether the write failed (`false`: still queued).
    failed: bool,
}

/// The statuses held, and the failed ones in the order they failed (oldest first).
#[derive(Default)]
struct Held {
    entries: HashMap<String, Entry>,
    failed: VecDeque<(Instant, String)>,
}

impl Held {
    /// Drops the failed statuses past `retention`, and the oldest beyond [`MAX_FAILED`].
    fn prune(&mut self, retention: Duration) {
        while let Some((at, id)) = self.failed.front() {
            if at.elapsed() < retention && self.failed.len() <= MAX_FAILED {
                break;
            }
            self.entries.remove(id);
            self.failed.pop_front();
        }
    }
}

/// The statuses of queued writes, and the slots of the queue.
pub struct PendingWrites {
    held: Mutex<Held>,
    slots: Arc<Semaphore>,
    max: usize,
    /// How long a failed status stays ([`FAILED_RETENTION`]).
    retention: Duration,
    /// Woken whenever a write finishes or fails.
    settled: Notify,
}

impl Default for PendingWrites {
    fn default() -> Self {
        PendingWrites::new(MAX_QUEUED_WRITES)
    }
}

impl PendingWrites {
    /// A registry allowing `max` queued writes (at least one).
    pub fn new(max: usize) -> PendingWrites {
        let max = max.max(1);
        PendingWrites {
            held: Mutex::new(Held::default()),
            slots: Arc::new(Semaphore::new(max)),
            max,
            retention: FAILED_RETENTION,
            settled: Notify::new(),
        }
    }

    /// Waits for a free slot; the write holds it until it has finished.
    pub async fn slot(&self) -> OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Whether a write is queued (holds a slot).
    pub fn queued(&self) -> bool {
        self.slots.available_permits() < self.max
    }

    /// Waits until no write is queued (for a clean shutdown).
    pub async fn drained(&self) {
        let _all = self
            .slots
            .acquire_many(self.max as u32)
            .await
            .expect("the semaphore is never closed");
    }

    /// Runs `f` on the held statuses, expired failures dropped first.
    fn with_held<T>(&self, f: impl FnOnce(&mut Held) -> T) -> Option<T> {
        let mut held = self.held.lock().ok()?;
        held.prune(self.retention);
        Some(f(&mut held))
    }

    /// Records the pending status `id` of organisation `org_id`.
    pub fn insert(&self, id: String, org_id: i64, body: String) {
        self.with_held(|h| {
            h.entries.insert(
                id,
                Entry {
                    org_id,
                    body,
                    failed: false,
                },
            )
        });
    }

    /// The status `id` if it is held here: its organisation and JSON.
    pub fn get(&self, id: &str) -> Option<(i64, String)> {
        self.with_held(|h| h.entries.get(id).map(|e| (e.org_id, e.body.clone())))
            .flatten()
    }

    /// The organisation of the write `id` if it is still queued.
    pub fn queued_for(&self, id: &str) -> Option<i64> {
        self.with_held(|h| h.entries.get(id).filter(|e| !e.failed).map(|e| e.org_id))
            .flatten()
    }

    /// The write of `id` was committed: the store has its status now.
    pub fn finish(&self, id: &str) {
        self.with_held(|h| h.entries.remove(id));
        self.settled.notify_waiters();
    }

    /// Waits until the write of `id` is no longer queued (committed or failed), or
    /// `timeout` passed: for `Prefer: wait` on a status (RFC 7240), instead of polling.
    pub async fn settled(&self, id: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let woken = self.settled.notified();
            tokio::pin!(woken);
            // Registered before the check, so a write settling in between still wakes it.
            woken.as_mut().enable();
            if self.queued_for(id).is_none() {
                return;
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return;
            }
        }
    }

    /// The write of `id` failed: its status becomes `body`, kept for
    /// [`FAILED_RETENTION`] (at most [`MAX_FAILED`] of them, the oldest go first).
    pub fn fail(&self, id: &str, body: String) {
        self.with_held(|h| {
            if let Some(e) = h.entries.get_mut(id) {
                e.body = body;
                e.failed = true;
                h.failed.push_back((Instant::now(), id.to_string()));
            }
        });
        self.settled.notify_waiters();
    }

    /// Statuses held (queued writes and kept failures).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.with_held(|h| h.entries.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_held_until_its_write_finishes_and_a_failure_is_kept() {
        let p = PendingWrites::new(2);
        p.insert("a".into(), 1, "pending a".into());
        p.insert("b".into(), 2, "pending b".into());
        assert_eq!(p.get("a"), Some((1, "pending a".into())));
        p.finish("a");
        assert_eq!(p.get("a"), None);
        p.fail("b", "failed b".into());
        assert_eq!(p.get("b"), Some((2, "failed b".into())));
        // A failure for an id never queued records nothing.
        p.fail("c", "failed c".into());
        assert_eq!(p.get("c"), None);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn a_failed_status_is_dropped_after_the_retention() {
        let mut p = PendingWrites::new(2);
        p.retention = Duration::from_millis(30);
        p.insert("a".into(), 1, "pending a".into());
        p.fail("a", "failed a".into());
        assert_eq!(p.get("a"), Some((1, "failed a".into())));
        assert_eq!(p.queued_for("a"), None, "a failed write is not queued");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(p.get("a"), None);
        assert_eq!(p.len(), 0);
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_the_write_settles_or_its_time_is_up() {
        let p = Arc::new(PendingWrites::new(2));
        p.insert("a".into(), 1, "pending a".into());
        // Time up: back while still queued.
        p.settled("a", Duration::from_millis(20)).await;
        assert_eq!(p.queued_for("a"), Some(1));
        let waiter = tokio::spawn({
            let p = p.clone();
            async move { p.settled("a", Duration::from_secs(30)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        p.finish("a");
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken by the commit")
            .unwrap();
        // Not queued (unknown or done): no wait at all.
        tokio::time::timeout(
            Duration::from_millis(5),
            p.settled("zz", Duration::from_secs(30)),
        )
        .await
        .expect("no wait");
    }

    #[tokio::test]
    async fn slots_bound_the_queued_writes() {
        let p = Arc::new(PendingWrites::new(2));
        let a = p.slot().await;
        let _b = p.slot().await;
        // A third waits until one is given back.
        let third = tokio::time::timeout(Duration::from_millis(50), p.slot()).await;
        assert!(
            third.is_err(),
            "a third slot was given while two were taken"
        );
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(5), p.slot()).await;
        assert!(c.is_ok());
        // Drained only once every slot is back.
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.drained().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        drop(c);
        drop(_b);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("drained")
            .unwrap();
    }
}
