//! Dashboards: a full example resolves field by field, sources may name
//! monitors of other files, and each problem is reported at its line and
//! column with advice.

use std::path::{Path, PathBuf};

use vigil_config::dashboard::*;
use vigil_config::{load, load_texts, Config, Error, LoadOptions};

const MONITORS: &str = r#"
monitors:
  - name: orders
    kind: minute_stat
    source: { paths: [orders.log], timezone: Asia/Shanghai }
    time: { column: time, format: normal }
    columns:
      time:    { split: ",", index: 0 }
      product: { split: ",", index: 1 }
      ms:      { split: ",", index: 2, type: int }
    group_by: [product]
    stats: [count, { avg: ms }]
  - name: calls
    kind: service_metrics
    source: { paths: [calls.log] }
    time: { column: time, format: normal }
    columns:
      time:   { split: ",", index: 0 }
      method: { split: ",", index: 1 }
      result: { split: ",", index: 2 }
    group_by: [method]
    service: { result: result }
  - name: total
    kind: minute_stat
    source: { paths: [orders.log] }
    time: { column: time, format: normal }
    columns:
      time: { split: ",", index: 0 }
    stats: [count]
  - name: orders_rollup
    kind: archive
    archive: { of: orders, periods: [hour, day] }
"#;

fn load_files(files: &[(&str, &str)]) -> Result<Config, Error> {
    let texts: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(name, text)| {
            (
                PathBuf::from(name),
                text.trim_start_matches('\n').to_string(),
            )
        })
        .collect();
    load_texts(&texts, &LoadOptions::default())
}

fn errors(dashboards: &str) -> Vec<String> {
    match load_files(&[("monitors.yaml", MONITORS), ("board.yaml", dashboards)]) {
        Ok(_) => panic!("should fail"),
        Err(Error::Invalid(diags)) => diags
            .iter()
            .map(|d| {
                format!(
                    "{}:{}:{}: {}",
                    d.file.display(),
                    d.line,
                    d.column,
                    d.message
                )
            })
            .collect(),
        Err(e) => panic!("unexpected {e}"),
    }
}

#[test]
fn a_dashboard_resolves_across_files() {
    let board = r#"
dashboards:
  - name: shop
    title: The shop
    span: 30
    granularity: 5
    reports:
      - title: Orders per product
        type: keys_across
        width: 6
        link: /monitors/orders
        sources: [{ monitor: orders, value: count, thresholds: { orange: 30, red: 40 } }]
      - title: Calls
        type: service
        height: 300
        sources: [{ monitor: calls, thresholds: { orange: 0.95, red: 0.9 }, link: "https://runbooks.example.com/calls" }]
      - title: Trend
        type: trend
        span: 120
        granularity: 1
        compare: [yesterday, week]
        sources:
          - { monitor: total, value: count }
          - label: fail rate
            op: ratio
            of: [{ monitor: calls, value: fail }, { monitor: calls, value: total }]
            format: { decimals: 2, percent: true }
      - title: Created
        type: last_minutes
        sources: [{ monitor: orders, value: count, keys: { product: 衣服 } }]
"#;
    let config = load_files(&[("board.yaml", board), ("monitors.yaml", MONITORS)])
        .unwrap_or_else(|e| panic!("{e}"));
    let d = &config.dashboards[0];
    assert_eq!(
        (
            d.name.as_str(),
            d.title.as_str(),
            d.span_min,
            d.granularity_min
        ),
        ("shop", "The shop", 30, 5)
    );
    let [across, service, trend, last] = d.reports.as_slice() else {
        panic!("{:?}", d.reports);
    };
    assert_eq!(
        (
            across.kind,
            across.width,
            across.span_min,
            across.granularity_min
        ),
        (ReportKind::KeysAcross, 6, 10, 5)
    );
    assert_eq!(across.link.as_deref(), Some("/monitors/orders"));
    assert_eq!(across.sources[0].thresholds.level(35.0), Level::Orange);
    assert_eq!(
        (service.width, service.height, service.span_min),
        (12, Some(300), 30)
    );
    assert_eq!(
        service.sources[0].value,
        SourceValue::Value(MonitorValue {
            monitor: "calls".into(),
            value: String::new()
        })
    );
    assert!(service.sources[0].thresholds.lower_is_worse());
    assert_eq!(
        (
            trend.span_min,
            trend.granularity_min,
            trend.compare_days.clone()
        ),
        (120, 1, vec![1, 7])
    );
    let rate = &trend.sources[1];
    assert_eq!(rate.label, "fail rate");
    assert_eq!(
        rate.format,
        NumberFormat {
            decimals: Some(2),
            percent: true
        }
    );
    assert!(
        matches!(&rate.value, SourceValue::Computed { op: Op::Ratio, left, right } if left.value == "fail" && right.value == "total")
    );
    assert_eq!(trend.sources[0].label, "count");
    assert_eq!(
        last.sources[0].keys,
        vec![("product".to_string(), "衣服".to_string())]
    );
}

#[test]
fn each_problem_is_reported_where_it_was_written() {
    let got = errors(
        r#"
dashboards:
  - name: Shop
    granularity: 7
    reports:
      - title: A
        type: keys_across
        width: 13
        sources:
          - { monitor: total, value: count }
      - title: B
        type: service
        compare: [yesterday]
        sources: [{ monitor: orders }]
      - title: C
        type: trend
        link: "ftp://x"
        sources:
          - { monitor: nope, value: count }
          - { monitor: orders, value: sum_ms, keys: { city: x } }
          - { op: mean, of: [{ monitor: calls, value: fail }] }
          - { monitor: orders }
  - name: shop
    reports:
      - { title: D, type: top, sources: [{ monitor: orders, value: count }, { monitor: orders, value: count }] }
  - name: shop
    reports: []
  - name: live
    reports:
      - { title: E, type: seconds, sources: [{ monitor: total, value: count }] }
"#,
    );
    let want = [
        "board.yaml:2:11: dashboard name `Shop` must be lowercase letters, digits and `_` only: it is the page's address (/dashboards/<name>)",
        "board.yaml:3:18: granularity is minutes per point: one of 1, 5, 10, 15, 30, 60, not 7",
        "board.yaml:7:16: width is columns of the 12-column grid, 1 to 12 (12 is a full row, 6 half), not 13",
        "board.yaml:9:24: this report shows one row or column per key, but monitor `total` has no group_by; use a keyed monitor or a last_minutes report",
        "board.yaml:12:9: only trend reports compare with earlier periods; remove `compare` from this service report",
        "board.yaml:13:30: a service report needs a service_metrics monitor; `orders` is a minute_stat",
        "board.yaml:16:15: link `ftp://x` must be a path of this UI (`/monitors/…`) or an http(s) URL",
        "board.yaml:18:24: no monitor is named `nope`; name one of: orders, calls, total, orders_rollup, or a built-in one (system, jvm, port)",
        "board.yaml:19:39: monitor `orders` has no value `sum_ms`; its values are count, avg_ms",
        "board.yaml:19:55: monitor `orders` has no key column `city`; its keys are product",
        "board.yaml:20:19: op is `ratio`, `difference` or `sum`, not `mean`",
        "board.yaml:20:25: `mean` takes exactly two operands in `of`, each {monitor, value}",
        "board.yaml:21:15: source of monitor `orders` names no value: add `value:` with one of the monitor's values",
        "board.yaml:24:32: a top report needs exactly one source",
        "board.yaml:25:11: duplicate dashboard name `shop` (first defined at board.yaml:22); dashboard names must be unique across all files",
        "board.yaml:26:5: a dashboard needs at least one report",
        "board.yaml:29:57: a seconds report needs a second_stat monitor; `total` is a minute_stat",
    ];
    assert_eq!(got, want, "{got:#?}");
}

#[test]
fn archive_reports_read_one_roll_up_of_an_archive() {
    let config = load_files(&[
        ("monitors.yaml", MONITORS),
        (
            "board.yaml",
            r#"
dashboards:
  - name: days
    reports:
      - title: Days
        type: archive
        period: day
        sources:
          - { monitor: orders_rollup, value: avg_ms, keys: { product: 衣服 } }
          - { op: ratio, of: [{ monitor: orders_rollup, value: avg_ms }, { monitor: orders_rollup, value: count }] }
      - { title: Hours, type: archive, period: hour, span: 360, sources: [{ monitor: orders_rollup, value: count }] }
"#,
        ),
    ])
    .expect("valid");
    let reports = &config.dashboards[0].reports;
    assert_eq!(reports[0].kind, ReportKind::Archive);
    assert_eq!(reports[0].period, Some(vigil_config::monitor::Period::Day));
    // Two weeks of days unless the report says otherwise.
    assert_eq!(reports[0].span_min, 14 * 24 * 60);
    assert_eq!(reports[1].span_min, 360);

    let got = errors(
        r#"
dashboards:
  - name: bad
    reports:
      - { title: A, type: archive, sources: [{ monitor: orders_rollup, value: count }] }
      - { title: B, type: archive, period: week, sources: [{ monitor: orders_rollup, value: count }] }
      - { title: C, type: archive, period: hour, sources: [{ monitor: orders, value: count }] }
      - { title: D, type: trend, sources: [{ monitor: orders_rollup, value: count }] }
      - { title: E, type: trend, period: hour, sources: [{ monitor: orders, value: count }] }
      - { title: F, type: archive, period: month, sources: [{ monitor: orders_rollup, value: sum_ms }] }
"#,
    );
    let want = [
        "board.yaml:4:11: an archive report needs `period: hour`, `day` or `week`",
        "board.yaml:5:71: archive `orders_rollup` rolls up hour, day, not the report's period `week`",
        "board.yaml:6:71: an archive report needs an archive monitor; `orders` is a minute_stat",
        "board.yaml:7:55: monitor `orders_rollup` is an archive (hour, day or week roll-ups); show it with an archive report",
        "board.yaml:8:34: `period` picks the roll-up of an archive report; remove it from this trend report",
        "board.yaml:9:44: period is `hour`, `day` or `week`, not `month`",
        "board.yaml:9:94: monitor `orders_rollup` has no value `sum_ms`; its values are count, avg_ms",
    ];
    assert_eq!(got, want, "{got:#?}");
}

#[test]
fn the_examples_have_a_dashboard_per_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let config = load(&dir, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = config.dashboards.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["web", "errors", "gbk_trade", "sofa", "toll", "trade"]
    );
    let trade = config
        .dashboards
        .iter()
        .find(|d| d.name == "trade")
        .unwrap();
    let first = &trade.reports[0];
    assert_eq!(first.kind, ReportKind::KeysAcross);
    assert_eq!(
        first.sources[0].value,
        SourceValue::Value(MonitorValue {
            monitor: "trade_by_product".into(),
            value: "count".into()
        })
    );
}
