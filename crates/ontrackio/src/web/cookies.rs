//! One cookie out of a request's `Cookie` headers, without building a whole jar: the
//! session and CSRF layers each need one value on every request, and parsing (and
//! percent-decoding) every cookie for each was a tenth of a signed-in page's work.

use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::Cookie;

/// The value of the cookie called `name`, percent-decoded; the last of several wins, as
/// in `CookieJar`.
pub fn value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .filter(|c| c.name() == name)
        .last()
        .map(|c| c.value().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_named_cookie_in_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; b=two%20words".parse().unwrap());
        h.append(header::COOKIE, "c=3; a=4".parse().unwrap());
        assert_eq!(value(&h, "a").as_deref(), Some("4"));
        assert_eq!(value(&h, "b").as_deref(), Some("two words"));
        assert_eq!(value(&h, "c").as_deref(), Some("3"));
        assert_eq!(value(&h, "d"), None);
        assert_eq!(value(&HeaderMap::new(), "a"), None);
    }
}
