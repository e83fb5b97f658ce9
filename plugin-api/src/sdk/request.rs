use std::borrow::Cow;
use std::fmt;

use crate::abi;
use crate::sdk::Host;

/// A safe, borrowed view of one request (the host's [`abi::Request`]).
///
/// Everything borrows host memory that is valid only during
/// [`Plugin::handle`](crate::Plugin::handle): copy (`to_owned`) what you need
/// afterwards. Text accessors never panic: invalid UTF-8 is replaced with
/// U+FFFD (the `*_bytes` accessors give the exact bytes).
pub struct Request<'a> {
    raw: &'a abi::Request,
    host: Host,
    method: Cow<'a, str>,
    path: Cow<'a, str>,
    query: Cow<'a, str>,
    user_key: Cow<'a, str>,
    variant: Cow<'a, str>,
    decided_by: Cow<'a, str>,
    rule_id: Cow<'a, str>,
    headers: &'a [abi::Header],
}

/// The host sends UTF-8, so `from_utf8` (which checks ASCII a word at a
/// time) is the fast path; anything else is repaired, never trusted.
fn text(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

impl<'a> Request<'a> {
    /// Wrap a raw request.
    ///
    /// # Safety
    /// Every buffer and the header array of `raw` must be valid (as the ABI
    /// promises for the duration of `handle`) for `'a`.
    pub unsafe fn from_raw(raw: &'a abi::Request, host: Host) -> Self {
        // SAFETY (this block and the fields below): the caller guarantees the
        // header array and every buffer of `raw` stay valid for `'a` (the
        // host owns them for the whole `handle` call).
        let headers: &'a [abi::Header] = if raw.headers_len == 0 || raw.headers.is_null() {
            &[]
        } else {
            // SAFETY: non-null, `headers_len` entries, valid for `'a` (see above).
            unsafe { std::slice::from_raw_parts(raw.headers, raw.headers_len) }
        };
        // SAFETY: as above: each field is a host buffer valid for `'a`.
        unsafe {
            Request {
                raw,
                host,
                method: text(raw.method.as_slice()),
                path: text(raw.path.as_slice()),
                query: text(raw.query.as_slice()),
                user_key: text(raw.user_key.as_slice()),
                variant: text(raw.variant.as_slice()),
                decided_by: text(raw.decided_by.as_slice()),
                rule_id: text(raw.rule_id.as_slice()),
                headers,
            }
        }
    }

    /// The raw ABI request.
    pub fn raw(&self) -> &'a abi::Request {
        self.raw
    }

    /// The host's logger for this plugin instance.
    pub fn host(&self) -> Host {
        self.host
    }

    /// `GET`, `POST`, ...
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path below the variant's mount point, starting with `/`
    /// (`/process/hi`). Not percent-decoded: see [`percent_decode`].
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string without `?`; empty when there is none.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The first value of query parameter `name`, form-decoded (`+` is a
    /// space, `%XX` escapes decoded). `Some("")` for `?name` or `?name=`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_params().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// All query parameters in order, form-decoded.
    pub fn query_params(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.query.split('&').filter(|p| !p.is_empty()).map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
    }

    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<Cow<'a, str>> {
        self.headers()
            .find(|h| h.name_bytes().eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value())
    }

    /// All headers, in the order the host passed them.
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            inner: self.headers.iter(),
        }
    }

    /// The whole request body; empty when there is none.
    pub fn body(&self) -> &'a [u8] {
        // SAFETY: valid for 'a by the contract of `from_raw`.
        unsafe { self.raw.body.as_slice() }
    }

    /// The body as text (lossy).
    pub fn body_str(&self) -> Cow<'a, str> {
        text(self.body())
    }

    /// The body parsed as JSON.
    pub fn body_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(self.body())
    }

    /// The user key the variant was decided for; when the variant was
    /// addressed directly, the user key the request carries, if any; else
    /// empty.
    pub fn user_key(&self) -> &str {
        &self.user_key
    }

    /// The variant this request was routed to (the name in the host config).
    pub fn variant(&self) -> &str {
        &self.variant
    }

    /// The gate / experiment / dynamic config that chose the variant; empty
    /// when addressed directly.
    pub fn decided_by(&self) -> &str {
        &self.decided_by
    }

    /// The Statsig rule id that matched; empty when none or unknown.
    pub fn rule_id(&self) -> &str {
        &self.rule_id
    }

    /// The `{params}` of the route pattern that matched this request, in
    /// pattern order: for route `/users/{id}/posts/{*rest}` and path
    /// `/users/42/posts/2026/05`, `("id", "42")` and `("rest", "2026/05")`.
    /// Values are not percent-decoded (see [`percent_decode`]).
    ///
    /// Empty when the variant was addressed directly (`/variants/<name>/…`),
    /// when the route has no parameters, and on a host older than ABI 1.1
    /// (which cannot say; the SDK checks the host table's size first).
    pub fn route_params(&self) -> RouteParams<'a> {
        let Some(f) = self.host.route_params_fn() else {
            return RouteParams { inner: [].iter() };
        };
        let mut ptr: *const abi::Header = std::ptr::null();
        // SAFETY: `raw` is the very pointer the host passed to this `handle`
        // call (the ABI requires that); the array it gives back is host-owned
        // and valid until `handle` returns, which outlives 'a.
        let params: &'a [abi::Header] = unsafe {
            let n = f(self.raw, &mut ptr);
            if n == 0 || ptr.is_null() {
                &[]
            } else {
                std::slice::from_raw_parts(ptr, n)
            }
        };
        RouteParams {
            inner: params.iter(),
        }
    }

    /// The route parameter `name` (`"id"` for `{id}`, `"rest"` for
    /// `{*rest}`), not percent-decoded; `None` when the matched route has no
    /// such parameter (see [`Request::route_params`]).
    pub fn route_param(&self, name: &str) -> Option<Cow<'a, str>> {
        self.route_params().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Exact bytes of the method.
    pub fn method_bytes(&self) -> &'a [u8] {
        // SAFETY: as `body`.
        unsafe { self.raw.method.as_slice() }
    }

    /// Exact bytes of the path.
    pub fn path_bytes(&self) -> &'a [u8] {
        // SAFETY: as `body`.
        unsafe { self.raw.path.as_slice() }
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("body_len", &self.body().len())
            .field("user_key", &self.user_key)
            .field("variant", &self.variant)
            .field("decided_by", &self.decided_by)
            .field("rule_id", &self.rule_id)
            .finish()
    }
}

/// One request header, borrowed from the host.
#[derive(Clone, Copy)]
pub struct Header<'a> {
    raw: &'a abi::Header,
}

impl<'a> Header<'a> {
    /// The name as received (compare case-insensitively).
    pub fn name(&self) -> Cow<'a, str> {
        text(self.name_bytes())
    }

    /// The value (lossy UTF-8).
    pub fn value(&self) -> Cow<'a, str> {
        text(self.value_bytes())
    }

    /// Exact bytes of the name.
    pub fn name_bytes(&self) -> &'a [u8] {
        // SAFETY: `Header`s only come from a `Request`, valid for 'a.
        unsafe { self.raw.name.as_slice() }
    }

    /// Exact bytes of the value.
    pub fn value_bytes(&self) -> &'a [u8] {
        // SAFETY: as `name_bytes`.
        unsafe { self.raw.value.as_slice() }
    }
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), self.value())
    }
}

/// Iterator over a request's headers; see [`Request::headers`].
#[derive(Clone)]
pub struct Headers<'a> {
    inner: std::slice::Iter<'a, abi::Header>,
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;
    fn next(&mut self) -> Option<Header<'a>> {
        self.inner.next().map(|raw| Header { raw })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for Headers<'_> {}

/// Iterator over the matched route's parameters as `(name, value)`; see
/// [`Request::route_params`].
#[derive(Clone)]
pub struct RouteParams<'a> {
    inner: std::slice::Iter<'a, abi::Header>,
}

impl<'a> Iterator for RouteParams<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|raw| {
            // SAFETY: host-owned for 'a, see `Request::route_params`.
            unsafe { (text(raw.name.as_slice()), text(raw.value.as_slice())) }
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for RouteParams<'_> {}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(s: &str, plus_is_space: bool) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    if !bytes
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'))
    {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex);
            let lo = bytes.get(i + 2).copied().and_then(hex);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Decode `%XX` escapes (as in a URL path segment; `+` stays `+`). Invalid
/// escapes are kept literally; decoded bytes that are not UTF-8 become
/// U+FFFD. Borrows when there is nothing to decode.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    decode(s, false)
}

fn form_decode(s: &str) -> String {
    decode(s, true).into_owned()
}
