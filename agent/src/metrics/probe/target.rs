//! What to probe: [`ProbeTarget`], its JSON form and its validation.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ProbeError;

/// Default seconds between two probes of a target.
pub const DEFAULT_INTERVAL_SECS: u64 = 10;
/// Default time one probe may take, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;
/// Default failures in a row that turn an up target down.
pub const DEFAULT_FALL: u32 = 3;
/// Default successes in a row that turn a down target up.
pub const DEFAULT_RISE: u32 = 1;

/// Longest unix socket path, in bytes (`sun_path` holds 108 with the NUL).
const MAX_UNIX_PATH: usize = 107;

/// One probe of an application, as configured on the collector and sent
/// to the agent in its configuration.
///
/// JSON form: `app`, exactly one kind key (`tcp`, `unix`, `http` or
/// `process`), and optionally `name`, `interval_secs` (default
/// [`DEFAULT_INTERVAL_SECS`]), `timeout_ms` ([`DEFAULT_TIMEOUT_MS`]),
/// `fall` ([`DEFAULT_FALL`]) and `rise` ([`DEFAULT_RISE`]). Unknown keys
/// are refused, and so is a target that fails [`ProbeTarget::validate`].
///
/// ```
/// use vigil_agent::metrics::probe::{ProbeKind, ProbeTarget};
///
/// let targets: Vec<ProbeTarget> = serde_json::from_str(r#"[
///     {"app": "trade", "tcp": "127.0.0.1:8080"},
///     {"app": "trade", "unix": "/run/trade.sock", "timeout_ms": 500},
///     {"app": "trade", "name": "health", "http": "http://127.0.0.1:8080/health",
///      "interval_secs": 5, "fall": 2, "rise": 2},
///     {"app": "trade", "process": {"pattern": "java .*Worker", "expected": 4}},
///     {"app": "trade", "process": {"name": "nginx"}}
/// ]"#).unwrap();
/// assert_eq!(targets[0].kind, ProbeKind::Tcp { addr: "127.0.0.1:8080".into() });
/// assert_eq!(targets[0].fall, 3);
/// assert_eq!(targets[2].target(), "http://127.0.0.1:8080/health");
/// assert_eq!(targets[3].target(), "process:java .*Worker");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTarget", into = "RawTarget")]
pub struct ProbeTarget {
    /// The application the probe belongs to (the `app` key of its samples).
    pub app: String,
    /// An optional label telling several probes of one app apart (the
    /// `name` key of its samples when set).
    pub name: Option<String>,
    /// What is probed and how.
    pub kind: ProbeKind,
    /// Seconds between two probes; 0 probes at every sampling round.
    pub interval_secs: u64,
    /// Most milliseconds one probe may take before it counts as failed
    /// (at least 1).
    pub timeout_ms: u64,
    /// Failures in a row that turn an up target down (at least 1).
    pub fall: u32,
    /// Successes in a row that turn a down target up (at least 1).
    pub rise: u32,
}

/// The kinds of probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeKind {
    /// A TCP connect to `addr`, `ip:port` or `host:port` (JSON:
    /// `"tcp": "127.0.0.1:8080"`). The connect alone is the check; nothing
    /// is sent.
    Tcp {
        /// The address, e.g. `127.0.0.1:8080`, `[::1]:80` or `db:5432`.
        addr: String,
    },
    /// A connect to the unix stream socket at `path` (JSON:
    /// `"unix": "/run/app.sock"`).
    Unix {
        /// The socket's path.
        path: PathBuf,
    },
    /// An HTTP `GET` of `url` (JSON: `"http": "http://127.0.0.1/health"`).
    /// A 2xx or 3xx answer passes; redirects are not followed, no proxy is
    /// used. Only `http://` is supported (the agent has no TLS).
    Http {
        /// The URL.
        url: String,
    },
    /// Counts the running processes that match (JSON:
    /// `"process": {"name": "nginx", "pattern": "...", "expected": 4}`).
    /// `name` matches the process name exactly (`/proc/<pid>/comm`; the
    /// kernel keeps its first 15 bytes, so a longer name matches on those),
    /// `pattern` is a regular expression searched (unanchored) in the
    /// command line, its arguments joined with spaces. With both, a
    /// process must match both; at least one is required. Zombies and
    /// kernel threads (empty command line) never match a pattern. The probe
    /// passes when the count equals `expected`, or is at least 1 without
    /// `expected`.
    Process {
        /// The exact process name (`comm`).
        name: Option<String>,
        /// A regular expression on the command line.
        pattern: Option<String>,
        /// How many processes must match.
        expected: Option<u32>,
    },
}

impl ProbeTarget {
    /// A target of `app` probing `kind`, with the default interval,
    /// timeout, fall and rise.
    pub fn new(app: impl Into<String>, kind: ProbeKind) -> ProbeTarget {
        ProbeTarget {
            app: app.into(),
            name: None,
            kind,
            interval_secs: DEFAULT_INTERVAL_SECS,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            fall: DEFAULT_FALL,
            rise: DEFAULT_RISE,
        }
    }

    /// The `target` key of its samples: `tcp://127.0.0.1:8080`,
    /// `unix:///run/app.sock`, the URL of an HTTP probe, or
    /// `process:<pattern>` (`process:<name>` without a pattern).
    pub fn target(&self) -> String {
        match &self.kind {
            ProbeKind::Tcp { addr } => format!("tcp://{addr}"),
            ProbeKind::Unix { path } => format!("unix://{}", path.display()),
            ProbeKind::Http { url } => url.clone(),
            ProbeKind::Process { name, pattern, .. } => format!(
                "process:{}",
                pattern.as_deref().or(name.as_deref()).unwrap_or_default()
            ),
        }
    }

    /// The `kind` key of its samples: `tcp`, `unix`, `http` or `process`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ProbeKind::Tcp { .. } => "tcp",
            ProbeKind::Unix { .. } => "unix",
            ProbeKind::Http { .. } => "http",
            ProbeKind::Process { .. } => "process",
        }
    }

    /// Checks that the target can be probed: a non-empty app, timeout,
    /// fall and rise of at least 1, an address with a port, a unix path
    /// that fits a socket address, an `http://` URL with a host, a process
    /// probe with a name or a valid pattern.
    ///
    /// # Errors
    ///
    /// [`ProbeError::Invalid`] or [`ProbeError::BadPattern`], naming the
    /// target.
    pub fn validate(&self) -> Result<(), ProbeError> {
        self.compile_pattern().map(|_| ())
    }

    /// Validates the target and compiles the pattern of a process probe.
    pub(super) fn compile_pattern(&self) -> Result<Option<regex::Regex>, ProbeError> {
        let invalid = |reason: &str| ProbeError::Invalid {
            target: self.target(),
            reason: reason.to_string(),
        };
        if self.app.is_empty() {
            return Err(invalid("app is empty"));
        }
        if self.timeout_ms == 0 {
            return Err(invalid("timeout_ms must be at least 1"));
        }
        if self.fall == 0 || self.rise == 0 {
            return Err(invalid("fall and rise must be at least 1"));
        }
        match &self.kind {
            ProbeKind::Tcp { addr } => {
                if addr.parse::<SocketAddr>().is_err() {
                    let ok = addr.rsplit_once(':').is_some_and(|(host, port)| {
                        !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0)
                    });
                    if !ok {
                        return Err(invalid("expected ip:port or host:port"));
                    }
                }
            }
            ProbeKind::Unix { path } => {
                let len = path.as_os_str().len();
                if len == 0 {
                    return Err(invalid("empty socket path"));
                }
                if len > MAX_UNIX_PATH {
                    return Err(invalid("socket path longer than 107 bytes"));
                }
            }
            ProbeKind::Http { url } => {
                let uri: ureq::http::Uri =
                    url.parse().map_err(|e| invalid(&format!("bad URL: {e}")))?;
                match uri.scheme_str() {
                    Some("http") => {}
                    Some("https") => {
                        return Err(invalid("https is not supported (no TLS), use http://"))
                    }
                    _ => return Err(invalid("expected an http:// URL")),
                }
                if uri.host().is_none_or(str::is_empty) {
                    return Err(invalid("no host in the URL"));
                }
            }
            ProbeKind::Process { name, pattern, .. } => {
                if name.is_none() && pattern.is_none() {
                    return Err(invalid("a process probe needs a name or a pattern"));
                }
                if name.as_deref() == Some("") {
                    return Err(invalid("empty process name"));
                }
                if let Some(p) = pattern {
                    let re = regex::Regex::new(p).map_err(|source| ProbeError::BadPattern {
                        target: self.target(),
                        source: Box::new(source),
                    })?;
                    return Ok(Some(re));
                }
            }
        }
        Ok(None)
    }
}

fn default_interval() -> u64 {
    DEFAULT_INTERVAL_SECS
}
fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}
fn default_fall() -> u32 {
    DEFAULT_FALL
}
fn default_rise() -> u32 {
    DEFAULT_RISE
}

/// The JSON form of a [`ProbeTarget`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    app: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tcp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unix: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    process: Option<RawProcess>,
    #[serde(default = "default_interval")]
    interval_secs: u64,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default = "default_fall")]
    fall: u32,
    #[serde(default = "default_rise")]
    rise: u32,
}

/// The JSON form of [`ProbeKind::Process`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected: Option<u32>,
}

impl TryFrom<RawTarget> for ProbeTarget {
    type Error = ProbeError;

    fn try_from(raw: RawTarget) -> Result<ProbeTarget, ProbeError> {
        let mut kinds = Vec::new();
        if let Some(addr) = raw.tcp {
            kinds.push(ProbeKind::Tcp { addr });
        }
        if let Some(path) = raw.unix {
            kinds.push(ProbeKind::Unix { path });
        }
        if let Some(url) = raw.http {
            kinds.push(ProbeKind::Http { url });
        }
        if let Some(p) = raw.process {
            kinds.push(ProbeKind::Process {
                name: p.name,
                pattern: p.pattern,
                expected: p.expected,
            });
        }
        if kinds.len() != 1 {
            return Err(ProbeError::Invalid {
                target: format!("app {}", raw.app),
                reason: "a probe needs exactly one of tcp, unix, http, process".into(),
            });
        }
        let target = ProbeTarget {
            app: raw.app,
            name: raw.name,
            kind: kinds.remove(0),
            interval_secs: raw.interval_secs,
            timeout_ms: raw.timeout_ms,
            fall: raw.fall,
            rise: raw.rise,
        };
        target.validate()?;
        Ok(target)
    }
}

impl From<ProbeTarget> for RawTarget {
    fn from(t: ProbeTarget) -> RawTarget {
        let mut raw = RawTarget {
            app: t.app,
            name: t.name,
            tcp: None,
            unix: None,
            http: None,
            process: None,
            interval_secs: t.interval_secs,
            timeout_ms: t.timeout_ms,
            fall: t.fall,
            rise: t.rise,
        };
        match t.kind {
            ProbeKind::Tcp { addr } => raw.tcp = Some(addr),
            ProbeKind::Unix { path } => raw.unix = Some(path),
            ProbeKind::Http { url } => raw.http = Some(url),
            ProbeKind::Process {
                name,
                pattern,
                expected,
            } => {
                raw.process = Some(RawProcess {
                    name,
                    pattern,
                    expected,
                });
            }
        }
        raw
    }
}
