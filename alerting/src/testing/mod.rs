//! Test support (feature `test-support`) for the channel tests of this
//! crate and the binary's end-to-end tests: a recording HTTP receiver
//! ([`http`]) and a real SMTP server on 127.0.0.1. It runs
//! Python's aiosmtpd (`apt-get install -y python3-aiosmtpd`) with
//! `smtp_sink.py`, which writes each message it receives to a JSON file.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod http;
use vigil_config::alert::{EmailChannel, SmtpTls};

/// An aiosmtpd child process writing what it receives to a folder; killed
/// when dropped.
pub struct SmtpSink {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    dir: TempDir,
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port of 127.0.0.1 that nothing listens on when this returns.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl SmtpSink {
    /// Starts the server on a free port and waits until it accepts
    /// connections (at most 15 s). Recipients starting with `reject` are
    /// refused with 550.
    pub fn start() -> SmtpSink {
        let python = python_with_aiosmtpd();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testing/smtp_sink.py");
        let log = File::create(dir.path().join("stderr.log")).expect("a log file");
        let child = Command::new(&python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python}: {e}"));
        let sink = SmtpSink { child, port, dir };
        let ready = sink.dir.path().join("ready");
        if !wait_until(Duration::from_secs(15), || ready.exists()) {
            let log = fs::read_to_string(sink.dir.path().join("stderr.log")).unwrap_or_default();
            panic!("the SMTP server did not start within 15 s:\n{log}");
        }
        sink
    }

    /// Plain SMTP settings pointing at this server.
    pub fn channel(&self) -> EmailChannel {
        EmailChannel {
            host: "127.0.0.1".into(),
            port: self.port,
            tls: SmtpTls::None,
            from: "vigil@example.com".into(),
            username: None,
            password: None,
        }
    }

    /// How many messages arrived so far.
    pub fn count(&self) -> usize {
        (1..)
            .take_while(|n| self.dir.path().join(format!("{n}.json")).exists())
            .count()
    }

    /// The `n`th message received (1-based) as JSON (`mail_from`,
    /// `rcpt_tos`, `subject`, `from`, `to`, `content_type`, `plain`,
    /// `html`), waiting up to `secs` seconds for it.
    pub fn message(&self, n: usize, secs: u64) -> serde_json::Value {
        let path: PathBuf = self.dir.path().join(format!("{n}.json"));
        assert!(
            wait_until(Duration::from_secs(secs), || path.exists()),
            "message {n} not received within {secs} s"
        );
        let text = fs::read_to_string(path).expect("a readable message");
        serde_json::from_str(&text).expect("a JSON message")
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first Python that can import aiosmtpd (a pyenv `python3` may not
/// see the one apt installed for `/usr/bin/python3`).
fn python_with_aiosmtpd() -> String {
    for python in ["python3", "/usr/bin/python3"] {
        let imports = Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if imports.is_ok_and(|s| s.success()) {
            return python.to_string();
        }
    }
    panic!(
        "the email tests need Python's aiosmtpd: \
         apt-get install -y python3-aiosmtpd (or pip install aiosmtpd)"
    );
}
