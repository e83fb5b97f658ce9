use crate::abi;

/// An answer to one request, owned by the plugin until the SDK writes it to
/// the host (status, then headers, then body, through the host's
/// `response_*` callbacks, which copy everything).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Default for Response {
    /// `200`, no headers, empty body.
    fn default() -> Self {
        Response::new(200)
    }
}

impl Response {
    /// An empty response with `status` (100..=599; the host turns anything
    /// else into 500).
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `status` with a JSON body and `content-type: application/json`.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        // Serialising a `Value` into a Vec cannot fail.
        let body = serde_json::to_vec(value).unwrap_or_default();
        Response::new(status)
            .with_header("content-type", "application/json")
            .with_body(body)
    }

    /// `status` with any serializable value as the JSON body. A struct keeps
    /// its field order whatever serde_json features the build unifies
    /// (`json!` objects are sorted unless `preserve_order` is on). A value
    /// that fails to serialize gives a 500 JSON error instead.
    pub fn json_from<T: serde::Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response::new(status)
                .with_header("content-type", "application/json")
                .with_body(body),
            Err(e) => Response::error_json(500, &format!("response did not serialize: {e}")),
        }
    }

    /// `status` with a text body and `content-type: text/plain; charset=utf-8`.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    /// `status` with `{"error": message}` as JSON.
    pub fn error_json(status: u16, message: &str) -> Self {
        Response::json(status, &serde_json::json!({ "error": message }))
    }

    /// `404` with `{"error":"not found","path":path}`.
    pub fn not_found_json(path: &str) -> Self {
        Response::json(
            404,
            &serde_json::json!({ "error": "not found", "path": path }),
        )
    }

    /// `405` with `{"error":"method not allowed","method":..,"path":..}` and
    /// an `allow` header listing `allowed` (e.g. `"GET"`, `"GET, POST"`).
    pub fn method_not_allowed_json(method: &str, path: &str, allowed: &str) -> Self {
        Response::json(
            405,
            &serde_json::json!({ "error": "method not allowed", "method": method, "path": path }),
        )
        .with_header("allow", allowed)
    }

    /// `400` with `{"error": message}`.
    pub fn bad_request_json(message: &str) -> Self {
        Response::error_json(400, message)
    }

    /// Builder: replace the status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Builder: append a header (sent in order; duplicates are sent twice).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Builder: replace the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Set the status.
    pub fn set_status(&mut self, status: u16) {
        self.status = status;
    }

    /// Append a header.
    pub fn add_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.headers.push((name.into(), value.into()));
    }

    /// Append to the body.
    pub fn append_body(&mut self, data: &[u8]) {
        self.body.extend_from_slice(data);
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Write this response into the host's builder.
    ///
    /// # Safety
    /// `api` and `builder` must be the valid table and builder of the
    /// current `handle` call, on the thread that received them.
    pub unsafe fn write_to(&self, api: &abi::HostApi, builder: abi::ResponseBuilderHostPtr) {
        // SAFETY: the caller guarantees `api` and `builder` belong to the
        // current `handle` call on this thread; every `Bytes` we pass borrows
        // from `self`, which outlives each callback (the host copies).
        unsafe {
            (api.response_set_status)(builder, self.status);
            for (name, value) in &self.headers {
                (api.response_add_header)(
                    builder,
                    abi::Bytes::from_slice(name.as_bytes()),
                    abi::Bytes::from_slice(value.as_bytes()),
                );
            }
            if !self.body.is_empty() {
                (api.response_append_body)(builder, abi::Bytes::from_slice(&self.body));
            }
        }
    }
}
