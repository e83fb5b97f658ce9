//! How the engine is configured.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where the engine gets its specs from and where its events go.
#[derive(Debug, Clone)]
pub struct StatsigSettings {
    /// Local dcs-v2 specs file: the only source offline, the starting point live.
    /// A path ending in `.toml` is a definitions file instead (see
    /// [`crate::definitions`]): it is turned into a dcs-v2 document on every
    /// (re)load, and an invalid edit is refused like an invalid specs file.
    pub specs_path: PathBuf,
    /// Statsig server secret (from `STATSIG_API_KEY`). `None` = offline.
    pub api_key: Option<SecretKey>,
    /// Live mode: startup never waits longer than this for Statsig.
    pub init_timeout: Duration,
    /// Offline: exposures and custom events are appended here as JSON lines.
    /// `None` = offline events are discarded. Ignored live (events go to Statsig).
    pub exposures_path: Option<PathBuf>,
    /// Offline: when the exposures file is rotated.
    pub exposures_rotation: crate::Rotation,
    /// Offline: queued exposures and events are written at least this often
    /// (see [`crate::DecisionEngine::spawn_flusher`]): what a crash can lose.
    pub exposures_flush_interval: Duration,
    /// Statsig environment tier ("production", "staging", ...).
    pub environment: Option<String>,
    /// Live mode: base URL replacing Statsig's API (proxies, tests). The engine
    /// uses `{api_url}/v2/download_config_specs` and `{api_url}/v1/log_event`.
    pub api_url: Option<String>,
}

impl StatsigSettings {
    /// Offline settings reading `specs_path` (dcs-v2 JSON, or definitions if it
    /// ends in `.toml`), with no exposures file.
    pub fn offline(specs_path: impl Into<PathBuf>) -> Self {
        Self {
            specs_path: specs_path.into(),
            api_key: None,
            init_timeout: Duration::from_secs(3),
            exposures_path: None,
            exposures_rotation: crate::Rotation::default(),
            exposures_flush_interval: Duration::from_secs(1),
            environment: None,
            api_url: None,
        }
    }

    /// "offline" or "live".
    pub fn mode(&self) -> &'static str {
        if self.api_key.is_some() {
            "live"
        } else {
            "offline"
        }
    }
}

/// A secret that never shows itself: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself. Only for handing it to statsig; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces the key in `text` by `[redacted]`, also in the partly masked
    /// form statsig-rust produces (see [`scrub_secret_keys`]).
    pub fn redact(&self, text: &str) -> String {
        let text = if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "[redacted]")
        };
        scrub_secret_keys(&text)
    }
}

/// Replaces anything that looks like a Statsig server key (`secret-` followed by
/// letters, digits, `-`, `_` or `*`) by `[redacted]`.
///
/// statsig-rust's own sanitiser keeps the first 5 characters and masks only the
/// alphanumeric run after `secret-`, so a key such as `secret-abcde-fghij` comes
/// out as `secret-abcde*****-fghij`: most of the key is still there.
pub fn scrub_secret_keys(text: &str) -> String {
    const PREFIX: &str = "secret-";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        let after = &rest[at + PREFIX.len()..];
        let end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '*'))
            .unwrap_or(after.len());
        out.push_str("[redacted]");
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_keys_and_statsig_masked_keys() {
        assert_eq!(
            scrub_secret_keys("GET /v2/secret-abc123.json?x=1"),
            "GET /v2/[redacted].json?x=1"
        );
        assert_eq!(
            scrub_secret_keys("a secret-varia*****-test-KEY.json b secret-x"),
            "a [redacted].json b [redacted]"
        );
        assert_eq!(scrub_secret_keys("no keys here"), "no keys here");
        let key = SecretKey::new("client-KEY42");
        assert_eq!(key.redact("url/client-KEY42.json"), "url/[redacted].json");
    }
}
