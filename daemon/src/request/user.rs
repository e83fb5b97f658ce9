//! From an HTTP request to the Statsig user: the user key (query parameter,
//! header or cookie, as configured) and the mapped custom attributes.
//!
//! The query parameter is found by a hand-rolled scan; it lives in
//! [`query`], beside the plain version it is tested against.

use actix_web::http::header::{HeaderMap, HeaderName, USER_AGENT, X_FORWARDED_FOR};
use actix_web::HttpRequest;
use std::net::IpAddr;

use crate::request::decide::RequestUser;

use crate::control::config::{IdPlace, UnitIdSource, UserConfig, UserField};

mod query;

use query::{query_param, NotUtf8};

/// Why a request has no usable user key.
#[derive(Debug, thiserror::Error)]
pub enum UserKeyError {
    /// It carried none in any configured place.
    #[error("missing user key: {}", .tried.join(", "))]
    Missing {
        /// Where we looked, e.g. `query parameter \`user_key\``.
        tried: Vec<String>,
    },
    /// The query parameter decodes to bytes that are not UTF-8. Decoding
    /// them lossily would make distinct keys one user (`%ff` and `%fe`
    /// both become U+FFFD), so such a key is refused.
    #[error("query parameter `{parameter}` is not valid UTF-8 once percent-decoded")]
    NotUtf8 { parameter: String },
}

impl UserKeyError {
    /// The JSON error body's details.
    pub fn detail(&self) -> serde_json::Value {
        match self {
            UserKeyError::Missing { tried } => serde_json::json!({ "expected": tried }),
            UserKeyError::NotUtf8 { parameter } => serde_json::json!({ "parameter": parameter }),
        }
    }
}

/// The user key alone, when present and well-formed.
pub fn user_key(req: &HttpRequest, cfg: &UserConfig) -> Result<Option<String>, UserKeyError> {
    if let Some(param) = &cfg.key_query {
        match query_param(req.query_string(), param) {
            Some(Ok(v)) if !v.is_empty() => return Ok(Some(v)),
            Some(Err(NotUtf8)) => {
                return Err(UserKeyError::NotUtf8 {
                    parameter: param.clone(),
                })
            }
            _ => {}
        }
    }
    if let Some(header) = &cfg.key_header {
        if let Some(v) = req
            .headers()
            .get(header.as_str())
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
        {
            return Ok(Some(v.to_string()));
        }
    }
    if let Some(cookie) = &cfg.key_cookie {
        if let Some(c) = req.cookie(cookie).filter(|c| !c.value().is_empty()) {
            return Ok(Some(c.value().to_string()));
        }
    }
    Ok(None)
}

/// The full Statsig user for a decision. Without a user key the request is
/// refused here, unless custom unit ids are configured: a decision by such a
/// unit needs no user key (the caller checks the unit it needs with
/// [`RequestUser::has_unit`] once the decision says which).
pub fn request_user(req: &HttpRequest, cfg: &UserConfig) -> Result<RequestUser, UserKeyError> {
    let user_key = match user_key(req, cfg)? {
        Some(key) => key,
        None if !cfg.ids.is_empty() => String::new(),
        None => return Err(missing_key(cfg, None)),
    };
    let ip = cfg
        .client_ip
        .then(|| client_ip(req, cfg.trust_forwarded_for))
        .flatten();
    let headers = req.headers();
    let user_agent = cfg
        .user_agent
        .then(|| headers.get(USER_AGENT).cloned())
        .flatten();
    let mut top_level = Vec::new();
    let mut custom = Vec::new();
    for (header, field) in &cfg.attributes {
        let Some(value) = headers.get(header).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        match field {
            UserField::TopLevel(top) => top_level.push((*top, value.to_string())),
            UserField::Custom(name) => custom.push((name.clone(), value.to_string())),
        }
    }
    let custom_ids = cfg
        .ids
        .iter()
        .filter_map(|source| custom_id(req, source).map(|id| (source.id_type.clone(), id)))
        .collect();
    Ok(RequestUser {
        user_key,
        ip,
        user_agent,
        top_level,
        custom,
        custom_ids,
    })
}

/// The 400 for a request that lacks the unit a decision is made on: where
/// the user key (or, for a custom `unit_type`, that id) was looked for.
pub fn missing_key(cfg: &UserConfig, unit_type: Option<&str>) -> UserKeyError {
    let mut tried = Vec::new();
    match unit_type.filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("userID")) {
        Some(unit) => {
            for source in cfg
                .ids
                .iter()
                .filter(|s| s.id_type.eq_ignore_ascii_case(unit))
            {
                tried.push(format!("{} ({unit})", source.from));
            }
            if tried.is_empty() {
                tried.push(format!("no [[user.ids]] entry reads `{unit}`"));
            }
        }
        None => {
            if let Some(q) = &cfg.key_query {
                tried.push(format!("query parameter `{q}`"));
            }
            if let Some(h) = &cfg.key_header {
                tried.push(format!("header `{h}`"));
            }
            if let Some(c) = &cfg.key_cookie {
                tried.push(format!("cookie `{c}`"));
            }
        }
    }
    UserKeyError::Missing { tried }
}

/// A custom unit id from its place in the request, or its default.
fn custom_id(req: &HttpRequest, source: &UnitIdSource) -> Option<String> {
    let found = match &source.from {
        IdPlace::Header(h) => req
            .headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        IdPlace::Cookie(c) => req.cookie(c).map(|c| c.value().to_string()),
        IdPlace::Query(q) => query_param(req.query_string(), q).and_then(Result::ok),
    };
    found
        .filter(|v| !v.is_empty())
        .or_else(|| source.default.clone())
}

/// The client's IP: the socket peer, or the first X-Forwarded-For entry when trusted.
pub fn client_ip(req: &HttpRequest, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        if let Some(first) =
            first_forwarded(req.headers(), &X_FORWARDED_FOR).and_then(|v| v.parse().ok())
        {
            return Some(first);
        }
    }
    req.peer_addr().map(|a| a.ip())
}

/// The first entry of a forwarding header (`X-Forwarded-For: client, proxy`),
/// the one nearest the client. To be believed only behind trusted proxies.
pub fn first_forwarded<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let first = headers.get(name)?.to_str().ok()?.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::{query_param, NotUtf8};

    #[test]
    fn query_param_finds_what_form_urlencoded_finds() {
        let queries = [
            "",
            "user_key=u1",
            "a=1&user_key=u2&user_key=u3",
            "user_key=&user_key=u4",
            "user_key",
            "&&user_key=u5&",
            "user_key=a=b",
            "user_keyx=1&xuser_key=2",
            "user_key=caf%C3%A9",
            "user_key=two+words",
            "user%5Fkey=encoded-name&user_key=plain",
            "a=%zz&user_key=u6",
            "user_key=café&x=ü",
            "user_key=100%",
            "user_key=%zz",
            "x=%ff&user_key=ok",
        ];
        for query in queries {
            let expected = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "user_key")
                .map(|(_, v)| Ok(v.into_owned()));
            assert_eq!(query_param(query, "user_key"), expected, "{query:?}");
        }
    }

    #[test]
    fn a_key_that_decodes_to_bytes_not_utf8_is_refused_not_merged() {
        assert_eq!(query_param("user_key=%ff", "user_key"), Some(Err(NotUtf8)));
        assert_eq!(query_param("user_key=%fe", "user_key"), Some(Err(NotUtf8)));
        assert_eq!(query_param("user_key=a%C3", "user_key"), Some(Err(NotUtf8)));
    }
}
