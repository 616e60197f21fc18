//! The web UI's pages over a hand-made catalog: each page renders, shows
//! the catalog's numbers, and links where the next click goes.

use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Value as J};
use vigil_config::dashboard::{
    Dashboard, MonitorValue, NumberFormat, Op, Report, ReportKind, Source, SourceValue, Thresholds,
};
use vigil_dashboards::api::{ApiError, Catalog, HistoryQuery, MonitorInfo, RowsRequest};
use vigil_dashboards::ui;
use vigil_model::{Counters, MinuteRow, Value, View};

/// 2026-11-20T10:00:00+08:00.
const T0: i64 = 1_795_140_000;

struct Shop;

fn service_row(minute: i64, method: &str, total: i64, success: i64) -> MinuteRow {
    let mut r = MinuteRow::new(
        "pay_service",
        minute,
        vec![("method".into(), method.into())],
    );
    r.values = vec![
        ("total".into(), Value::Int(total)),
        ("success".into(), Value::Int(success)),
        ("fail".into(), Value::Int(total - success)),
        (
            "success_rate".into(),
            Value::Float(success as f64 / total as f64),
        ),
        ("avg_latency".into(), Value::Float(12.5)),
    ];
    r
}

impl Catalog for Shop {
    fn monitors(&self) -> Vec<MonitorInfo> {
        vec![
            MonitorInfo {
                name: "pay_service".into(),
                kind: "service_metrics".into(),
                app: Some("shop".into()),
                keys: vec!["method".into()],
                values: ["total", "success", "fail", "success_rate", "avg_latency"]
                    .map(String::from)
                    .to_vec(),
                timezone: chrono_tz::Asia::Shanghai,
                counters: Counters {
                    lines: 120,
                    parsed: 117,
                    parse_errors: 3,
                    ..Counters::default()
                },
            },
            MonitorInfo {
                name: "pay_rollup".into(),
                kind: "archive".into(),
                app: Some("shop".into()),
                keys: vec!["method".into()],
                values: ["total", "success", "fail", "success_rate", "avg_latency"]
                    .map(String::from)
                    .to_vec(),
                timezone: chrono_tz::Asia::Shanghai,
                counters: Counters::default(),
            },
            MonitorInfo {
                name: "pay_seconds".into(),
                kind: "second_stat".into(),
                app: Some("shop".into()),
                keys: Vec::new(),
                values: vec!["count".into()],
                timezone: chrono_tz::Asia::Shanghai,
                counters: Counters::default(),
            },
        ]
    }

    fn rows(&self, monitor: &str, req: &RowsRequest) -> Result<Vec<MinuteRow>, String> {
        if monitor == "pay_seconds" {
            // Lines per second: 4 at 10:00:03, 7 at 10:00:04.
            return Ok([(T0 + 3, 4), (T0 + 4, 7)]
                .into_iter()
                .filter(|(t, _)| *t >= req.from_s && *t < req.to_s)
                .map(|(t, n)| {
                    let mut r = MinuteRow::new("pay_seconds", t, Vec::new());
                    r.values = vec![("count".into(), Value::Int(n))];
                    r
                })
                .collect());
        }
        if monitor == "pay_rollup" {
            // Hours 09:00 and 10:00 (in progress) and the day.
            let rows = [
                ("hour", T0 - 3600, "create", 300, 290),
                ("hour", T0 - 3600, "refund", 20, 10),
                ("hour", T0, "create", 215, 208),
                ("hour", T0, "refund", 13, 11),
                ("day", T0 - 10 * 3600, "create", 515, 498),
            ];
            return Ok(rows
                .into_iter()
                .filter(|r| r.1 >= req.from_s && r.1 < req.to_s)
                .map(|(period, start, method, total, success)| {
                    let mut r = service_row(start, method, total, success);
                    r.monitor = "pay_rollup".into();
                    r.period = Some(period.into());
                    r
                })
                .collect());
        }
        if monitor != "pay_service" {
            return Err(format!("no table {monitor}"));
        }
        let rows = [
            service_row(T0, "create", 105, 98),
            service_row(T0, "refund", 13, 11),
            service_row(T0 + 60, "create", 110, 110),
        ];
        Ok(rows
            .into_iter()
            .filter(|r| r.minute >= req.from_s && r.minute < req.to_s)
            .map(|mut r| {
                if req.view != View::Total {
                    r.keys.insert(0, (req.view.name().into(), "node-1".into()));
                }
                r
            })
            .collect())
    }

    fn agents(&self) -> Vec<J> {
        vec![json!({
            "agent": "a1", "labels": {"instance": "node-1", "extra": {"app": "shop"}},
            "version": "0.1.0", "state": "healthy", "registered": "2026-11-20T02:00:00+00:00",
            "last_heartbeat": "2026-11-20T02:05:00+00:00", "clock_offset_ms": 12,
            "status": {"errors": ["cannot read /var/log/x.log"], "files": 3, "lines_read": 120}
        })]
    }

    fn alerts(&self, _now_s: i64) -> Result<J, ApiError> {
        Ok(json!([{
            "id": "pay_service/rate_low", "monitor": "pay_service", "alert": "rate_low",
            "level": "P1", "conditions": ["current of success_rate < 0.9"], "state": "ok",
            "firing": [], "paused": null, "evaluated": T0 + 60
        }]))
    }

    fn dashboards(&self) -> Vec<Dashboard> {
        vec![pay_dashboard()]
    }

    fn alert_history(&self, q: &HistoryQuery) -> Result<J, ApiError> {
        let record = json!({
            "id": 7, "rule": "pay_service/rate_low", "monitor": "pay_service", "alert": "rate_low",
            "keys": [["method", "refund"]], "level": "P1", "first_seen": T0, "last_seen": T0,
            "count": 1, "value": 0.8461538461538461, "threshold": 0.9,
            "condition": "current of success_rate < 0.9", "channels": ["webhook"],
            "notifications": 2, "state": "resolved", "resolved_at": T0 + 60
        });
        let overlaps = T0 < q.to_s && T0 + 60 > q.from_s;
        Ok(J::Array(if overlaps { vec![record] } else { vec![] }))
    }
}

/// A dashboard over `pay_service`: methods across the minutes, the
/// service table, and a computed fail rate per method.
fn pay_dashboard() -> Dashboard {
    let source = |value: &str| Source {
        label: value.to_string(),
        value: SourceValue::Value(MonitorValue {
            monitor: "pay_service".into(),
            value: value.into(),
        }),
        keys: Vec::new(),
        format: NumberFormat::default(),
        thresholds: Thresholds::default(),
        link: None,
    };
    let report = |title: &str, kind: ReportKind, sources: Vec<Source>| Report {
        title: title.into(),
        kind,
        width: 6,
        height: None,
        link: Some("/monitors/pay_service".into()),
        span_min: 10,
        granularity_min: 1,
        compare_days: vec![1],
        top: 10,
        period: None,
        sources,
    };
    let fail_rate = Source {
        label: "fail rate".into(),
        value: SourceValue::Computed {
            op: Op::Ratio,
            left: MonitorValue {
                monitor: "pay_service".into(),
                value: "fail".into(),
            },
            right: MonitorValue {
                monitor: "pay_service".into(),
                value: "total".into(),
            },
        },
        format: NumberFormat {
            decimals: Some(1),
            percent: true,
        },
        thresholds: Thresholds {
            orange: Some(0.05),
            red: Some(0.1),
        },
        ..source("fail")
    };
    Dashboard {
        name: "pay".into(),
        title: "Payments".into(),
        span_min: 10,
        granularity_min: 1,
        reports: vec![
            report(
                "Calls per method",
                ReportKind::KeysAcross,
                vec![source("total")],
            ),
            report("Service", ReportKind::Service, vec![source("")]),
            report(
                "Fail rate",
                ReportKind::CurrentKeys,
                vec![source("total"), fail_rate.clone()],
            ),
            report("Calls", ReportKind::Trend, vec![source("total")]),
            report("Most calls", ReportKind::Top, vec![source("total")]),
            report("Minutes", ReportKind::MinutesKeys, vec![source("fail")]),
            report(
                "Last minutes",
                ReportKind::LastMinutes,
                vec![source("total")],
            ),
            Report {
                span_min: 24 * 60,
                period: Some(vigil_config::monitor::Period::Hour),
                ..report(
                    "Hours",
                    ReportKind::Archive,
                    vec![
                        Source {
                            value: SourceValue::Value(MonitorValue {
                                monitor: "pay_rollup".into(),
                                value: "total".into(),
                            }),
                            ..source("total")
                        },
                        Source {
                            value: SourceValue::Computed {
                                op: Op::Ratio,
                                left: MonitorValue {
                                    monitor: "pay_rollup".into(),
                                    value: "fail".into(),
                                },
                                right: MonitorValue {
                                    monitor: "pay_rollup".into(),
                                    value: "total".into(),
                                },
                            },
                            ..fail_rate
                        },
                    ],
                )
            },
            Report {
                span_min: 1,
                ..report(
                    "Per second",
                    ReportKind::Seconds,
                    vec![Source {
                        value: SourceValue::Value(MonitorValue {
                            monitor: "pay_seconds".into(),
                            value: "count".into(),
                        }),
                        ..source("count")
                    }],
                )
            },
        ],
    }
}

/// GETs `target` from the UI: status and body.
fn get(target: &str) -> (u16, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let resp = ui::page(&Shop, &Method::GET, path, Some(query), T0 + 300, false)
        .unwrap_or_else(|| panic!("{target} is not a UI page"));
    let status = resp.status().as_u16();
    let body = futures_body(resp.into_body());
    (status, body)
}

fn futures_body(body: http_body_util::Full<hyper::body::Bytes>) -> String {
    let bytes = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(body.collect())
        .unwrap()
        .to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn overview_shows_apps_errors_and_alerts() {
    let (status, html) = get("/?to=2026-11-20T10:05:00%2B08:00");
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"60\">"));
    assert!(html.contains("aria-label=\"Time range\""));
    assert!(
        html.contains("href=\"/apps/shop?span=60&amp;to=1795140300\""),
        "{html}"
    );
    // Errors of the last hour: 7 + 2 failed calls.
    assert!(html.contains("<b>9</b>"), "{html}");
    // The alert of 10:00 in the per-minute history links to its minute.
    assert!(html.contains("href=\"/alerts?from=1795140000&amp;to=1795140060\""));
    assert!(html.contains("pay_service/rate_low"));
    assert!(html.contains("0.8462"));
}

#[test]
fn app_page_charts_and_tables_in_every_view() {
    for view in ["total", "instance", "idc"] {
        let (status, html) = get(&format!("/apps/shop?to={}&span=15&view={view}", T0 + 300));
        assert_eq!(status, 200, "{view}: {html}");
        assert!(html.contains("<svg class=\"chart\""), "{view}");
        assert!(html.contains("<title>"), "{view}");
    }
    let (_, html) = get(&format!("/apps/shop?to={}&span=15", T0 + 300));
    // create: 105 + 110 calls over the range, 7 failed.
    assert!(
        html.contains("<td>create</td><td class=\"num\">215</td>"),
        "{html}"
    );
    assert!(html.contains("node-1"));
    assert_eq!(get("/apps/nobody").0, 404);
}

#[test]
fn monitor_pages_list_counters_and_minutes() {
    let (status, html) = get("/monitors");
    assert_eq!(status, 200);
    assert!(html.contains("<td class=\"num warn\">3</td>"), "{html}");
    let (status, html) = get(&format!(
        "/monitors/pay_service?to={}&span=15&value=success_rate&compare=yesterday&key.method=create",
        T0 + 300
    ));
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<title>create · 2026-11-20 10:00: 0.9333</title>"),
        "{html}"
    );
    assert!(!html.contains("<td>refund</td>"));
    assert_eq!(get("/monitors/pay_service?value=nope").0, 400);
    assert_eq!(get("/monitors/nope").0, 404);
}

#[test]
fn alerts_page_has_pause_forms_and_filtered_history() {
    let (status, html) = get("/alerts?from=2026-11-20T09:00&to=2026-11-20T11:00&level=P1");
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("action=\"/api/v1/alerts/pay_service/rate_low/pause\""));
    // The history has its own filters, not the pages' range picker.
    assert!(!html.contains("aria-label=\"Time range\""));
    assert!(html.contains("name=\"reason\""));
    assert!(html.contains("<td>refund</td>"), "{html}");
    let (_, html) = get("/alerts?from=2026-11-20T11:00&to=2026-11-20T12:00");
    assert!(html.contains("No alerts in this range."));
    assert_eq!(get("/alerts?level=P9").0, 400);
}

#[test]
fn agents_page_shows_state_and_errors() {
    let (status, html) = get("/agents");
    assert_eq!(status, 200);
    assert!(html.contains("node-1") && html.contains("app=shop"));
    assert!(html.contains("cannot read /var/log/x.log"));
    assert!(html.contains("2026-11-20 10:05:00"));
}

/// One raw HTTP/1.1 request to `addr`: status, head and body.
fn http(addr: std::net::SocketAddr, request: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn get_with(addr: std::net::SocketAddr, target: &str, cookie: &str) -> (u16, String, String) {
    http(
        addr,
        &format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{cookie}\r\n"),
    )
}

fn post_form(addr: std::net::SocketAddr, target: &str, cookie: &str, form: &str) -> (u16, String) {
    let (status, head, _) = http(
        addr,
        &format!(
            "POST {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{cookie}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    );
    (status, head)
}

#[test]
fn the_ui_signs_in_with_the_api_token_and_keeps_it_out_of_urls() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = vigil_dashboards::api::Server::new(std::sync::Arc::new(Shop)).with_tokens(
        vigil_dashboards::api::Tokens {
            ingest: None,
            api: Some("s3cret".into()),
        },
    );
    let task = runtime.spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));

    // A page without the cookie goes to the login form, which remembers it.
    let (status, head, _) = get_with(addr, "/monitors?span=15", "");
    assert_eq!(status, 303);
    assert!(
        head.contains("location: /login?next=%2Fmonitors%3Fspan%3D15"),
        "{head}"
    );
    let (status, _, body) = get_with(addr, "/login?next=%2Fmonitors", "");
    assert_eq!(status, 200);
    assert!(body.contains("name=\"next\" value=\"/monitors\""), "{body}");
    // The API still answers 401 without a token.
    assert_eq!(get_with(addr, "/api/v1/monitors", "").0, 401);

    let (status, _) = post_form(addr, "/login", "", "token=wrong&next=%2Fmonitors");
    assert_eq!(status, 401);
    let (status, head) = post_form(addr, "/login", "", "token=s3cret&next=%2Fmonitors");
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /monitors\r\n"), "{head}");
    let cookie_line = head
        .lines()
        .find(|l| l.starts_with("set-cookie: "))
        .expect("a session cookie");
    assert!(cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"));
    assert!(!head.contains("s3cret"));
    let session = cookie_line
        .trim_start_matches("set-cookie: ")
        .split(';')
        .next()
        .unwrap();
    let cookie = format!("Cookie: {session}\r\n");

    let (status, _, body) = get_with(addr, "/monitors", &cookie);
    assert_eq!(status, 200);
    assert!(body.contains("Sign out") && body.contains("pay_service"));
    assert_eq!(get_with(addr, "/api/v1/monitors", &cookie).0, 200);
    // A bearer header keeps working for API callers.
    assert_eq!(
        get_with(addr, "/api/v1/monitors", "Authorization: Bearer s3cret\r\n").0,
        200
    );
    let (status, head) = post_form(addr, "/logout", &cookie, "");
    assert_eq!(status, 303);
    assert!(head.contains("Max-Age=0"), "{head}");

    let _ = stop.send(());
    runtime.block_on(task).unwrap();
}

#[test]
fn dashboards_show_every_report_type() {
    let (status, html) = get("/dashboards");
    assert_eq!(status, 200);
    assert!(
        html.contains("href=\"/dashboards/pay\">Payments</a>"),
        "{html}"
    );
    let (status, html) = get("/dashboards/pay?to=2026-11-20T10:05");
    assert_eq!(status, 200, "{html}");
    // Methods across, minutes down: 10:00 has create 105 and refund 13.
    assert!(html.contains("<tr><td>2026-11-20 10:00</td><td class=\"num \">105</td><td class=\"num \">13</td></tr>"), "{html}");
    // The service table: create over the span, and all methods.
    assert!(html.contains("<td>create</td><td class=\"num \">215</td><td class=\"num \">208</td><td class=\"num \">7</td><td class=\"num \">96.74%</td>"), "{html}");
    // The current minute is 10:01 (only create): 0 of 110 failed.
    assert!(html.contains("minute 2026-11-20 10:01"));
    assert!(
        html.contains("<td>create</td><td class=\"num \">110</td><td class=\"num \">0.0%</td>"),
        "{html}"
    );
    assert!(
        html.contains("<title>total · 2026-11-20 10:00: 118</title>"),
        "{html}"
    );
    assert!(html.contains("href=\"/monitors/pay_service\""));
    // At 10:00 refund failed 2 of 13: red.
    let (_, html) = get("/dashboards/pay?to=2026-11-20T10:01");
    assert!(
        html.contains(
            "<td>refund</td><td class=\"num \">13</td><td class=\"num cell-red\">15.4%</td>"
        ),
        "{html}"
    );
    // The seconds of the minute before `to`, newest first.
    let (_, html) = get("/dashboards/pay?to=2026-11-20T10:01");
    let at = |row: &str| {
        html.find(row)
            .unwrap_or_else(|| panic!("no {row} in {html}"))
    };
    let (s4, s3, s2) = (
        at("<tr><td>10:00:04</td><td class=\"num \">7</td></tr>"),
        at("<tr><td>10:00:03</td><td class=\"num \">4</td></tr>"),
        at("<tr><td>10:00:02</td><td class=\"num \">–</td></tr>"),
    );
    assert!(s4 < s3 && s3 < s2);
    assert!(!html.contains("<td>10:01:00</td>"), "{html}");
    // The archive table: hours newest first, methods combined, the day
    // roll-up left out; 10:00 is in progress. 09:00: 20 of 320 failed (6.25 %).
    let (_, html) = get("/dashboards/pay?to=2026-11-20T10:05");
    let at = |row: &str| {
        html.find(row)
            .unwrap_or_else(|| panic!("no {row} in {html}"))
    };
    let ten = at("<tr><td>2026-11-20 10:00 (in progress)</td><td class=\"num \">228</td><td class=\"num \">3.9%</td></tr>");
    let nine = at("<tr><td>2026-11-20 09:00</td><td class=\"num \">320</td><td class=\"num cell-orange\">6.2%</td></tr>");
    assert!(ten < nine);
    assert!(!html.contains("515"), "{html}");
    assert_eq!(get("/dashboards/nope").0, 404);
}

#[test]
fn an_archive_monitor_page_shows_one_roll_up() {
    let (status, html) = get("/monitors/pay_rollup?to=2026-11-20T10:05");
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Last hours"), "{html}");
    // Hours of the last week, newest first, per method; not the day.
    let ten = html
        .find("<tr><td>2026-11-20 10:00</td><td>create</td><td class=\"num\">215</td>")
        .unwrap_or_else(|| panic!("no 10:00 create in {html}"));
    let nine = html
        .find("<tr><td>2026-11-20 09:00</td><td>create</td><td class=\"num\">300</td>")
        .unwrap_or_else(|| panic!("no 09:00 create in {html}"));
    assert!(ten < nine);
    assert!(!html.contains(">515<"), "{html}");
    let (status, html) = get("/monitors/pay_rollup?to=2026-11-20T10:05&period=day");
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<tr><td>2026-11-20 00:00</td><td>create</td><td class=\"num\">515</td>"),
        "{html}"
    );
    for bad in [
        "/monitors/pay_rollup?view=idc",
        "/monitors/pay_rollup?period=month",
        "/monitors/pay_service?period=hour",
    ] {
        assert_eq!(get(bad).0, 400, "{bad}");
    }
}
