//! The numbers of /work/shared/fixtures/README.md, reproduced with the
//! example monitors of `config/examples` on their example logs.

use std::collections::BTreeMap;
use std::ffi::OsStr;

use crate::support::{examples, replay, vigil, Row, Val};

const M1000: &str = "2026-11-20T10:00:00+08:00";
const M1001: &str = "2026-11-20T10:01:00+08:00";

fn log(name: &str) -> std::path::PathBuf {
    examples().join("logs").join(name)
}

fn read_log(name: &str) -> String {
    std::fs::read_to_string(log(name)).expect("example log is UTF-8")
}

/// `2026-11-20 10:00:xx` → `2026-11-20T10:00:00+08:00`.
fn minute_of(time: &str) -> String {
    format!("{}T{}:00+08:00", &time[..10], &time[11..16])
}

/// Per (minute, product): (count, sum of elapsed) of trade.log lines with
/// method `创建`, computed from the lines themselves.
fn created_by_product(lines: &[&str]) -> BTreeMap<(String, String), (i64, i64)> {
    let mut out = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f[4] == "创建" {
            let e = out
                .entry((minute_of(f[0]), f[2].to_string()))
                .or_insert((0, 0));
            e.0 += 1;
            e.1 += f[5].parse::<i64>().unwrap();
        }
    }
    out
}

#[test]
fn trade_log_has_120_lines_in_each_minute() {
    let out = replay(&examples(), &[&log("trade.log")], &[]);
    let counts = out.table("trade_total", "count");
    let want: Vec<(String, String, Val)> = (0..5)
        .map(|m| {
            (
                format!("2026-11-20T10:0{m}:00+08:00"),
                String::new(),
                Val::Int(120),
            )
        })
        .collect();
    assert_eq!(counts, want);
    // The log itself says so too.
    let text = read_log("trade.log");
    let mut per_minute: BTreeMap<String, i64> = BTreeMap::new();
    for line in text.lines() {
        *per_minute.entry(minute_of(line)).or_default() += 1;
    }
    let from_log: Vec<(String, String, Val)> = per_minute
        .into_iter()
        .map(|(m, n)| (m, String::new(), Val::Int(n)))
        .collect();
    assert_eq!(from_log, want);
    let c = out.counters("trade_total");
    assert_eq!((c.lines, c.parsed, c.parse_errors), (600, 600, 0));
}

#[test]
fn trade_by_product_counts_of_the_readme() {
    let out = replay(&examples(), &[&log("trade.log")], &[]);
    let readme = [
        (M1000, "衣服", 29),
        (M1000, "食品", 16),
        (M1000, "家居", 9),
        (M1000, "数码", 6),
        (M1001, "衣服", 33),
        (M1001, "食品", 24),
        (M1001, "家居", 7),
        (M1001, "数码", 5),
    ];
    for (minute, product, count) in readme {
        let row = out.row("trade_by_product", minute, &[("product", product)]);
        assert_eq!(row.int("count"), count, "{minute} {product}");
    }
    for minute in [M1000, M1001] {
        let products = out
            .rows_of("trade_by_product")
            .iter()
            .filter(|r| r.minute == minute)
            .count();
        assert_eq!(products, 4, "{minute}");
    }
    // And every minute agrees with the log itself, sums included.
    let text = read_log("trade.log");
    let lines: Vec<&str> = text.lines().collect();
    let want = created_by_product(&lines);
    let got: BTreeMap<(String, String), (i64, i64)> = out
        .rows_of("trade_by_product")
        .iter()
        .map(|r| {
            (
                (r.minute.clone(), r.key("product").to_string()),
                (r.int("count"), r.int("sum_elapsed")),
            )
        })
        .collect();
    assert_eq!(got, want);
}

/// Sums of count and elapsed of production lines (stress F, result Y or N)
/// of OrderFacade `method` in minute 10:00, by result.
fn order_facade(method: &str) -> (i64, i64, f64) {
    let (mut total, mut success, mut elapsed) = (0, 0, 0.0);
    for line in read_log("rpc-server-stat.log").lines() {
        let f: Vec<&str> = line.split(',').collect();
        if f[0].starts_with("2026-11-20 10:00:")
            && f[3] == "com.example.trade.OrderFacade:1.0"
            && f[4] == method
            && f[8] == "F"
            && (f[7] == "Y" || f[7] == "N")
        {
            let n: i64 = f[5].parse().unwrap();
            total += n;
            if f[7] == "Y" {
                success += n;
            }
            elapsed += f[6].parse::<f64>().unwrap();
        }
    }
    (total, success, elapsed)
}

#[test]
fn rpc_service_metrics_of_the_readme() {
    let out = replay(&examples(), &[&log("rpc-server-stat.log")], &[]);
    let row = |method: &str| -> &Row {
        out.row(
            "rpc_service",
            M1000,
            &[
                ("service", "com.example.trade.OrderFacade:1.0"),
                ("method", method),
            ],
        )
    };
    let create = row("create");
    assert_eq!(create.int("total"), 105);
    assert_eq!(create.int("success"), 98);
    assert_eq!(create.int("fail"), 7);
    assert_eq!(create.float("success_rate"), 98.0 / 105.0);
    assert_eq!(create.float("avg_latency"), 5390.0 / 105.0);
    assert_eq!(format!("{:.4}", create.float("success_rate")), "0.9333");
    assert_eq!(format!("{:.3}", create.float("avg_latency")), "51.333");

    let get = row("get");
    assert_eq!(get.int("total"), 110);
    assert_eq!(get.int("success"), 110);
    assert_eq!(get.int("fail"), 0);
    assert_eq!(get.float("success_rate"), 1.0);
    assert_eq!(get.float("avg_latency"), 2.0);

    let cancel = row("cancel");
    assert_eq!(cancel.int("total"), 53);
    assert_eq!(cancel.int("success"), 48);
    assert_eq!(cancel.int("fail"), 5);
    assert_eq!(cancel.float("success_rate"), 48.0 / 53.0);
    assert_eq!(format!("{:.4}", cancel.float("success_rate")), "0.9057");
    let (total, success, elapsed) = order_facade("cancel");
    assert_eq!((total, success), (53, 48));
    assert_eq!(cancel.float("avg_latency"), elapsed / 53.0);
    assert_eq!(format!("{:.3}", cancel.float("avg_latency")), "44.623");

    // The log agrees with the README for create and get too.
    assert_eq!(order_facade("create"), (105, 98, 5390.0));
    assert_eq!(order_facade("get"), (110, 110, 220.0));
}

#[test]
fn gbk_file_counts_like_the_first_120_lines_of_trade_log() {
    let out = replay(&examples(), &[&log("gbk-trade.log")], &[]);
    let text = read_log("trade.log");
    let first: Vec<&str> = text.lines().take(120).collect();
    let want = created_by_product(&first);
    assert!(!want.is_empty());
    let got: BTreeMap<(String, String), (i64, i64)> = out
        .rows_of("gbk_trade_by_product")
        .iter()
        .map(|r| {
            (
                (r.minute.clone(), r.key("product").to_string()),
                (r.int("count"), r.int("sum_elapsed")),
            )
        })
        .collect();
    assert_eq!(got, want);
    let c = out.counters("gbk_trade_by_product");
    assert_eq!((c.lines, c.parse_errors), (120, 0));
    // The file really is not UTF-8 (else this would prove nothing).
    let bytes = std::fs::read(log("gbk-trade.log")).unwrap();
    assert!(std::str::from_utf8(&bytes).is_err());
}

#[test]
fn common_error_counts_one_event_per_error_line() {
    let out = replay(&examples(), &[&log("common-error.log")], &[]);
    // Events: a line starting with a date begins one; others continue it.
    let text = read_log("common-error.log");
    let mut events: Vec<String> = Vec::new();
    for line in text.lines() {
        let starts = line.len() > 11
            && line.as_bytes()[..10].iter().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    *b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
            && line.as_bytes()[10] == b' ';
        match events.last_mut() {
            Some(e) if !starts => {
                e.push('\n');
                e.push_str(line);
            }
            _ => events.push(line.to_string()),
        }
    }
    let mut want: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for e in &events {
        let level = e.split(' ').nth(2).unwrap().to_string();
        let w = want.entry((minute_of(e), level)).or_insert((0, 0));
        w.0 += 1;
        w.1 += e.matches("Exception").count() as i64;
    }
    let got: BTreeMap<(String, String), (i64, i64)> = out
        .rows_of("common_error")
        .iter()
        .map(|r| {
            (
                (r.minute.clone(), r.key("level").to_string()),
                (r.int("count"), r.int("exceptions")),
            )
        })
        .collect();
    assert_eq!(got, want);
    let stack_lines = text.lines().count() - events.len();
    assert!(stack_lines > 0, "the log has stack traces");
    let c = out.counters("common_error");
    assert_eq!(c.lines, events.len() as u64);
    assert_eq!(c.parse_errors, 0);
}

#[test]
fn check_accepts_the_examples() {
    let out = vigil([
        OsStr::new("check"),
        OsStr::new("-c"),
        examples().as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "vigil check config/examples failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}
