//! The fast path for one query parameter: the user key (or a custom unit
//! id) found in a form-encoded query string without decoding every pair.
//!
//! What it saves: a query without `%` or `+` decodes to itself, so
//! [`query_param`] splits it as it stands, as bytes. Nearly every request's
//! query is like that (`?user_key=user123`), and form_urlencoded's decoding
//! of every pair cost more than the rest of finding the user: about 430
//! instructions per routed request (BENCHMARKS.md, "2026-12-01 — a new
//! machine", row 44bad97: plugin mode 23,841 → 23,410), and byte splits
//! instead of `str::split(char)`, which sets up a memchr searcher per call,
//! about 110 more (BENCHMARKS.md, "2026-12-01, later — seven router tries
//! down to one", row dbc99d3: 22,556 → 22,446, together with the guard's
//! path scan).
//!
//! The reference: [`decoded`], which decodes each pair before comparing,
//! is what every other query goes through; the tests check that both agree
//! on every query, and that both find what `form_urlencoded` finds.

/// A query value whose percent-decoded bytes are not UTF-8.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct NotUtf8;

/// The first value of `param` in a form-encoded query string, decoded.
///
/// A query without `%` or `+` decodes to itself, so it is split as it
/// stands: nearly every request's is like that, and form_urlencoded's
/// decoding of every pair cost more than the rest of finding the user.
pub(super) fn query_param(query: &str, param: &str) -> Option<Result<String, NotUtf8>> {
    if !query.bytes().any(|b| b == b'%' || b == b'+') {
        // Byte splits: `str::split(char)` sets up a memchr searcher per
        // call, which costs more than scanning a query this short.
        return query
            .as_bytes()
            .split(|&b| b == b'&')
            .filter(|pair| !pair.is_empty())
            .find_map(|pair| {
                let (key, value) = match pair.iter().position(|&b| b == b'=') {
                    Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                    None => (pair, &[][..]),
                };
                (key == param.as_bytes()).then_some(value)
            })
            // Cut at ASCII bytes of a `str`, so always valid UTF-8.
            .map(|value| Ok(String::from_utf8_lossy(value).into_owned()));
    }
    decoded(query, param)
}

/// The plain version: every pair's key decoded before it is compared.
/// form_urlencoded's pairs are decoded lossily; the key may be, but the
/// value is the user's identity and is decoded strictly.
fn decoded(query: &str, param: &str) -> Option<Result<String, NotUtf8>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_form(key).unwrap_or_else(|b| String::from_utf8_lossy(&b).into_owned()) == param)
                .then_some(value)
        })
        .map(|value| decode_form(value).map_err(|_| NotUtf8))
}

/// `application/x-www-form-urlencoded` decoding of one key or value: `+` is
/// a space, `%XX` a byte. Err holds the bytes when they are not UTF-8.
fn decode_form(text: &str) -> Result<String, Vec<u8>> {
    let spaced = text.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&spaced).collect();
    String::from_utf8(bytes).map_err(|e| e.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::{decoded, query_param, NotUtf8};

    /// Every query of up to four pieces from a small alphabet: separators,
    /// the parameter's name (plain, encoded, with a suffix), plain, encoded
    /// and non-ASCII values, and bytes that are not UTF-8 once decoded.
    fn queries() -> Vec<String> {
        const PIECES: [&str; 14] = [
            "&",
            "=",
            "user_key",
            "user%5Fkey",
            "user_keyx",
            "a",
            "u1",
            "two+words",
            "%41",
            "%ff",
            "%zz",
            "100%",
            "café",
            "+",
        ];
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..4 {
            let next: Vec<String> = last
                .iter()
                .flat_map(|q| PIECES.iter().map(move |p| format!("{q}{p}")))
                .collect();
            all.extend(next.iter().cloned());
            last = next;
        }
        all
    }

    #[test]
    fn the_plain_scan_answers_what_decoding_every_pair_answers() {
        let queries = queries();
        assert!(queries.len() > 40_000);
        for query in &queries {
            for param in ["user_key", "a", "user_keyx"] {
                assert_eq!(
                    query_param(query, param),
                    decoded(query, param),
                    "{query:?} {param}"
                );
            }
        }
    }

    #[test]
    fn both_find_what_form_urlencoded_finds() {
        for query in queries() {
            let expected = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "user_key")
                .map(|(_, v)| v.into_owned());
            let found = query_param(&query, "user_key");
            match (&found, &expected) {
                // form_urlencoded decodes the value lossily where we refuse it.
                (Some(Err(NotUtf8)), Some(lossy)) => {
                    assert!(lossy.contains('\u{FFFD}'), "{query:?}")
                }
                _ => assert_eq!(found, expected.map(Ok), "{query:?}"),
            }
        }
    }
}
