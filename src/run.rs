//! `vigil run`, `vigil collector` and `vigil agent`.
//!
//! `vigil run` is the embedded default: one process with a collector and a
//! local agent that ships the monitors' own log files to it over
//! 127.0.0.1, exactly as a node agent would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use std::time::Duration;

use anyhow::{Context, Result};
use vigil_agent::health::{Counted, HealthServer, Stats};
use vigil_agent::metrics::jvm::JvmSampler;
use vigil_agent::metrics::probe::{ProbeSampler, ProbeTarget};
use vigil_agent::metrics::system::{SystemOptions, SystemSampler};
use vigil_agent::metrics::{run_samplers, Sampler};
use vigil_agent::ship::client::Client;
use vigil_agent::ship::{agent_id, labels, Agent, AgentOptions, RatePolicy};
use vigil_dashboards::api::Tokens;
use vigil_model::wire::Labels;

use crate::collector::Settings;
use crate::serve;

/// Bearer tokens from the environment or files named by flags.
#[derive(Debug, Clone, Default)]
pub struct TokenSources {
    /// File holding the ingest token (else `VIGIL_INGEST_TOKEN`).
    pub ingest_file: Option<PathBuf>,
    /// File holding the API token (else `VIGIL_API_TOKEN`).
    pub api_file: Option<PathBuf>,
}

impl TokenSources {
    /// Reads the tokens; an empty token counts as none.
    pub fn read(&self) -> Result<Tokens> {
        Ok(Tokens {
            ingest: token(self.ingest_file.as_deref(), "VIGIL_INGEST_TOKEN")?,
            api: token(self.api_file.as_deref(), "VIGIL_API_TOKEN")?,
        })
    }
}

/// A token from `file`, else from the environment variable `var`.
fn token(file: Option<&Path>, var: &str) -> Result<Option<String>> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read token file {}", f.display()))?,
        None => std::env::var(var).unwrap_or_default(),
    };
    let text = text.trim().to_string();
    Ok((!text.is_empty()).then_some(text))
}

/// What `vigil run` and `vigil collector` were asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Configuration file or folder.
    pub config: PathBuf,
    /// Data directory (stored minutes, log, agent state).
    pub data: PathBuf,
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// Seconds after its end that a minute closes.
    pub close_after_secs: u64,
    /// Seconds between agent heartbeats.
    pub heartbeat_secs: u64,
    /// Seconds after which a write-ahead log segment is closed.
    pub wal_segment_secs: u64,
    /// Where the tokens come from.
    pub tokens: TokenSources,
    /// PEM certificate chain and key: serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Options {
    fn serve_options(&self) -> Result<serve::Options> {
        Ok(serve::Options {
            config: self.config.clone(),
            data: self.data.clone(),
            listen: self.listen,
            settings: Settings {
                close_after_ms: i64::try_from(self.close_after_secs)
                    .unwrap_or(i64::MAX / 1000)
                    .saturating_mul(1000),
                heartbeat_secs: self.heartbeat_secs.max(1),
                segment_age: std::time::Duration::from_secs(self.wal_segment_secs.max(1)),
                ..Settings::default()
            },
            tokens: self.tokens.read()?,
            tls: self.tls.clone(),
        })
    }
}

/// What the agent samples besides log files.
#[derive(Debug, Clone)]
pub struct MetricsOptions {
    /// Seconds between samples; 0 samples nothing.
    pub interval_secs: u64,
    /// Where the host's /proc is (`/host/proc` in a DaemonSet).
    pub proc_root: PathBuf,
    /// Folders holding `hsperfdata_<user>/<pid>` files.
    pub jvm_tmp_dirs: Vec<PathBuf>,
    /// Probe targets (JSON array of probe objects), if any.
    pub probes: Vec<ProbeTarget>,
}

impl MetricsOptions {
    /// The samplers these options ask for, counting into `stats`.
    fn samplers(&self, stats: &Arc<Stats>) -> Vec<Box<dyn Sampler>> {
        let system = SystemOptions {
            proc_root: self.proc_root.clone(),
            ..SystemOptions::default()
        };
        let mut samplers: Vec<Box<dyn Sampler>> = vec![
            Box::new(SystemSampler::new(system)),
            Box::new(JvmSampler::new(self.jvm_tmp_dirs.clone()).with_proc_root(&self.proc_root)),
        ];
        if !self.probes.is_empty() {
            samplers.push(Box::new(
                ProbeSampler::new(self.probes.clone()).with_proc_root(&self.proc_root),
            ));
        }
        samplers
            .into_iter()
            .map(|s| Box::new(Counted::new(s, stats.clone())) as Box<dyn Sampler>)
            .collect()
    }
}

/// Reads probe targets from a JSON or YAML file (a list of probes).
pub fn read_probes(path: &Path) -> Result<Vec<ProbeTarget>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read probes file {}", path.display()))?;
    serde_yaml_ng::from_str(&text).with_context(|| format!("{}: invalid probes", path.display()))
}

/// Running agent threads (lines, and metrics), stopped and joined when
/// dropped.
struct AgentThread {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl AgentThread {
    fn start(opts: AgentOptions, metrics: &MetricsOptions) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        if metrics.interval_secs > 0 {
            let flag = stop.clone();
            let client = Client::new(
                &opts.collector,
                opts.token.as_deref(),
                opts.ca_pem.as_deref(),
            )?;
            let id = agent_id(&opts.state, &opts.labels.instance)?;
            let samplers = metrics.samplers(&opts.stats);
            let interval = Duration::from_secs(metrics.interval_secs);
            handles.push(
                std::thread::Builder::new()
                    .name("vigil-metrics".into())
                    .spawn(move || run_samplers(samplers, &client, &id, interval, &flag))
                    .context("cannot start the metrics sampler")?,
            );
        }
        let flag = stop.clone();
        handles.push(
            std::thread::Builder::new()
                .name("vigil-agent".into())
                .spawn(move || {
                    if let Err(e) = Agent::run(opts, &flag) {
                        eprintln!("vigil: the agent stopped: {e}");
                    }
                })
                .context("cannot start the agent")?,
        );
        Ok(AgentThread { stop, handles })
    }

    /// Waits until `stop` is set (by a signal), then stops the threads.
    fn wait_for(self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for AgentThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Runs `vigil run` until Ctrl-C or SIGTERM.
pub fn run(opts: &Options) -> Result<ExitCode> {
    let serve_opts = opts.serve_options()?;
    let ingest_token = serve_opts.tokens.ingest.clone();
    let state = opts.data.join("agent");
    let config = opts.config.clone();
    let data = opts.data.clone();
    // The local agent trusts the served certificate itself.
    let ca_pem = match &opts.tls {
        Some((cert, _)) => {
            Some(std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?)
        }
        None => None,
    };
    let scheme = serve_opts.scheme();
    serve::run(&serve_opts, move |addr, _| {
        let labels = labels::resolve(Vec::new(), labels::system_env).unwrap_or_else(|_| Labels {
            instance: "local".into(),
            ..Labels::default()
        });
        let mut agent = AgentOptions::new(format!("{scheme}://{addr}"), state, labels);
        agent.token = ingest_token;
        agent.ca_pem = ca_pem;
        agent.rate_policy = RatePolicy::Drop;
        let metrics = MetricsOptions {
            interval_secs: 10,
            proc_root: PathBuf::from("/proc"),
            jvm_tmp_dirs: vec![std::env::temp_dir()],
            probes: Vec::new(),
        };
        let thread = AgentThread::start(agent, &metrics)?;
        println!("vigil is running with {}", config.display());
        println!("  dashboard: {scheme}://{addr}/");
        println!("  monitors: {scheme}://{addr}/api/v1/monitors");
        println!("  metrics: {scheme}://{addr}/metrics");
        println!("  data: {}", data.display());
        println!("Press Ctrl-C to stop.");
        Ok(thread)
    })
}

/// Runs `vigil collector` until Ctrl-C or SIGTERM.
pub fn collector(opts: &Options) -> Result<ExitCode> {
    let serve_opts = opts.serve_options()?;
    if serve_opts.tokens.ingest.is_none() && !opts.listen.ip().is_loopback() {
        eprintln!(
            "vigil: warning: no ingest token (VIGIL_INGEST_TOKEN or --ingest-token-file) while listening on {}",
            opts.listen
        );
    }
    let scheme = serve_opts.scheme();
    serve::run(&serve_opts, |addr, _| {
        println!("vigil collector listening on {scheme}://{addr}");
        Ok(())
    })
}

/// What `vigil agent` was asked to do.
#[derive(Debug, Clone)]
pub struct AgentCommand {
    /// Base URL of the collector.
    pub collector: String,
    /// State directory.
    pub state: PathBuf,
    /// `key=value,…` labels.
    pub labels: Option<String>,
    /// File holding the ingest token (else `VIGIL_INGEST_TOKEN`).
    pub token_file: Option<PathBuf>,
    /// PEM certificates trusted for an https collector.
    pub ca_file: Option<PathBuf>,
    /// Disk buffer bound in MiB.
    pub spool_mb: u64,
    /// Host, JVM and port metrics.
    pub metrics: MetricsOptions,
    /// Where to serve the agent's `/healthz` and `/metrics`; `None`: not
    /// served.
    pub listen: Option<SocketAddr>,
}

/// Runs `vigil agent` until Ctrl-C or SIGTERM.
pub fn agent(cmd: &AgentCommand) -> Result<ExitCode> {
    let pairs = match &cmd.labels {
        Some(text) => labels::parse_pairs(text)?,
        None => Vec::new(),
    };
    let labels = labels::resolve(pairs, labels::system_env)?;
    let mut opts = AgentOptions::new(cmd.collector.trim_end_matches('/'), &cmd.state, labels);
    opts.token = token(cmd.token_file.as_deref(), "VIGIL_INGEST_TOKEN")?;
    if let Some(path) = &cmd.ca_file {
        opts.ca_pem =
            Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?);
    }
    opts.spool_limit_bytes = cmd.spool_mb.saturating_mul(1 << 20);
    // DESIGN: lines over a source's rate limit are dropped and counted.
    opts.rate_policy = RatePolicy::Drop;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot install the signal handlers")?;
    }
    eprintln!("vigil agent shipping to {}", cmd.collector);
    // Shipping matters more than being watched: a port already taken
    // (another agent, another program) is reported, not fatal.
    let _server = cmd
        .listen
        .and_then(|addr| match HealthServer::start(addr, opts.stats.clone()) {
            Ok(server) => {
                eprintln!(
                    "vigil agent serving /healthz and /metrics on http://{}",
                    server.addr()
                );
                Some(server)
            }
            Err(e) => {
                eprintln!("vigil: warning: {e}; the agent runs without them");
                None
            }
        });
    AgentThread::start(opts, &cmd.metrics)?.wait_for(&stop);
    Ok(ExitCode::SUCCESS)
}
