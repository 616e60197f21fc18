//! Real `vigil collector` and `vigil agent` processes on 127.0.0.1, and a
//! tiny HTTP/1.1 client to talk to them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::BIN;

/// A running process, killed (SIGKILL) when dropped.
pub struct Proc {
    child: Child,
    /// The HTTP address it printed, if it serves one.
    pub addr: String,
}

impl Proc {
    /// Starts `vigil collector` on `listen` (`127.0.0.1:0` for any port)
    /// and waits until it listens. `env` is added to its environment.
    pub fn collector(config: &Path, data: &Path, listen: &str, env: &[(&str, &str)]) -> Proc {
        let mut cmd = collector_command(config, data, listen);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Proc::spawn(cmd, "vigil collector listening on http://")
    }

    /// Starts `vigil collector` on `listen` with more arguments.
    pub fn collector_with(config: &Path, data: &Path, listen: &str, args: &[&str]) -> Proc {
        let mut cmd = collector_command(config, data, listen);
        cmd.args(args);
        Proc::spawn(cmd, "vigil collector listening on http://")
    }

    /// Starts `vigil run` (collector and local agent) on any port, closing
    /// minutes 1 s after their end, and waits until it listens.
    pub fn run(config: &Path, data: &Path) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--close-after", "1"]);
        Proc::spawn(cmd, "monitors: http://")
    }

    /// Starts `vigil collector` on `monitors.yaml` and `data` of `sandbox`,
    /// on any port, without tokens.
    pub fn sandbox_collector(sandbox: &crate::support::Sandbox) -> Proc {
        Proc::collector(
            &sandbox.path("monitors.yaml"),
            &sandbox.path("data"),
            "127.0.0.1:0",
            &[],
        )
    }

    /// Starts `vigil agent` shipping to `addr`, sampling no metrics.
    pub fn agent(addr: &str, state: &Path, labels: &str) -> Proc {
        Proc::agent_with(addr, state, labels, &["--metrics-interval", "0"])
    }

    /// Starts `vigil collector` serving HTTPS with `cert` and `key` on any
    /// port, and waits until it listens.
    pub fn collector_tls(config: &Path, data: &Path, cert: &Path, key: &Path) -> Proc {
        let mut cmd = collector_command(config, data, "127.0.0.1:0");
        cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        Proc::spawn(cmd, "vigil collector listening on https://")
    }

    /// Starts `vigil agent` shipping to `addr` with more arguments.
    pub fn agent_with(addr: &str, state: &Path, labels: &str, args: &[&str]) -> Proc {
        Proc::agent_at(&format!("http://{addr}"), state, labels, args)
    }

    /// Starts `vigil agent` shipping to the collector at `url`.
    pub fn agent_at(url: &str, state: &Path, labels: &str, args: &[&str]) -> Proc {
        let addr = url.split("://").nth(1).unwrap_or(url).to_string();
        let mut cmd = Command::new(BIN);
        cmd.arg("agent")
            .args(["--collector", url])
            .arg("--state")
            .arg(state)
            .args(["--labels", labels])
            .args(args);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start vigil agent");
        Proc { child, addr }
    }

    fn spawn(mut cmd: Command, marker: &str) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start vigil");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let mut addr = None;
        for line in lines.by_ref() {
            let line = line.expect("readable stdout");
            if let Some(rest) = line.trim().strip_prefix(marker) {
                addr = rest.split('/').next().map(str::to_string);
                break;
            }
        }
        // Keep reading, so the process never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Proc {
            child,
            addr: addr.expect("vigil printed its address"),
        }
    }

    /// Sends `signal` (e.g. `SIGHUP`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vigil collector` on `config` and `data`, listening on `listen`, closing
/// minutes 1 s after their end, with 1 s heartbeats.
fn collector_command(config: &Path, data: &Path, listen: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("collector")
        .arg("--config")
        .arg(config)
        .arg("--data")
        .arg(data)
        .args(["--listen", listen, "--close-after", "1", "--heartbeat", "1"]);
    cmd
}

/// One HTTP/1.1 request; returns the status and the body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("server reachable");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading the whole body.
    let _ = s.write_all(body);
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no status in {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `GET path` as JSON, asserting a 200.
pub fn get_json(addr: &str, path: &str, headers: &[(&str, &str)]) -> serde_json::Value {
    let (status, body) = http(addr, "GET", path, headers, b"");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Polls `check` every 200 ms until it returns `Some`, for at most `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
