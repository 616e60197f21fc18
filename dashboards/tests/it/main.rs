//! Integration tests: a fake catalog served on a real socket, queried with a
//! tiny HTTP/1.1 client.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as J};
use std::io::{Read, Write};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vigil_dashboards::api::{serve, Catalog, MonitorInfo, RowsRequest};
use vigil_model::{Counters, MinuteRow, Value, View};

mod ui;

/// 2026-11-20T02:00:00Z = 2026-11-20T10:00:00+08:00.
const T0: i64 = 1_795_140_000;

struct Fake {
    rows: Vec<MinuteRow>,
}

fn row(minute: i64, host: &str, count: i64) -> MinuteRow {
    let mut r = MinuteRow::new("web", minute, vec![("host".into(), host.into())]);
    r.values = vec![
        ("count".into(), Value::Int(count)),
        ("rate".into(), Value::Missing),
    ];
    r
}

impl Catalog for Fake {
    fn monitors(&self) -> Vec<MonitorInfo> {
        vec![
            MonitorInfo {
                name: "web".into(),
                kind: "minute_stat".into(),
                app: Some("shop".into()),
                keys: vec!["host".into()],
                values: vec!["count".into(), "rate".into()],
                timezone: chrono_tz::Asia::Shanghai,
                counters: Counters {
                    lines: 10,
                    parsed: 9,
                    parse_errors: 1,
                    filtered: 2,
                    key_dropped: 3,
                    late: 4,
                    amended: 5,
                    rate_limited: 6,
                },
            },
            MonitorInfo {
                name: "broken".into(),
                kind: "match_alert".into(),
                app: None,
                keys: vec![],
                values: vec!["count".into()],
                timezone: chrono_tz::UTC,
                counters: Counters::default(),
            },
        ]
    }

    fn rows(&self, monitor: &str, req: &RowsRequest) -> Result<Vec<MinuteRow>, String> {
        // The instance view: every row is from node-1, the label first.
        let label = match req.view {
            View::Total => None,
            v => Some((v.name().to_string(), "node-1".to_string())),
        };
        match monitor {
            "web" => Ok(self
                .rows
                .iter()
                .filter(|r| r.minute >= req.from_s && r.minute < req.to_s)
                .cloned()
                .map(|mut r| {
                    r.keys.splice(0..0, label.clone());
                    r
                })
                .collect()),
            _ => Err("store unavailable".into()),
        }
    }
}

struct Server {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
        let now = chrono::Utc::now().timestamp() / 60 * 60;
        let rows = vec![
            row(T0, "a", 1),
            row(T0, "b", 2),
            row(T0 + 60, "a", 3),
            row(T0 + 120, "b", 4),
            row(now - 120, "a", 5),
        ];
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, Arc::new(Fake { rows }), async move {
            let _ = rx.await;
        }));
        Server {
            addr,
            stop: Some(tx),
            task,
        }
    }

    async fn request(&self, method: &str, target: &str) -> (u16, String, String) {
        let addr = self.addr;
        let req = format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        // A blocking std client on the blocking pool: send, then read to EOF.
        let buf = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(req.as_bytes()).unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).unwrap();
            buf
        })
        .await
        .unwrap();
        let text = String::from_utf8(buf).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_string(), body.to_string())
    }

    async fn get_json(&self, target: &str) -> (u16, J) {
        let (status, head, body) = self.request("GET", target).await;
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        (status, serde_json::from_str(&body).unwrap())
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap();
    }
}

/// Runs a test body against a fresh server, bounded in time, then shuts the
/// server down through the shutdown future.
async fn with_server<F, Fut>(f: F)
where
    F: FnOnce(Arc<Server>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    tokio::time::timeout(Duration::from_secs(10), async {
        let server = Arc::new(Server::start().await);
        f(Arc::clone(&server)).await;
        let server = Arc::into_inner(server).unwrap();
        server.stop().await;
    })
    .await
    .expect("test timed out");
}

fn rows_query(extra: &str) -> String {
    format!(
        "/api/v1/monitors/web/rows?from=2026-11-20T10:00:00%2B08:00&to=2026-11-20T02:03:00Z{extra}"
    )
}

#[tokio::test]
async fn healthz_is_ok() {
    with_server(|s| async move {
        let (status, _, body) = s.request("GET", "/healthz").await;
        assert_eq!((status, body.as_str()), (200, "ok"));
    })
    .await;
}

#[tokio::test]
async fn lists_monitors() {
    with_server(|s| async move {
        let (status, body) = s.get_json("/api/v1/monitors").await;
        assert_eq!(status, 200);
        assert_eq!(
            body[0],
            json!({
                "name": "web", "kind": "minute_stat", "app": "shop",
                "keys": ["host"], "values": ["count", "rate"],
                "timezone": "Asia/Shanghai",
                "counters": {"lines": 10, "parsed": 9, "parse_errors": 1,
                             "filtered": 2, "key_dropped": 3, "late": 4, "amended": 5,
                             "rate_limited": 6},
            })
        );
        assert_eq!(body[1]["name"], "broken");
        assert_eq!(body[1]["app"], J::Null);
        assert_eq!(body.as_array().unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn rows_in_range_rendered_in_monitor_timezone() {
    with_server(|s| async move {
        let (status, body) = s.get_json(&rows_query("")).await;
        assert_eq!(status, 200);
        let rows = body.as_array().unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[0],
            json!({"monitor": "web", "minute": "2026-11-20T10:00:00+08:00",
                   "keys": {"host": "a"}, "values": {"count": 1, "rate": null}})
        );
        // `to` is exclusive, and a literal `+` (decoded as a space) still parses.
        let (_, body) = s
            .get_json("/api/v1/monitors/web/rows?from=2026-11-20T10:01:00+08:00&to=2026-11-20T10:02:00+08:00")
            .await;
        let minutes: Vec<&J> = body.as_array().unwrap().iter().map(|r| &r["values"]["count"]).collect();
        assert_eq!(minutes, vec![&json!(3)]);
    })
    .await;
}

#[tokio::test]
async fn rows_filtered_by_key() {
    with_server(|s| async move {
        let (status, body) = s.get_json(&rows_query("&key.host=b")).await;
        assert_eq!(status, 200);
        let counts: Vec<i64> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["values"]["count"].as_i64().unwrap())
            .collect();
        assert_eq!(counts, vec![2, 4]);
        let (_, body) = s.get_json(&rows_query("&key.host=zzz")).await;
        assert_eq!(body, json!([]));
    })
    .await;
}

#[tokio::test]
async fn rows_of_a_labelled_view_carry_their_labels() {
    with_server(|s| async move {
        let (status, body) = s.get_json(&rows_query("&view=instance&key.host=b")).await;
        assert_eq!(status, 200);
        let rows = body.as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["labels"], json!({"instance": "node-1"}));
        assert_eq!(rows[0]["keys"], json!({"host": "b"}));
        let (status, body) = s.get_json(&rows_query("&view=rack")).await;
        assert_eq!(status, 400);
        assert_eq!(body["parameter"], "view");
        let (_, body) = s.get_json(&rows_query("")).await;
        assert!(body[0].get("labels").is_none());
    })
    .await;
}

#[tokio::test]
async fn rows_default_to_the_last_hour() {
    with_server(|s| async move {
        let (status, body) = s.get_json("/api/v1/monitors/web/rows").await;
        assert_eq!(status, 200);
        let rows = body.as_array().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["values"]["count"], 5);
    })
    .await;
}

#[tokio::test]
async fn bad_parameters_are_named() {
    with_server(|s| async move {
        let cases = [
            ("?from=yesterday", "from"),
            ("?to=2026-13-01T00:00:00Z", "to"),
            ("?from=2026-11-20T02:05:00Z&to=2026-11-20T02:00:00Z", "from"),
            ("?from=2026-11-20T02:00:00Z&to=2026-11-20T02:00:00Z", "from"),
            ("?key.nope=1", "key.nope"),
            ("?limit=5", "limit"),
            ("?from=1&from=2", "from"),
        ];
        for (query, parameter) in cases {
            let (status, body) = s
                .get_json(&format!("/api/v1/monitors/web/rows{query}"))
                .await;
            assert_eq!(status, 400, "{query}");
            assert_eq!(body["parameter"], parameter, "{query}");
            assert!(body["error"].as_str().unwrap().len() > 5, "{query}");
        }
    })
    .await;
}

#[tokio::test]
async fn counters_of_one_monitor() {
    with_server(|s| async move {
        let (status, body) = s.get_json("/api/v1/monitors/web/counters").await;
        assert_eq!(status, 200);
        assert_eq!(body["late"], 4);
        assert_eq!(body["parse_errors"], 1);
    })
    .await;
}

#[tokio::test]
async fn not_found_and_method_not_allowed() {
    with_server(|s| async move {
        for target in [
            "/api/v1/monitors/nope/rows",
            "/api/v1/monitors/nope/counters",
            "/api/v2/monitors",
            "/nowhere",
            "/api/v1/monitors/web/other",
        ] {
            let (status, body) = s.get_json(target).await;
            assert_eq!(status, 404, "{target}");
            assert!(body["error"].is_string(), "{target}");
        }
        let (status, body) = s.get_json("/api/v1/monitors/nope/rows").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("unknown monitor `nope`"))
        );
        for method in ["POST", "DELETE", "PUT"] {
            let (status, head, _) = s.request(method, "/api/v1/monitors").await;
            assert_eq!(status, 405, "{method}");
            assert!(head.to_ascii_lowercase().contains("allow: get"), "{head}");
        }
    })
    .await;
}

#[tokio::test]
async fn catalog_errors_are_500() {
    with_server(|s| async move {
        let (status, body) = s.get_json("/api/v1/monitors/broken/rows").await;
        assert_eq!(status, 500);
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("store unavailable"));
    })
    .await;
}

#[tokio::test]
async fn metrics_in_prometheus_format() {
    with_server(|s| async move {
        let (status, head, body) = s.request("GET", "/metrics").await;
        assert_eq!(status, 200);
        assert!(head
            .to_ascii_lowercase()
            .contains("content-type: text/plain"));
        for line in [
            "# TYPE vigil_monitor_lines_total counter",
            "vigil_monitor_lines_total{monitor=\"web\"} 10",
            "vigil_monitor_parsed_total{monitor=\"web\"} 9",
            "vigil_monitor_parse_errors_total{monitor=\"web\"} 1",
            "vigil_monitor_filtered_total{monitor=\"web\"} 2",
            "vigil_monitor_key_dropped_total{monitor=\"web\"} 3",
            "vigil_monitor_late_total{monitor=\"web\"} 4",
            "vigil_monitor_amended_total{monitor=\"web\"} 5",
            "vigil_monitor_late_total{monitor=\"broken\"} 0",
        ] {
            assert!(body.lines().any(|l| l == line), "missing {line}:\n{body}");
        }
        assert_eq!(body.lines().filter(|l| l.starts_with("# HELP")).count(), 8);
    })
    .await;
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let server = Server::start().await;
        let addr = server.addr;
        server.stop().await;
        assert!(TcpStream::connect(addr).await.is_err());
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let server = Server::start().await;
        let addr = server.addr;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let client = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                .unwrap();
            let mut first = [0u8; 12];
            s.read_exact(&mut first).unwrap();
            tx.send(()).unwrap();
            // The server closes the idle connection on shutdown: EOF, not a timeout.
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).unwrap();
            first
        });
        tokio::task::spawn_blocking(move || rx.recv().unwrap())
            .await
            .unwrap();
        server.stop().await;
        assert_eq!(&client.await.unwrap(), b"HTTP/1.1 200");
    })
    .await
    .expect("test timed out");
}
