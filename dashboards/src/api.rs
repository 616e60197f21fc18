//! The JSON HTTP API: a [`Catalog`] of monitors and rows, served by [`serve`].
//!
//! Time ranges are half-open, `[from, to)`, in epoch seconds once parsed;
//! `from` and `to` are RFC 3339 instants (`2026-11-20T10:00:00+08:00`, `Z`
//! allowed, a `+` decoded to a space by form encoding is accepted) or plain
//! epoch seconds.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, SET_COOKIE, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value as J};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::{rustls, TlsAcceptor};
use vigil_model::wire::{self, FrameLink, MAX_BODY_BYTES};
use vigil_model::{Counters, MinuteRow, View};

use crate::ui;

mod alerts;
mod auth;
mod ingest;
mod tls;

pub use alerts::{HistoryQuery, PauseRequest};
pub use auth::Tokens;
pub use hyper::body::Bytes;
pub use ingest::{Ingest, IngestError};
pub use tls::{server_config, TlsError};

/// Length of the default time range when `from` is not given, in seconds.
pub const DEFAULT_RANGE_SECS: i64 = 3600;
/// Length of the default alert history range, in seconds (a day).
pub const DEFAULT_HISTORY_SECS: i64 = 86_400;

/// What the API knows about one monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorInfo {
    /// The monitor's unique name.
    pub name: String,
    /// The kind's name as written in YAML (`minute_stat`, …).
    pub kind: String,
    /// Optional application label.
    pub app: Option<String>,
    /// Key column names, in group-by order.
    pub keys: Vec<String>,
    /// Value names, in output order.
    pub values: Vec<String>,
    /// Timezone that row minutes are rendered in.
    pub timezone: chrono_tz::Tz,
    /// What the monitor saw and could not use.
    pub counters: Counters,
}

impl MonitorInfo {
    /// The info of a configured monitor with its current counters; a monitor
    /// without a source (an archive) is rendered in UTC.
    pub fn from_monitor(monitor: &vigil_config::Monitor, counters: Counters) -> Self {
        MonitorInfo {
            name: monitor.name.clone(),
            kind: monitor.kind.name().to_string(),
            app: monitor.app.clone(),
            keys: monitor.key_names().iter().map(|s| s.to_string()).collect(),
            values: monitor.value_names(),
            timezone: monitor
                .source
                .as_ref()
                .map(|s| s.timezone)
                .unwrap_or(chrono_tz::UTC),
            counters,
        }
    }

    /// The monitor as a JSON object: `name`, `kind`, `app`, `keys`,
    /// `values`, `timezone`, `counters`.
    pub fn to_json(&self) -> J {
        json!({
            "name": self.name,
            "kind": self.kind,
            "app": self.app,
            "keys": self.keys,
            "values": self.values,
            "timezone": self.timezone.name(),
            "counters": counters_json(&self.counters),
        })
    }
}

/// The source of everything the API serves. The `vigil` binary implements it
/// over the engine's store. Calls run on tokio's blocking pool, so they may
/// block briefly.
pub trait Catalog: Send + Sync + 'static {
    /// Every monitor, in a stable order.
    fn monitors(&self) -> Vec<MonitorInfo>;
    /// The rows of `monitor` asked for by `request`; in a labelled view the
    /// label is the first key of each row (`("instance", "node-1")`). An
    /// `Err` becomes a 500 response carrying its text.
    fn rows(&self, monitor: &str, request: &RowsRequest) -> Result<Vec<MinuteRow>, String>;

    /// The registered agents as JSON objects (`GET /api/v1/agents`).
    fn agents(&self) -> Vec<J> {
        Vec::new()
    }

    /// Runs read-only SQL over stored minutes (`POST /api/v1/sql`).
    fn sql(&self, sql: &str) -> Result<J, ApiError> {
        let _ = sql;
        Err(ApiError::NotFound("/api/v1/sql".into()))
    }

    /// More metrics in the Prometheus text format, appended to `/metrics`.
    fn metrics(&self) -> String {
        String::new()
    }

    /// The newest sample of every series of a metrics monitor (`GET
    /// /api/v1/monitors/{name}/latest`); `None` for other monitors.
    fn latest(&self, monitor: &str) -> Option<J> {
        let _ = monitor;
        None
    }

    /// Every alert rule with its state (`GET /api/v1/alerts`).
    fn alerts(&self, now_s: i64) -> Result<J, ApiError> {
        let _ = now_s;
        Err(ApiError::NotFound("/api/v1/alerts".into()))
    }

    /// Alert history records (`GET /api/v1/alerts/history`).
    fn alert_history(&self, query: &HistoryQuery) -> Result<J, ApiError> {
        let _ = query;
        Err(ApiError::NotFound("/api/v1/alerts/history".into()))
    }

    /// Pauses the rule `<monitor>/<rule>`.
    fn pause_alert(&self, rule: &str, pause: &PauseRequest) -> Result<J, ApiError> {
        let _ = pause;
        Err(ApiError::NotFound(format!("alert rule {rule}")))
    }

    /// Ends the pause of the rule `<monitor>/<rule>`.
    fn resume_alert(&self, rule: &str) -> Result<J, ApiError> {
        Err(ApiError::NotFound(format!("alert rule {rule}")))
    }

    /// The custom dashboards of the configuration (the UI's
    /// `/dashboards/{name}` pages).
    fn dashboards(&self) -> Vec<vigil_config::dashboard::Dashboard> {
        Vec::new()
    }
}

/// What a rows request asks the [`Catalog`] for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowsRequest {
    /// Start of the range, epoch seconds (inclusive).
    pub from_s: i64,
    /// End of the range, epoch seconds (exclusive).
    pub to_s: i64,
    /// Total, or apart per instance, IDC or LDC.
    pub view: View,
    /// Include the minutes still open.
    pub live: bool,
}

/// Why a request failed; each variant maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A query parameter is unknown, unparsable or inconsistent (400).
    #[error("{message}")]
    BadParameter {
        /// The offending parameter's name, as written in the query.
        parameter: String,
        /// What is wrong with it.
        message: String,
    },
    /// No monitor has this name (404).
    #[error("unknown monitor `{0}`")]
    UnknownMonitor(String),
    /// No route matches this path (404).
    #[error("no such path `{0}`")]
    NotFound(String),
    /// The method is not the one the path takes (405).
    #[error("method {method} not allowed; use {allowed}")]
    MethodNotAllowed {
        /// The method of the request.
        method: String,
        /// The method the path takes.
        allowed: &'static str,
    },
    /// No or a wrong bearer token (401).
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// The request body is larger than the limit (413).
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// A query ran out of time (503).
    #[error("{0}")]
    Timeout(String),
    /// The catalog failed (500).
    #[error("catalog error: {0}")]
    Catalog(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnknownMonitor(_) | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Catalog(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error as a JSON body: `{"error": ...}`, plus `parameter` for a 400.
    pub fn to_json(&self) -> J {
        match self {
            ApiError::BadParameter { parameter, .. } => {
                json!({ "error": self.to_string(), "parameter": parameter })
            }
            _ => json!({ "error": self.to_string() }),
        }
    }

    /// A 400 about `parameter`.
    pub fn bad(parameter: &str, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            parameter: parameter.to_string(),
            message: message.into(),
        }
    }
}

/// Serves the API of `catalog` on `listener` until `shutdown` completes; see
/// [`Server::serve`].
pub async fn serve(
    listener: TcpListener,
    catalog: Arc<dyn Catalog>,
    shutdown: impl Future<Output = ()>,
) {
    Server::new(catalog).serve(listener, shutdown).await;
}

/// The HTTP server: the read API over a [`Catalog`], optionally the agent
/// endpoints over an [`Ingest`], behind bearer [`Tokens`].
#[derive(Clone)]
pub struct Server {
    catalog: Arc<dyn Catalog>,
    ingest: Option<Arc<dyn Ingest>>,
    tokens: Tokens,
    max_body_bytes: usize,
    tls: Option<TlsAcceptor>,
}

/// Longest TLS handshake allowed to a connection.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one connection (plain or TLS) until it ends or the server stops.
async fn serve_connection<S>(
    server: Arc<Server>,
    stream: S,
    mut stop_rx: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let server = Arc::clone(&server);
        async move { Ok::<_, Infallible>(server.handle(req).await) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop_rx.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

impl Server {
    /// A server of `catalog` without agent endpoints or tokens, accepting
    /// bodies up to [`MAX_BODY_BYTES`].
    pub fn new(catalog: Arc<dyn Catalog>) -> Self {
        Server {
            catalog,
            ingest: None,
            tokens: Tokens::default(),
            max_body_bytes: MAX_BODY_BYTES,
            tls: None,
        }
    }

    /// Serves HTTPS with `config` (certificate and key) instead of plain
    /// HTTP; a connection whose handshake fails or takes over
    /// [`TLS_HANDSHAKE_TIMEOUT`] is closed.
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(TlsAcceptor::from(config));
        self
    }

    /// Also serves the agent endpoints of [`vigil_model::wire`].
    pub fn with_ingest(mut self, ingest: Arc<dyn Ingest>) -> Self {
        self.ingest = Some(ingest);
        self
    }

    /// Demands these bearer tokens.
    pub fn with_tokens(mut self, tokens: Tokens) -> Self {
        self.tokens = tokens;
        self
    }

    /// Serves on `listener` until `shutdown` completes, then stops
    /// accepting, lets open connections finish their current request, and
    /// returns. Accept errors (such as running out of file descriptors) are
    /// retried after a short pause.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let server = Arc::new(self);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut conns = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let server = Arc::clone(&server);
                    let stop_rx = stop_rx.clone();
                    conns.spawn(async move {
                        match server.tls.clone() {
                            None => serve_connection(server, stream, stop_rx).await,
                            Some(tls) => {
                                let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream));
                                if let Ok(Ok(stream)) = handshake.await {
                                    serve_connection(server, stream, stop_rx).await;
                                }
                            }
                        }
                    });
                }
                // Reap finished connections so the set does not grow forever.
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        drop(listener);
        let _ = stop_tx.send(true);
        while conns.join_next().await.is_some() {}
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let query = req.uri().query().map(str::to_string);
        let agent_side = [
            wire::REGISTER_PATH,
            wire::HEARTBEAT_PATH,
            wire::CONFIG_PATH,
            wire::INGEST_PATH,
            wire::SAMPLES_PATH,
        ]
        .contains(&path.as_str());
        let api_token = self.tokens.api.as_deref();
        if path == "/login" || path == "/logout" {
            return self.login(req, &path).await;
        }
        if !ui::is_open_path(&path) {
            let allowed = if agent_side {
                auth::authorized(req.headers(), self.tokens.ingest.as_deref())
            } else {
                auth::authorized_or_session(req.headers(), api_token)
            };
            if !allowed && ui::is_ui_path(&path) && method == Method::GET {
                let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
                return ui::redirect(&format!("/login?next={}", ui::url_component(next)));
            }
            if !allowed {
                return error_response(&ApiError::Unauthorized);
            }
        }
        let signed_in = api_token.is_some();
        let posted = (agent_side && path != wire::CONFIG_PATH)
            || path == "/api/v1/sql"
            || alerts::post_target(&path).is_some();
        if !posted {
            let catalog = Arc::clone(&self.catalog);
            let ingest = self.ingest.clone();
            let now = chrono::Utc::now().timestamp();
            let routed = tokio::task::spawn_blocking(move || {
                if path == wire::CONFIG_PATH {
                    return agent_config(ingest.as_deref(), &method);
                }
                if let Some(page) =
                    ui::page(&*catalog, &method, &path, query.as_deref(), now, signed_in)
                {
                    return page;
                }
                route(&*catalog, &method, &path, query.as_deref(), now)
            })
            .await;
            return routed.unwrap_or_else(|e| error_response(&ApiError::Catalog(e.to_string())));
        }
        if method != Method::POST {
            return error_response(&ApiError::MethodNotAllowed {
                method: method.to_string(),
                allowed: "POST",
            });
        }
        // The UI's pause and resume forms post form-encoded bodies.
        let from_form = req.headers().get(CONTENT_TYPE).is_some_and(|v| {
            v.as_bytes()
                .starts_with(b"application/x-www-form-urlencoded")
        });
        let link = match frame_link(req.headers()) {
            Ok(link) => link,
            Err(e) => return error_response(&e),
        };
        let body = match read_body(req, self.max_body_bytes).await {
            Ok(body) => body,
            Err(e) => return error_response(&e),
        };
        let server = Arc::clone(&self);
        let answered =
            tokio::task::spawn_blocking(move || server.post(&path, body, from_form, link)).await;
        answered.unwrap_or_else(|e| error_response(&ApiError::Catalog(e.to_string())))
    }

    /// The login form (`GET /login?next=`), signing in (`POST /login` with
    /// the form fields `token` and `next`: a session cookie and a redirect
    /// to `next`) and out (`POST /logout`). Without an API token there is
    /// nothing to sign in to: both go to the overview.
    async fn login(&self, req: Request<Incoming>, path: &str) -> Response<Full<Bytes>> {
        let Some(token) = self.tokens.api.as_deref() else {
            return ui::redirect("/");
        };
        let method = req.method().clone();
        let query = req.uri().query().unwrap_or("").to_string();
        if path == "/logout" {
            if method != Method::POST {
                return error_response(&ApiError::MethodNotAllowed {
                    method: method.to_string(),
                    allowed: "POST",
                });
            }
            let mut resp = ui::redirect("/login");
            set_cookie(&mut resp, &auth::clear_session());
            return resp;
        }
        match method {
            Method::GET => {
                let next = form_to_json(query.as_bytes());
                ui::login_page(&safe_next(next["next"].as_str()), None)
            }
            Method::POST => {
                let body = match read_body(req, self.max_body_bytes).await {
                    Ok(body) => body,
                    Err(e) => return error_response(&e),
                };
                let form = form_to_json(&body);
                let next = safe_next(form["next"].as_str());
                let given = form["token"].as_str().unwrap_or_default();
                if !auth::token_matches(given, token) {
                    return ui::login_page(&next, Some("That is not the API token."));
                }
                let mut resp = ui::redirect(&next);
                set_cookie(&mut resp, &auth::set_session(token, self.tls.is_some()));
                resp
            }
            _ => error_response(&ApiError::MethodNotAllowed {
                method: method.to_string(),
                allowed: "GET, POST",
            }),
        }
    }

    /// Answers a POST to `path` with `body`; `from_form` when the body is
    /// form-encoded (the UI's forms), which is answered by a redirect back
    /// to the alerts page with the outcome.
    fn post(
        &self,
        path: &str,
        body: Bytes,
        from_form: bool,
        link: Option<FrameLink>,
    ) -> Response<Full<Bytes>> {
        if let Some((rule, action)) = alerts::post_target(path) {
            let now = chrono::Utc::now().timestamp();
            let json_body = if from_form {
                form_to_json(&body).to_string().into_bytes()
            } else {
                body.to_vec()
            };
            let answer = if action == "pause" {
                PauseRequest::parse(&json_body, now)
                    .and_then(|p| self.catalog.pause_alert(&rule, &p))
            } else {
                self.catalog.resume_alert(&rule)
            };
            return match (answer, from_form) {
                (Ok(result), false) => json_response(StatusCode::OK, &result),
                (Err(e), false) => error_response(&e),
                (Ok(_), true) => ui::redirect(&format!(
                    "/alerts?notice={}",
                    ui::url_component(&format!("{rule}: {action}d"))
                )),
                (Err(e), true) => ui::redirect(&format!(
                    "/alerts?notice={}",
                    ui::url_component(&format!("{rule}: cannot {action}: {e}"))
                )),
            };
        }
        if path == "/api/v1/sql" {
            return match sql_request(&body).and_then(|sql| self.catalog.sql(&sql)) {
                Ok(result) => json_response(StatusCode::OK, &result),
                Err(e) => error_response(&e),
            };
        }
        let Some(ingest) = self.ingest.as_deref() else {
            return error_response(&ApiError::NotFound(path.to_string()));
        };
        let answer = match path {
            wire::REGISTER_PATH => parse_json(&body)
                .and_then(|r| ingest.register(r))
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            wire::HEARTBEAT_PATH => parse_json(&body)
                .and_then(|h| ingest.heartbeat(h))
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            wire::SAMPLES_PATH => parse_json(&body)
                .and_then(|b| ingest.samples(b))
                .map(|n| json!({ "accepted": n })),
            _ => ingest
                .ingest(body, link)
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
        };
        match answer {
            Ok(json) => json_response(StatusCode::OK, &json),
            Err(e) => json_response(e.status(), &e.to_json()),
        }
    }
}

/// `GET` [`wire::CONFIG_PATH`].
fn agent_config(ingest: Option<&dyn Ingest>, method: &Method) -> Response<Full<Bytes>> {
    let Some(ingest) = ingest else {
        return error_response(&ApiError::NotFound(wire::CONFIG_PATH.into()));
    };
    if method != Method::GET {
        return error_response(&ApiError::MethodNotAllowed {
            method: method.to_string(),
            allowed: "GET",
        });
    }
    json_response(
        StatusCode::OK,
        &serde_json::to_value(ingest.agent_config()).unwrap_or_default(),
    )
}

/// The [`FrameLink`] of an ingest request, from its
/// [`wire::FRAME_ID_HEADER`] and [`wire::FRAME_AFTER_HEADER`]; none without
/// an id.
fn frame_link(headers: &HeaderMap) -> Result<Option<FrameLink>, ApiError> {
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| ApiError::bad(name, format!("header {name}: not a frame id")))
            })
            .transpose()
    };
    let after = number(wire::FRAME_AFTER_HEADER)?;
    match number(wire::FRAME_ID_HEADER)? {
        Some(id) => Ok(Some(FrameLink { id, after })),
        None if after.is_some() => Err(ApiError::bad(
            wire::FRAME_ID_HEADER,
            format!(
                "header {} is required with {}",
                wire::FRAME_ID_HEADER,
                wire::FRAME_AFTER_HEADER
            ),
        )),
        None => Ok(None),
    }
}

/// Reads a request body of at most `limit` bytes (413 beyond).
async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::TooLarge(limit))
        }
        Err(e) => Err(ApiError::bad("body", format!("cannot read the body: {e}"))),
    }
}

/// A JSON body of an agent request.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, IngestError> {
    serde_json::from_slice(body).map_err(|e| IngestError::BadRequest(format!("bad JSON body: {e}")))
}

/// Where a login may go next: a path on this server (`/…`, not `//host`),
/// else the overview.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

fn set_cookie(resp: &mut Response<Full<Bytes>>, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
}

/// A form-encoded body as a JSON object of strings, with `minutes` as a
/// number (what a pause body holds).
fn form_to_json(body: &[u8]) -> J {
    let text = String::from_utf8_lossy(body);
    let mut map = serde_json::Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k, true), percent_decode(v, true));
        let value = match (k.as_str(), v.parse::<i64>()) {
            ("minutes", Ok(n)) => J::from(n),
            _ => J::from(v),
        };
        map.insert(k, value);
    }
    J::Object(map)
}

/// The `sql` field of a `POST /api/v1/sql` body.
fn sql_request(body: &[u8]) -> Result<String, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SqlBody {
        sql: String,
    }
    serde_json::from_slice::<SqlBody>(body)
        .map(|b| b.sql)
        .map_err(|e| ApiError::bad("sql", format!("expected a body {{\"sql\": \"...\"}}: {e}")))
}

/// Answers one request: `method`, the URI's `path` and raw `query`, with
/// `now_s` (epoch seconds) as the default end of a time range.
pub fn route(
    catalog: &dyn Catalog,
    method: &Method,
    path: &str,
    query: Option<&str>,
    now_s: i64,
) -> Response<Full<Bytes>> {
    match route_inner(catalog, method, path, query, now_s) {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

fn route_inner(
    catalog: &dyn Catalog,
    method: &Method,
    path: &str,
    query: Option<&str>,
    now_s: i64,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = matches!(
        segments.as_slice(),
        ["healthz"]
            | ["metrics"]
            | ["api", "v1", "monitors"]
            | ["api", "v1", "agents"]
            | ["api", "v1", "alerts"]
            | ["api", "v1", "alerts", "history"]
            | ["api", "v1", "monitors", _, "rows" | "counters" | "latest"]
    );
    if !known {
        return Err(ApiError::NotFound(path.to_string()));
    }
    if method != Method::GET {
        return Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            allowed: "GET",
        });
    }
    match segments.as_slice() {
        ["healthz"] => Ok(text_response(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok".to_string(),
        )),
        ["metrics"] => Ok(text_response(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics_text(&catalog.monitors()) + &catalog.metrics(),
        )),
        ["api", "v1", "agents"] => Ok(json_response(StatusCode::OK, &J::Array(catalog.agents()))),
        ["api", "v1", "alerts"] => Ok(json_response(StatusCode::OK, &catalog.alerts(now_s)?)),
        ["api", "v1", "alerts", "history"] => {
            let q = HistoryQuery::parse(query.unwrap_or(""), now_s)?;
            Ok(json_response(StatusCode::OK, &catalog.alert_history(&q)?))
        }
        ["api", "v1", "monitors"] => {
            let list: Vec<J> = catalog
                .monitors()
                .iter()
                .map(MonitorInfo::to_json)
                .collect();
            Ok(json_response(StatusCode::OK, &J::Array(list)))
        }
        ["api", "v1", "monitors", name, "counters"] => {
            let info = find_monitor(catalog, name)?;
            Ok(json_response(
                StatusCode::OK,
                &counters_json(&info.counters),
            ))
        }
        ["api", "v1", "monitors", name, "latest"] => {
            let info = find_monitor(catalog, name)?;
            let latest = catalog.latest(&info.name).ok_or_else(|| {
                ApiError::NotFound(format!("{path}: `{}` is not a metrics monitor", info.name))
            })?;
            Ok(json_response(StatusCode::OK, &latest))
        }
        ["api", "v1", "monitors", name, "rows"] => {
            let info = find_monitor(catalog, name)?;
            let q = RowsQuery::parse(query.unwrap_or(""), &info, now_s)?;
            let request = RowsRequest {
                from_s: q.from,
                to_s: q.to,
                view: q.view,
                live: q.live,
            };
            let rows = catalog
                .rows(&info.name, &request)
                .map_err(ApiError::Catalog)?;
            let list: Vec<J> = rows
                .into_iter()
                .map(|mut r| {
                    let label =
                        (q.view != View::Total && !r.keys.is_empty()).then(|| r.keys.remove(0));
                    (r, label)
                })
                .filter(|(r, _)| q.matches(r))
                .map(|(r, label)| {
                    let mut json = r.to_json(info.timezone);
                    if let (Some((name, value)), J::Object(map)) = (label, &mut json) {
                        map.insert("labels".into(), json!({ name: value }));
                    }
                    json
                })
                .collect();
            Ok(json_response(StatusCode::OK, &J::Array(list)))
        }
        _ => Err(ApiError::NotFound(path.to_string())),
    }
}

fn find_monitor(catalog: &dyn Catalog, raw_name: &str) -> Result<MonitorInfo, ApiError> {
    let name = percent_decode(raw_name, false);
    catalog
        .monitors()
        .into_iter()
        .find(|m| m.name == name)
        .ok_or(ApiError::UnknownMonitor(name))
}

/// The parsed query of a rows request.
struct RowsQuery {
    from: i64,
    to: i64,
    view: View,
    live: bool,
    /// Only rows of this archive period (hour, day, week).
    period: Option<String>,
    keys: Vec<(String, String)>,
}

impl RowsQuery {
    fn parse(query: &str, info: &MonitorInfo, now_s: i64) -> Result<Self, ApiError> {
        let mut from = None;
        let mut to = None;
        let mut keys = Vec::new();
        let mut view = View::Total;
        let mut live = false;
        let mut period = None;
        let archive = info.kind == "archive";
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_k, raw_v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(raw_k, true);
            let v = percent_decode(raw_v, true);
            match k.as_str() {
                "from" | "to" => {
                    let t = parse_time(&v).ok_or_else(|| {
                        ApiError::bad(
                            &k,
                            format!("`{k}` is not an RFC 3339 time or epoch seconds: `{v}`"),
                        )
                    })?;
                    let slot = if k == "from" { &mut from } else { &mut to };
                    if slot.replace(t).is_some() {
                        return Err(ApiError::bad(&k, format!("`{k}` is given twice")));
                    }
                }
                "view" => {
                    view = View::parse(&v).ok_or_else(|| {
                        ApiError::bad(
                            "view",
                            format!("unknown view `{v}`; expected total, instance, idc or ldc"),
                        )
                    })?;
                    if archive && view != View::Total {
                        return Err(ApiError::bad(
                            "view",
                            format!(
                                "archive monitor `{}` is rolled up in total only, not by {v}",
                                info.name
                            ),
                        ));
                    }
                }
                "period" if archive => {
                    if vigil_config::monitor::Period::parse(&v).is_none() {
                        return Err(ApiError::bad(
                            "period",
                            format!("unknown period `{v}`; expected hour, day or week"),
                        ));
                    }
                    period = Some(v);
                }
                "live" => {
                    live = match v.as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(ApiError::bad(
                                "live",
                                format!("`live` must be true or false, not `{v}`"),
                            ))
                        }
                    };
                }
                _ => match k.strip_prefix("key.") {
                    Some(col) if info.keys.iter().any(|c| c == col) => {
                        keys.push((col.to_string(), v));
                    }
                    Some(col) => {
                        return Err(ApiError::bad(
                            &k,
                            format!(
                                "monitor `{}` has no key column `{col}` (keys: {})",
                                info.name,
                                info.keys.join(", ")
                            ),
                        ));
                    }
                    None => {
                        return Err(ApiError::bad(
                            &k,
                            format!(
                                "unknown query parameter `{k}`; expected from, to, view, live, {}key.<column>",
                                if archive { "period, " } else { "" }
                            ),
                        ));
                    }
                },
            }
        }
        let to = to.unwrap_or(now_s);
        let from = from.unwrap_or(to.saturating_sub(DEFAULT_RANGE_SECS));
        if from >= to {
            return Err(ApiError::bad("from", "`from` must be before `to`"));
        }
        Ok(RowsQuery {
            from,
            to,
            view,
            live,
            period,
            keys,
        })
    }

    fn matches(&self, row: &MinuteRow) -> bool {
        row.minute >= self.from
            && row.minute < self.to
            && (self.period.is_none() || row.period == self.period)
            && self
                .keys
                .iter()
                .all(|(col, want)| row.key(col) == Some(want.as_str()))
    }
}

/// Parses an RFC 3339 instant or integer epoch seconds.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<i64>() {
        return Some(secs);
    }
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    // A literal `+` in a query string decodes to a space: restore it.
    parse(s)
        .or_else(|| parse(&s.replace(' ', "+")))
        .map(|t| t.timestamp())
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`); invalid
/// escapes are kept as written, invalid UTF-8 is replaced.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn counters_json(c: &Counters) -> J {
    serde_json::to_value(c).unwrap_or_default()
}

/// The counters of every monitor in the Prometheus text exposition format.
pub fn metrics_text(monitors: &[MonitorInfo]) -> String {
    type Get = fn(&Counters) -> u64;
    let families: [(&str, &str, Get); 8] = [
        ("lines", "Lines (events) offered to the monitor.", |c| {
            c.lines
        }),
        ("parsed", "Lines cut into columns without error.", |c| {
            c.parsed
        }),
        ("parse_errors", "Lines skipped as malformed.", |c| {
            c.parse_errors
        }),
        (
            "filtered",
            "Parsed lines removed by the include/exclude filters.",
            |c| c.filtered,
        ),
        (
            "key_dropped",
            "Lines dropped because their minute already had key_limit keys.",
            |c| c.key_dropped,
        ),
        (
            "late",
            "Lines whose minute was older than the lateness window.",
            |c| c.late,
        ),
        (
            "amended",
            "Lines that amended an already stored minute.",
            |c| c.amended,
        ),
        (
            "rate_limited",
            "Lines the agents dropped by the source's rate limit.",
            |c| c.rate_limited,
        ),
    ];
    let mut out = String::new();
    for (name, help, get) in families {
        let metric = format!("vigil_monitor_{name}_total");
        out.push_str(&format!(
            "# HELP {metric} {help}\n# TYPE {metric} counter\n"
        ));
        for m in monitors {
            out.push_str(&format!(
                "{metric}{{monitor=\"{}\"}} {}\n",
                escape_label(&m.name),
                get(&m.counters)
            ));
        }
    }
    out
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn text_response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn json_response(status: StatusCode, body: &J) -> Response<Full<Bytes>> {
    text_response(status, "application/json", body.to_string())
}

fn error_response(err: &ApiError) -> Response<Full<Bytes>> {
    let mut resp = json_response(err.status(), &err.to_json());
    match err {
        ApiError::MethodNotAllowed { allowed, .. } => {
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
        }
        ApiError::Unauthorized => {
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_and_plus() {
        assert_eq!(percent_decode("a%2Bb+c%zz%", true), "a+b c%zz%");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("%E4%B8%AD", true), "中");
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time("1795140000"), Some(1_795_140_000));
        assert_eq!(parse_time("2026-11-20T02:00:00Z"), Some(1_795_140_000));
        assert_eq!(parse_time("2026-11-20T10:00:00 08:00"), Some(1_795_140_000));
        assert_eq!(parse_time("2026-11-20"), None);
    }

    #[test]
    fn login_goes_only_to_local_paths() {
        assert_eq!(
            safe_next(Some("/apps/trade?span=60")),
            "/apps/trade?span=60"
        );
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn form_bodies() {
        assert_eq!(
            form_to_json(b"reason=deploy+v2%21&minutes=30"),
            json!({"reason": "deploy v2!", "minutes": 30})
        );
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
