//! vigil-dashboards: the read side of vigil, served over HTTP.
//!
//! A tour:
//!
//! - [`api`] is the JSON HTTP API, built on hyper 1 and tokio. It reads
//!   through the [`api::Catalog`] trait, which the `vigil` binary implements
//!   over the engine's store and tests implement with hand-made rows.
//! - [`api::Server`] accepts connections on a bound
//!   [`tokio::net::TcpListener`] until a shutdown future completes; with an
//!   [`api::Ingest`] it also serves the agent endpoints of
//!   [`vigil_model::wire`], and with [`api::Tokens`] it demands bearer
//!   tokens (401 without; `/healthz` is open). Bodies over 8 MiB get a 413.
//! - Routes:
//!   - `GET /healthz` → `ok`;
//!   - `GET /api/v1/monitors` → every monitor's name, kind, app, keys,
//!     values, timezone and counters;
//!   - `GET /api/v1/monitors/{name}/rows?from=&to=&view=&live=&key.<col>=`
//!     → the rows of `[from, to)` as [`vigil_model::MinuteRow::to_json`]
//!     objects, per label (`"labels"`) in the instance / idc / ldc views;
//!   - `GET /api/v1/monitors/{name}/counters` → the monitor's counters;
//!   - `GET /api/v1/agents` → the agents and their states;
//!   - `POST /api/v1/sql` `{"sql": "..."}` → read-only SQL results;
//!   - `GET /metrics` → the counters in the Prometheus text format;
//!   - agent side: `POST /api/v1/agents/register`, `POST
//!     /api/v1/agents/heartbeat`, `GET /api/v1/agents/config`, `POST
//!     /api/v1/ingest`.
//! - Errors are JSON objects `{"error": "..."}`, with a `parameter` field
//!   naming the offending query parameter on a 400.
//!
//! The routing itself is the pure function [`api::route`], usable without a
//! socket.
//!
//! - [`ui`] is the web UI: HTML pages rendered on the server from the same
//!   [`api::Catalog`] (overview, apps, monitors, alerts, agents), with SVG
//!   charts drawn by plotters; the [`api::Server`] serves it under `/`.

pub mod api;
pub mod ui;
