//! Running a [`Collector`] as a server: the HTTP API and agent endpoints,
//! the ticker that closes minutes, and configuration reloads on SIGHUP or
//! when the configuration files change.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde_json::Value as J;
use vigil_config::Kind;
use vigil_dashboards::api::{
    ApiError, Catalog, HistoryQuery, MonitorInfo, PauseRequest, RowsRequest, Server, Tokens,
};
use vigil_engine::sql::{SqlEngine, SqlError, SqlLimits};
use vigil_model::MinuteRow;

use crate::alerts::AlertService;
use crate::collector::{config_version, Collector, Settings};

/// What the server is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Configuration file or folder.
    pub config: PathBuf,
    /// Data directory.
    pub data: PathBuf,
    /// Address of the HTTP server.
    pub listen: SocketAddr,
    /// Collector settings.
    pub settings: Settings,
    /// Bearer tokens demanded.
    pub tokens: Tokens,
    /// PEM certificate chain and key: serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Options {
    /// `https` when a certificate is configured, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// How often minutes are closed and the log trimmed.
const TICK: Duration = Duration::from_millis(250);
/// How often the configuration files are checked for changes.
const CONFIG_CHECK: Duration = Duration::from_secs(2);

/// The API's view of a running collector.
struct CollectorCatalog {
    collector: Arc<Collector>,
    alerts: Arc<AlertService>,
    sql: SqlEngine,
    dashboards: Dashboards,
}

/// The dashboards of the configuration files, read again when the files
/// change; a configuration that does not load keeps the last good ones
/// (as the collector keeps its running configuration).
struct Dashboards {
    config: PathBuf,
    /// The configuration version read last, and its dashboards.
    loaded: std::sync::Mutex<(String, Vec<vigil_config::dashboard::Dashboard>)>,
}

impl Dashboards {
    fn new(config: &std::path::Path) -> Self {
        Dashboards {
            config: config.to_path_buf(),
            loaded: std::sync::Mutex::new((String::new(), Vec::new())),
        }
    }

    fn get(&self) -> Vec<vigil_config::dashboard::Dashboard> {
        let version = config_version(&self.config).unwrap_or_default();
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if loaded.0 != version {
            if let Ok(config) = crate::check::load(&self.config) {
                loaded.1 = config.dashboards;
            }
            loaded.0 = version;
        }
        loaded.1.clone()
    }
}

impl Catalog for CollectorCatalog {
    fn monitors(&self) -> Vec<MonitorInfo> {
        let counters = self.collector.counters();
        let monitors = self.collector.monitors();
        monitors
            .iter()
            .map(|m| {
                let mut info = MonitorInfo::from_monitor(
                    m,
                    counters.get(&m.name).copied().unwrap_or_default(),
                );
                // An archive has the keys, values and timezone of what it rolls up.
                if let Kind::Archive(a) = &m.kind {
                    if let Some(source) = monitors.iter().find(|s| s.name == a.of) {
                        let of = MonitorInfo::from_monitor(source, Default::default());
                        info.keys = of.keys;
                        info.values = of.values;
                        info.timezone = of.timezone;
                        info.app = info.app.or(of.app);
                    }
                }
                info
            })
            .chain(crate::metrics::MONITORS.iter().map(|name| MonitorInfo {
                name: name.to_string(),
                kind: "metrics".into(),
                app: None,
                keys: vec!["instance".into()],
                values: Vec::new(),
                timezone: chrono_tz::UTC,
                counters: Default::default(),
            }))
            .collect()
    }

    fn latest(&self, monitor: &str) -> Option<J> {
        self.collector.latest(monitor)
    }

    fn rows(&self, monitor: &str, request: &RowsRequest) -> Result<Vec<MinuteRow>, String> {
        // Metrics monitors are stored per instance; other views combine them.
        let metrics = crate::metrics::MONITORS.contains(&monitor);
        let table = if metrics {
            monitor.to_string()
        } else {
            request.view.table(monitor)
        };
        let mut rows = self
            .collector
            .store()
            .read(&table, request.from_s, request.to_s)
            .map_err(|e| e.to_string())?;
        if request.live {
            let open = self.collector.peek(monitor, request.view);
            // What is in progress replaces what was stored of it (an
            // archive stores its periods in progress when lines stop).
            let open: Vec<MinuteRow> = open
                .into_iter()
                .filter(|r| r.minute >= request.from_s && r.minute < request.to_s)
                .collect();
            let in_progress: std::collections::BTreeSet<(i64, Option<String>)> =
                open.iter().map(|r| (r.minute, r.period.clone())).collect();
            rows.retain(|r| !in_progress.contains(&(r.minute, r.period.clone())));
            rows.extend(open);
            rows.sort_by(MinuteRow::output_order);
        }
        if metrics {
            let labels = self.collector.instance_labels();
            rows = crate::metrics::view_rows(rows, request.view, |i| labels.get(i).cloned());
        }
        Ok(rows)
    }

    fn agents(&self) -> Vec<J> {
        self.collector.agents_json()
    }

    fn sql(&self, sql: &str) -> Result<J, ApiError> {
        // Called on tokio's blocking pool, inside the runtime.
        let answer =
            tokio::runtime::Handle::current().block_on(self.sql.query(sql, SqlLimits::default()));
        match answer {
            Ok(result) => Ok(result.to_json()),
            Err(e @ (SqlError::Query(_) | SqlError::ReadOnly(_))) => {
                Err(ApiError::bad("sql", e.to_string()))
            }
            Err(e @ SqlError::Timeout(_)) => Err(ApiError::Timeout(e.to_string())),
            Err(e) => Err(ApiError::Catalog(e.to_string())),
        }
    }

    fn metrics(&self) -> String {
        self.collector.metrics_text() + &self.alerts.metrics_text()
    }

    fn alerts(&self, now_s: i64) -> Result<J, ApiError> {
        Ok(self.alerts.status_json(now_s))
    }

    fn alert_history(&self, query: &HistoryQuery) -> Result<J, ApiError> {
        Ok(self.alerts.history_json(query))
    }

    fn pause_alert(&self, rule: &str, pause: &PauseRequest) -> Result<J, ApiError> {
        self.alerts.pause(rule, pause)
    }

    fn resume_alert(&self, rule: &str) -> Result<J, ApiError> {
        self.alerts.resume(rule)
    }

    fn dashboards(&self) -> Vec<vigil_config::dashboard::Dashboard> {
        self.dashboards.get()
    }
}

/// Loads the configuration at `opts.config` with its version.
fn load(opts: &Options) -> Result<(vigil_config::Config, String)> {
    let config = crate::check::load(&opts.config)?;
    let version = config_version(&opts.config)?;
    Ok((config, version))
}

/// Runs the collector until Ctrl-C or SIGTERM. `ready` is called once the
/// server listens, with its address and the collector (the embedded default
/// starts its local agent there); whatever it returns is stopped (dropped)
/// at shutdown after the server.
pub fn run<T>(
    opts: &Options,
    ready: impl FnOnce(SocketAddr, &Arc<Collector>) -> Result<T>,
) -> Result<ExitCode> {
    let (config, version) = load(opts)?;
    let tls = match &opts.tls {
        Some((cert, key)) => Some(vigil_dashboards::api::server_config(cert, key)?),
        None => None,
    };
    std::fs::create_dir_all(&opts.data)
        .with_context(|| format!("cannot create data directory {}", opts.data.display()))?;
    let collector = Arc::new(Collector::open(
        &config,
        &version,
        &opts.data,
        opts.settings.clone(),
    )?);
    let alerts = Arc::new(AlertService::open(
        &config,
        &opts.data,
        collector.store().clone(),
    )?);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(opts.listen))
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;

    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    let ticker = {
        let collector = collector.clone();
        let alerts = alerts.clone();
        let stop = stop.clone();
        let reload = reload.clone();
        let opts = opts.clone();
        std::thread::Builder::new()
            .name("vigil-ticker".into())
            .spawn(move || tick_loop(&collector, &alerts, &opts, version, &stop, &reload))
            .context("cannot start the ticker")?
    };
    let guard = ready(addr, &collector)?;

    let server = Server::new(Arc::new(CollectorCatalog {
        collector: collector.clone(),
        alerts: alerts.clone(),
        sql: SqlEngine::new(collector.store().clone()),
        dashboards: Dashboards::new(&opts.config),
    }))
    .with_ingest(collector.clone())
    .with_tokens(opts.tokens.clone());
    let server = match tls {
        Some(config) => server.with_tls(config),
        None => server,
    };
    let stop_api = stop.clone();
    runtime.block_on(async move {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .expect("SIGHUP handler");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        let shutdown = async move {
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    _ = term.recv() => break,
                    _ = hup.recv() => reload.store(true, Ordering::Relaxed),
                    () = tokio::time::sleep(Duration::from_millis(200)) => {
                        if stop_api.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                }
            }
        };
        server.serve(listener, shutdown).await;
    });
    stop.store(true, Ordering::Relaxed);
    drop(guard);
    ticker
        .join()
        .map_err(|_| anyhow!("the ticker panicked"))??;
    // Store what is in progress; the log would rebuild it anyway.
    let closed = collector.tick(chrono::Utc::now().timestamp_millis())?;
    alerts.on_closed(&closed)?;
    Ok(ExitCode::SUCCESS)
}

/// Closes minutes every [`TICK`] and reloads the configuration on request
/// or when its files change, until `stop`.
fn tick_loop(
    collector: &Collector,
    alerts: &AlertService,
    opts: &Options,
    mut version: String,
    stop: &AtomicBool,
    reload: &AtomicBool,
) -> Result<()> {
    let mut checked = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let closed = match collector.tick(now_ms) {
            Ok(closed) => closed,
            Err(e) => {
                // Whatever fails here (a full disk) ends the process: the
                // log keeps every acknowledged line for the next start.
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        // Alert state that cannot be saved is reported and retried with the
        // next minute; the minutes themselves are stored.
        if let Err(e) = alerts
            .on_closed(&closed)
            .and_then(|()| alerts.on_clock(now_ms, opts.settings.close_after_ms))
        {
            log::error!("alert rules: {e:#}");
        }
        let asked = reload.swap(false, Ordering::Relaxed);
        if asked || checked.elapsed() >= CONFIG_CHECK {
            checked = Instant::now();
            let changed = config_version(&opts.config).is_ok_and(|v| v != version);
            if asked || changed {
                match load(opts) {
                    Ok((config, new_version)) => {
                        collector.reload(&config, &new_version)?;
                        alerts.reconfigure(&config);
                        eprintln!(
                            "vigil: configuration {} reloaded ({} monitors)",
                            opts.config.display(),
                            config.monitors.len()
                        );
                        version = new_version;
                    }
                    Err(e) => {
                        collector.reload_failed();
                        eprintln!(
                            "vigil: configuration {} refused, the running one stays in force:\n{e:#}",
                            opts.config.display()
                        );
                        // Do not report the same bad files every 2 s.
                        if let Ok(v) = config_version(&opts.config) {
                            version = v;
                        }
                    }
                }
            }
        }
        std::thread::sleep(TICK);
    }
    Ok(())
}
