//! The decision step of the request path: the Statsig engine behind a bounded
//! cache of recent results.
//!
//! A Statsig evaluation costs about as much as serving a whole request, so
//! results are cached per (snapshot generation, route, specs version, user).
//! A reload of config or specs changes the key, so nothing stale is served.
//! Exposures stay correct: an entry lives at most [`CACHE_TTL`], shorter than
//! Statsig's own 60 s exposure de-duplication window, so a cache hit only skips
//! an exposure Statsig would have de-duplicated anyway.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use variantd_decision::{Decision, DecisionEngine, DecisionSpec, UserContext};

pub const CACHE_TTL: Duration = Duration::from_secs(30);

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    generation: u64,
    route: usize,
    specs_version: u64,
    user_hash: u64,
    user_key: String,
}

pub struct Decider {
    engine: Arc<DecisionEngine>,
    cache: Option<Cache<Key, (Instant, Arc<Decision>)>>,
}

impl Decider {
    pub fn new(engine: Arc<DecisionEngine>, capacity: usize) -> Decider {
        let cache = (capacity > 0).then(|| Cache::new(capacity));
        Decider { engine, cache }
    }

    /// Decide for `user` on `spec` (route `route` of snapshot `generation`).
    pub fn decide(&self, generation: u64, route: usize, spec: &DecisionSpec, user: &UserContext) -> Arc<Decision> {
        let Some(cache) = &self.cache else {
            crate::metrics::exposure();
            return Arc::new(self.engine.decide(user, spec));
        };
        let key = Key {
            generation,
            route,
            specs_version: self.engine.specs_version(),
            user_hash: attributes_hash(user),
            user_key: user.user_key.clone(),
        };
        if let Some((at, decision)) = cache.get(&key) {
            if at.elapsed() < CACHE_TTL {
                return decision;
            }
        }
        crate::metrics::exposure();
        let decision = Arc::new(self.engine.decide(user, spec));
        cache.insert(key, (Instant::now(), decision.clone()));
        decision
    }
}

fn attributes_hash(user: &UserContext) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    user.ip.hash(&mut h);
    user.custom.hash(&mut h);
    h.finish()
}
