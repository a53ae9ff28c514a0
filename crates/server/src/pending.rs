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

use std::collections::HashMap;
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
    /// When the write failed (`None`: still queued).
    failed: Option<Instant>,
}

/// The statuses of queued writes, and the slots of the queue.
pub struct PendingWrites {
    statuses: Mutex<HashMap<String, Entry>>,
    slots: Arc<Semaphore>,
    max: usize,
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
            statuses: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(max)),
            max,
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

    /// Waits until no write is queued (for a clean shutdown).
    pub async fn drained(&self) {
        let _all = self
            .slots
            .acquire_many(self.max as u32)
            .await
            .expect("the semaphore is never closed");
    }

    /// Records the pending status `id` of organisation `org_id`.
    pub fn insert(&self, id: String, org_id: i64, body: String) {
        if let Ok(mut m) = self.statuses.lock() {
            m.insert(
                id,
                Entry {
                    org_id,
                    body,
                    failed: None,
                },
            );
        }
    }

    /// The status `id` if it is held here: its organisation and JSON.
    pub fn get(&self, id: &str) -> Option<(i64, String)> {
        let m = self.statuses.lock().ok()?;
        m.get(id).map(|e| (e.org_id, e.body.clone()))
    }

    /// The write of `id` was committed: the store has its status now.
    pub fn finish(&self, id: &str) {
        if let Ok(mut m) = self.statuses.lock() {
            m.remove(id);
        }
        self.settled.notify_waiters();
    }

    /// Whether the write of `id` is still queued.
    pub fn is_queued(&self, id: &str) -> bool {
        self.statuses
            .lock()
            .is_ok_and(|m| m.get(id).is_some_and(|e| e.failed.is_none()))
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
            if !self.is_queued(id) {
                return;
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return;
            }
        }
    }

    /// The write of `id` failed: its status becomes `body`, kept for
    /// [`FAILED_RETENTION`]. Expired failed statuses are dropped.
    pub fn fail(&self, id: &str, body: String) {
        let Ok(mut m) = self.statuses.lock() else {
            return;
        };
        if let Some(e) = m.get_mut(id) {
            e.body = body;
            e.failed = Some(Instant::now());
        }
        self.settled.notify_waiters();
        m.retain(|_, e| e.failed.is_none_or(|at| at.elapsed() < FAILED_RETENTION));
        let failed = m.values().filter(|e| e.failed.is_some()).count();
        if failed > MAX_FAILED {
            let mut by_age: Vec<(Instant, String)> = m
                .iter()
                .filter_map(|(k, e)| e.failed.map(|at| (at, k.clone())))
                .collect();
            by_age.sort();
            for (_, k) in by_age.into_iter().take(failed - MAX_FAILED) {
                m.remove(&k);
            }
        }
    }

    /// Statuses held (queued writes and kept failures).
    pub fn len(&self) -> usize {
        self.statuses.lock().map_or(0, |m| m.len())
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    #[tokio::test]
    async fn a_waiter_wakes_when_the_write_settles_or_its_time_is_up() {
        let p = Arc::new(PendingWrites::new(2));
        p.insert("a".into(), 1, "pending a".into());
        // Time up: back while still queued.
        p.settled("a", Duration::from_millis(20)).await;
        assert!(p.is_queued("a"));
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
