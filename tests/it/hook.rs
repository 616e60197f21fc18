//! A webhook receiver on 127.0.0.1 for alert tests (alerting's recording
//! receiver): it checks vigil's HMAC signature with its own computation and
//! keeps what it received.

use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value as J;
use sha2::Sha256;
pub use vigil_alerting::testing::free_port;
use vigil_alerting::testing::http::Server;

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    /// The JSON body.
    pub body: J,
    /// Whether the signature matched the body and timestamp.
    pub signed: bool,
}

/// A running receiver; stops when dropped.
pub struct Hook {
    server: Server,
    secret: String,
    received: Mutex<Vec<Received>>,
}

/// `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Hook {
    /// Listens on `port`, answers 200, and checks signatures made with
    /// `secret`.
    pub fn start(port: u16, secret: &str) -> Hook {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("hook port free");
        Hook {
            server: Server::on(listener, |_| (200, "ok".into())),
            secret: secret.to_string(),
            received: Mutex::new(Vec::new()),
        }
    }

    /// What it received so far.
    pub fn received(&self) -> Vec<Received> {
        let mut received = self.received.lock().unwrap();
        while let Some(r) = self.server.next_within(Duration::ZERO) {
            let timestamp = r.header("x-vigil-timestamp").unwrap_or_default();
            let signed = r
                .header("x-vigil-signature")
                .is_some_and(|sig| sig == signature(&self.secret, timestamp, &r.body));
            received.push(Received {
                body: serde_json::from_slice(&r.body).unwrap_or(J::Null),
                signed,
            });
        }
        received.clone()
    }
}
