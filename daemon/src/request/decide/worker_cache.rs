//! One worker thread's decision cache: an open-addressing table whose every
//! entry is one cache line.
//!
//! Why not a general-purpose cache: a hit should cost one memory access. Once
//! the table outgrows the CPU's first caches (ten thousand users do), a cache
//! with a separate index, entries larger than a line and keys on the heap
//! pays three or four dependent misses per lookup; under load that was the
//! largest single cost of deciding. Here an entry holds its whole key (user
//! keys up to 24 bytes inline), its expiry and its value in 64 aligned bytes,
//! and a lookup reads the table's control bytes (small enough to stay cached)
//! and that one line. The table stays dense, so it spans as few lines and
//! pages as the users it holds need.
//!
//! Bounded without bookkeeping per hit: when the table is full, an insert
//! first makes room by removing one entry, found by a clock hand that walks
//! the buckets: the first expired entry within a few buckets, else the first
//! entry it passed (bucket order is hash order, so that is a random one).
//! Each insert does a small, bounded amount of work; no pass over the whole
//! table ever runs on the request path. A removed entry costs one
//! evaluation when its user returns.
//!
//! The snapshot generation and specs version are not stored per entry: each
//! (generation, specs version) pair the worker meets gets a small epoch
//! number, and entries carry that. The two most recent pairs keep theirs, so
//! requests still finishing on the previous snapshot during a reload do not
//! invalidate the new one's entries.
//!
//! What it saves, as measured (BENCHMARKS.md, "2026-11-25, second session —
//! eef7bf0 … 2fec315", criterion table and profiles): a hit costs 55.0 ns
//! against 1.75 µs for the Statsig evaluation it replaces
//! (`decision/gate_cached_hit` against `decision/gate_uncached`); this
//! table against the quick_cache it replaced, 62.5 → 55.0 ns in criterion
//! and `Decider::decide` 321 → 283 ns in the server. One cache per worker
//! rather than one shared: 100 → 58 ns (BENCHMARKS.md, "2026-11-25
//! (evening) — 8d9448b", table of changes). Its instructions per request
//! have not been counted on their own.
//!
//! The reference is the engine asked every time (a [`Decider`] of capacity
//! 0); `decide::tests::the_cached_decider_answers_what_the_engine_answers_every_time`
//! checks that both give the same decisions, across snapshot generations
//! and with evictions. The tests below check the table against a plain map.
//!
//! [`Decider`]: super::Decider

use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use compact_str::CompactString;
use hashbrown::HashTable;

/// What an entry is found by, besides its epoch.
pub struct Lookup<'a> {
    pub route: u32,
    /// Hash of the user's other attributes (IP, mapped headers).
    pub attributes: u64,
    pub user_key: &'a str,
}

/// One entry, one cache line.
#[repr(C, align(64))]
struct Slot<V> {
    hash: u64,
    epoch: u32,
    route: u32,
    attributes: u64,
    /// Nanoseconds after the cache's origin.
    expires_ns: u64,
    value: V,
    user_key: CompactString,
}

impl<V> Slot<V> {
    fn holds(&self, epoch: u32, key: &Lookup<'_>) -> bool {
        self.epoch == epoch
            && self.route == key.route
            && self.attributes == key.attributes
            && self.user_key == key.user_key
    }
}

/// Buckets the eviction hand looks through for an expired entry before it
/// settles for a live one.
const EVICTION_SCAN: usize = 16;

/// The (generation, specs version) pair an epoch stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
struct EpochOf {
    generation: u64,
    specs_version: u64,
}

pub struct WorkerCache<V> {
    table: HashTable<Slot<V>>,
    capacity: usize,
    /// Next bucket the eviction hand looks at.
    hand: usize,
    hasher: foldhash::fast::RandomState,
    origin: Instant,
    /// The two most recent pairs and their epochs, newest first.
    recent: [(EpochOf, u32); 2],
    next_epoch: u32,
}

impl<V: Clone> WorkerCache<V> {
    /// A cache of at most `capacity` entries (at least one), 64 bytes each,
    /// allocated as they arrive.
    pub fn new(capacity: usize) -> WorkerCache<V> {
        let unused = EpochOf {
            generation: u64::MAX,
            specs_version: u64::MAX,
        };
        WorkerCache {
            table: HashTable::new(),
            capacity: capacity.max(1),
            hand: 0,
            hasher: Default::default(),
            origin: Instant::now(),
            recent: [(unused, 0), (unused, 0)],
            next_epoch: 1,
        }
    }

    /// The cached value for `key`, unless it is missing or expired at `now`.
    pub fn get(
        &mut self,
        generation: u64,
        specs_version: u64,
        key: &Lookup<'_>,
        now: Instant,
    ) -> Option<V> {
        let epoch = self.epoch_for(generation, specs_version);
        let hash = self.hash(epoch, key);
        let now_ns = self.nanos(now);
        self.table
            .find(hash, |slot| slot.holds(epoch, key))
            .filter(|slot| now_ns < slot.expires_ns)
            .map(|slot| slot.value.clone())
    }

    /// Caches `value` for `key` until `now + ttl`.
    pub fn insert(
        &mut self,
        generation: u64,
        specs_version: u64,
        key: &Lookup<'_>,
        value: V,
        now: Instant,
        ttl: Duration,
    ) {
        let epoch = self.epoch_for(generation, specs_version);
        let hash = self.hash(epoch, key);
        let now_ns = self.nanos(now);
        let expires_ns = now_ns.saturating_add(ttl.as_nanos().try_into().unwrap_or(u64::MAX));
        if let Some(slot) = self.table.find_mut(hash, |slot| slot.holds(epoch, key)) {
            slot.expires_ns = expires_ns;
            slot.value = value;
            return;
        }
        if self.table.len() >= self.capacity {
            self.make_room(now_ns);
        }
        let slot = Slot {
            hash,
            epoch,
            route: key.route,
            attributes: key.attributes,
            expires_ns,
            value,
            user_key: CompactString::from(key.user_key),
        };
        self.table.insert_unique(hash, slot, |slot| slot.hash);
    }

    /// Entries held, expired ones included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Removes one entry: the first expired one the hand finds within
    /// [`EVICTION_SCAN`] buckets, else the first entry it passed.
    fn make_room(&mut self, now_ns: u64) {
        let buckets = self.table.num_buckets();
        let mut victim = None;
        for looked in 1..=buckets {
            let index = self.hand % buckets;
            self.hand = index + 1;
            if let Some(slot) = self.table.get_bucket(index) {
                if slot.expires_ns <= now_ns {
                    victim = Some(index);
                    break;
                }
                victim.get_or_insert(index);
            }
            if looked >= EVICTION_SCAN && victim.is_some() {
                break;
            }
        }
        if let Some(entry) = victim.and_then(|index| self.table.get_bucket_entry(index).ok()) {
            entry.remove();
        }
    }

    fn epoch_for(&mut self, generation: u64, specs_version: u64) -> u32 {
        let pair = EpochOf {
            generation,
            specs_version,
        };
        if self.recent[0].0 == pair {
            return self.recent[0].1;
        }
        if self.recent[1].0 == pair {
            self.recent.swap(0, 1);
            return self.recent[0].1;
        }
        if self.next_epoch == u32::MAX {
            // Epoch numbers are about to repeat: drop everything first.
            self.table.clear();
            self.next_epoch = 1;
        }
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        self.recent = [(pair, epoch), self.recent[0]];
        epoch
    }

    fn hash(&self, epoch: u32, key: &Lookup<'_>) -> u64 {
        self.hasher
            .hash_one((epoch, key.route, key.attributes, key.user_key))
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin)
            .as_nanos()
            .try_into()
            .unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(30);

    fn key(user_key: &str) -> Lookup<'_> {
        Lookup {
            route: 0,
            attributes: 0,
            user_key,
        }
    }

    #[test]
    fn an_entry_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Slot<std::sync::Arc<u32>>>(), 64);
        assert_eq!(std::mem::align_of::<Slot<std::sync::Arc<u32>>>(), 64);
    }

    #[test]
    fn a_hit_needs_every_part_of_the_key_to_match() {
        let mut cache = WorkerCache::new(64);
        let now = Instant::now();
        cache.insert(1, 7, &key("alice"), 10, now, TTL);
        assert_eq!(cache.get(1, 7, &key("alice"), now), Some(10));
        assert_eq!(cache.get(1, 7, &key("bob"), now), None);
        assert_eq!(cache.get(2, 7, &key("alice"), now), None, "generation");
        assert_eq!(cache.get(1, 8, &key("alice"), now), None, "specs version");
        let other_route = Lookup {
            route: 1,
            ..key("alice")
        };
        assert_eq!(cache.get(1, 7, &other_route, now), None, "route");
        let other_attributes = Lookup {
            attributes: 99,
            ..key("alice")
        };
        assert_eq!(cache.get(1, 7, &other_attributes, now), None, "attributes");
    }

    #[test]
    fn entries_expire_at_their_ttl() {
        let mut cache = WorkerCache::new(64);
        let now = Instant::now();
        cache.insert(1, 1, &key("alice"), 10, now, TTL);
        assert_eq!(cache.get(1, 1, &key("alice"), now + TTL / 2), Some(10));
        assert_eq!(cache.get(1, 1, &key("alice"), now + TTL), None);
        // Refreshing replaces the entry in place.
        cache.insert(1, 1, &key("alice"), 11, now + TTL, TTL);
        assert_eq!(cache.get(1, 1, &key("alice"), now + TTL), Some(11));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn user_keys_longer_than_the_inline_size_work_alike() {
        let mut cache = WorkerCache::new(64);
        let now = Instant::now();
        let long = "0b9a3c6e-5f0d-4c1e-9a8b-7d6e5f4c3b2a-and-then-some";
        let almost = "0b9a3c6e-5f0d-4c1e-9a8b-7d6e5f4c3b2a-and-then-somE";
        cache.insert(1, 1, &key(long), 1, now, TTL);
        assert_eq!(cache.get(1, 1, &key(long), now), Some(1));
        assert_eq!(cache.get(1, 1, &key(almost), now), None);
    }

    /// A cache of `capacity` after user0 … user{n-1} were inserted in order,
    /// user i's value being i; checks the bound after every insert.
    fn filled(capacity: usize, n: usize) -> (WorkerCache<usize>, Vec<String>, Instant) {
        let mut cache = WorkerCache::new(capacity);
        let now = Instant::now();
        let users: Vec<String> = (0..n).map(|i| format!("user{i}")).collect();
        for (i, u) in users.iter().enumerate() {
            cache.insert(1, 1, &key(u), i, now, TTL);
            assert!(cache.len() <= capacity);
        }
        (cache, users, now)
    }

    #[test]
    fn a_full_table_keeps_every_user_it_has_room_for() {
        let (mut cache, users, now) = filled(10_000, 10_000);
        let kept = users
            .iter()
            .enumerate()
            .filter(|(i, u)| cache.get(1, 1, &key(u), now) == Some(*i))
            .count();
        assert_eq!(kept, 10_000);
    }

    #[test]
    fn the_table_never_holds_more_than_its_capacity() {
        let (mut cache, users, now) = filled(100, 1000);
        // What it holds is right, and the last insert is always there.
        let hits: Vec<(usize, usize)> = users
            .iter()
            .enumerate()
            .filter_map(|(i, u)| cache.get(1, 1, &key(u), now).map(|held| (i, held)))
            .collect();
        assert_eq!(hits.len(), 100, "full, every entry a live one");
        assert!(hits.iter().all(|(i, held)| i == held), "{hits:?}");
        assert!(hits.contains(&(999, 999)));
    }

    #[test]
    fn a_full_table_drops_expired_entries_first() {
        let mut cache = WorkerCache::new(4);
        let now = Instant::now();
        cache.insert(1, 1, &key("short-a"), 1, now, Duration::from_secs(5));
        cache.insert(1, 1, &key("short-b"), 2, now, Duration::from_secs(5));
        cache.insert(1, 1, &key("long-a"), 3, now, TTL);
        cache.insert(1, 1, &key("long-b"), 4, now, TTL);
        let later = now + Duration::from_secs(10);
        cache.insert(1, 1, &key("new"), 5, later, TTL);
        cache.insert(1, 1, &key("newer"), 6, later, TTL);
        assert_eq!(cache.len(), 4);
        assert_eq!(cache.get(1, 1, &key("long-a"), later), Some(3));
        assert_eq!(cache.get(1, 1, &key("long-b"), later), Some(4));
        assert_eq!(cache.get(1, 1, &key("new"), later), Some(5));
        assert_eq!(cache.get(1, 1, &key("newer"), later), Some(6));
    }

    /// Against a plain map of what was last inserted: whatever the table
    /// evicts or retires, a hit is never another key's value, an older
    /// value of its own key, or an expired one.
    #[test]
    fn a_hit_is_always_what_a_plain_map_holds() {
        let mut cache = WorkerCache::new(32);
        let mut reference = std::collections::HashMap::new();
        let start = Instant::now();
        // 48 keys a generation (8 users, 3 routes, 2 attribute sets) for
        // 32 entries: hits, evictions and expiries all happen.
        let users: Vec<String> = (0..8).map(|i| format!("user{i}")).collect();
        let mut hits = 0;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let generation = 1 + step / 5_000;
            let specs_version = 1 + step / 3_000;
            let user = &users[(x % 8) as usize];
            let (route, attributes) = ((x >> 8) as u32 % 3, (x >> 16) % 2);
            let lookup = Lookup {
                route,
                attributes,
                ..key(user)
            };
            let id = (generation, specs_version, route, attributes, user.clone());
            let now = start + Duration::from_millis(step);
            match cache.get(generation, specs_version, &lookup, now) {
                Some(held) => {
                    let (value, expires) = reference[&id];
                    assert_eq!(held, value, "step {step}");
                    assert!(now < expires, "step {step}: expired");
                    hits += 1;
                }
                None => {
                    let ttl = Duration::from_millis(100 + step % 900);
                    cache.insert(generation, specs_version, &lookup, step, now, ttl);
                    reference.insert(id, (step, now + ttl));
                }
            }
            assert!(cache.len() <= 32);
        }
        assert!(hits > 1_000, "{hits} hits");
    }

    #[test]
    fn the_previous_snapshot_keeps_its_entries_while_requests_finish_on_it() {
        let mut cache = WorkerCache::new(64);
        let now = Instant::now();
        cache.insert(1, 1, &key("alice"), 1, now, TTL);
        cache.insert(2, 1, &key("alice"), 2, now, TTL);
        // Requests on both snapshots, interleaved, keep hitting.
        for _ in 0..3 {
            assert_eq!(cache.get(1, 1, &key("alice"), now), Some(1));
            assert_eq!(cache.get(2, 1, &key("alice"), now), Some(2));
        }
        // A third pair retires the oldest.
        assert_eq!(cache.get(3, 1, &key("alice"), now), None);
        assert_eq!(cache.get(1, 1, &key("alice"), now), None);
    }
}
