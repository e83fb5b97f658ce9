//! The one immutable snapshot a request reads: routes, variants and the plugin
//! instances or remote clients behind them. The control path builds a new one
//! and publishes it atomically; a request loads it once and uses only that, so
//! it finishes on the versions it started with.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::HeaderValue;

use crate::backends::plugin::PluginInstance;
use crate::backends::remote::RemoteVariant;
use crate::control::config::{Config, RouteConfig, VariantConfig};

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

pub enum Backend {
    /// `None` while its plugin is not loaded (missing, refused or removed):
    /// requests get 503 or the fallback.
    Plugin {
        instance: Option<Arc<PluginInstance>>,
        plugin: String,
        blocking: bool,
    },
    Remote(Arc<RemoteVariant>),
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

    /// Whether answering with `variant` may involve a remote hop (itself or its fallback).
    pub fn may_go_remote(&self, variant: &str) -> bool {
        let Some(v) = self.variants.get(variant) else {
            return false;
        };
        let remote = |v: &Variant| matches!(v.backend, Backend::Remote(_));
        remote(v)
            || v.config
                .fallback
                .as_deref()
                .and_then(|f| self.variants.get(f))
                .is_some_and(remote)
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
        match &self.backend {
            Backend::Plugin { instance, .. } => instance.is_some(),
            Backend::Remote(_) => true,
        }
    }
}

/// A matched route's `{params}` as `(name, value)`: names borrowed from the
/// route table, values from the request path.
pub type RouteParams<'s, 'p> = smallvec::SmallVec<[(&'s str, &'p str); 4]>;

/// Configured routes, matched with matchit (`/process/{message}`, `/api/{*rest}`).
pub struct RouteTable {
    router: matchit::Router<usize>,
    routes: Vec<RouteConfig>,
    /// Each route's pattern, shared: requests label metrics and logs with it.
    labels: Vec<Arc<str>>,
}

impl RouteTable {
    pub fn new(routes: &[RouteConfig]) -> RouteTable {
        let mut router = matchit::Router::new();
        for (i, r) in routes.iter().enumerate() {
            // Validated when the config was parsed.
            router
                .insert(r.path.clone(), i)
                .expect("route patterns validated by config");
        }
        let labels = routes.iter().map(|r| Arc::from(r.path.as_str())).collect();
        RouteTable {
            router,
            routes: routes.to_vec(),
            labels,
        }
    }

    /// The route for `path` and its index (stable within one snapshot).
    pub fn find(&self, path: &str) -> Option<(usize, &RouteConfig)> {
        self.router
            .at(path)
            .ok()
            .map(|m| (*m.value, &self.routes[*m.value]))
    }

    /// [`find`](Self::find), plus the matched pattern's `{params}` as
    /// `(name, value)` (names borrowed from the table, values from `path`),
    /// which plugins read through ABI 1.1's `request_route_params`.
    /// Allocates only for a pattern that has parameters.
    pub fn find_with_params<'s, 'p>(
        &'s self,
        path: &'p str,
    ) -> Option<(usize, &'s RouteConfig, RouteParams<'s, 'p>)> {
        let m = self.router.at(path).ok()?;
        let params = m.params.iter().collect();
        Some((*m.value, &self.routes[*m.value], params))
    }

    /// The pattern of route `index` (from [`RouteTable::find`]).
    pub fn label(&self, index: usize) -> &Arc<str> {
        &self.labels[index]
    }

    pub fn iter(&self) -> impl Iterator<Item = &RouteConfig> {
        self.routes.iter()
    }
}
