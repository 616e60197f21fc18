//! The web UI: server-rendered HTML pages over the same [`Catalog`] as the
//! JSON API, with charts drawn on the server as SVG.
//!
//! A tour:
//!
//! - [`page`] answers a UI path (`/`, `/apps/{app}`, `/monitors`,
//!   `/monitors/{name}`, `/alerts`, `/agents`, `/dashboards`,
//!   `/dashboards/{name}`, `/static/vigil.css`) or returns `None` for
//!   paths that are not the UI's.
//! - Each page module (`overview`, `app`, `monitors`, `alerts`, `agents`,
//!   `dashboard`: the YAML dashboards of the configuration) reads through the [`Catalog`] and builds a JSON context
//!   that a minijinja template (embedded from `ui/templates/`) renders.
//! - `params` parses the query string (time range, view, filters); `series`
//!   folds rows into per-minute series; `chart` draws them with plotters'
//!   SVG backend and adds a hover `<title>` (exact value and time) on each
//!   point; `format` renders numbers and times.
//!
//! Every page takes `to` (the end of its range, default now) and most take
//! `span` (minutes), so a past range can be replayed by URL.

use std::sync::OnceLock;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use hyper::{Method, Response, StatusCode};
use minijinja::Environment;
use serde_json::Value as J;

use crate::api::{ApiError, Catalog};

mod agents;
mod alerts;
mod app;
mod chart;
mod dashboard;
mod format;
mod monitors;
mod overview;
mod params;
mod series;

pub use params::Params;

/// The stylesheet of every page.
const CSS: &str = include_str!("ui/vigil.css");

/// The templates, by name.
const TEMPLATES: [(&str, &str); 12] = [
    ("base.html", include_str!("ui/templates/base.html")),
    ("overview.html", include_str!("ui/templates/overview.html")),
    ("app.html", include_str!("ui/templates/app.html")),
    ("monitors.html", include_str!("ui/templates/monitors.html")),
    ("monitor.html", include_str!("ui/templates/monitor.html")),
    ("alerts.html", include_str!("ui/templates/alerts.html")),
    ("agents.html", include_str!("ui/templates/agents.html")),
    (
        "dashboards.html",
        include_str!("ui/templates/dashboards.html"),
    ),
    (
        "dashboard.html",
        include_str!("ui/templates/dashboard.html"),
    ),
    ("records.html", include_str!("ui/templates/records.html")),
    ("legend.html", include_str!("ui/templates/legend.html")),
    ("login.html", include_str!("ui/templates/login.html")),
];

/// The template environment, built once.
fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Escape only what HTML needs (minijinja's default also escapes `/`,
        // which would make every link and path unreadable in the source).
        env.set_formatter(|out, _state, value| {
            let text = value.to_string();
            let shown = if value.is_safe() {
                text
            } else {
                format::escape(&text)
            };
            out.write_str(&shown).map_err(minijinja::Error::from)
        });
        for (name, source) in TEMPLATES {
            // The templates are part of the binary and covered by tests: a
            // syntax error is a bug caught by `every_template_parses`.
            if let Err(e) = env.add_template(name, source) {
                panic!("template {name}: {e}");
            }
        }
        env
    })
}

/// Whether `path` belongs to the UI: a visitor without the session cookie
/// is sent to the login page rather than answered 401.
pub fn is_ui_path(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/metrics" || path == "/healthz")
}

/// Paths open without a token: the login form and the stylesheet it uses.
pub fn is_open_path(path: &str) -> bool {
    matches!(path, "/login" | "/static/vigil.css" | "/healthz")
}

/// Answers a GET of a UI page, or `None` when `path` is not a page.
/// `now_s` is the default end of time ranges; `signed_in` (the visitor
/// logged in with the API token) shows the sign-out button.
pub fn page(
    catalog: &dyn Catalog,
    method: &Method,
    path: &str,
    query: Option<&str>,
    now_s: i64,
    signed_in: bool,
) -> Option<Response<Full<Bytes>>> {
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| crate::api::percent_decode(s, false))
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let known = matches!(
        segments.as_slice(),
        [""] | ["apps", _]
            | ["monitors"]
            | ["monitors", _]
            | ["alerts"]
            | ["agents"]
            | ["dashboards"]
            | ["dashboards", _]
            | ["static", "vigil.css"]
    );
    if !known {
        return None;
    }
    if method != Method::GET {
        return Some(error_page(&ApiError::MethodNotAllowed {
            method: method.to_string(),
            allowed: "GET",
        }));
    }
    if segments.as_slice() == ["static", "vigil.css"] {
        let mut resp = text(StatusCode::OK, "text/css; charset=utf-8", CSS.to_string());
        resp.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
        return Some(resp);
    }
    let params = Params::parse(query.unwrap_or(""), now_s);
    let rendered = match segments.as_slice() {
        [""] => overview::render(catalog, &params),
        ["apps", app] => app::render(catalog, app, &params),
        ["monitors"] => monitors::render_list(catalog, &params),
        ["monitors", name] => monitors::render(catalog, name, &params),
        ["alerts"] => alerts::render(catalog, &params),
        ["agents"] => agents::render(catalog, &params),
        ["dashboards"] => dashboard::render_list(catalog),
        ["dashboards", name] => dashboard::render(catalog, name, &params),
        _ => Err(ApiError::NotFound(path.to_string())),
    }
    .and_then(|page| page.render(signed_in));
    Some(match rendered {
        Ok(html) => text(StatusCode::OK, "text/html; charset=utf-8", html),
        Err(e) => error_page(&e),
    })
}

/// The login page, with `error` shown when the last try failed; `next` is
/// where a successful login goes.
pub fn login_page(next: &str, error: Option<&str>) -> Response<Full<Bytes>> {
    let ctx = serde_json::json!({ "title": "Sign in", "next": next, "error": error });
    match render_template("login.html", &ctx) {
        Ok(html) => {
            let status = if error.is_some() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::OK
            };
            text(status, "text/html; charset=utf-8", html)
        }
        Err(e) => error_page(&e),
    }
}

/// A `303 See Other` to `location` (after a form's POST).
pub fn redirect(location: &str) -> Response<Full<Bytes>> {
    let mut resp = text(
        StatusCode::SEE_OTHER,
        "text/plain; charset=utf-8",
        String::new(),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

/// Escapes a query-string component (for links built outside the UI).
pub fn url_component(s: &str) -> String {
    format::url(s)
}

/// A page to render: a template and its context.
#[derive(Debug, Clone)]
pub struct Page {
    template: &'static str,
    ctx: J,
}

impl Page {
    /// The page of template `template` with context `ctx` (a JSON object).
    fn of(template: &'static str, ctx: &J) -> Result<Page, ApiError> {
        Ok(Page {
            template,
            ctx: ctx.clone(),
        })
    }

    /// Renders the page; `signed_in` shows the sign-out button.
    fn render(mut self, signed_in: bool) -> Result<String, ApiError> {
        if let J::Object(map) = &mut self.ctx {
            map.insert("signed_in".into(), J::Bool(signed_in));
        }
        render_template(self.template, &self.ctx)
    }
}

/// Renders template `name` with `ctx`.
fn render_template(name: &str, ctx: &J) -> Result<String, ApiError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(minijinja::Value::from_serialize(ctx)))
        .map_err(|e| ApiError::Catalog(format!("cannot render {name}: {e:#}")))
}

/// An HTML page for an error, with the error's status.
fn error_page(err: &ApiError) -> Response<Full<Bytes>> {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>vigil: {status}</title>\
         <link rel=\"stylesheet\" href=\"/static/vigil.css\"></head><body><main>\
         <h1>{status}</h1><p class=\"error\">{message}</p><p><a href=\"/\">Overview</a></p></main></body></html>",
        status = err.status(),
        message = format::escape(&err.to_string()),
    );
    text(err.status(), "text/html; charset=utf-8", body)
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn ui_paths() {
        assert!(is_ui_path("/"));
        assert!(is_ui_path("/monitors/x"));
        assert!(!is_ui_path("/api/v1/monitors"));
        assert!(!is_ui_path("/healthz"));
    }
}
