//! The request path as variants get it: as the client sent it (still
//! percent-encoded, so `a%20b` and `%2F` reach an upstream unchanged), with
//! dot segments resolved so that no spelling of `..` climbs above the
//! variant's mount point, and with an encoded NUL refused (C plugins and
//! many upstreams read a NUL as the end of the string).

use std::borrow::Cow;

/// Why a path is refused before any route sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    /// `%00` somewhere in the path.
    Nul,
}

/// The 400 for a refused path.
pub fn refusal(e: PathError, path: &str) -> actix_web::HttpResponse {
    let why = match e {
        PathError::Nul => "the path contains an encoded NUL (%00)",
    };
    crate::request::shaping::json_error(
        actix_web::http::StatusCode::BAD_REQUEST,
        why,
        serde_json::json!({ "path": path }),
    )
}

/// `raw` (an absolute path, percent-encoded) with its dot segments removed
/// as RFC 3986 §5.2.4 does, counting `%2e` as a dot; `..` at the root stays
/// at the root. Escapes other than dots are kept as sent.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = raw.as_bytes();
    // Nearly every path has neither a dot nor an escape: no work.
    if !bytes.iter().any(|&b| b == b'.' || b == b'%') {
        return Ok(Cow::Borrowed(raw));
    }
    if bytes
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
    {
        return Err(PathError::Nul);
    }
    let segments: Vec<&str> = raw.split('/').skip(1).collect();
    if !segments.iter().any(|s| dots(s).is_some()) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match dots(segment) {
            Some(1) => {}
            Some(_) => {
                out.pop();
            }
            None => out.push(segment),
        }
        // `/a/b/..` is the directory `/a/`, not the file `/a`.
        if i == last && dots(segment).is_some() {
            out.push("");
        }
    }
    let mut path = String::with_capacity(raw.len());
    for segment in &out {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() {
        path.push('/');
    }
    Ok(Cow::Owned(path))
}

/// `Some(1)` for a `.` segment, `Some(2)` for `..`, in any mix of `.` and
/// `%2e`/`%2E`; `None` for anything else.
fn dots(segment: &str) -> Option<usize> {
    let mut rest = segment.as_bytes();
    let mut count = 0;
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[0] == b'%' && rest[1] == b'2' && rest[2] | 0x20 == b'e' {
            rest = &rest[3..];
        } else {
            return None;
        }
        count += 1;
        if count > 2 {
            return None;
        }
    }
    (count > 0).then_some(count)
}

/// The part of `raw` after its first `skip` segments, e.g. the tail after
/// `/variants/{name}`: `/variants/app_b/a%20b` with 2 is `/a%20b`. Always
/// starts with `/`.
pub fn after_segments(raw: &str, skip: usize) -> &str {
    let mut rest = raw;
    for _ in 0..skip {
        let trimmed = rest.strip_prefix('/').unwrap_or(rest);
        rest = match trimmed.find('/') {
            Some(i) => &trimmed[i..],
            None => "",
        };
    }
    if rest.is_empty() {
        "/"
    } else {
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(raw: &str) -> String {
        normalize(raw).unwrap().into_owned()
    }

    #[test]
    fn plain_paths_are_borrowed_untouched() {
        for raw in [
            "/",
            "/process/hello",
            "/a%20b",
            "/a/b/",
            "/x%2Fy",
            "/v1.2/file.txt",
        ] {
            assert!(
                matches!(normalize(raw), Ok(Cow::Borrowed(p)) if p == raw),
                "{raw}"
            );
        }
    }

    #[test]
    fn no_spelling_of_dot_dot_climbs_above_the_root() {
        assert_eq!(n("/%2e%2e/%2e%2e/etc/passwd"), "/etc/passwd");
        assert_eq!(n("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(n("/a/%2E./b"), "/b");
        assert_eq!(n("/a/.%2e/b"), "/b");
        assert_eq!(n("/a/./b/."), "/a/b/");
        assert_eq!(n("/a/b/.."), "/a/");
        assert_eq!(n("/.."), "/");
        assert_eq!(n("/a/...b/c"), "/a/...b/c");
        assert_eq!(n("/a/.../c"), "/a/.../c");
    }

    #[test]
    fn escapes_other_than_dots_stay_as_sent() {
        assert_eq!(n("/x/../a%20b/%2f"), "/a%20b/%2f");
    }

    #[test]
    fn an_encoded_nul_is_refused() {
        assert_eq!(normalize("/a%00b"), Err(PathError::Nul));
        assert_eq!(normalize("/%00"), Err(PathError::Nul));
    }

    #[test]
    fn the_tail_after_a_mount_keeps_its_escapes() {
        assert_eq!(after_segments("/variants/app_b/a%20b", 2), "/a%20b");
        assert_eq!(after_segments("/variants/app_b", 2), "/");
        assert_eq!(after_segments("/variants/app_b/", 2), "/");
        assert_eq!(after_segments("/variants/app_b/x/y?", 2), "/x/y?");
    }
}
