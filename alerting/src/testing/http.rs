//! A small HTTP/1.1 receiver on 127.0.0.1 for webhook, SMS gateway and
//! chat robot tests: it records every request and answers what the test's
//! function says, one connection at a time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, `GET`…
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body_text()))
    }

    /// The body as text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The percent-decoded value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8()
                    .ok()
                    .map(|v| v.into_owned())
                    .unwrap_or_default()
            })
        })
    }
}

/// A running receiver; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    requests: Receiver<Request>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts a receiver on a port the system picks.
    pub fn start<F>(respond: F) -> Server
    where
        F: Fn(&Request) -> (u16, String) + Send + 'static,
    {
        Server::on(
            TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1"),
            respond,
        )
    }

    /// Starts a receiver that answers 200 with `{"errcode":0}`.
    pub fn ok() -> Server {
        Server::start(|_| (200, r#"{"errcode":0,"errmsg":"ok"}"#.into()))
    }

    /// Starts a receiver on `listener`.
    pub fn on<F>(listener: TcpListener, respond: F) -> Server
    where
        F: Fn(&Request) -> (u16, String) + Send + 'static,
    {
        let addr = listener.local_addr().expect("a bound listener");
        let (tx, requests) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                if stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .is_err()
                {
                    continue;
                }
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                let (status, body) = respond(&request);
                let _ = tx.send(request);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Server {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next request, waiting up to 10 s for it.
    pub fn next(&self) -> Request {
        self.next_within(Duration::from_secs(10))
            .expect("no request within 10 s")
    }

    /// The next request if one comes within `timeout`.
    pub fn next_within(&self, timeout: Duration) -> Option<Request> {
        match self.requests.recv_timeout(timeout) {
            Ok(request) => Some(request),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("the receiver thread ended"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request (head and a `Content-Length` body).
fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(Some(0), |(_, v)| v.parse().ok())?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}
