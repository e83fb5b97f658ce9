//! The endpoints variantd serves itself, stated once. This table feeds the
//! route table every request is matched against (beside the configured
//! routes: one matcher), the config's reserved prefixes, and the tests.

use actix_web::http::Method;

/// One built-in endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Healthz,
    Readyz,
    Metrics,
    Endpoints,
    Events,
    Results,
    ResultsOne,
    DashboardIndex,
    DashboardOverview,
    DashboardAdmin,
    DashboardAsset,
    AdminPlugins,
    AdminReload,
    AdminConfig,
    AdminFlush,
    AdminStatus,
    AdminExplain,
    /// Anything else under `/admin`: a JSON 404 naming the admin API.
    AdminUnknown,
    /// `/variants/{name}/…`: a variant addressed directly, no decision.
    Variant,
}

/// Which methods an endpoint answers; others get 405.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Methods {
    Any,
    Get,
    Post,
}

impl Methods {
    pub fn allows(self, method: &Method) -> bool {
        match self {
            Methods::Any => true,
            Methods::Get => method == Method::GET,
            Methods::Post => method == Method::POST,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Methods::Any => "*",
            Methods::Get => "GET",
            Methods::Post => "POST",
        }
    }
}

pub struct BuiltIn {
    /// A matchit pattern. Parameters are matched against the path as sent,
    /// still percent-encoded.
    pub pattern: &'static str,
    pub methods: Methods,
    pub endpoint: Endpoint,
}

const fn at(pattern: &'static str, methods: Methods, endpoint: Endpoint) -> BuiltIn {
    BuiltIn {
        pattern,
        methods,
        endpoint,
    }
}

use Endpoint as E;
use Methods::{Any, Get, Post};

/// Every built-in endpoint. Static patterns win over configured routes'
/// parameters; a path a built-in pattern does not match exactly (say
/// `/healthz/x`) is left to the configured routes.
pub const BUILT_INS: &[BuiltIn] = &[
    at("/healthz", Any, E::Healthz),
    at("/readyz", Any, E::Readyz),
    at("/metrics", Any, E::Metrics),
    at("/endpoints", Get, E::Endpoints),
    at("/events", Post, E::Events),
    at("/results", Get, E::Results),
    at("/results/{name}", Get, E::ResultsOne),
    at("/ui", Get, E::DashboardIndex),
    at("/ui/", Get, E::DashboardIndex),
    at("/ui/api/overview", Get, E::DashboardOverview),
    at("/ui/api/admin", Get, E::DashboardAdmin),
    at("/ui/{*asset}", Get, E::DashboardAsset),
    at("/admin", Any, E::AdminUnknown),
    at("/admin/", Any, E::AdminUnknown),
    at("/admin/{*rest}", Any, E::AdminUnknown),
    at("/admin/plugins", Get, E::AdminPlugins),
    at("/admin/reload", Post, E::AdminReload),
    at("/admin/config", Get, E::AdminConfig),
    at("/admin/flush", Post, E::AdminFlush),
    at("/admin/status", Get, E::AdminStatus),
    at("/admin/explain", Get, E::AdminExplain),
    at("/variants/{name}", Any, E::Variant),
    at("/variants/{name}/", Any, E::Variant),
    at("/variants/{name}/{*tail}", Any, E::Variant),
];

/// The path prefixes configured routes may not use: each built-in
/// pattern's first segment (`/admin` covers `/admin/…`).
pub fn reserved_prefixes() -> impl Iterator<Item = &'static str> {
    let mut seen: Vec<&'static str> = Vec::new();
    BUILT_INS.iter().filter_map(move |b| {
        let end = b.pattern[1..].find('/').map_or(b.pattern.len(), |i| i + 1);
        let prefix = &b.pattern[..end];
        (!seen.contains(&prefix)).then(|| {
            seen.push(prefix);
            prefix
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserved_prefixes_are_the_built_ins_first_segments() {
        let prefixes: Vec<&str> = reserved_prefixes().collect();
        assert_eq!(
            prefixes,
            [
                "/healthz",
                "/readyz",
                "/metrics",
                "/endpoints",
                "/events",
                "/results",
                "/ui",
                "/admin",
                "/variants"
            ]
        );
    }

    #[test]
    fn every_built_in_pattern_fits_one_matcher() {
        let mut router = matchit::Router::new();
        for b in BUILT_INS {
            router
                .insert(b.pattern, ())
                .unwrap_or_else(|e| panic!("{}: {e}", b.pattern));
        }
    }
}
