//! Bearer tokens: agents present the ingest token, API callers the API
//! token; requests without the right one get a 401. Tokens are compared in
//! constant time and never logged.
//!
//! The web UI signs in once with the API token (a form POST to `/login`)
//! and then carries a session cookie: `HttpOnly` (no script reads it),
//! `SameSite=Strict` (no other site's page sends it), holding a SHA-256
//! digest of the token rather than the token, so the token never sits in
//! the browser, a URL or a log. The API accepts the cookie as well as the
//! bearer header, which is how the UI's pause and resume forms post to it.

use hyper::header::{AUTHORIZATION, COOKIE};
use hyper::HeaderMap;
use sha2::{Digest, Sha256};

/// Name of the UI's session cookie.
pub const SESSION_COOKIE: &str = "vigil_session";

/// The tokens the server demands; `None` leaves that side open (the
/// embedded default on 127.0.0.1).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Token of the agent endpoints (register, heartbeat, config, ingest).
    pub ingest: Option<String>,
    /// Token of everything else but `/healthz`.
    pub api: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |t: &Option<String>| if t.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("Tokens")
            .field("ingest", &shown(&self.ingest))
            .field("api", &shown(&self.api))
            .finish()
    }
}

/// Whether `headers` carry `Authorization: Bearer <expected>`; true when
/// nothing is expected.
pub fn authorized(headers: &HeaderMap, expected: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let Some(given) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    constant_time_eq(given.trim().as_bytes(), expected.as_bytes())
}

/// Whether `headers` carry the bearer token or the session cookie made
/// from it; true when nothing is expected.
pub fn authorized_or_session(headers: &HeaderMap, expected: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    authorized(headers, Some(expected))
        || session(headers)
            .is_some_and(|s| constant_time_eq(s.as_bytes(), session_value(expected).as_bytes()))
}

/// Whether `given` is the token `expected` (constant time).
pub fn token_matches(given: &str, expected: &str) -> bool {
    constant_time_eq(given.trim().as_bytes(), expected.as_bytes())
}

/// The session cookie's value for `token`: a hex SHA-256 digest, so the
/// browser never holds the token itself.
pub fn session_value(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"vigil ui session\0");
    hasher.update(token.as_bytes());
    hex::encode(hasher.finalize())
}

/// The `Set-Cookie` value that signs a browser in with `token`; `secure`
/// when served over TLS.
pub fn set_session(token: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{}",
        session_value(token),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that signs a browser out.
pub fn clear_session() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session cookie of a request, if any.
fn session(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Compares without an early exit, so timing does not tell how much of a
/// guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert!(authorized(&h, None));
        assert!(!authorized(&h, Some("s3cret")));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"));
        assert!(authorized(&h, Some("s3cret")));
        assert!(!authorized(&h, Some("s3cres")));
        assert!(!authorized(&h, Some("s3cret-longer")));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic s3cret"));
        assert!(!authorized(&h, Some("s3cret")));
        assert_eq!(
            format!(
                "{:?}",
                Tokens {
                    ingest: Some("x".into()),
                    api: None
                }
            ),
            "Tokens { ingest: \"<set>\", api: \"<none>\" }"
        );
    }

    #[test]
    fn session_cookies() {
        let mut h = HeaderMap::new();
        assert!(authorized_or_session(&h, None));
        assert!(!authorized_or_session(&h, Some("s3cret")));
        let cookie = format!("theme=light; {SESSION_COOKIE}={}", session_value("s3cret"));
        h.insert(COOKIE, HeaderValue::from_str(&cookie).unwrap());
        assert!(authorized_or_session(&h, Some("s3cret")));
        assert!(!authorized_or_session(&h, Some("other")));
        // The cookie alone is not a bearer token, and holds no token.
        assert!(!authorized(&h, Some("s3cret")));
        assert!(!set_session("s3cret", false).contains("s3cret"));
        assert!(set_session("s3cret", true).ends_with("HttpOnly; SameSite=Strict; Secure"));
        assert!(token_matches(" s3cret\n", "s3cret") && !token_matches("s3cre", "s3cret"));
    }
}
