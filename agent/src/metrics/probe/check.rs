//! The network checks (TCP, unix socket, HTTP), each bounded by its
//! timeout, and the reasons a check fails.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};

/// Why one probe failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum CheckError {
    /// No answer within the timeout.
    #[error("timed out after {ms} ms")]
    Timeout {
        /// The timeout.
        ms: u64,
    },
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The name.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// A socket error (connection refused, no such file…).
    #[error("{0}")]
    Io(io::Error),
    /// The HTTP answer was not 2xx or 3xx.
    #[error("HTTP {0}")]
    Status(u16),
    /// Any other HTTP client error.
    #[error("{0}")]
    Http(Box<ureq::Error>),
    /// The process count is not the expected one.
    #[error("{found} matching processes, expected {expected}")]
    Count {
        /// Processes found.
        found: u32,
        /// Processes expected.
        expected: u32,
    },
    /// No process matches.
    #[error("no matching process")]
    NoProcess,
    /// The process table could not be read.
    #[error("cannot read {path}: {reason}")]
    Proc {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// The probe's thread panicked (a bug).
    #[error("probe panicked")]
    Panicked,
}

/// Milliseconds of `d`, as a float.
fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The whole timeout in ms, for messages.
fn timeout_ms(timeout: Duration) -> u64 {
    u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)
}

/// An I/O error of a connect bounded by `timeout`.
fn io_error(e: io::Error, timeout: Duration) -> CheckError {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => CheckError::Timeout {
            ms: timeout_ms(timeout),
        },
        _ => CheckError::Io(e),
    }
}

/// What is left of `timeout` since `start`, or a timeout error.
fn left(start: Instant, timeout: Duration) -> Result<Duration, CheckError> {
    timeout
        .checked_sub(start.elapsed())
        .filter(|d| !d.is_zero())
        .ok_or(CheckError::Timeout {
            ms: timeout_ms(timeout),
        })
}

/// Connects to `addr` (`ip:port` or `host:port`) within `timeout`; the
/// connect latency in ms. A host name is resolved on a helper thread so a
/// hanging resolver cannot outlast the timeout.
pub(super) fn tcp(addr: &str, timeout: Duration) -> Result<f64, CheckError> {
    let start = Instant::now();
    let addrs = match addr.parse::<SocketAddr>() {
        Ok(a) => vec![a],
        Err(_) => resolve(addr, start, timeout)?,
    };
    let mut last = None;
    for a in addrs {
        let budget = left(start, timeout)?;
        let t0 = Instant::now();
        match TcpStream::connect_timeout(&a, budget) {
            Ok(stream) => {
                let ms = millis(t0.elapsed());
                drop(stream);
                return Ok(ms);
            }
            Err(e) => last = Some(io_error(e, timeout)),
        }
    }
    Err(last.unwrap_or_else(|| CheckError::Resolve {
        host: addr.to_string(),
        reason: "no address".into(),
    }))
}

/// Resolves `addr` within what is left of `timeout`.
fn resolve(addr: &str, start: Instant, timeout: Duration) -> Result<Vec<SocketAddr>, CheckError> {
    let (tx, rx) = mpsc::channel();
    let owned = addr.to_string();
    let spawned = std::thread::Builder::new()
        .name("vigil-probe-dns".into())
        .spawn(move || {
            let result = owned.to_socket_addrs().map(Iterator::collect::<Vec<_>>);
            // The receiver may have given up already.
            let _ = tx.send(result);
        });
    let resolved = match spawned {
        Ok(_) => match rx.recv_timeout(left(start, timeout)?) {
            Ok(r) => r,
            Err(_) => {
                return Err(CheckError::Timeout {
                    ms: timeout_ms(timeout),
                })
            }
        },
        // No thread to spare: resolve here, unbounded.
        Err(_) => addr.to_socket_addrs().map(Iterator::collect),
    };
    resolved.map_err(|e| CheckError::Resolve {
        host: addr.to_string(),
        reason: e.to_string(),
    })
}

/// Connects to the unix stream socket at `path` within `timeout`; the
/// connect latency in ms. A connect to a listener whose backlog is full
/// waits for room, at most `timeout` (`SO_SNDTIMEO` bounds it).
pub(super) fn unix(path: &Path, timeout: Duration) -> Result<f64, CheckError> {
    let addr = SockAddr::unix(path).map_err(CheckError::Io)?;
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(CheckError::Io)?;
    socket
        .set_write_timeout(Some(timeout))
        .map_err(CheckError::Io)?;
    let t0 = Instant::now();
    socket.connect(&addr).map_err(|e| io_error(e, timeout))?;
    let ms = millis(t0.elapsed());
    drop(socket);
    Ok(ms)
}

/// An HTTP client for probes: the whole request bounded by `timeout`, no
/// redirects followed, no proxy, no connection kept for the next probe.
pub(super) fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .timeout_global(Some(timeout))
        .user_agent(concat!("vigil-agent-probe/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// `GET url` within `timeout`: the latency to the answer's head in ms if
/// its status is 2xx or 3xx. The body is not read.
pub(super) fn http(agent: &ureq::Agent, url: &str, timeout: Duration) -> Result<f64, CheckError> {
    let t0 = Instant::now();
    match agent.get(url).call() {
        Ok(response) => {
            let ms = millis(t0.elapsed());
            let status = response.status().as_u16();
            drop(response);
            if (200..400).contains(&status) {
                Ok(ms)
            } else {
                Err(CheckError::Status(status))
            }
        }
        Err(ureq::Error::Timeout(_)) => Err(CheckError::Timeout {
            ms: timeout_ms(timeout),
        }),
        Err(ureq::Error::Io(e)) => Err(io_error(e, timeout)),
        Err(e) => Err(CheckError::Http(Box::new(e))),
    }
}
