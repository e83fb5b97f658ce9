//! The decision step of the request path: the Statsig engine behind a bounded
//! cache of recent results.
//!
//! A Statsig evaluation costs about as much as serving a whole request, so
//! results are cached per (snapshot generation, route, specs version, user).
//! A reload of config or specs changes the key, so nothing stale is served.
//! Exposures stay correct: an entry lives at most [`CACHE_TTL`], shorter than
//! Statsig's own 60 s exposure de-duplication window, so a cache hit only skips
//! an exposure Statsig would have de-duplicated anyway. Each user's entry
//! lives between [`CACHE_TTL_MIN`] and [`CACHE_TTL`], spread by the user key:
//! entries made in one burst (a cold start, a reload) would otherwise all
//! expire in the same instant, and every request of the next moment would pay
//! a full evaluation at once, which shows as a wave in tail latency.
//!
//! Each worker thread keeps a cache of its own ([`worker_cache`]). A lookup
//! is then one probe of a table laid out for it: no lock, no shared counter,
//! no cache line that bounces between cores, one line read per entry. The
//! cost is that a user who reaches several workers is evaluated once per
//! worker, which Statsig's exposure de-duplication absorbs as it absorbs any
//! repeat. The configured size bounds all workers' caches together (the
//! server gives each its share), so memory does not grow with the number of
//! cores.
//!
//! Each entry also carries the response headers that explain the decision,
//! built once instead of on every request. Entries with the same outcome
//! share one [`Decided`]: there are a handful of outcomes for any number of
//! users, so the headers every response copies stay hot in the CPU cache.

mod worker_cache;

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use thread_local::ThreadLocal;
use variantd_decision::{Decision, DecisionEngine, DecisionSpec, TopLevelField, UserContext};

use crate::control::config::{RouteConfig, RouteDecision};
use crate::snapshot::RouteTable;

pub const CACHE_TTL: Duration = Duration::from_secs(30);
pub const CACHE_TTL_MIN: Duration = Duration::from_secs(20);

/// The user as read from a request; turned into a Statsig user only when
/// the cache cannot answer.
#[derive(Debug, Clone, Default)]
pub struct RequestUser {
    /// Empty for an anonymous visitor known only by a custom id.
    pub user_key: String,
    pub ip: Option<IpAddr>,
    /// The request's own header value: shared, not copied, until a cache
    /// miss needs it as text.
    pub user_agent: Option<HeaderValue>,
    /// (Statsig top-level field, value) from mapped headers.
    pub top_level: Vec<(TopLevelField, String)>,
    /// (Statsig custom field, value) from mapped headers.
    pub custom: Vec<(String, String)>,
    /// (id type, id): custom unit ids.
    pub custom_ids: Vec<(String, String)>,
}

impl RequestUser {
    pub fn to_statsig(&self) -> UserContext {
        UserContext {
            user_key: self.user_key.clone(),
            ip: self.ip.map(|ip| ip.to_string()),
            user_agent: self
                .user_agent
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            top_level: self.top_level.clone(),
            custom: self.custom.clone(),
            custom_ids: self.custom_ids.clone(),
        }
    }

    /// Whether the request carries the unit `unit_type` is evaluated on.
    pub fn has_unit(&self, unit_type: &str) -> bool {
        if unit_type.is_empty() || unit_type.eq_ignore_ascii_case("userID") {
            return !self.user_key.is_empty();
        }
        self.custom_ids
            .iter()
            .any(|(t, v)| t.eq_ignore_ascii_case(unit_type) && !v.is_empty())
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
        set(
            "x-variantd-decided-by",
            &format!("{}={}", decision.kind.as_str(), decision.decided_by),
        );
        // A gate rule that matched but failed the user (a 50% rollout that
        // left them out) is reported by Statsig under the rule's own id;
        // `:fail` keeps it from reading as "in the rollout".
        let failed_rule = decision.gate_value == Some(false)
            && !matches!(decision.rule_id.as_str(), "" | "default" | "disabled");
        if failed_rule {
            set("x-variantd-rule-id", &format!("{}:fail", decision.rule_id));
        } else {
            set("x-variantd-rule-id", &decision.rule_id);
        }
        set("x-variantd-reason", &decision.reason);
        Decided { decision, headers }
    }
}

type WorkerCache = RefCell<worker_cache::WorkerCache<Arc<Decided>>>;

pub struct Decider {
    engine: Arc<DecisionEngine>,
    /// Entries per worker thread; 0 turns caching off.
    capacity: usize,
    caches: ThreadLocal<WorkerCache>,
    /// One shared [`Decided`] per distinct outcome; touched only on a miss.
    outcomes: Mutex<HashMap<Decision, Arc<Decided>>>,
    /// Statsig evaluations so far (cache misses, or every call uncached).
    evaluations: AtomicU64,
}

/// Distinct outcomes kept for sharing. Gates and experiments have a few;
/// a dynamic config returning per-user values could have many, so the table
/// starts over rather than grow without bound.
const MAX_SHARED_OUTCOMES: usize = 4096;

impl Decider {
    pub fn new(engine: Arc<DecisionEngine>, capacity: usize) -> Decider {
        Decider {
            engine,
            capacity,
            caches: ThreadLocal::new(),
            outcomes: Mutex::new(HashMap::new()),
            evaluations: AtomicU64::new(0),
        }
    }

    /// How many decisions went to Statsig rather than the cache.
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Decide for `user` on `spec` (route `route` of snapshot `generation`).
    pub fn decide(
        &self,
        generation: u64,
        route: usize,
        spec: &DecisionSpec,
        user: &RequestUser,
    ) -> Arc<Decided> {
        let route = match u32::try_from(route) {
            Ok(route) if self.capacity > 0 => route,
            _ => return self.evaluate(spec, user),
        };
        let cache = self
            .caches
            .get_or(|| RefCell::new(worker_cache::WorkerCache::new(self.capacity)));
        let now = Instant::now();
        let specs_version = self.engine.specs_version_at(now);
        let key = worker_cache::Lookup {
            route,
            attributes: attributes_hash(user),
            user_key: &user.user_key,
        };
        if let Some(decided) = cache.borrow_mut().get(generation, specs_version, &key, now) {
            return decided;
        }
        // No borrow is held across the evaluation: it calls into statsig,
        // which never calls back here, but a RefCell should not have to trust that.
        let decided = self.evaluate(spec, user);
        cache.borrow_mut().insert(
            generation,
            specs_version,
            &key,
            decided.clone(),
            now,
            ttl_for(&user.user_key),
        );
        decided
    }

    /// What [`decide`](Self::decide) would answer, evaluated afresh, with
    /// no exposure logged and nothing cached: for explaining a routing.
    pub fn explain(&self, spec: &DecisionSpec, user: &RequestUser) -> Arc<Decided> {
        Arc::new(Decided::new(self.engine.explain(&user.to_statsig(), spec)))
    }

    fn evaluate(&self, spec: &DecisionSpec, user: &RequestUser) -> Arc<Decided> {
        crate::telemetry::metrics::exposure();
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        let decision = self.engine.decide(&user.to_statsig(), spec);
        let mut outcomes = self
            .outcomes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(shared) = outcomes.get(&decision) {
            return shared.clone();
        }
        if outcomes.len() >= MAX_SHARED_OUTCOMES {
            outcomes.clear();
        }
        let decided = Arc::new(Decided::new(decision.clone()));
        outcomes.insert(decision, decided.clone());
        decided
    }
}

/// (route, value) pairs a decision answered with that the route neither
/// maps nor configures as a variant. Values come from the specs, not from
/// clients, but a console can hold many: past [`MAX_UNMAPPED`] they are
/// counted under `other` and not listed.
static UNMAPPED: Mutex<std::collections::BTreeSet<(String, String)>> =
    Mutex::new(std::collections::BTreeSet::new());
const MAX_UNMAPPED: usize = 256;

/// A decision on `route` named `value`, which is no configured variant; the
/// route's default answered. Counted each time, logged the first time.
pub fn unmapped(route: &str, value: &str) {
    let mut seen = UNMAPPED.lock().unwrap_or_else(|p| p.into_inner());
    let key = (route.to_string(), value.to_string());
    let label = if seen.contains(&key) {
        value
    } else if seen.len() < MAX_UNMAPPED {
        tracing::warn!(route, value, "the decision named a value the route does not map and no variant is called; the route's default answers (add it to the route's map)");
        seen.insert(key);
        value
    } else {
        "other"
    };
    metrics::counter!("variantd_unmapped_decisions_total", "route" => route.to_string(), "value" => label.to_string())
        .increment(1);
}

/// Every (route, value) [`unmapped`] has seen, for `/readyz`.
pub fn unmapped_seen() -> Vec<(String, String)> {
    UNMAPPED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .cloned()
        .collect()
}

/// Routes whose gate, experiment or dynamic config the loaded specs do not
/// contain (they evaluate to Statsig's default). Empty while no specs are
/// loaded: then every route is already reported as not ready.
pub fn unknown_to_specs<'a>(
    routes: &'a RouteTable,
    engine: &'a DecisionEngine,
) -> Vec<(&'a RouteConfig, &'a DecisionSpec)> {
    if !engine.status().ready {
        return Vec::new();
    }
    routes
        .iter()
        .filter_map(|r| match &r.decision {
            RouteDecision::Decide(spec) if !engine.knows(spec.kind(), spec.name()) => {
                Some((r, spec))
            }
            _ => None,
        })
        .collect()
}

/// A lifetime in [CACHE_TTL_MIN, CACHE_TTL), fixed per user key and spread
/// evenly across keys.
fn ttl_for(user_key: &str) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    user_key.hash(&mut h);
    let spread = (CACHE_TTL - CACHE_TTL_MIN).as_millis() as u64;
    CACHE_TTL_MIN + Duration::from_millis(h.finish() % spread)
}

/// Tells apart one user's differing attributes (IP, mapped headers) within
/// the cache. Seeded per process: the values come from clients, but a
/// collision could only mix up two attribute sets of the same user key.
fn attributes_hash(user: &RequestUser) -> u64 {
    static SEED: LazyLock<foldhash::quality::RandomState> = LazyLock::new(Default::default);
    if user.ip.is_none()
        && user.custom.is_empty()
        && user.user_agent.is_none()
        && user.top_level.is_empty()
        && user.custom_ids.is_empty()
    {
        return 0;
    }
    SEED.hash_one((
        &user.ip,
        &user.custom,
        user.user_agent.as_ref().map(HeaderValue::as_bytes),
        &user.top_level,
        &user.custom_ids,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use variantd_decision::StatsigSettings;

    /// A decider on the shipped specs, and the runtime statsig runs on.
    fn decider(capacity: usize) -> (tokio::runtime::Runtime, Decider) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let specs =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/statsig_specs.json");
        let engine = rt
            .block_on(DecisionEngine::start(StatsigSettings::offline(specs)))
            .unwrap();
        (rt, Decider::new(Arc::new(engine), capacity))
    }

    fn gate() -> DecisionSpec {
        DecisionSpec::Gate {
            name: "variant_b".into(),
            pass: "app_b".into(),
            fail: "app_a".into(),
        }
    }

    fn user(key: &str) -> RequestUser {
        RequestUser {
            user_key: key.into(),
            ..RequestUser::default()
        }
    }

    #[test]
    fn each_worker_thread_evaluates_a_user_once_and_then_answers_from_its_cache() {
        let (rt, decider) = decider(1000);
        let _in_runtime = rt.enter();
        let (spec, alice) = (gate(), user("cache-alice"));
        let first = decider.decide(1, 0, &spec, &alice);
        let again = decider.decide(1, 0, &spec, &alice);
        assert_eq!(decider.evaluations(), 1, "the repeat was a cache hit");
        assert_eq!(first.decision, again.decision);

        // Another worker has a cache of its own: it evaluates, and agrees.
        let elsewhere = std::thread::scope(|s| {
            s.spawn(|| {
                let _in_runtime = rt.enter();
                decider.decide(1, 0, &spec, &alice)
            })
            .join()
            .unwrap()
        });
        assert_eq!(decider.evaluations(), 2);
        assert_eq!(elsewhere.decision, first.decision);

        // A new snapshot generation, another route or other attributes miss.
        decider.decide(2, 0, &spec, &alice);
        decider.decide(2, 1, &spec, &alice);
        let from_elsewhere = RequestUser {
            ip: Some([10, 0, 0, 1].into()),
            ..alice.clone()
        };
        decider.decide(2, 1, &spec, &from_elsewhere);
        assert_eq!(decider.evaluations(), 5);
        decider.decide(2, 1, &spec, &from_elsewhere);
        assert_eq!(decider.evaluations(), 5);
    }

    #[test]
    fn a_zero_capacity_cache_evaluates_every_decision() {
        let (rt, decider) = decider(0);
        let _in_runtime = rt.enter();
        for _ in 0..3 {
            decider.decide(1, 0, &gate(), &user("cache-bob"));
        }
        assert_eq!(decider.evaluations(), 3);
    }

    /// What route `route` of snapshot `generation` decides on: each new
    /// generation changes the spec, so an entry kept across one would show.
    fn spec_at(generation: u64, route: usize) -> DecisionSpec {
        match (generation % 2, route) {
            (1, 0) => gate(),
            (_, 0) => DecisionSpec::Experiment {
                name: "variant_experiment".into(),
                parameter: "variant".into(),
                variants: [("A", "app_a"), ("B", "app_b"), ("C", "app_c")]
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .into(),
                default: "app_a".into(),
            },
            (1, _) => DecisionSpec::Gate {
                name: "variant_b".into(),
                pass: "app_a".into(),
                fail: "app_b".into(),
            },
            _ => DecisionSpec::DynamicConfig {
                name: "variant_config".into(),
                parameter: "variant".into(),
                variants: HashMap::new(),
                default: "app_a".into(),
            },
        }
    }

    /// The cache against its reference, the engine asked every time (a
    /// zero capacity): the same decisions and headers for many users, two
    /// routes and four snapshot generations, each asked three times, with
    /// the previous generation's requests still finishing in between, and a
    /// cache small enough to evict as well as one that never has to.
    #[test]
    fn the_cached_decider_answers_what_the_engine_answers_every_time() {
        let (rt, uncached) = decider(0);
        let _in_runtime = rt.enter();
        let engine = uncached.engine.clone();
        let cached = [
            Decider::new(engine.clone(), 100_000),
            Decider::new(engine, 64),
        ];
        let users: Vec<RequestUser> = (0..300)
            .map(|i| RequestUser {
                ip: (i % 3 == 0).then(|| IpAddr::from([10, 0, 0, (i % 7) as u8])),
                ..user(&format!("equivalence-{i}"))
            })
            .collect();
        let mut asked = 0u64;
        for generation in 1..=4u64 {
            for _ in 0..3 {
                for u in &users {
                    for route in 0..2 {
                        for g in [generation, generation.saturating_sub(1).max(1)] {
                            let spec = spec_at(g, route);
                            let expected = uncached.decide(g, route, &spec, u);
                            for decider in &cached {
                                let got = decider.decide(g, route, &spec, u);
                                assert_eq!(
                                    got.decision, expected.decision,
                                    "{} g{g} r{route}",
                                    u.user_key
                                );
                                assert_eq!(got.headers, expected.headers);
                            }
                            asked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(uncached.evaluations(), asked);
        // The cache did answer. The large one evaluated each (generation,
        // route, user) at least once; more only where a third generation
        // retired the less recently used of the two before it.
        let (large, small) = (cached[0].evaluations(), cached[1].evaluations());
        assert!(
            large >= 4 * 2 * 300 && large <= asked / 3,
            "{large} of {asked}"
        );
        assert!(small > large && small < asked, "{small} of {asked}");
    }

    #[test]
    fn cache_lifetimes_stay_in_range_and_spread_across_users() {
        let ttls: Vec<Duration> = (0..2000).map(|i| ttl_for(&format!("user{i}"))).collect();
        assert!(ttls.iter().all(|t| *t >= CACHE_TTL_MIN && *t < CACHE_TTL));
        assert_eq!(
            ttl_for("user7"),
            ttl_for("user7"),
            "one user keeps one lifetime"
        );
        // Spread: every 1 s slice of the range holds some users.
        let mut slices = [0usize; 10];
        for t in &ttls {
            slices[(*t - CACHE_TTL_MIN).as_secs() as usize] += 1;
        }
        assert!(slices.iter().all(|&n| n > 100), "uneven spread: {slices:?}");
    }
}
