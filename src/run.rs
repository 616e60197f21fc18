//! `vigil run`: the embedded default. One process tails the monitors' own
//! log files, aggregates them, stores closed minutes under the data
//! directory and serves the JSON API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use vigil_config::{Config, Kind, Monitor};
use vigil_dashboards::api::{self, Catalog, MonitorInfo};
use vigil_engine::store::{MinuteStore, DEFAULT_RETENTION_SECS};
use vigil_model::MinuteRow;

use crate::live::{Live, SharedCounters, Timing};

/// What `vigil run` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Configuration file or folder.
    pub config: PathBuf,
    /// Data directory (stored minutes, tail checkpoints).
    pub data: PathBuf,
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// Seconds after its end that a minute closes.
    pub close_after_secs: u64,
}

/// The API's view of the running process: the configured monitors, their
/// live counters, and the stored minutes.
struct RunningCatalog {
    monitors: Vec<Arc<Monitor>>,
    counters: SharedCounters,
    store: MinuteStore,
}

impl Catalog for RunningCatalog {
    fn monitors(&self) -> Vec<MonitorInfo> {
        let counters = self.counters.lock().map(|c| c.clone()).unwrap_or_default();
        self.monitors
            .iter()
            .map(|m| {
                let c = counters.get(&m.name).copied().unwrap_or_default();
                MonitorInfo::from_monitor(m, c)
            })
            .collect()
    }

    fn rows(&self, monitor: &str, from_s: i64, to_s: i64) -> Result<Vec<MinuteRow>, String> {
        self.store
            .read(monitor, from_s, to_s)
            .map_err(|e| e.to_string())
    }
}

/// Runs `vigil run` until Ctrl-C.
pub fn run(opts: &Options) -> Result<ExitCode> {
    let config: Config = crate::check::load(&opts.config)?;
    let monitors: Vec<Arc<Monitor>> = config
        .monitors
        .iter()
        .filter(|m| !matches!(m.kind, Kind::Archive(_)))
        .cloned()
        .map(Arc::new)
        .collect();
    std::fs::create_dir_all(&opts.data)
        .with_context(|| format!("cannot create data directory {}", opts.data.display()))?;
    let minutes = opts.data.join("minutes");
    // Two handles on the same directory: the live loop writes, the API
    // reads; files appear atomically, so neither needs the other's lock.
    let writer = MinuteStore::open(&minutes, DEFAULT_RETENTION_SECS)?;
    let reader = MinuteStore::open(&minutes, DEFAULT_RETENTION_SECS)?;
    let counters: SharedCounters = Arc::new(Mutex::new(Default::default()));
    let timing = Timing {
        close_after_ms: i64::try_from(opts.close_after_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000),
        poll: Duration::from_millis(500),
    };
    let live = Live::new(&monitors, &opts.data, writer, counters.clone(), timing)?;
    let catalog = Arc::new(RunningCatalog {
        monitors,
        counters,
        store: reader,
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(opts.listen))
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    println!("vigil is running with {}", opts.config.display());
    println!("  data:     {}", opts.data.display());
    println!("  monitors: http://{addr}/api/v1/monitors");
    println!("  metrics:  http://{addr}/metrics");
    println!("Press Ctrl-C to stop.");

    let stop = Arc::new(AtomicBool::new(false));
    let stop_live = stop.clone();
    let worker = std::thread::Builder::new()
        .name("vigil-live".into())
        .spawn(move || {
            // Whatever ends the loop ends the process too.
            let result = live.run(&stop_live);
            stop_live.store(true, Ordering::Relaxed);
            result
        })
        .context("cannot start the live loop")?;
    let stop_api = stop.clone();
    runtime.block_on(api::serve(listener, catalog, async move {
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                _ = &mut ctrl_c => break,
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop_api.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
        }
    }));
    stop.store(true, Ordering::Relaxed);
    worker
        .join()
        .map_err(|_| anyhow!("the live loop panicked"))??;
    Ok(ExitCode::SUCCESS)
}
