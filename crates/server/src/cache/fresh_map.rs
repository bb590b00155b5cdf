//! A map whose entries count for at most [`FRESH_FOR`] and that a writer can invalidate
//! without racing a reader that is loading the old value: a reader takes a [`Ticket`]
//! before it reads the store, and its insert is dropped if the key was invalidated since.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long a cached answer may be served without being re-read: the bound on how late a
/// change that reached the store by a way this process did not see (another replica's
/// write that logged no audit event) shows.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Invalidation counters, one per shard of keys: a ticket only fails for a change to a
/// key in its own shard, so a steady stream of unrelated writes does not keep a hot
/// key out of the cache.
const SHARDS: usize = 64;

pub struct FreshMap<K, V> {
    entries: RwLock<HashMap<K, (V, Instant)>>,
    epochs: [AtomicU64; SHARDS],
    hasher: RandomState,
    max_entries: usize,
}

/// Taken before loading a value from the store; see [`FreshMap::insert`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    shard: usize,
    epoch: u64,
}

/// A cached value and its age.
pub struct Hit<V> {
    pub value: V,
    pub age: Duration,
}

impl<K: Hash + Eq + Clone, V: Clone> FreshMap<K, V> {
    pub fn new(max_entries: usize) -> Self {
        FreshMap {
            entries: RwLock::new(HashMap::new()),
            epochs: std::array::from_fn(|_| AtomicU64::new(0)),
            hasher: RandomState::new(),
            max_entries,
        }
    }

    fn shard(&self, key: &K) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    /// The value of `key` if it was loaded less than `fresh_for` ago.
    pub fn get(&self, key: &K, fresh_for: Duration) -> Option<V> {
        self.get_any_age(key)
            .filter(|hit| hit.age < fresh_for)
            .map(|hit| hit.value)
    }

    /// The value of `key` however old, with its age.
    pub fn get_any_age(&self, key: &K) -> Option<Hit<V>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (value, at) = entries.get(key)?;
        Some(Hit {
            value: value.clone(),
            age: at.elapsed(),
        })
    }

    pub fn ticket(&self, key: &K) -> Ticket {
        let shard = self.shard(key);
        Ticket {
            shard,
            epoch: self.epochs[shard].load(Ordering::Acquire),
        }
    }

    /// Keeps `value`, loaded after `ticket` was taken, unless `key`'s shard was
    /// invalidated since (the value may predate that change). Returns whether it was kept.
    pub fn insert(&self, key: K, value: V, ticket: Ticket) -> bool {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.epochs[ticket.shard].load(Ordering::Acquire) != ticket.epoch {
            return false;
        }
        if entries.len() >= self.max_entries && !entries.contains_key(&key) {
            entries.retain(|_, (_, at)| at.elapsed() < FRESH_FOR);
            if entries.len() >= self.max_entries {
                return false;
            }
        }
        entries.insert(key, (value, Instant::now()));
        true
    }

    /// Forgets `key` and fails every ticket of its shard taken before now.
    pub fn invalidate(&self, key: &K) {
        let shard = self.shard(key);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.epochs[shard].fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    /// Forgets every key and fails every ticket taken before now.
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        for epoch in &self.epochs {
            epoch.fetch_add(1, Ordering::AcqRel);
        }
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalidation_during_a_load_drops_the_loaded_value() {
        let map = FreshMap::<u32, &str>::new(10);
        let ticket = map.ticket(&1);
        map.invalidate(&1);
        assert!(!map.insert(1, "old", ticket));
        assert_eq!(map.get(&1, FRESH_FOR), None);
        let ticket = map.ticket(&1);
        assert!(map.insert(1, "new", ticket));
        assert_eq!(map.get(&1, FRESH_FOR), Some("new"));
        map.clear();
        assert_eq!(map.get(&1, FRESH_FOR), None);
    }

    #[test]
    fn an_entry_older_than_asked_is_not_returned() {
        let map = FreshMap::<u32, u32>::new(10);
        let ticket = map.ticket(&1);
        map.insert(1, 5, ticket);
        assert_eq!(map.get(&1, Duration::ZERO), None);
        assert_eq!(map.get_any_age(&1).map(|h| h.value), Some(5));
    }
}
