//! vigil-dashboards: the read side of vigil, served over HTTP.
//!
//! A tour:
//!
//! - [`api`] is the JSON HTTP API, built on hyper 1 and tokio. It reads
//!   through the [`api::Catalog`] trait, which the `vigil` binary implements
//!   over the engine's store and tests implement with hand-made rows.
//! - [`api::serve`] accepts connections on a bound
//!   [`tokio::net::TcpListener`] until a shutdown future completes.
//! - Routes (all `GET`):
//!   - `/healthz` → `ok`;
//!   - `/api/v1/monitors` → every monitor's name, kind, app, keys, values,
//!     timezone and counters;
//!   - `/api/v1/monitors/{name}/rows?from=&to=&key.<col>=` → the rows of
//!     `[from, to)` as [`vigil_model::MinuteRow::to_json`] objects;
//!   - `/api/v1/monitors/{name}/counters` → the monitor's counters;
//!   - `/metrics` → the counters in the Prometheus text format.
//! - Errors are JSON objects `{"error": "..."}`, with a `parameter` field
//!   naming the offending query parameter on a 400.
//!
//! The routing itself is the pure function [`api::route`], usable without a
//! socket.

pub mod api;
