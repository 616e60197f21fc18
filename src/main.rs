//! The `vigil` binary: the composition root. It parses the command line and
//! wires the library crates together; no other crate depends on it.

mod alert_test;
mod alerts;
mod applier;
mod check;
mod collector;
mod config_cmd;
mod cutting;
mod metrics;
mod output;
mod pipeline;
mod replay;
mod route;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// vigil turns business log lines into exact per-minute statistics and
/// alerts on them.
///
/// Write monitors in YAML (which files, how to cut lines into columns, what
/// to compute), check them with `vigil check`, and see what they compute on
/// a log file with `vigil replay`.
#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a configuration file or folder; print every error with its
    /// file, line and column, and exit non-zero if there is any.
    Check {
        /// A YAML file, or a folder whose *.yaml / *.yml files are read.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
    },
    /// Print the JSON Schema of the configuration format (for editors).
    Schema,
    /// Carry applications and monitors between configuration folders:
    /// export them as one YAML file, import such a file.
    Config {
        #[command(subcommand)]
        command: config_cmd::ConfigCommand,
    },
    /// The embedded default: one process with a collector and a local
    /// agent that tails the monitors' own log files; closed minutes are
    /// stored under --data and the JSON API is served on --listen.
    Run {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The collector: agents register and send lines to it; it aggregates
    /// them, stores closed minutes under --data and serves the JSON API on
    /// --listen. Reloads its configuration on SIGHUP and when the files
    /// change (a bad one is refused and the running one stays).
    Collector {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The node agent: tails the files the collector names and ships their
    /// lines to it, buffering on disk while it is unreachable.
    Agent {
        /// Base URL of the collector.
        #[arg(long, value_name = "URL")]
        collector: String,
        /// State directory: agent id, checkpoints, disk buffer.
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// Labels, e.g. `app=trade,instance=node-1,idc=hz,ldc=hz-a`
        /// (instance defaults to NODE_NAME, POD_NAME or the host name; idc
        /// and ldc to VIGIL_IDC and VIGIL_LDC).
        #[arg(long, value_name = "K=V,...")]
        labels: Option<String>,
        /// File holding the ingest token (default: VIGIL_INGEST_TOKEN).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// PEM certificates to trust for an https collector, e.g. a private
        /// CA (default: the bundled Mozilla roots).
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// Bound of the disk buffer in MiB; reading pauses above it.
        #[arg(long, value_name = "MIB", default_value_t = 256)]
        spool_mb: u64,
        /// Seconds between host, JVM and probe samples (0: none).
        #[arg(long, value_name = "SECS", default_value_t = 10)]
        metrics_interval: u64,
        /// Where the host's /proc is mounted (a DaemonSet: /host/proc).
        #[arg(long, value_name = "DIR", default_value = "/proc")]
        proc_root: PathBuf,
        /// Folder of hsperfdata_<user>/<pid> files (repeat for several;
        /// default /tmp).
        #[arg(long = "jvm-tmp-dir", value_name = "DIR")]
        jvm_tmp_dirs: Vec<PathBuf>,
        /// YAML or JSON list of probes, e.g.
        /// `[{app: trade, tcp: "127.0.0.1:8080"}, {app: trade, http: "http://127.0.0.1:8080/health"}]`.
        #[arg(long, value_name = "FILE")]
        probes: Option<PathBuf>,
        /// Address of the agent's own GET /healthz (200 `ok`, or 503 and
        /// why) and GET /metrics (Prometheus text), or `off`. A DaemonSet
        /// uses 0.0.0.0:8687 for its probes. If the address cannot be
        /// listened on, the agent warns and ships without them.
        #[arg(long, value_name = "ADDR|off", default_value = vigil_agent::health::DEFAULT_LISTEN)]
        listen: AgentListen,
    },
    /// Run monitors over log files as if they were tailed, then print the
    /// closed minutes and each monitor's counters.
    ///
    /// A file is fed to the monitors whose source paths match it (by path,
    /// or by file name when the path does not match); with --monitor it is
    /// fed to that monitor whatever its name. Without --log, every file the
    /// monitors' source paths match is replayed.
    Replay {
        /// A YAML file, or a folder of them.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
        /// Log files to replay, in order (repeat the flag for several).
        /// Default: every file that the monitors' source paths match.
        #[arg(long = "log", short, value_name = "FILE")]
        logs: Vec<PathBuf>,
        /// Only this monitor.
        #[arg(long, short, value_name = "NAME")]
        monitor: Option<String>,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// How many malformed lines to describe per monitor on stderr.
        #[arg(long, default_value_t = 5, value_name = "N")]
        show_errors: usize,
        /// Threads that cut lines (default: one per core, at most 8, which
        /// keeps peak memory near 100 MB). The result is the same whatever
        /// the number.
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
    },
    /// Replay logs, evaluate every alert rule minute by minute and print,
    /// as JSON lines, each notification that would be sent (minute, rule,
    /// keys, level, state, channel, value, threshold). Nothing is sent.
    AlertTest {
        /// A YAML file, or a folder of them.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
        /// Log files to replay, in order (repeat the flag for several).
        /// Default: every file that the monitors' source paths match.
        #[arg(long = "log", short, value_name = "FILE")]
        logs: Vec<PathBuf>,
    },
}

/// Settings shared by `vigil run` and `vigil collector`.
#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// A YAML file, or a folder of them.
    #[arg(long, short, value_name = "PATH", default_value = "config/examples")]
    config: PathBuf,
    /// Data directory: stored minutes, write-ahead log, agent state.
    #[arg(long, short, value_name = "DIR", default_value = "data")]
    data: PathBuf,
    /// Address of the HTTP API and agent endpoints.
    #[arg(long, short, value_name = "ADDR", default_value = "127.0.0.1:8686")]
    listen: std::net::SocketAddr,
    /// Seconds after its end that a minute closes (by the newest line time
    /// or the wall clock, whichever comes first).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    close_after: u64,
    /// Seconds between agent heartbeats (3 missed: the agent is lost).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    heartbeat: u64,
    /// Seconds after which a write-ahead log segment is closed, so that it
    /// can be deleted once every minute in it is final and stored.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    wal_segment_secs: u64,
    /// File holding the token agents must present (default:
    /// VIGIL_INGEST_TOKEN; none: agents are not asked for one).
    #[arg(long, value_name = "FILE")]
    ingest_token_file: Option<PathBuf>,
    /// File holding the token API callers must present (default:
    /// VIGIL_API_TOKEN; none: the API is open).
    #[arg(long, value_name = "FILE")]
    api_token_file: Option<PathBuf>,
    /// PEM certificate chain (leaf first): serve HTTPS instead of HTTP
    /// (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl ServerArgs {
    fn options(self) -> run::Options {
        run::Options {
            config: self.config,
            data: self.data,
            listen: self.listen,
            close_after_secs: self.close_after,
            heartbeat_secs: self.heartbeat,
            wal_segment_secs: self.wal_segment_secs,
            tokens: run::TokenSources {
                ingest_file: self.ingest_token_file,
                api_file: self.api_token_file,
            },
            tls: self.tls_cert.zip(self.tls_key),
        }
    }
}

/// `vigil agent --listen`: an address, or `off`.
#[derive(Debug, Clone, Copy)]
struct AgentListen(Option<std::net::SocketAddr>);

impl std::str::FromStr for AgentListen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(AgentListen(None));
        }
        text.parse()
            .map(|addr| AgentListen(Some(addr)))
            .map_err(|e| format!("{e}: expected an address such as 127.0.0.1:8687, or off"))
    }
}

/// Output format of `vigil replay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned tables, one per monitor, for people.
    Table,
    /// CSV, one block per monitor with its own header.
    Csv,
    /// One JSON object per line: rows, then each monitor's counters.
    Json,
}

/// Most cutting threads `vigil replay` starts by itself: each holds chunks
/// in flight, so memory grows with the thread count (about 100 MB at 8).
const MAX_DEFAULT_THREADS: usize = 8;

/// One cutting thread per core, at most [`MAX_DEFAULT_THREADS`].
fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_DEFAULT_THREADS)
}

/// jemalloc rather than the system's allocator: the collector hands
/// request bodies and log records of a frame's size (2 MiB) from thread to
/// thread, which glibc maps afresh and faults in for every frame. Shipping
/// 2 M lines took 1.12 s instead of 1.20 s and 1.42 instead of 1.50 s in
/// two sittings, with a tenth less CPU (`e2e_bench`, medians of five
/// interleaved runs each); peak RSS grew by 3 MB (agent) and 8 MB
/// (collector). mimalloc was as fast but doubled the peak RSS of every
/// command.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // The agent reports through `log`; warnings and errors reach stderr
    // unless RUST_LOG says otherwise.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => check::run(&config),
        Command::Schema => {
            let schema = vigil_config::json_schema();
            match serde_json::to_string_pretty(&schema) {
                Ok(text) => {
                    println!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Config { command } => config_cmd::run(command),
        Command::Run { server } => run::run(&server.options()),
        Command::Collector { server } => run::collector(&server.options()),
        Command::Agent {
            collector,
            state,
            labels,
            token_file,
            ca_file,
            spool_mb,
            metrics_interval,
            proc_root,
            jvm_tmp_dirs,
            probes,
            listen,
        } => (|| {
            let probes = match &probes {
                Some(path) => run::read_probes(path)?,
                None => Vec::new(),
            };
            let jvm_tmp_dirs = if jvm_tmp_dirs.is_empty() {
                vec![PathBuf::from("/tmp")]
            } else {
                jvm_tmp_dirs
            };
            run::agent(&run::AgentCommand {
                collector,
                state,
                labels,
                token_file,
                ca_file,
                spool_mb,
                metrics: run::MetricsOptions {
                    interval_secs: metrics_interval,
                    proc_root,
                    jvm_tmp_dirs,
                    probes,
                },
                listen: listen.0,
            })
        })(),
        Command::Replay {
            config,
            logs,
            monitor,
            format,
            show_errors,
            threads,
        } => replay::run(&replay::Options {
            config,
            logs,
            monitor,
            format,
            show_errors,
            threads: threads.unwrap_or_else(default_threads),
        }),
        Command::AlertTest { config, logs } => {
            alert_test::run(&alert_test::Options { config, logs })
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
