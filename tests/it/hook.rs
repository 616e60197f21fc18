//! A webhook receiver on 127.0.0.1 for alert tests: it checks vigil's
//! HMAC signature with its own computation and keeps what it received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value as J;
use sha2::Sha256;
pub use vigil_alerting::testing::free_port;

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
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    received: Arc<Mutex<Vec<Received>>>,
}

/// `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn serve(stream: TcpStream, secret: &str, received: &Mutex<Vec<Received>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    let (mut timestamp, mut sig) = (String::new(), String::new());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim().to_string();
            match k.to_ascii_lowercase().as_str() {
                "content-length" => length = v.parse().unwrap_or(0),
                "x-vigil-timestamp" => timestamp = v,
                "x-vigil-signature" => sig = v,
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let signed = !sig.is_empty() && sig == signature(secret, &timestamp, &body);
    let body: J = serde_json::from_slice(&body).unwrap_or(J::Null);
    received.lock().unwrap().push(Received { body, signed });
    let mut s = stream;
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

impl Hook {
    /// Listens on `port` and checks signatures made with `secret`.
    pub fn start(port: u16, secret: &str) -> Hook {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("hook port free");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = stop.clone();
            let received = received.clone();
            let secret = secret.to_string();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(false).unwrap();
                            serve(stream, &secret, &received);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        Hook {
            stop,
            thread: Some(thread),
            received,
        }
    }

    /// What it received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
