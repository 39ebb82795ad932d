//! A bounded set of connections that makes room for a newcomer by evicting its oldest idle
//! member, instead of refusing the newcomer.
//!
//! Why evict rather than refuse: the connections this bounds (ones still being sniffed, admin
//! connections) are cheap for an attacker to open and hold silently, while a real client sends
//! its first bytes (or its request) within a round trip of connecting. Refusing newcomers once
//! the set is full lets a few thousand silent sockets lock every real client out for a whole
//! timeout; evicting the oldest member means a flood only ever costs its own oldest sockets,
//! and a fresh connection always gets its turn. A member can mark itself busy (an admin
//! request being answered); busy members are never evicted, and only when every member is
//! busy is a newcomer refused.
//!
//! Admission and release take a mutex around a `BTreeMap` keyed by admission order: once per
//! connection, never per frame, so the lock is not on the data path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// A set of at most `capacity` members, each described by a `T` (the peer address, for logs).
#[derive(Debug)]
pub struct EvictingBudget<T> {
    capacity: usize,
    inner: Mutex<Members<T>>,
}

#[derive(Debug)]
struct Members<T> {
    next_id: u64,
    by_age: BTreeMap<u64, Member<T>>,
}

#[derive(Debug)]
struct Member<T> {
    evict: CancellationToken,
    busy: Arc<AtomicUsize>,
    value: T,
}

/// What [`EvictingBudget::admit`] decided.
#[derive(Debug)]
pub enum Admission<T> {
    /// The newcomer is in; `evicted` is the member that made room for it, if one had to.
    Admitted {
        /// The newcomer's membership.
        ticket: Ticket<T>,
        /// The description of the member evicted for it (that member's
        /// [`Ticket::evicted`] has fired).
        evicted: Option<T>,
    },
    /// Every member is busy; the newcomer is refused.
    Full,
}

/// Membership in an [`EvictingBudget`]; dropping it leaves the set.
#[derive(Debug)]
pub struct Ticket<T> {
    budget: Arc<EvictingBudget<T>>,
    id: u64,
    evict: CancellationToken,
    busy: Arc<AtomicUsize>,
}

/// Marks a member busy (not evictable) while it lives.
#[derive(Debug)]
pub struct BusyGuard {
    busy: Arc<AtomicUsize>,
}

/// A cloneable handle that marks its member busy, for a task other than the ticket's owner
/// (a per-request service function).
#[derive(Clone, Debug)]
pub struct BusyMarker {
    busy: Arc<AtomicUsize>,
}

impl<T> EvictingBudget<T> {
    /// A set of at most `capacity` members (at least one).
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(EvictingBudget {
            capacity: capacity.max(1),
            inner: Mutex::new(Members { next_id: 0, by_age: BTreeMap::new() }),
        })
    }

    /// The most members at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Members now.
    pub fn len(&self) -> usize {
        self.members().by_age.len()
    }

    /// True when there is no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Admits a newcomer described by `value`, evicting the oldest member that is not busy when
    /// the set is full. An evicted member leaves the set at once (its place is the newcomer's)
    /// and its [`Ticket::evicted`] fires, so that its owner closes it.
    pub fn admit(self: &Arc<Self>, value: T) -> Admission<T> {
        let mut members = self.members();
        let mut evicted = None;
        if members.by_age.len() >= self.capacity {
            let oldest_idle = members
                .by_age
                .iter()
                .find(|(_, m)| m.busy.load(Ordering::Acquire) == 0)
                .map(|(id, _)| *id);
            let Some(member) = oldest_idle.and_then(|id| members.by_age.remove(&id)) else {
                return Admission::Full;
            };
            member.evict.cancel();
            evicted = Some(member.value);
        }
        let id = members.next_id;
        members.next_id += 1;
        let evict = CancellationToken::new();
        let busy = Arc::new(AtomicUsize::new(0));
        let member = Member { evict: evict.clone(), busy: Arc::clone(&busy), value };
        members.by_age.insert(id, member);
        drop(members);
        Admission::Admitted {
            ticket: Ticket { budget: Arc::clone(self), id, evict, busy },
            evicted,
        }
    }

    fn members(&self) -> MutexGuard<'_, Members<T>> {
        // A poisoned lock only means a holder panicked between two map operations, each of
        // which leaves the map consistent.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<T> Ticket<T> {
    /// Completes when this member has been evicted to make room for a newer one; its owner
    /// should then close the connection.
    pub fn evicted(&self) -> WaitForCancellationFuture<'_> {
        self.evict.cancelled()
    }

    /// True once this member has been evicted.
    pub fn is_evicted(&self) -> bool {
        self.evict.is_cancelled()
    }

    /// True while a [`BusyGuard`] of this member lives.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }

    /// A handle that can mark this member busy from elsewhere.
    pub fn busy_marker(&self) -> BusyMarker {
        BusyMarker { busy: Arc::clone(&self.busy) }
    }
}

impl<T> Drop for Ticket<T> {
    fn drop(&mut self) {
        // Ids are never reused, so an evicted member (already removed) removes nothing here.
        self.budget.members().by_age.remove(&self.id);
    }
}

impl BusyMarker {
    /// Marks the member busy until the guard is dropped.
    pub fn enter(&self) -> BusyGuard {
        self.busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard { busy: Arc::clone(&self.busy) }
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted<T: std::fmt::Debug>(admission: Admission<T>) -> (Ticket<T>, Option<T>) {
        match admission {
            Admission::Admitted { ticket, evicted } => (ticket, evicted),
            Admission::Full => panic!("refused"),
        }
    }

    #[test]
    fn admits_up_to_capacity_without_evicting() {
        let budget = EvictingBudget::new(3);
        let tickets: Vec<_> = (0..3).map(|i| admitted(budget.admit(i))).collect();
        assert!(tickets.iter().all(|(t, evicted)| evicted.is_none() && !t.is_evicted()));
        assert_eq!(budget.len(), 3);
    }

    #[test]
    fn a_newcomer_evicts_the_oldest_member_when_full() {
        let budget = EvictingBudget::new(2);
        let (first, _) = admitted(budget.admit("first"));
        let (second, _) = admitted(budget.admit("second"));
        let (third, evicted) = admitted(budget.admit("third"));
        assert_eq!(evicted, Some("first"));
        assert!(first.is_evicted());
        assert!(!second.is_evicted() && !third.is_evicted());
        assert_eq!(budget.len(), 2, "the evicted member's place went to the newcomer");
        // Dropping the evicted ticket later frees nothing more.
        drop(first);
        assert_eq!(budget.len(), 2);
        let (_fourth, evicted) = admitted(budget.admit("fourth"));
        assert_eq!(evicted, Some("second"));
    }

    #[test]
    fn leaving_frees_a_place() {
        let budget = EvictingBudget::new(1);
        let (only, _) = admitted(budget.admit(1));
        drop(only);
        assert!(budget.is_empty());
        let (_next, evicted) = admitted(budget.admit(2));
        assert_eq!(evicted, None);
    }

    #[test]
    fn busy_members_are_skipped_and_all_busy_refuses() {
        let budget = EvictingBudget::new(2);
        let (old, _) = admitted(budget.admit("old"));
        let (young, _) = admitted(budget.admit("young"));
        let old_busy = old.busy_marker().enter();
        assert!(old.is_busy());
        let (_newer, evicted) = admitted(budget.admit("newer"));
        assert_eq!(evicted, Some("young"), "the oldest idle member, not the oldest");
        assert!(young.is_evicted() && !old.is_evicted());
        let newer_busy = _newer.busy_marker().enter();
        assert!(matches!(budget.admit("refused"), Admission::Full));
        drop((old_busy, newer_busy));
        let (_last, evicted) = admitted(budget.admit("last"));
        assert_eq!(evicted, Some("old"));
    }

    #[tokio::test]
    async fn evicted_future_completes_on_eviction() {
        let budget = EvictingBudget::new(1);
        let (first, _) = admitted(budget.admit(()));
        let waiter = tokio::spawn(async move { first.evicted().await });
        let _second = admitted(budget.admit(()));
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("eviction wakes the member")
            .expect("the waiter does not panic");
    }

    #[test]
    fn zero_capacity_means_one() {
        let budget: Arc<EvictingBudget<()>> = EvictingBudget::new(0);
        assert_eq!(budget.capacity(), 1);
    }
}
