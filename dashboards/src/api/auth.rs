//! Bearer tokens: agents present the ingest token, API callers the API
//! token; requests without the right one get a 401. Tokens are compared in
//! constant time and never logged.

use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;

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
}
