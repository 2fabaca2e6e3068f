//! The HTTP port's open connections in the order they were accepted, so that at the cap the
//! oldest idle one makes room for the newest.
//!
//! Refusing new connections at the cap (leaving them in the kernel's accept queue) let a crowd
//! that connects and sends nothing, or half a request, lock probes out: each probe queued
//! behind the crowd until header timeouts freed slots, or was dropped with the queue full.
//! Closing the oldest instead means a probe, always the newest, is read at once; only a client
//! that has sat longer than every newer one is cut off, and a request being answered is the
//! last thing taken.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{watch, Notify};

/// Every open connection, keyed by acceptance order (a counter, so the smallest is the oldest).
pub(super) struct OpenConnections {
    by_age: watch::Sender<BTreeMap<u64, Arc<Slot>>>,
    next: AtomicU64,
}

/// What the accept loop knows of one connection.
#[derive(Default)]
pub(super) struct Slot {
    /// Requests being answered on it right now.
    busy: AtomicUsize,
    evicted: Notify,
}

/// A connection's place in [`OpenConnections`]; dropping it (the connection ended) frees it.
pub(super) struct Registered {
    id: u64,
    slot: Arc<Slot>,
    set: Arc<OpenConnections>,
}

/// Marks a connection busy while a request on it is answered.
pub(super) struct Busy(Arc<Slot>);

impl OpenConnections {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(OpenConnections {
            by_age: watch::Sender::new(BTreeMap::new()),
            next: AtomicU64::new(0),
        })
    }

    pub(super) fn len(&self) -> usize {
        self.by_age.borrow().len()
    }

    pub(super) fn register(self: &Arc<Self>) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        self.by_age.send_modify(|m| {
            m.insert(id, slot.clone());
        });
        Registered {
            id,
            slot,
            set: self.clone(),
        }
    }

    /// Tells the oldest connection that answers nothing at the moment to close (the oldest of
    /// all if every one is answering). False when none is open.
    pub(super) fn evict_oldest(&self) -> bool {
        let mut victim = None;
        self.by_age.send_if_modified(|m| {
            let id = m
                .iter()
                .find(|(_, s)| s.busy.load(Ordering::Acquire) == 0)
                .or_else(|| m.iter().next())
                .map(|(id, _)| *id);
            victim = id.and_then(|id| m.remove(&id));
            victim.is_some()
        });
        match victim {
            Some(slot) => {
                // A stored permit: the connection's task sees it even if not yet waiting.
                slot.evicted.notify_one();
                true
            }
            None => false,
        }
    }

    /// Resolves once every registered connection has ended.
    pub(super) async fn all_closed(&self) {
        let mut rx = self.by_age.subscribe();
        let _ = rx.wait_for(|m| m.is_empty()).await;
    }
}

impl Registered {
    /// The slot, for the connection's service to mark requests with (see [`Slot::busy`]).
    pub(super) fn slot(&self) -> Arc<Slot> {
        self.slot.clone()
    }

    /// Resolves when the accept loop wants this connection closed to make room.
    pub(super) async fn evicted(&self) {
        self.slot.evicted.notified().await;
    }
}

impl Slot {
    pub(super) fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let id = self.id;
        self.set
            .by_age
            .send_if_modified(|m| m.remove(&id).is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_oldest_idle_connection_goes_first() {
        let open = OpenConnections::new();
        let oldest = open.register();
        let middle = open.register();
        let newest = open.register();
        let _answering = oldest.slot().busy();
        assert!(open.evict_oldest());
        assert_eq!(open.len(), 2);
        // The middle one was told; the busy oldest and the newest were not.
        let told = |r: &Registered| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(20), r.evicted())
                    .await
                    .is_ok()
            })
        };
        assert!(told(&middle));
        assert!(!told(&oldest));
        assert!(!told(&newest));
        drop(middle);
        assert_eq!(open.len(), 2);
    }

    #[test]
    fn when_all_are_busy_the_oldest_goes() {
        let open = OpenConnections::new();
        let oldest = open.register();
        let newest = open.register();
        let _a = oldest.slot().busy();
        let _b = newest.slot().busy();
        assert!(open.evict_oldest());
        drop(newest);
        assert_eq!(open.len(), 0);
        drop(oldest);
        assert!(!open.evict_oldest());
    }

    #[tokio::test]
    async fn all_closed_waits_for_the_last_connection() {
        let open = OpenConnections::new();
        let r = open.register();
        let waiting = tokio::spawn({
            let open = open.clone();
            async move { open.all_closed().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(r);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
    }
}
