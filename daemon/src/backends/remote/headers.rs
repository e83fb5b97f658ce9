//! Which headers cross the proxy hop: hop-by-hop ones never do (RFC 9110
//! §7.6.1), and the hop adds X-Forwarded-* and a request id.

use std::fmt::Write as _;
use std::net::IpAddr;

use actix_web::http::header::{
    HeaderMap, HeaderName, HeaderValue, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO,
};

/// The request id's header, on the way in, upstream and back out.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers to send upstream, already filtered and extended.
#[derive(Default)]
pub struct ForwardContext {
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

pub fn is_hop_by_hop(name: &str, connection_listed: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || connection_listed.iter().any(|c| c == name)
}

/// An upstream answer's headers to pass back: minus hop-by-hop ones and
/// `content-length` (set again for the body we send).
pub fn forwardable_response_headers(headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let listed = connection_listed(headers);
    headers
        .iter()
        .filter(|(n, _)| !is_hop_by_hop(n.as_str(), &listed) && n.as_str() != "content-length")
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// Names listed in the `Connection` header are hop-by-hop too.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("connection")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The request headers to forward: minus hop-by-hop, `host` and
/// `content-length` (awc sets both) and `expect`, plus X-Forwarded-For/-Proto/-Host,
/// X-Real-IP and X-Request-Id.
///
/// `trusted` is `trust_forwarded_for`: only a trusted proxy's own
/// X-Forwarded-For and X-Real-IP are passed on (the peer appended); from
/// anyone else they are claims an upstream must not believe, so they are
/// replaced by what this hop saw.
///
/// The added values come as header values, so that the common ones (the
/// request's own Host, a static scheme, the request id) are shared, not
/// parsed and copied again.
pub fn forwardable_request_headers(
    headers: &HeaderMap,
    peer_ip: Option<IpAddr>,
    trusted: bool,
    scheme: HeaderValue,
    host: Option<HeaderValue>,
    request_id: HeaderValue,
) -> ForwardContext {
    let listed = connection_listed(headers);
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(headers.len() + 4);
    let mut forwarded_for: Option<String> = None;
    for (name, value) in headers.iter() {
        let n = name.as_str();
        // `expect` was answered by our server already; passing it on would make
        // awc wait for a 100-continue (or refuse a body-less request).
        if is_hop_by_hop(n, &listed)
            || n == "host"
            || n == "content-length"
            || n == "x-request-id"
            || n == "expect"
        {
            continue;
        }
        if n == "x-real-ip" && !trusted {
            continue;
        }
        if n == "x-forwarded-for" {
            if let (true, Ok(v)) = (trusted, value.to_str()) {
                forwarded_for = Some(match forwarded_for {
                    Some(prev) => format!("{prev}, {v}"),
                    None => v.to_string(),
                });
            }
            continue;
        }
        if n == "x-forwarded-proto" || n == "x-forwarded-host" {
            continue;
        }
        out.push((name.clone(), value.clone()));
    }
    let mut xff = forwarded_for.unwrap_or_default();
    if let Some(ip) = peer_ip {
        if !xff.is_empty() {
            xff.push_str(", ");
        }
        push_ip(&mut xff, ip);
    }
    if let Ok(xff) = HeaderValue::try_from(xff) {
        if !xff.is_empty() {
            out.push((X_FORWARDED_FOR, xff));
        }
    }
    if let (false, Some(ip)) = (trusted, peer_ip) {
        let mut real = String::with_capacity(15);
        push_ip(&mut real, ip);
        if let Ok(real) = HeaderValue::try_from(real) {
            out.push((X_REAL_IP, real));
        }
    }
    out.push((X_FORWARDED_PROTO, scheme));
    if let Some(host) = host {
        out.push((X_FORWARDED_HOST, host));
    }
    out.push((X_REQUEST_ID, request_id));
    ForwardContext { headers: out }
}

/// Appends `ip` as text. IPv4, what nearly every peer is, without the
/// formatting machinery: `Display` for an `Ipv4Addr` costs more than the
/// rest of the X-Forwarded-* headers together.
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(digits.format(octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        h
    }

    #[test]
    fn strips_hop_by_hop_and_connection_listed_and_adds_forwarded() {
        let h = header_map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-user-plan", "pro"),
        ]);
        let ctx = forwardable_request_headers(
            &h,
            Some([127, 0, 0, 1].into()),
            true,
            HeaderValue::from_static("http"),
            Some(HeaderValue::from_static("example.test")),
            HeaderValue::from_static("rid-1"),
        );
        let get = |n: &str| {
            ctx.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_str().unwrap().to_string())
        };
        assert_eq!(get("connection"), None);
        assert_eq!(get("x-secret-hop"), None);
        assert_eq!(get("te"), None);
        assert_eq!(get("x-user-plan").as_deref(), Some("pro"));
        assert_eq!(
            get("x-forwarded-for").as_deref(),
            Some("10.0.0.1, 127.0.0.1")
        );
        assert_eq!(get("x-forwarded-proto").as_deref(), Some("http"));
        assert_eq!(get("x-forwarded-host").as_deref(), Some("example.test"));
        assert_eq!(get("x-request-id").as_deref(), Some("rid-1"));
    }

    #[test]
    fn an_untrusted_clients_forwarding_claims_are_replaced_not_appended() {
        let h = header_map(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("x-user-plan", "pro"),
        ]);
        let ctx = forwardable_request_headers(
            &h,
            Some([127, 0, 0, 2].into()),
            false,
            HeaderValue::from_static("http"),
            None,
            HeaderValue::from_static("rid-1"),
        );
        let all = |n: &str| -> Vec<&str> {
            ctx.headers
                .iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.to_str().unwrap())
                .collect()
        };
        assert_eq!(all("x-forwarded-for"), ["127.0.0.2"]);
        assert_eq!(all("x-real-ip"), ["127.0.0.2"]);
        assert_eq!(all("x-user-plan"), ["pro"]);
    }

    #[test]
    fn peer_ips_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.200.3.45",
            "255.255.255.255",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = String::from("x");
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x{ip}"));
        }
    }
}
