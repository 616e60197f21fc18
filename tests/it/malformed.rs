//! Malformed lines are counted as parse errors, reported on stderr with
//! their file and line, and skipped; the other lines still count and the
//! process exits 0.

use crate::support::{Replay, Sandbox};

const M1000: &str = "2026-11-20T10:00:00+08:00";

/// A monitor over `time,k,n(int),x(float),tag` lines of `app.log`;
/// `source_extra` is appended to its source settings.
fn config(source_extra: &str) -> String {
    format!(
        "monitors:
  - name: m
    kind: minute_stat
    source: {{ paths: [app.log], timezone: Asia/Shanghai{source_extra} }}
    time: {{ column: time, format: normal }}
    columns:
      time: {{ split: \",\", index: 0 }}
      k:    {{ split: \",\", index: 1 }}
      n:    {{ split: \",\", index: 2, type: int }}
      x:    {{ split: \",\", index: 3, type: float }}
      tag:  {{ split: \",\", index: 4 }}
    group_by: [k]
    stats: [count, {{ sum: n }}, {{ sum: x }}]
"
    )
}

/// Replays `log` with every error shown on stderr.
fn run(source_extra: &str, log: impl AsRef<[u8]>) -> Replay {
    let sb = Sandbox::new();
    sb.write("vigil.yaml", config(source_extra));
    sb.write("app.log", log);
    sb.replay("vigil.yaml", &["app.log"], &["--show-errors", "1000"])
}

/// A line of minute 10:00 with these fields after the time.
fn line(sec: u32, k: &str, n: &str, x: &str, tag: &str) -> String {
    format!("2026-11-20 10:00:{sec:02},{k},{n},{x},{tag}")
}

/// The 1-based numbers of the lines reported on stderr, in order.
fn reported(out: &Replay) -> Vec<u64> {
    out.stderr
        .lines()
        .filter_map(|l| {
            let rest = l.split("app.log:").nth(1)?;
            rest.split(':').next()?.parse().ok()
        })
        .collect()
}

/// Checks the counters and the reported lines, and returns the one row.
fn check(out: &Replay, lines: u64, errors: &[u64]) {
    let c = out.counters("m");
    assert_eq!(c.lines, lines, "lines; stderr:\n{}", out.stderr);
    assert_eq!(
        c.parse_errors,
        errors.len() as u64,
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(c.parsed, lines - errors.len() as u64);
    assert_eq!(reported(out), errors, "stderr:\n{}", out.stderr);
}

#[test]
fn missing_fields() {
    let log = [
        line(1, "a", "1", "1.5", "t"),
        "2026-11-20 10:00:02,a,2,2.5".to_string(),
        "2026-11-20 10:00:03,a".to_string(),
        "2026-11-20 10:00:04".to_string(),
        line(5, "a", "4", "0.25", "t,extra"),
    ]
    .join("\n")
        + "\n";
    let out = run("", log);
    check(&out, 5, &[2, 3, 4]);
    let r = out.row("m", M1000, &[("k", "a")]);
    assert_eq!(
        (r.int("count"), r.int("sum_n"), r.float("sum_x")),
        (2, 5, 1.75)
    );
    assert!(out.stderr.contains("`tag`"), "{}", out.stderr);
}

#[test]
fn bad_ints() {
    let bad = [
        "abc",
        "1.5",
        " 1",
        "1 ",
        "0x10",
        "",
        "1e3",
        "--1",
        "+",
        "9223372036854775808",
        "١",
    ];
    let good = ["+7", "-3", "0", "007"];
    let mut lines: Vec<String> = bad.iter().map(|n| line(1, "a", n, "1", "t")).collect();
    lines.extend(good.iter().map(|n| line(2, "a", n, "1", "t")));
    let out = run("", lines.join("\n") + "\n");
    let errors: Vec<u64> = (1..=bad.len() as u64).collect();
    check(&out, lines.len() as u64, &errors);
    let r = out.row("m", M1000, &[("k", "a")]);
    assert_eq!((r.int("count"), r.int("sum_n")), (4, 11));
    assert!(out.stderr.contains("is not a valid int"), "{}", out.stderr);
}

#[test]
fn bad_floats() {
    let bad = [
        "NaN", "nan", "inf", "-inf", "infinity", "12ms", "", ".", "1e", "0x10", " 1", "1e400",
        "1,5",
    ];
    let good = ["1e3", ".5", "-2.5", "7", "5.", "+0E0"];
    let mut lines: Vec<String> = good.iter().map(|x| line(1, "a", "1", x, "t")).collect();
    lines.extend(bad.iter().map(|x| line(2, "a", "1", x, "t")));
    let out = run("", lines.join("\n") + "\n");
    // `1,5` splits into x = `1` and tag = `5`: a valid line.
    let errors: Vec<u64> = (good.len() as u64 + 1..lines.len() as u64).collect();
    check(&out, lines.len() as u64, &errors);
    let r = out.row("m", M1000, &[("k", "a")]);
    assert_eq!(r.int("count"), 7);
    assert_eq!(r.float("sum_x"), 1000.0 + 0.5 - 2.5 + 7.0 + 5.0 + 0.0 + 1.0);
    assert!(
        out.stderr.contains("is not a valid float"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_times() {
    let log = [
        line(1, "a", "1", "1", "t"),
        "2026-11-20 10:00:1x,a,1,1,t".to_string(),
        "yesterday,a,1,1,t".to_string(),
        ",a,1,1,t".to_string(),
        line(2, "a", "1", "1", "t"),
    ]
    .join("\n")
        + "\n";
    let out = run("", log);
    check(&out, 5, &[2, 3, 4]);
    assert_eq!(out.row("m", M1000, &[("k", "a")]).int("count"), 2);
    assert!(out.stderr.contains("is not a valid time"), "{}", out.stderr);
}

#[test]
fn invalid_utf8_with_utf8_encoding() {
    let log = raw_lines(&[
        "é".as_bytes(),
        b"a\xff",
        b"\xc3\x28",
        b"\xbc\xd2", // 家 in GBK
        "家".as_bytes(),
        b"\xe5\xae",     // 家 in UTF-8, cut short
        b"\xed\xa0\x80", // a surrogate
    ]);
    let out = run(", encoding: utf-8", log);
    check(&out, 7, &[2, 3, 4, 6, 7]);
    assert_eq!(out.rows_of("m").len(), 2);
    assert_eq!(out.row("m", M1000, &[("k", "é")]).int("count"), 1);
    assert_eq!(out.row("m", M1000, &[("k", "家")]).int("count"), 1);
    assert!(out.stderr.contains("not valid UTF-8"), "{}", out.stderr);
}

/// `app.log`-style lines of minute 10:00 whose key is `k` (raw bytes).
fn raw_lines(keys: &[&[u8]]) -> Vec<u8> {
    let mut log = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        log.extend_from_slice(format!("2026-11-20 10:00:{i:02},").as_bytes());
        log.extend_from_slice(k);
        log.extend_from_slice(b",1,1,t\n");
    }
    log
}

#[test]
fn invalid_gbk_with_gbk_encoding() {
    let log = raw_lines(&[
        b"\xbc\xd2\xbe\xd3", // 家居 in GBK
        b"\xff",
        b"\xbc",
        b"abc",
        b"a\x81\x30", // a four-byte GB18030 sequence cut short
    ]);
    let out = run(", encoding: gbk", log);
    check(&out, 5, &[2, 3, 5]);
    assert_eq!(out.row("m", M1000, &[("k", "家居")]).int("count"), 1);
    assert_eq!(out.row("m", M1000, &[("k", "abc")]).int("count"), 1);
    assert!(out.stderr.contains("not valid GBK"), "{}", out.stderr);
}

#[test]
fn auto_encoding_is_decided_per_file() {
    let yaml = config("").replace("[app.log]", "[\"*.log\"]");
    let sb = Sandbox::new();
    sb.write("vigil.yaml", yaml);
    // UTF-8 first: a GBK line after it is invalid.
    sb.write(
        "a.log",
        raw_lines(&["家居".as_bytes(), b"\xbc\xd2\xbe\xd3"]),
    );
    // GBK first: the file is read as GBK.
    sb.write("b.log", raw_lines(&[b"abc", b"\xbc\xd2\xbe\xd3"]));
    let out = sb.replay("vigil.yaml", &["a.log", "b.log"], &[]);
    let c = out.counters("m");
    assert_eq!((c.lines, c.parse_errors), (4, 1), "{}", out.stderr);
    assert!(out.stderr.contains("a.log:2:"), "{}", out.stderr);
    assert_eq!(out.row("m", M1000, &[("k", "家居")]).int("count"), 2);
}

#[test]
fn lines_over_max_line_bytes() {
    // 28 bytes before the tag: a 12-byte tag makes a 40-byte line.
    let exact = line(1, "a", "1", "1.0", "tttttttttttt");
    assert_eq!(exact.len(), 40);
    let over = line(2, "a", "2", "1.0", "ttttttttttttt");
    let log = format!("{exact}\n{over}\n{exact}\r\n{over}\r\n{over}");
    let out = run(", max_line_bytes: 40", log);
    check(&out, 5, &[2, 4, 5]);
    assert_eq!(out.row("m", M1000, &[("k", "a")]).int("sum_n"), 2);
    assert!(
        out.stderr.contains("longer than max_line_bytes 40"),
        "{}",
        out.stderr
    );
}

#[test]
fn long_lines_with_the_default_bound() {
    let prefix = line(1, "a", "1", "1.0", "");
    let at_bound = format!("{prefix}{}", "t".repeat(65_536 - prefix.len()));
    assert_eq!(at_bound.len(), 65_536);
    let over = format!("{at_bound}t");
    let huge = format!("{prefix}{}", "x".repeat(1 << 20));
    let log = format!(
        "{}\n{huge}\n{at_bound}\n{over}\n{}\n{huge}",
        line(1, "a", "1", "1", "t"),
        line(2, "a", "1", "1", "t"),
    );
    let out = run("", log);
    check(&out, 6, &[2, 4, 6]);
    assert_eq!(out.row("m", M1000, &[("k", "a")]).int("count"), 3);
    assert!(
        out.stderr
            .contains(&format!("line of {} bytes", huge.len())),
        "{}",
        out.stderr
    );
}

#[test]
fn empty_and_blank_lines() {
    let good = line(1, "a", "1", "1", "t");
    let log = format!("\n{good}\n\n\r\n   \n{good}\n");
    let out = run("", log);
    check(&out, 6, &[1, 3, 4, 5]);
    assert_eq!(out.row("m", M1000, &[("k", "a")]).int("count"), 2);
}

#[test]
fn crlf_line_endings_are_fine() {
    // `tag` is the last field: a kept `\r` would fail the include filter,
    // and a last int field would not parse.
    let yaml = config("").replace("    group_by", "    include: { tag: t }\n    group_by");
    let sb = Sandbox::new();
    sb.write("vigil.yaml", yaml);
    let log = format!(
        "{}\r\n{}\r\n{}",
        line(1, "a", "1", "1", "t"),
        line(2, "a", "2", "1", "t"),
        line(3, "a", "4", "1", "t"),
    );
    sb.write("app.log", log);
    let out = sb.replay("vigil.yaml", &["app.log"], &[]);
    let c = out.counters("m");
    assert_eq!((c.lines, c.parse_errors, c.filtered), (3, 0, 0));
    assert_eq!(out.row("m", M1000, &[("k", "a")]).int("sum_n"), 7);

    let yaml = config("").replace(
        "n:    { split: \",\", index: 2, type: int }",
        "n: { split: \",\", index: 4, type: int }",
    );
    let sb = Sandbox::new();
    sb.write("vigil.yaml", yaml);
    sb.write(
        "app.log",
        "2026-11-20 10:00:01,a,x,1,5\r\n2026-11-20 10:00:02,a,x,1,6\r\n",
    );
    let out = sb.replay("vigil.yaml", &["app.log"], &[]);
    assert_eq!(out.counters("m").parse_errors, 0, "{}", out.stderr);
    assert_eq!(out.row("m", M1000, &[("k", "a")]).int("sum_n"), 11);
}

#[test]
fn errors_shown_are_limited_but_all_counted() {
    let mut lines: Vec<String> = (0..8).map(|i| line(i, "a", "bad", "1", "t")).collect();
    lines.push(line(9, "a", "1", "1", "t"));
    let sb = Sandbox::new();
    sb.write("vigil.yaml", config(""));
    sb.write("app.log", lines.join("\n"));
    let out = sb.replay("vigil.yaml", &["app.log"], &[]);
    assert_eq!(out.counters("m").parse_errors, 8);
    // By default five errors per monitor are described.
    assert_eq!(reported(&out), vec![1, 2, 3, 4, 5], "{}", out.stderr);
    assert!(out.stderr.contains(": m: "), "{}", out.stderr);
    assert_eq!(out.row("m", M1000, &[("k", "a")]).int("count"), 1);
}

#[test]
fn multiline_events_are_reported_at_their_first_line() {
    let yaml = "monitors:
  - name: m
    kind: minute_stat
    source:
      paths: [app.log]
      timezone: Asia/Shanghai
      multiline: { start: \"^\\\\d{4}-\\\\d{2}-\\\\d{2} \" }
    time: { column: time, format: normal }
    columns:
      time:  { regex: \"^(\\\\S+ \\\\S+)\" }
      level: { split: \" \", index: 2 }
    group_by: [level]
    stats: [count, { occurrences: \"at \", in: line, as: frames }]
";
    let log = "\
2026-11-20 10:00:01,000 ERROR one
  at a
  at b
2026-11-20 10:00:0x,000 ERROR broken
  at c
2026-11-20 10:00:03,000 WARN two
2026-11-20 10:00:04
\tat(d)
";
    let sb = Sandbox::new();
    sb.write("vigil.yaml", yaml);
    sb.write("app.log", log);
    let out = sb.replay("vigil.yaml", &["app.log"], &[]);
    // Events start at lines 1, 4, 6 and 7; the one of line 4 has a bad
    // time, the one of line 7 has no third space-separated field.
    check(&out, 4, &[4, 7]);
    let r = out.row("m", M1000, &[("level", "ERROR")]);
    assert_eq!((r.int("count"), r.int("frames")), (1, 2));
    assert_eq!(out.row("m", M1000, &[("level", "WARN")]).int("frames"), 0);
}
