//! Small shared helpers.

/// Serialize a `SystemTime` as RFC 3339 UTC (`2026-11-24T08:01:08Z`).
pub mod rfc3339 {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_seconds(*t))
    }
}
