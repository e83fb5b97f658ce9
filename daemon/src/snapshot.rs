//! The one immutable snapshot a request reads: routes, variants and the plugin
//! instances or remote clients behind them. The control path builds a new one
//! and publishes it atomically; a request loads it once and uses only that, so
//! it finishes on the versions it started with.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::HeaderValue;

pub use crate::backends::Backend;
use crate::control::config::{Config, RouteConfig, VariantConfig};
use crate::http::endpoints::{BuiltIn, BUILT_INS};

pub struct Snapshot {
    /// Bumped on every publish; shows in admin output.
    pub generation: u64,
    pub config: Arc<Config>,
    pub routes: RouteTable,
    pub variants: VariantMap,
}

/// Variants by name. Looked up a few times per request, on short keys that
/// come from config, not from clients: a fast hash, still seeded per map.
pub type VariantMap = HashMap<String, Variant, foldhash::fast::RandomState>;

pub struct Variant {
    /// `config.name`, shared: requests label metrics and logs with it.
    pub name: Arc<str>,
    /// `name` as the `x-variantd-variant` header value, built once.
    pub name_header: HeaderValue,
    pub config: VariantConfig,
    pub backend: Backend,
}

impl Snapshot {
    /// The routes and variants of `config` with no plugin loaded and no
    /// remote client made: enough to match and decide, never to call (for
    /// `variantd explain`).
    pub fn for_explaining(config: Arc<Config>) -> Snapshot {
        let variants = config
            .variants
            .values()
            .map(|v| {
                let backend = Backend::Plugin {
                    instance: None,
                    plugin: String::new(),
                    blocking: false,
                };
                (v.name.clone(), Variant::new(v.clone(), backend))
            })
            .collect();
        Snapshot {
            generation: 0,
            routes: RouteTable::new(&config.routes),
            variants,
            config,
        }
    }
}

impl Variant {
    pub fn new(config: VariantConfig, backend: Backend) -> Variant {
        // Variant names are validated identifiers, always valid header values.
        let name_header =
            HeaderValue::from_maybe_shared(actix_web::web::Bytes::from_owner(config.name.clone()))
                .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        Variant {
            name: Arc::from(config.name.as_str()),
            name_header,
            config,
            backend,
        }
    }

    pub fn is_available(&self) -> bool {
        self.backend.is_available()
    }
}

/// A matched route's `{params}` as `(name, value)`: names borrowed from the
/// route table, values from the request path.
pub type RouteParams<'s, 'p> = smallvec::SmallVec<[(&'s str, &'p str); 4]>;

/// What a path matched in the [`RouteTable`].
pub enum Found<'s, 'p> {
    /// One of variantd's own endpoints, with its pattern's parameters.
    BuiltIn(&'static BuiltIn, matchit::Params<'s, 'p>),
    /// Configured route `index`, with its `{params}`.
    Route(usize, &'s RouteConfig, RouteParams<'s, 'p>),
}

/// Where a pattern in the matcher leads.
#[derive(Clone, Copy)]
enum Entry {
    BuiltIn(&'static BuiltIn),
    Route(usize),
}

/// The built-in endpoints and the configured routes, in one matcher
/// (matchit: `/process/{message}`, `/api/{*rest}`; a static segment wins
/// over a parameter, and a path falls back to a parameter when the static
/// branch does not match).
pub struct RouteTable {
    router: matchit::Router<Entry>,
    routes: Vec<RouteConfig>,
    /// Each route's pattern, shared: requests label metrics and logs with it.
    labels: Vec<Arc<str>>,
}

impl RouteTable {
    /// Panics if a route conflicts with another or with a built-in: the
    /// config refuses such routes when it is read (see
    /// [`crate::control::config`]), before any table is built.
    pub fn new(routes: &[RouteConfig]) -> RouteTable {
        let mut router = matchit::Router::new();
        for b in BUILT_INS {
            router
                .insert(b.pattern, Entry::BuiltIn(b))
                .expect("the built-in patterns fit one matcher (tested)");
        }
        for (i, r) in routes.iter().enumerate() {
            router
                .insert(r.path.clone(), Entry::Route(i))
                .expect("route patterns validated by config");
        }
        let labels = routes.iter().map(|r| Arc::from(r.path.as_str())).collect();
        RouteTable {
            router,
            routes: routes.to_vec(),
            labels,
        }
    }

    /// What `path` matches: a built-in endpoint or a configured route.
    /// Allocates only for a route pattern that has parameters.
    pub fn lookup<'s, 'p>(&'s self, path: &'p str) -> Option<Found<'s, 'p>> {
        let m = self.router.at(path).ok()?;
        Some(match *m.value {
            Entry::BuiltIn(b) => Found::BuiltIn(b, m.params),
            Entry::Route(i) => Found::Route(i, &self.routes[i], m.params.iter().collect()),
        })
    }

    /// The configured route for `path`, its index (stable within one
    /// snapshot) and its `{params}` as `(name, value)` (names borrowed from
    /// the table, values from `path`), which plugins read through ABI 1.1's
    /// `request_route_params`. A built-in endpoint is no route.
    pub fn find_with_params<'s, 'p>(
        &'s self,
        path: &'p str,
    ) -> Option<(usize, &'s RouteConfig, RouteParams<'s, 'p>)> {
        match self.lookup(path)? {
            Found::Route(i, route, params) => Some((i, route, params)),
            Found::BuiltIn(..) => None,
        }
    }

    /// The pattern of route `index` (from [`RouteTable::lookup`]).
    pub fn label(&self, index: usize) -> &Arc<str> {
        &self.labels[index]
    }

    pub fn iter(&self) -> impl Iterator<Item = &RouteConfig> {
        self.routes.iter()
    }
}
