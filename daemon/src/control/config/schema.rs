//! The TOML schema, as written by operators. Every section denies unknown keys
//! so a typo is a startup error with its line, not a silently ignored setting.
//! `config/variantd.toml` documents every key; keep the two in step.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Spanned;

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub plugins: PluginsSection,
    #[serde(default)]
    pub statsig: StatsigSection,
    #[serde(default)]
    pub user: UserSection,
    #[serde(default)]
    pub variants: BTreeMap<String, VariantSection>,
    #[serde(default)]
    pub routes: Vec<RouteSection>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// `host:port`; loopback by default so a fresh install exposes nothing.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// actix worker threads; 0 = one per core.
    #[serde(default)]
    pub workers: usize,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
    /// One log line per request, written in batches (see `telemetry`).
    #[serde(default = "default_true")]
    pub access_log: bool,
    /// `text` or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Base URL other services should use to reach this daemon (for
    /// `/endpoints`), trailing `/` trimmed. Unset: `http://` (or `https://`
    /// with `[server.tls]`) plus the request's `Host` header when it is a
    /// well-formed host, else the local address the connection arrived on.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes (plugins receive it whole).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Which `x-variantd-*` headers tell the client how it was routed.
    #[serde(default)]
    pub decision_headers: DecisionHeaders,
    /// Longest time a request body may take to arrive, in seconds; a client
    /// that stalls is answered 408 and its connection closed.
    #[serde(default = "default_body_timeout")]
    pub body_timeout_secs: u64,
    /// Open client connections at most, in all; past it new connections wait
    /// in the kernel's backlog until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A separate `host:port` for the admin API. When set, `/admin/*` is
    /// served only there, never on `listen`, so nothing that reaches the
    /// public listener (a root proxying to this daemon, say) can reach it.
    #[serde(default)]
    pub admin_listen: Option<String>,
    /// Serve HTTPS on `listen` (plain HTTP without this section).
    #[serde(default)]
    pub tls: Option<ServerTlsSection>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsSection {
    /// PEM: the certificate, then its chain. Reread when it changes.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). Reread when it changes.
    pub key_file: PathBuf,
    /// PEM CAs; when set, every client must present a certificate they signed.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

impl Default for ServerSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

/// Rule ids and reasons name internal targeting rules (`qa_allowlist`,
/// `plan_enterprise`), and even the variant tells a client it is in a test;
/// operators serving the public may not want either in every answer. The
/// access log and `/metrics` keep all of it either way.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DecisionHeaders {
    /// `x-variantd-variant`, `-fallback-from`, `-decided-by`, `-rule-id`, `-reason`.
    #[default]
    All,
    /// Only which variant answered (`x-variantd-variant`, `-fallback-from`).
    Variant,
    /// No `x-variantd-*` headers.
    None,
}

impl DecisionHeaders {
    /// Answers say which variant answered, and which one it stood in for.
    pub fn show_variant(self) -> bool {
        self != DecisionHeaders::None
    }

    /// Answers also say who decided, by which rule and why.
    pub fn show_reasons(self) -> bool {
        self == DecisionHeaders::All
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    /// Directory scanned and watched for plugin libraries.
    #[serde(default = "default_plugin_dir")]
    pub dir: PathBuf,
    /// File-name globs of the libraries to load from `dir`.
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    /// Old library copies that could not be unmapped and stay resident; once
    /// reached, further swaps are refused (the current version keeps serving).
    #[serde(default = "default_max_retained")]
    pub max_retained_libraries: usize,
    /// Quiet time after the last file event before a reload runs.
    #[serde(default = "default_debounce_ms")]
    pub debounce_ms: u64,
    /// Whether to watch `dir`, the config and the specs files for changes.
    #[serde(default = "default_true")]
    pub watch: bool,
    /// When not empty, only files whose SHA-256 (hex) is listed load.
    #[serde(default)]
    pub allowed_sha256: Vec<String>,
}

impl Default for PluginsSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatsigSection {
    /// dcs-v2 specs file: the offline source, and the starting point when
    /// live (default `statsig_specs.json`) ...
    #[serde(default)]
    pub specs_file: Option<PathBuf>,
    /// ... or a definitions file (TOML) that variantd turns into specs.
    #[serde(default)]
    pub definitions_file: Option<PathBuf>,
    /// Offline: exposures and custom events are appended here as JSON lines.
    #[serde(default)]
    pub exposures_file: Option<PathBuf>,
    /// Offline: how often queued exposures and events are written (ms, at
    /// most 1000): what a crash (kill -9, OOM) can lose.
    #[serde(default = "default_exposures_flush_ms")]
    pub exposures_flush_ms: u64,
    /// Offline: the exposures file is rotated (`.1`, `.2`, ...) before it
    /// grows past this many bytes; 0 = never.
    #[serde(default = "default_exposures_max_bytes")]
    pub exposures_max_bytes: u64,
    /// Offline: rotated exposures files kept besides the current one.
    #[serde(default = "default_exposures_keep")]
    pub exposures_keep: usize,
    /// Live mode: longest time startup waits for Statsig.
    #[serde(default = "default_init_timeout_ms")]
    pub init_timeout_ms: u64,
    /// Statsig environment tier (`production`, `staging`, ...).
    #[serde(default)]
    pub environment: Option<String>,
    /// Live mode: override of Statsig's API base URL (egress proxies).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Distinct (user, decision) results cached per specs version, in all;
    /// each worker thread keeps an equal share. 0 = off.
    #[serde(default = "default_decision_cache")]
    pub decision_cache_entries: usize,
}

impl Default for StatsigSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserSection {
    /// Where the user key is read from, tried in this order: query
    /// parameter, header, cookie. At least one must be set.
    #[serde(default = "default_key_query")]
    pub key_query: Option<String>,
    #[serde(default)]
    pub key_header: Option<String>,
    #[serde(default)]
    pub key_cookie: Option<String>,
    /// Pass the client IP to Statsig as the `ip` user field.
    #[serde(default = "default_true")]
    pub client_ip: bool,
    /// Only behind a trusted proxy: take the client IP from the first
    /// `X-Forwarded-For` entry, and pass on the `X-Forwarded-Proto`/`-Host`
    /// it reports to remote variants instead of this daemon's own.
    #[serde(default)]
    pub trust_forwarded_for: bool,
    /// Pass the request's `User-Agent` to Statsig as `userAgent` (browser,
    /// OS and version rules need it).
    #[serde(default = "default_true")]
    pub user_agent: bool,
    /// Request headers that become Statsig user fields: a top-level one
    /// (`email`, `country`, `locale`, `appVersion`) or else a custom field.
    #[serde(default)]
    pub attributes: Vec<AttributeSection>,
    /// Custom unit ids (`stableID`, `companyID`, ...), each from a header, a
    /// cookie or a query parameter.
    #[serde(default)]
    pub ids: Vec<UnitIdSection>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UnitIdSection {
    /// Statsig's id type, as gates and experiments name their unit.
    pub id_type: String,
    /// Exactly one of these three says where the id is read from.
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub cookie: Option<String>,
    #[serde(default)]
    pub query: Option<String>,
    /// The id to use when the request carries none (else such a request,
    /// on a route whose decision is by this unit, is answered 400).
    #[serde(default)]
    pub default: Option<String>,
}

impl Default for UserSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeSection {
    pub header: String,
    pub field: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSection {
    /// What callers see as `selected_variant`; default: the variant's name.
    #[serde(default)]
    pub label: Option<String>,
    /// Declared name of the plugin that serves this variant ...
    #[serde(default)]
    pub plugin: Option<Spanned<String>>,
    /// ... or the base URL of a remote app that variantd proxies to.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// Passed to the plugin's `init` as JSON.
    #[serde(default)]
    pub config: Option<toml::Value>,
    /// Run the plugin on the blocking pool (for plugins that do I/O).
    #[serde(default)]
    pub blocking: bool,
    /// Variant that answers when this one cannot (plugin missing, upstream down).
    #[serde(default)]
    pub fallback: Option<Spanned<String>>,
    /// Remote variants: connection and whole-request time limits.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Remote variants: extra attempts for idempotent methods.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Remote variants: consecutive failures that open the circuit, and how
    /// long it stays open before one probe request is let through.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    #[serde(default = "default_breaker_cooldown_ms")]
    pub breaker_cooldown_ms: u64,
    /// `https://` remote variants: CAs to trust instead of the system's.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// The name to expect on the certificate (and to send as SNI and Host).
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// Mutual TLS: the certificate and key variantd presents.
    #[serde(default)]
    pub tls_client_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_client_key: Option<PathBuf>,
    /// Accept any certificate (test setups only; warned about loudly).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// true: HTTP/2 only; false: HTTP/1.1 only; unset: what ALPN agrees.
    #[serde(default)]
    pub http2: Option<bool>,
    /// Relayed WebSockets: closed after this long without a message.
    #[serde(default = "default_websocket_idle_timeout_ms")]
    pub websocket_idle_timeout_ms: u64,
    /// Relayed WebSockets: largest message either way.
    #[serde(default = "default_websocket_max_message_bytes")]
    pub websocket_max_message_bytes: usize,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ResponseShape {
    /// The original example's `{"ab_test_result":…,"response":…}`.
    Envelope,
    /// The variant's answer as given, plus `x-variantd-*` headers.
    #[default]
    Transparent,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// matchit pattern: `/process/{message}`, `/api/{*rest}`.
    pub path: Spanned<String>,
    /// Allowed methods; empty = any.
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub response: ResponseShape,
    /// Removed from the request path before it reaches the variant.
    #[serde(default)]
    pub strip_prefix: Option<String>,
    // Exactly one of the following four decides.
    #[serde(default)]
    pub variant: Option<Spanned<String>>,
    #[serde(default)]
    pub gate: Option<Spanned<String>>,
    #[serde(default)]
    pub experiment: Option<Spanned<String>>,
    #[serde(default)]
    pub dynamic_config: Option<Spanned<String>>,
    /// Gate routes: the variants for a passing and a failing gate.
    #[serde(default)]
    pub pass: Option<Spanned<String>>,
    #[serde(default)]
    pub fail: Option<Spanned<String>>,
    /// Experiment / dynamic-config routes: the string parameter naming the
    /// variant, a map from its values to variant names (a value not in the map
    /// is taken as a variant name), and the variant when it names none.
    #[serde(default = "default_parameter")]
    pub parameter: String,
    #[serde(default)]
    pub map: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub default: Option<Spanned<String>>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_shutdown_timeout() -> u64 {
    30
}
fn default_true() -> bool {
    true
}
fn default_body_timeout() -> u64 {
    30
}
fn default_max_connections() -> usize {
    10_000
}
fn default_exposures_flush_ms() -> u64 {
    1000
}
fn default_exposures_max_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_exposures_keep() -> usize {
    5
}
fn default_max_body() -> usize {
    16 * 1024 * 1024
}
fn default_plugin_dir() -> PathBuf {
    "plugins".into()
}
fn default_include() -> Vec<String> {
    vec!["*.so".into()]
}
fn default_max_retained() -> usize {
    64
}
fn default_debounce_ms() -> u64 {
    100
}
fn default_init_timeout_ms() -> u64 {
    3000
}
fn default_decision_cache() -> usize {
    100_000
}
fn default_key_query() -> Option<String> {
    Some("user_key".into())
}
fn default_connect_timeout_ms() -> u64 {
    1000
}
fn default_timeout_ms() -> u64 {
    5000
}
fn default_retries() -> u32 {
    1
}
fn default_breaker_failures() -> u32 {
    5
}
fn default_breaker_cooldown_ms() -> u64 {
    5000
}
fn default_websocket_idle_timeout_ms() -> u64 {
    60_000
}
fn default_websocket_max_message_bytes() -> usize {
    1024 * 1024
}
fn default_parameter() -> String {
    "variant".into()
}
