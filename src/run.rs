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

use anyhow::{anyhow, Context, Result};
use vigil_agent::ship::{labels, Agent, AgentOptions, RatePolicy};
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
    /// Where the tokens come from.
    pub tokens: TokenSources,
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
                ..Settings::default()
            },
            tokens: self.tokens.read()?,
        })
    }
}

/// A running agent thread, stopped and joined when dropped.
struct AgentThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl AgentThread {
    fn start(opts: AgentOptions) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("vigil-agent".into())
            .spawn(move || {
                if let Err(e) = Agent::run(opts, &flag) {
                    eprintln!("vigil: the local agent stopped: {e}");
                }
            })
            .context("cannot start the local agent")?;
        Ok(AgentThread {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for AgentThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
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
    serve::run(&serve_opts, move |addr, _| {
        let labels = labels::resolve(Vec::new(), labels::system_env).unwrap_or_else(|_| Labels {
            instance: "local".into(),
            ..Labels::default()
        });
        let mut agent = AgentOptions::new(format!("http://{addr}"), state, labels);
        agent.token = ingest_token;
        agent.rate_policy = RatePolicy::Drop;
        let thread = AgentThread::start(agent)?;
        println!("vigil is running with {}", config.display());
        println!("  data:     {}", data.display());
        println!("  monitors: http://{addr}/api/v1/monitors");
        println!("  metrics:  http://{addr}/metrics");
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
    serve::run(&serve_opts, |addr, _| {
        println!("vigil collector listening on http://{addr}");
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
    /// Disk buffer bound in MiB.
    pub spool_mb: u64,
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
    opts.spool_limit_bytes = cmd.spool_mb.saturating_mul(1 << 20);
    // DESIGN: lines over a source's rate limit are dropped and counted.
    opts.rate_policy = RatePolicy::Drop;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot install the signal handlers")?;
    }
    eprintln!("vigil agent shipping to {}", cmd.collector);
    Agent::run(opts, &stop).map_err(|e| anyhow!(e))?;
    Ok(ExitCode::SUCCESS)
}
