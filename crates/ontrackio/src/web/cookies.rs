//! One cookie out of a request's `Cookie` headers, without building a whole jar: the
//! session and CSRF layers each need one value on every request, and parsing (and
//! percent-decoding) every cookie for each was a tenth of a signed-in page's work.

use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::Cookie;

/// The value of the cookie called `name`, percent-decoded; the last of several wins, as
/// in `CookieJar`. Pairs are told apart by name; only a matching value that is
/// percent-encoded needs the `cookie` crate's parser (quotes are kept, as it keeps them).
pub fn value(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = None;
    for header in headers.get_all(header::COOKIE) {
        let Ok(header) = header.to_str() else {
            continue;
        };
        for pair in header.split(';') {
            let Some((n, v)) = pair.split_once('=') else {
                continue;
            };
            if n.trim() != name {
                continue;
            }
            let v = v.trim();
            // Our own values (base64url tokens) need no decoding; anything percent-encoded
            // goes through the `cookie` crate.
            if !v.contains('%') {
                found = Some(v.to_string());
            } else if let Ok(c) = Cookie::parse_encoded(pair.trim()) {
                found = Some(c.value().to_string());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_named_cookie_in_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1;b=two%20words; junk".parse().unwrap());
        h.append(header::COOKIE, "c=3; a=4; q=\"quoted\"".parse().unwrap());
        assert_eq!(value(&h, "a").as_deref(), Some("4"));
        assert_eq!(value(&h, "b").as_deref(), Some("two words"));
        assert_eq!(value(&h, "c").as_deref(), Some("3"));
        assert_eq!(value(&h, "q").as_deref(), Some("\"quoted\""));
        assert_eq!(value(&h, "d"), None);
        assert_eq!(value(&HeaderMap::new(), "a"), None);
    }
}
