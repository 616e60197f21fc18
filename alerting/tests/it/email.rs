//! Email against a real SMTP server on 127.0.0.1: Python's aiosmtpd,
//! started by the test (`smtp_sink.py`). Install it with
//! `apt-get install -y python3-aiosmtpd` (or `pip install aiosmtpd`).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use vigil_alerting::{Recipient, SendError, Sender};
use vigil_config::alert::{EmailChannel, Notification, SmtpTls};

use crate::http::free_port;
use crate::{delivery, wait_until};

/// An aiosmtpd child process writing what it receives to a folder.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let python = python_with_aiosmtpd();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/smtp_sink.py");
        let log = File::create(dir.path().join("stderr.log")).unwrap();
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

    fn config(&self) -> Notification {
        Notification {
            email: Some(EmailChannel {
                host: "127.0.0.1".into(),
                port: self.port,
                tls: SmtpTls::None,
                from: "vigil@example.com".into(),
                username: None,
                password: None,
            }),
            ..Notification::default()
        }
    }

    /// The `n`th message received (1-based), waiting up to 10 s for it.
    fn message(&self, n: usize) -> serde_json::Value {
        let path: PathBuf = self.dir.path().join(format!("{n}.json"));
        assert!(
            wait_until(Duration::from_secs(10), || path.exists()),
            "message {n} not received within 10 s"
        );
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
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

fn to(address: &str) -> Recipient {
    Recipient::Email {
        address: address.into(),
    }
}

#[test]
fn multipart_message_with_subject_recipient_and_both_bodies() {
    let sink = SmtpSink::start();
    Sender::new()
        .send(&delivery("d1", to("alice@example.com")), &sink.config())
        .unwrap();
    let message = sink.message(1);
    assert_eq!(
        message["subject"],
        "[P1 FIRING] rpc_service/success_rate_low service=a method=b"
    );
    assert_eq!(message["mail_from"], "vigil@example.com");
    assert_eq!(
        message["rcpt_tos"],
        serde_json::json!(["alice@example.com"])
    );
    assert_eq!(message["to"], "alice@example.com");
    assert_eq!(message["from"], "vigil@example.com");
    assert_eq!(message["content_type"], "multipart/alternative");

    let plain = message["plain"].as_str().unwrap();
    for part in [
        "Rule:      rpc_service/success_rate_low",
        "Level:     P1",
        "State:     firing",
        "Value:     0.93",
        "Threshold: 0.95",
        "Keys:      service=a method=b",
        "\"quoted\" <b>bold</b> & ünïcode",
        "  ERROR <svc> failed: \"x\"",
        "Dashboard: http://dash.example/m/rpc_service?a=1&b=2",
    ] {
        assert!(
            plain.contains(part),
            "{part:?} not in the plain text:\n{plain}"
        );
    }

    let html = message["html"].as_str().unwrap();
    for part in [
        "<th align=\"left\">Value</th><td>0.93</td>",
        "<th align=\"left\">Threshold</th><td>0.95</td>",
        "<th align=\"left\">Keys</th><td>service=a method=b</td>",
        "&quot;quoted&quot; &lt;b&gt;bold&lt;/b&gt; &amp; ünïcode",
        "ERROR &lt;svc&gt; failed: &quot;x&quot;",
        "<a href=\"http://dash.example/m/rpc_service?a=1&amp;b=2\">",
    ] {
        assert!(html.contains(part), "{part:?} not in the HTML:\n{html}");
    }
    assert!(!html.contains("<b>bold</b>"), "unescaped text in:\n{html}");
}

#[test]
fn refused_recipient_is_permanent_and_no_server_is_transient() {
    let sink = SmtpSink::start();
    let sender = Sender::new();
    let refused = sender
        .send(&delivery("d1", to("rejected@example.com")), &sink.config())
        .unwrap_err();
    assert!(matches!(refused, SendError::Smtp { .. }), "{refused}");
    assert!(refused.is_permanent(), "{refused}");

    let mut down = sink.config();
    if let Some(email) = down.email.as_mut() {
        email.port = free_port();
    }
    let unreachable = sender
        .send(&delivery("d2", to("alice@example.com")), &down)
        .unwrap_err();
    assert!(!unreachable.is_permanent(), "{unreachable}");

    let invalid = sender
        .send(&delivery("d3", to("not an address")), &sink.config())
        .unwrap_err();
    assert!(matches!(invalid, SendError::Invalid { .. }), "{invalid}");
    assert!(invalid.is_permanent());
}
