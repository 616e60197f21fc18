//! The blocking HTTP client of the collector's agent API.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use ureq::tls::{parse_pem, Certificate, PemItem, RootCerts, TlsConfig};
use vigil_model::wire::{
    AgentConfig, FrameLink, Heartbeat, HeartbeatReply, IngestReply, Register, RegisterReply,
    CONFIG_PATH, FRAME_AFTER_HEADER, FRAME_ID_HEADER, HEARTBEAT_PATH, INGEST_PATH, REGISTER_PATH,
};

/// Longest wait for a TCP connection to the collector.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest time one whole request (connect, send, answer) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer body read from the collector.
const MAX_REPLY_BYTES: u64 = 1024 * 1024;
/// Characters of an error body kept in an error message.
const MAX_MESSAGE_CHARS: usize = 200;

/// Why a request to the collector failed; each variant says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The collector URL cannot be used.
    #[error("{url}: invalid collector URL: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No answer: connection refused or lost, timeout. Retry later.
    #[error("{url}: collector unreachable: {source}")]
    Unreachable {
        /// The request URL.
        url: String,
        /// The transport error.
        #[source]
        source: Box<ureq::Error>,
    },
    /// 401 or 403: the token is missing or wrong. Report it, retry slowly.
    #[error("{url}: not authorized ({status}): check the ingest token")]
    Unauthorized {
        /// The request URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// 409: the collector holds a different range of a file than the one
    /// sent. Register again and resume from the merged offsets.
    #[error("{url}: conflict: {message} (collector offset {offset:?})")]
    Conflict {
        /// The request URL.
        url: String,
        /// The collector's explanation.
        message: String,
        /// The offset the collector holds, when it says.
        offset: Option<u64>,
    },
    /// Any other 4xx: the request itself is refused; sending it again will
    /// not help. Count it and move on.
    #[error("{url}: refused ({status}): {message}")]
    Refused {
        /// The request URL.
        url: String,
        /// The status code.
        status: u16,
        /// The collector's explanation.
        message: String,
    },
    /// 5xx, 408, 429 or another unexpected status: retry later.
    #[error("{url}: collector unavailable ({status}): {message}")]
    Unavailable {
        /// The request URL.
        url: String,
        /// The status code.
        status: u16,
        /// The collector's explanation.
        message: String,
    },
    /// A success answer whose body is not the expected JSON. Retry later.
    #[error("{url}: unexpected answer: {source}")]
    BadReply {
        /// The request URL.
        url: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// Whether sending the same request again later may succeed (everything
    /// but [`Conflict`](Self::Conflict), [`Refused`](Self::Refused) and
    /// [`InvalidUrl`](Self::InvalidUrl)).
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            ClientError::Conflict { .. }
                | ClientError::Refused { .. }
                | ClientError::InvalidUrl { .. }
        )
    }
}

/// The body of a 409 answer.
#[derive(serde::Deserialize)]
struct ConflictBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    offset: Option<u64>,
}

/// A blocking client of one collector (HTTP or HTTPS), reusing connections.
///
/// Every request carries `Authorization: Bearer <token>` when a token is
/// set, and is bounded by [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`].
#[derive(Debug, Clone)]
pub struct Client {
    http: ureq::Agent,
    /// Base URL without a trailing `/`.
    base: String,
    /// The `Authorization` header value, if any.
    auth: Option<String>,
}

impl Client {
    /// A client of the collector at `base` (e.g. `http://127.0.0.1:8686`
    /// or `https://collector:8686`). An https collector's certificate is
    /// checked against `ca_pem` (PEM certificates, e.g. a private CA) when
    /// given, else against the bundled Mozilla roots.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUrl`] unless `base` is an `http://` or
    /// `https://` URL with a host, or when `ca_pem` holds no certificate.
    pub fn new(
        base: &str,
        token: Option<&str>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: base.to_string(),
            reason: reason.to_string(),
        };
        let rest = match base.split_once("://") {
            Some(("http" | "https", rest)) => rest,
            _ => return Err(invalid("expected http://host:port or https://host:port")),
        };
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        if base.contains(['?', '#']) {
            return Err(invalid("a query or fragment is not allowed"));
        }
        let mut tls = TlsConfig::builder();
        if let Some(pem) = ca_pem {
            let roots: Vec<Certificate<'static>> = parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
                    _ => None,
                })
                .collect();
            if roots.is_empty() {
                return Err(invalid("the CA file holds no PEM certificate"));
            }
            tls = tls.root_certs(RootCerts::Specific(Arc::new(roots)));
        }
        let http = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("vigil-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            auth: token.map(|t| format!("Bearer {t}")),
        })
    }

    /// The base URL of the collector.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST` [`REGISTER_PATH`].
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn register(&self, register: &Register) -> Result<RegisterReply, ClientError> {
        self.post_json(REGISTER_PATH, register)
    }

    /// `POST` [`HEARTBEAT_PATH`].
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<HeartbeatReply, ClientError> {
        self.post_json(HEARTBEAT_PATH, heartbeat)
    }

    /// `GET` [`CONFIG_PATH`].
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn config(&self) -> Result<AgentConfig, ClientError> {
        let url = self.url(CONFIG_PATH);
        let mut request = self.http.get(&url);
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth);
        }
        let body = answer(&url, request.call())?;
        parse(&url, &body)
    }

    /// `POST` [`INGEST_PATH`] with an encoded ingest frame
    /// ([`vigil_model::wire::encode_ingest_payloads`]) and, for a frame
    /// sent while another is in flight, its [`FrameLink`] as headers.
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn ingest(
        &self,
        frame: &[u8],
        link: Option<FrameLink>,
    ) -> Result<IngestReply, ClientError> {
        let mut headers = Vec::new();
        if let Some(link) = link {
            headers.push((FRAME_ID_HEADER, link.id.to_string()));
            if let Some(after) = link.after {
                headers.push((FRAME_AFTER_HEADER, after.to_string()));
            }
        }
        let body = self.post(INGEST_PATH, "application/octet-stream", frame, &headers)?;
        parse(&self.url(INGEST_PATH), &body)
    }

    /// `POST` [`vigil_model::wire::SAMPLES_PATH`] with sampled metrics.
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn samples(&self, batch: &vigil_model::wire::SampleBatch) -> Result<(), ClientError> {
        let json = serde_json::to_vec(batch).expect("samples serialize");
        self.post(
            vigil_model::wire::SAMPLES_PATH,
            "application/json",
            &json,
            &[],
        )
        .map(drop)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn post_json<T: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        message: &T,
    ) -> Result<R, ClientError> {
        // Invariant: the wire messages are plain structs with string keys.
        let json = serde_json::to_vec(message).expect("wire messages serialize");
        let body = self.post(path, "application/json", &json, &[])?;
        parse(&self.url(path), &body)
    }

    fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        headers: &[(&str, String)],
    ) -> Result<Vec<u8>, ClientError> {
        let url = self.url(path);
        let mut request = self.http.post(&url).header("Content-Type", content_type);
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        answer(&url, request.send(body))
    }
}

/// The body of a success answer, or the error its status means.
fn answer(
    url: &str,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Vec<u8>, ClientError> {
    let unreachable = |source| ClientError::Unreachable {
        url: url.to_string(),
        source: Box::new(source),
    };
    let mut response = result.map_err(unreachable)?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_REPLY_BYTES)
        .read_to_vec()
        .map_err(unreachable)?;
    let url = url.to_string();
    match status {
        200..=299 => Ok(body),
        401 | 403 => Err(ClientError::Unauthorized { url, status }),
        409 => {
            let parsed: Option<ConflictBody> = serde_json::from_slice(&body).ok();
            let (message, offset) = match parsed {
                Some(c) if !c.error.is_empty() => (c.error, c.offset),
                Some(c) => (message(&body), c.offset),
                None => (message(&body), None),
            };
            Err(ClientError::Conflict {
                url,
                message,
                offset,
            })
        }
        408 | 429 => Err(ClientError::Unavailable {
            url,
            status,
            message: message(&body),
        }),
        400..=499 => Err(ClientError::Refused {
            url,
            status,
            message: message(&body),
        }),
        _ => Err(ClientError::Unavailable {
            url,
            status,
            message: message(&body),
        }),
    }
}

/// A short, printable form of an error body (its `error` field when JSON).
fn message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct WithError {
        error: String,
    }
    let text = match serde_json::from_slice::<WithError>(body) {
        Ok(e) => e.error,
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    };
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

fn parse<R: DeserializeOwned>(url: &str, body: &[u8]) -> Result<R, ClientError> {
    serde_json::from_slice(body).map_err(|source| ClientError::BadReply {
        url: url.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_are_accepted() {
        assert!(Client::new("http://127.0.0.1:8686", None, None).is_ok());
        assert!(Client::new("https://collector:8686", None, None).is_ok());
        assert_eq!(
            Client::new("http://c:1/", Some("t"), None).unwrap().base(),
            "http://c:1"
        );
        assert!(Client::new("https://c:1", None, Some(b"not a certificate")).is_err());
        for bad in ["ftp://c:1", "c:1", "http://", "http://c:1/?x=1", ""] {
            let err = Client::new(bad, None, None).unwrap_err();
            assert!(
                err.to_string().contains("invalid collector URL"),
                "{bad}: {err}"
            );
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn error_bodies_are_short_and_prefer_the_error_field() {
        assert_eq!(message(br#"{"error": "bad frame"}"#), "bad frame");
        assert_eq!(message(b"  plain text \n"), "plain text");
        assert_eq!(message(&[b'x'; 1000]).len(), MAX_MESSAGE_CHARS);
    }
}
