//! The decision step of the request path: the Statsig engine behind a bounded
//! cache of recent results.
//!
//! A Statsig evaluation costs about as much as serving a whole request, so
//! results are cached per (snapshot generation, route, specs version, user).
//! A reload of config or specs changes the key, so nothing stale is served.
//! Exposures stay correct: an entry lives at most [`CACHE_TTL`], shorter than
//! Statsig's own 60 s exposure de-duplication window, so a cache hit only skips
//! an exposure Statsig would have de-duplicated anyway.
//!
//! Each entry also carries the response headers that explain the decision,
//! built once instead of on every request.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use quick_cache::sync::Cache;
use variantd_decision::{Decision, DecisionEngine, DecisionSpec, UserContext};

use crate::config::{RouteConfig, RouteDecision};
use crate::snapshot::RouteTable;

pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// The user as read from a request; turned into a Statsig user only when
/// the cache cannot answer.
#[derive(Debug, Clone)]
pub struct RequestUser {
    pub user_key: String,
    pub ip: Option<IpAddr>,
    /// (Statsig custom field, value) from mapped headers.
    pub custom: Vec<(String, String)>,
}

impl RequestUser {
    pub fn to_statsig(&self) -> UserContext {
        UserContext { user_key: self.user_key.clone(), ip: self.ip.map(|ip| ip.to_string()), custom: self.custom.clone() }
    }
}

/// A decision and the `x-variantd-*` headers that explain it.
#[derive(Debug)]
pub struct Decided {
    pub decision: Decision,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Decided {
    fn new(decision: Decision) -> Decided {
        let mut headers = Vec::with_capacity(3);
        // Backed by a shared buffer, so the clone per response is a reference
        // count, not a copy.
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from_owner(value.to_string())) {
                headers.push((HeaderName::from_static(name), v));
            }
        };
        set("x-variantd-decided-by", &format!("{}={}", decision.kind.as_str(), decision.decided_by));
        set("x-variantd-rule-id", &decision.rule_id);
        set("x-variantd-reason", &decision.reason);
        Decided { decision, headers }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    generation: u64,
    route: usize,
    specs_version: u64,
    attributes: u64,
    user_key: String,
}

/// A borrowed [`Key`] for lookups, so a cache hit copies nothing. Hashes
/// exactly as `Key` does (same fields, same order; `str` and `String` hash alike).
#[derive(Hash)]
struct KeyRef<'a> {
    generation: u64,
    route: usize,
    specs_version: u64,
    attributes: u64,
    user_key: &'a str,
}

impl quick_cache::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.generation == key.generation
            && self.route == key.route
            && self.specs_version == key.specs_version
            && self.attributes == key.attributes
            && self.user_key == key.user_key
    }
}

impl KeyRef<'_> {
    fn to_owned(&self) -> Key {
        Key {
            generation: self.generation,
            route: self.route,
            specs_version: self.specs_version,
            attributes: self.attributes,
            user_key: self.user_key.to_string(),
        }
    }
}

pub struct Decider {
    engine: Arc<DecisionEngine>,
    cache: Option<Cache<Key, (Instant, Arc<Decided>)>>,
}

impl Decider {
    pub fn new(engine: Arc<DecisionEngine>, capacity: usize) -> Decider {
        let cache = (capacity > 0).then(|| Cache::new(capacity));
        Decider { engine, cache }
    }

    /// Decide for `user` on `spec` (route `route` of snapshot `generation`).
    pub fn decide(&self, generation: u64, route: usize, spec: &DecisionSpec, user: &RequestUser) -> Arc<Decided> {
        let Some(cache) = &self.cache else {
            return self.evaluate(spec, user);
        };
        let key = KeyRef {
            generation,
            route,
            specs_version: self.engine.specs_version(),
            attributes: attributes_hash(user),
            user_key: &user.user_key,
        };
        if let Some((at, decided)) = cache.get(&key) {
            if at.elapsed() < CACHE_TTL {
                return decided;
            }
        }
        let decided = self.evaluate(spec, user);
        cache.insert(key.to_owned(), (Instant::now(), decided.clone()));
        decided
    }

    fn evaluate(&self, spec: &DecisionSpec, user: &RequestUser) -> Arc<Decided> {
        crate::metrics::exposure();
        Arc::new(Decided::new(self.engine.decide(&user.to_statsig(), spec)))
    }
}

/// Routes whose gate, experiment or dynamic config the loaded specs do not
/// contain (they evaluate to Statsig's default). Empty while no specs are
/// loaded: then every route is already reported as not ready.
pub fn unknown_to_specs<'a>(routes: &'a RouteTable, engine: &'a DecisionEngine) -> Vec<(&'a RouteConfig, &'a DecisionSpec)> {
    if !engine.status().ready {
        return Vec::new();
    }
    routes
        .iter()
        .filter_map(|r| match &r.decision {
            RouteDecision::Decide(spec) if !engine.knows(spec.kind(), spec.name()) => Some((r, spec)),
            _ => None,
        })
        .collect()
}

fn attributes_hash(user: &RequestUser) -> u64 {
    if user.ip.is_none() && user.custom.is_empty() {
        return 0;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    user.ip.hash(&mut h);
    user.custom.hash(&mut h);
    h.finish()
}
