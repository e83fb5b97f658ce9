//! Configuration: parse the TOML file, validate it completely, and resolve it
//! into the typed [`Config`] the rest of the daemon uses. Nothing here touches
//! plugins or Statsig; a `Config` is plain, immutable data.

mod error;
mod schema;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use actix_web::http::header::HeaderName;
use actix_web::http::Method;
use variantd_decision::DecisionSpec;

pub use error::ConfigError;
pub use schema::{DecisionHeaders, LogFormat, RawConfig, ResponseShape};

use error::Locator;

/// The validated, resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (absolute), for reloads and messages.
    pub source: PathBuf,
    /// As written, for `GET /admin/config`.
    pub raw: RawConfig,
    pub listen: String,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    pub access_log: bool,
    pub log_format: LogFormat,
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    pub decision_headers: DecisionHeaders,
    pub body_timeout: std::time::Duration,
    pub max_connections: usize,
    pub admin_listen: Option<String>,
    /// `[server.tls]`: serve HTTPS on `listen`. Read when the daemon starts
    /// (a reload does not rebind); the files' contents reload live.
    pub tls: Option<ServerTlsConfig>,
    pub plugins: PluginsConfig,
    pub statsig: StatsigConfig,
    pub user: UserConfig,
    pub variants: BTreeMap<String, VariantConfig>,
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Clone)]
pub struct PluginsConfig {
    pub dir: PathBuf,
    pub include: Vec<glob::Pattern>,
    pub max_retained_libraries: usize,
    pub debounce_ms: u64,
    pub watch: bool,
    /// Lower-case hex digests; empty = any trusted file.
    pub allowed_sha256: Vec<String>,
}

impl PluginsConfig {
    /// Whether a file name in the plugin directory is one we load.
    pub fn includes(&self, file_name: &str) -> bool {
        self.include.iter().any(|p| p.matches(file_name))
    }
}

#[derive(Debug, Clone)]
pub struct StatsigConfig {
    /// Where the rules come from: a dcs-v2 specs file, or a definitions
    /// file (`.toml`) the engine turns into one.
    pub specs_file: PathBuf,
    pub exposures_file: Option<PathBuf>,
    pub exposures_flush: std::time::Duration,
    pub exposures_max_bytes: u64,
    pub exposures_keep: usize,
    pub init_timeout_ms: u64,
    pub environment: Option<String>,
    pub api_url: Option<String>,
    pub decision_cache_entries: usize,
}

/// Which Statsig user field a mapped header sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserField {
    TopLevel(variantd_decision::TopLevelField),
    Custom(String),
}

/// A custom unit id (`stableID`, ...) and where a request carries it.
#[derive(Debug, Clone)]
pub struct UnitIdSource {
    pub id_type: String,
    pub from: IdPlace,
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub enum IdPlace {
    Header(HeaderName),
    Cookie(String),
    Query(String),
}

impl std::fmt::Display for IdPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdPlace::Header(h) => write!(f, "header `{h}`"),
            IdPlace::Cookie(c) => write!(f, "cookie `{c}`"),
            IdPlace::Query(q) => write!(f, "query parameter `{q}`"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct UserConfig {
    pub key_query: Option<String>,
    pub key_header: Option<String>,
    pub key_cookie: Option<String>,
    pub client_ip: bool,
    pub trust_forwarded_for: bool,
    /// Pass `User-Agent` as Statsig's `userAgent`.
    pub user_agent: bool,
    /// (header, Statsig user field); the name parsed once, here.
    pub attributes: Vec<(HeaderName, UserField)>,
    /// Custom unit ids and where each is read from.
    pub ids: Vec<UnitIdSource>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VariantConfig {
    pub name: String,
    pub label: String,
    pub target: VariantTarget,
    pub fallback: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VariantTarget {
    Plugin {
        plugin: String,
        /// JSON text handed to the plugin's `init`.
        config_json: String,
        blocking: bool,
    },
    Remote(RemoteConfig),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// Base URL without trailing slash.
    pub url: String,
    /// Set exactly when `url` is `https://`.
    pub tls: Option<RemoteTlsConfig>,
    /// A relayed WebSocket with no message either way this long is closed.
    pub websocket_idle_timeout_ms: u64,
    /// Largest WebSocket message relayed (either way); larger closes the
    /// connection with 1009.
    pub websocket_max_message_bytes: usize,
    pub connect_timeout_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub breaker_failures: u32,
    pub breaker_cooldown_ms: u64,
}

/// TLS to an `https://` remote variant. Paths are absolute.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteTlsConfig {
    /// CAs to trust instead of the system's store.
    pub ca_file: Option<PathBuf>,
    /// The name to send (SNI), verify the certificate against and put in
    /// `Host`, instead of the URL's host.
    pub server_name: Option<String>,
    /// Client certificate (chain) and key for mutual TLS; both or neither.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Accept any certificate. Test setups only; warned about loudly.
    pub insecure_skip_verify: bool,
    /// `None`: offer h2 and http/1.1 by ALPN and use what the upstream
    /// picks; `Some(true)`: h2 only; `Some(false)`: HTTP/1.1 only.
    pub http2: Option<bool>,
}

/// `[server.tls]`, with absolute paths.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerTlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// When set, clients must present a certificate signed by one of these CAs.
    pub client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub path: String,
    pub methods: Vec<Method>,
    pub shape: ResponseShape,
    pub strip_prefix: Option<String>,
    pub decision: RouteDecision,
}

#[derive(Debug, Clone)]
pub enum RouteDecision {
    /// Always this variant: no user key needed, no exposure.
    Fixed(String),
    Decide(DecisionSpec),
}

impl RouteDecision {
    /// Every variant this decision can pick.
    pub fn variants(&self) -> Vec<&str> {
        match self {
            RouteDecision::Fixed(v) => vec![v],
            RouteDecision::Decide(DecisionSpec::Gate { pass, fail, .. }) => vec![pass, fail],
            RouteDecision::Decide(
                DecisionSpec::Experiment {
                    variants, default, ..
                }
                | DecisionSpec::DynamicConfig {
                    variants, default, ..
                },
            ) => variants
                .values()
                .map(String::as_str)
                .chain([default.as_str()])
                .collect(),
        }
    }
}

/// Overrides from the command line or environment; paths relative to the
/// working directory.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub plugin_dir: Option<PathBuf>,
    pub specs_file: Option<PathBuf>,
    pub workers: Option<usize>,
}

impl Config {
    /// Read, parse and validate `path`, then apply `overrides`.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let source = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let text = std::fs::read_to_string(&source).map_err(|e| ConfigError::Read {
            file: source.clone(),
            reason: e,
        })?;
        let mut config = Config::parse(&text, &source)?;
        config.apply(overrides);
        Ok(config)
    }

    /// Parse and validate `text`, resolving relative paths against `source`'s directory.
    pub fn parse(text: &str, source: &Path) -> Result<Config, ConfigError> {
        let loc = Locator::new(source, text);
        let deserializer = toml::Deserializer::parse(text).map_err(|e| loc.toml(e, None))?;
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            loc.toml(e.into_inner(), Some(key))
        })?;
        let base = source.parent().map(Path::to_path_buf).unwrap_or_default();
        resolve(raw, source, &base, &loc)
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(listen) = &o.listen {
            self.listen = listen.clone();
        }
        if let Some(admin) = &o.admin_listen {
            self.admin_listen = Some(admin.clone());
        }
        if let Some(dir) = &o.plugin_dir {
            self.plugins.dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        }
        if let Some(specs) = &o.specs_file {
            self.statsig.specs_file = std::path::absolute(specs).unwrap_or_else(|_| specs.clone());
        }
        if let Some(workers) = o.workers {
            self.workers = workers;
        }
    }

    /// The listen address as a socket address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| ConfigError::Invalid {
            file: self.source.clone(),
            line: 0,
            column: 0,
            key: "server.listen".into(),
            message: format!("`{}` is not an address like 127.0.0.1:8080", self.listen),
        })
    }
}

fn resolve(
    raw: RawConfig,
    source: &Path,
    base: &Path,
    loc: &Locator,
) -> Result<Config, ConfigError> {
    let abs = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };

    if raw.server.listen.parse::<SocketAddr>().is_err() {
        return Err(loc.at_key(
            "server.listen",
            format!(
                "`{}` is not an address like 127.0.0.1:8080",
                raw.server.listen
            ),
        ));
    }
    let include = raw
        .plugins
        .include
        .iter()
        .map(|g| {
            glob::Pattern::new(g)
                .map_err(|e| loc.at_key("plugins.include", format!("bad glob `{g}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;

    // One source of rules: a specs document, or definitions made into one.
    let specs_source = match (&raw.statsig.specs_file, &raw.statsig.definitions_file) {
        (Some(_), Some(_)) => {
            return Err(loc.at_key(
                "statsig.definitions_file",
                "set either specs_file or definitions_file, not both".into(),
            ))
        }
        (None, Some(defs)) => defs.clone(),
        (Some(specs), None) => specs.clone(),
        (None, None) => PathBuf::from("statsig_specs.json"),
    };
    let mut allowed_sha256 = Vec::new();
    for (i, h) in raw.plugins.allowed_sha256.iter().enumerate() {
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(loc.at_key(
                &format!("plugins.allowed_sha256[{i}]"),
                format!("`{h}` is not a SHA-256 digest (64 hex digits)"),
            ));
        }
        allowed_sha256.push(h.to_ascii_lowercase());
    }
    if raw.server.body_timeout_secs == 0 {
        return Err(loc.at_key("server.body_timeout_secs", "must be at least 1".into()));
    }
    if raw.server.max_connections == 0 {
        return Err(loc.at_key("server.max_connections", "must be at least 1".into()));
    }
    if let Some(admin) = &raw.server.admin_listen {
        if admin.parse::<SocketAddr>().is_err() {
            return Err(loc.at_key(
                "server.admin_listen",
                format!("`{admin}` is not an address like 127.0.0.1:9090"),
            ));
        }
    }
    if !(1..=1000).contains(&raw.statsig.exposures_flush_ms) {
        return Err(loc.at_key(
            "statsig.exposures_flush_ms",
            "must be between 1 and 1000: exposures are to be on disk within a second".into(),
        ));
    }
    let user = &raw.user;
    if user.key_query.is_none() && user.key_header.is_none() && user.key_cookie.is_none() {
        return Err(loc.at_key(
            "user",
            "one of key_query, key_header, key_cookie must be set".into(),
        ));
    }
    let mut attributes = Vec::new();
    for (i, a) in user.attributes.iter().enumerate() {
        let Ok(header) = HeaderName::from_bytes(a.header.as_bytes()) else {
            return Err(loc.at_key(
                &format!("user.attributes[{i}].header"),
                format!("`{}` is not a header name", a.header),
            ));
        };
        if a.field.is_empty() {
            return Err(loc.at_key(
                &format!("user.attributes[{i}].field"),
                "must not be empty".into(),
            ));
        }
        let field = match variantd_decision::TopLevelField::from_statsig_name(&a.field) {
            Some(top) => UserField::TopLevel(top),
            None => UserField::Custom(a.field.clone()),
        };
        attributes.push((header, field));
    }
    let mut ids = Vec::new();
    for (i, id) in user.ids.iter().enumerate() {
        let key = format!("user.ids[{i}]");
        if id.id_type.is_empty() || id.id_type.eq_ignore_ascii_case("userID") {
            return Err(loc.at_key(
                &format!("{key}.id_type"),
                "must name a custom id type such as stableID (userID is the user key)".into(),
            ));
        }
        let from = match (&id.header, &id.cookie, &id.query) {
            (Some(h), None, None) => match HeaderName::from_bytes(h.as_bytes()) {
                Ok(h) => IdPlace::Header(h),
                Err(_) => {
                    return Err(loc.at_key(
                        &format!("{key}.header"),
                        format!("`{h}` is not a header name"),
                    ))
                }
            },
            (None, Some(c), None) => IdPlace::Cookie(c.clone()),
            (None, None, Some(q)) => IdPlace::Query(q.clone()),
            _ => return Err(loc.at_key(&key, "set exactly one of header, cookie, query".into())),
        };
        ids.push(UnitIdSource {
            id_type: id.id_type.clone(),
            from,
            default: id.default.clone(),
        });
    }

    let mut variants = BTreeMap::new();
    for (name, v) in &raw.variants {
        let key = format!("variants.{name}");
        if !valid_name(name) {
            return Err(loc.at_key(
                &key,
                "variant names may use only letters, digits, `_` and `-`".into(),
            ));
        }
        let target = match (&v.plugin, &v.url) {
            (Some(plugin), None) => {
                let config_json = match &v.config {
                    Some(value) => serde_json::to_string(value)
                        .map_err(|e| loc.at_key(&format!("{key}.config"), e.to_string()))?,
                    None => "{}".into(),
                };
                VariantTarget::Plugin {
                    plugin: plugin.get_ref().clone(),
                    config_json,
                    blocking: v.blocking,
                }
            }
            (None, Some(url)) => {
                let u = url.get_ref().trim_end_matches('/');
                let parsed: Result<actix_web::http::Uri, _> = u.parse();
                let https = match parsed {
                    Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => false,
                    Ok(uri) if uri.scheme_str() == Some("https") && uri.host().is_some() => true,
                    _ => {
                        return Err(loc.at_span(
                            url.span(),
                            &format!("{key}.url"),
                            format!("`{u}` is not an http or https URL"),
                        ))
                    }
                };
                let tls = remote_tls(v, https, &key, &abs, loc)?;
                if v.timeout_ms == 0 || v.connect_timeout_ms == 0 {
                    return Err(loc.at_key(&key, "timeouts must be greater than 0".into()));
                }
                VariantTarget::Remote(RemoteConfig {
                    url: u.to_string(),
                    tls,
                    websocket_idle_timeout_ms: v.websocket_idle_timeout_ms.max(1),
                    websocket_max_message_bytes: v.websocket_max_message_bytes.max(1),
                    connect_timeout_ms: v.connect_timeout_ms,
                    timeout_ms: v.timeout_ms,
                    retries: v.retries,
                    breaker_failures: v.breaker_failures.max(1),
                    breaker_cooldown_ms: v.breaker_cooldown_ms,
                })
            }
            (Some(_), Some(url)) => {
                return Err(loc.at_span(
                    url.span(),
                    &key,
                    "set either `plugin` or `url`, not both".into(),
                ))
            }
            (None, None) => {
                return Err(loc.at_key(
                    &key,
                    "needs `plugin = \"<plugin name>\"` or `url = \"http://…\"`".into(),
                ))
            }
        };
        variants.insert(
            name.clone(),
            VariantConfig {
                name: name.clone(),
                label: v.label.clone().unwrap_or_else(|| name.clone()),
                target,
                fallback: v.fallback.as_ref().map(|f| f.get_ref().clone()),
            },
        );
    }
    // Fallbacks must name a variant other than their own.
    for (name, v) in &raw.variants {
        if let Some(fb) = &v.fallback {
            let fb_name = fb.get_ref();
            if !variants.contains_key(fb_name) || fb_name == name {
                return Err(loc.at_span(
                    fb.span(),
                    &format!("variants.{name}.fallback"),
                    format!("unknown variant `{fb_name}`"),
                ));
            }
        }
    }

    let known = |s: &toml::Spanned<String>, key: &str| -> Result<String, ConfigError> {
        if variants.contains_key(s.get_ref()) {
            Ok(s.get_ref().clone())
        } else {
            Err(loc.at_span(s.span(), key, format!("unknown variant `{}`", s.get_ref())))
        }
    };

    let mut routes = Vec::new();
    let mut seen_paths = std::collections::HashSet::new();
    let mut matcher = matchit::Router::<()>::new();
    for b in crate::http::endpoints::BUILT_INS {
        let _ = matcher.insert(b.pattern, ());
    }
    for (i, r) in raw.routes.iter().enumerate() {
        let key = format!("routes[{i}]");
        let path = r.path.get_ref();
        if !path.starts_with('/') {
            return Err(loc.at_span(
                r.path.span(),
                &format!("{key}.path"),
                "must start with `/`".into(),
            ));
        }
        if crate::http::endpoints::reserved_prefixes()
            .any(|p| path == p || path.starts_with(&format!("{p}/")))
        {
            return Err(loc.at_span(
                r.path.span(),
                &format!("{key}.path"),
                format!("`{path}` is served by variantd itself"),
            ));
        }
        if let Err(e) = matchit::Router::<()>::new().insert(path.as_str(), ()) {
            return Err(loc.at_span(
                r.path.span(),
                &format!("{key}.path"),
                format!("bad pattern: {e}"),
            ));
        }
        if !seen_paths.insert(path.clone()) {
            return Err(loc.at_span(
                r.path.span(),
                &format!("{key}.path"),
                format!("`{path}` is routed twice"),
            ));
        }
        // The routes share one matcher with the built-in endpoints: a
        // pattern it cannot hold beside the others is refused here, with
        // the one it conflicts with, rather than when the table is built.
        if let Err(e) = matcher.insert(path.as_str(), ()) {
            return Err(loc.at_span(
                r.path.span(),
                &format!("{key}.path"),
                format!("conflicts with another route: {e}"),
            ));
        }
        let methods = r
            .methods
            .iter()
            .map(|m| {
                Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| {
                    loc.at_key(
                        &format!("{key}.methods"),
                        format!("`{m}` is not an HTTP method"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let chosen = [
            r.variant.is_some(),
            r.gate.is_some(),
            r.experiment.is_some(),
            r.dynamic_config.is_some(),
        ];
        if chosen.iter().filter(|b| **b).count() != 1 {
            return Err(loc.at_span(
                r.path.span(),
                &key,
                "set exactly one of `variant`, `gate`, `experiment`, `dynamic_config`".into(),
            ));
        }
        let decision = if let Some(v) = &r.variant {
            RouteDecision::Fixed(known(v, &format!("{key}.variant"))?)
        } else if let Some(gate) = &r.gate {
            let (Some(pass), Some(fail)) = (&r.pass, &r.fail) else {
                return Err(loc.at_span(
                    gate.span(),
                    &key,
                    "a gate route needs `pass` and `fail` variants".into(),
                ));
            };
            RouteDecision::Decide(DecisionSpec::Gate {
                name: gate.get_ref().clone(),
                pass: known(pass, &format!("{key}.pass"))?,
                fail: known(fail, &format!("{key}.fail"))?,
            })
        } else {
            let (name, is_experiment) = match (&r.experiment, &r.dynamic_config) {
                (Some(e), _) => (e, true),
                (_, Some(d)) => (d, false),
                _ => unreachable!("checked above"),
            };
            let Some(default) = &r.default else {
                return Err(loc.at_span(name.span(), &key, "needs a `default` variant".into()));
            };
            let default = known(default, &format!("{key}.default"))?;
            let mut map = std::collections::HashMap::new();
            for (value, variant) in &r.map {
                map.insert(
                    value.clone(),
                    known(variant, &format!("{key}.map.{value}"))?,
                );
            }
            let (name, parameter) = (name.get_ref().clone(), r.parameter.clone());
            RouteDecision::Decide(if is_experiment {
                DecisionSpec::Experiment {
                    name,
                    parameter,
                    variants: map,
                    default,
                }
            } else {
                DecisionSpec::DynamicConfig {
                    name,
                    parameter,
                    variants: map,
                    default,
                }
            })
        };
        routes.push(RouteConfig {
            path: path.clone(),
            methods,
            shape: r.response,
            strip_prefix: r.strip_prefix.clone().filter(|p| !p.is_empty()),
            decision,
        });
    }

    Ok(Config {
        source: source.to_path_buf(),
        listen: raw.server.listen.clone(),
        workers: raw.server.workers,
        shutdown_timeout_secs: raw.server.shutdown_timeout_secs,
        access_log: raw.server.access_log,
        log_format: raw.server.log_format,
        public_url: raw
            .server
            .public_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_string()),
        max_body_bytes: raw.server.max_body_bytes,
        decision_headers: raw.server.decision_headers,
        body_timeout: std::time::Duration::from_secs(raw.server.body_timeout_secs),
        max_connections: raw.server.max_connections,
        admin_listen: raw.server.admin_listen.clone(),
        tls: server_tls(&raw.server, &abs, loc)?,
        plugins: PluginsConfig {
            dir: abs(&raw.plugins.dir),
            include,
            max_retained_libraries: raw.plugins.max_retained_libraries,
            debounce_ms: raw.plugins.debounce_ms,
            watch: raw.plugins.watch,
            allowed_sha256,
        },
        statsig: StatsigConfig {
            specs_file: abs(&specs_source),
            exposures_file: raw.statsig.exposures_file.as_deref().map(abs),
            exposures_flush: std::time::Duration::from_millis(raw.statsig.exposures_flush_ms),
            exposures_max_bytes: raw.statsig.exposures_max_bytes,
            exposures_keep: raw.statsig.exposures_keep,
            init_timeout_ms: raw.statsig.init_timeout_ms,
            environment: raw.statsig.environment.clone(),
            api_url: raw.statsig.api_url.clone(),
            decision_cache_entries: raw.statsig.decision_cache_entries,
        },
        user: UserConfig {
            key_query: user.key_query.clone(),
            key_header: user.key_header.clone(),
            key_cookie: user.key_cookie.clone(),
            client_ip: user.client_ip,
            trust_forwarded_for: user.trust_forwarded_for,
            user_agent: user.user_agent,
            attributes,
            ids,
        },
        variants,
        routes,
        raw,
    })
}

/// A remote variant's TLS keys: only on `https://` URLs, a client
/// certificate with its key, and files that load (so a broken file refuses
/// the config, or the reload, with its key named).
fn remote_tls(
    v: &schema::VariantSection,
    https: bool,
    key: &str,
    abs: &dyn Fn(&Path) -> PathBuf,
    loc: &Locator,
) -> Result<Option<RemoteTlsConfig>, ConfigError> {
    let set: Vec<&str> = [
        ("tls_ca_file", v.tls_ca_file.is_some()),
        ("tls_server_name", v.tls_server_name.is_some()),
        ("tls_client_cert", v.tls_client_cert.is_some()),
        ("tls_client_key", v.tls_client_key.is_some()),
        ("insecure_skip_verify", v.insecure_skip_verify),
        ("http2", v.http2.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    if !https {
        if let Some(first) = set.first() {
            return Err(loc.at_key(
                &format!("{key}.{first}"),
                "TLS settings apply only to an https:// url".into(),
            ));
        }
        return Ok(None);
    }
    if v.tls_client_cert.is_some() != v.tls_client_key.is_some() {
        return Err(loc.at_key(
            key,
            "mutual TLS needs both `tls_client_cert` and `tls_client_key`".into(),
        ));
    }
    if v.insecure_skip_verify && (v.tls_ca_file.is_some() || v.tls_server_name.is_some()) {
        return Err(loc.at_key(
            &format!("{key}.insecure_skip_verify"),
            "verifies nothing, so `tls_ca_file` and `tls_server_name` would be ignored: set one or the other".into(),
        ));
    }
    if let Some(name) = &v.tls_server_name {
        if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
            return Err(loc.at_key(
                &format!("{key}.tls_server_name"),
                format!("`{name}` is not a DNS name or IP address"),
            ));
        }
    }
    let tls = RemoteTlsConfig {
        ca_file: v.tls_ca_file.as_deref().map(abs),
        server_name: v.tls_server_name.clone(),
        client_cert: v.tls_client_cert.as_deref().map(abs),
        client_key: v.tls_client_key.as_deref().map(abs),
        insecure_skip_verify: v.insecure_skip_verify,
        http2: v.http2,
    };
    crate::tls::client::build(&tls).map_err(|e| loc.at_key(key, e.to_string()))?;
    Ok(Some(tls))
}

/// `[server.tls]`: both files, loaded once here so a bad one is a config
/// error with its key.
fn server_tls(
    server: &schema::ServerSection,
    abs: &dyn Fn(&Path) -> PathBuf,
    loc: &Locator,
) -> Result<Option<ServerTlsConfig>, ConfigError> {
    let Some(t) = &server.tls else {
        return Ok(None);
    };
    let tls = ServerTlsConfig {
        cert_file: abs(&t.cert_file),
        key_file: abs(&t.key_file),
        client_ca_file: t.client_ca_file.as_deref().map(abs),
    };
    crate::tls::server::check(&tls).map_err(|e| loc.at_key("server.tls", e.to_string()))?;
    Ok(Some(tls))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests;
