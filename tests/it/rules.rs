//! Column rules (char(n) delimiters, between + nth, regex, translate, trim,
//! required), key_limit and lateness.

use crate::support::{one_monitor, replay_one, Val};

const M1000: &str = "2026-11-20T10:00:00+08:00";
const M1001: &str = "2026-11-20T10:01:00+08:00";

fn table(out: &crate::support::Replay) -> Vec<(String, String, Val)> {
    out.table("m", "count")
}

fn row(minute: &str, key: &str, count: i64) -> (String, String, Val) {
    (minute.to_string(), key.to_string(), Val::Int(count))
}

#[test]
fn char_delimiter_splits_on_invisible_bytes() {
    let body = "    columns:
      time: { split: \"char(1)\", index: 0 }
      name: { split: \"char(1)\", index: 1 }
      pair: { split: \"char(2,3)\", index: 1 }
    group_by: [name, pair]
    stats: [count]
";
    let log = "2026-11-20 10:00:01\x01n1\x01x\x02\x03p1\n\
               2026-11-20 10:00:02\x01n1\x01x\x02\x03p1\x02p2\n\
               2026-11-20 10:00:03\x01n,2\x01x\x02\x03p3\x02\x03p4\n\
               2026-11-20 10:00:04\x01n1\x01x\n";
    let out = replay_one(&one_monitor("minute_stat", body), log);
    // A lone \x02 does not split by char(2,3); a `,` is plain text.
    assert_eq!(
        table(&out),
        vec![
            row(M1000, "n,2|p3", 1),
            row(M1000, "n1|p1", 1),
            row(M1000, "n1|p1\x02p2", 1),
        ]
    );
    // The last line has no char(2,3): `pair` is missing.
    assert_eq!(out.counters("m").parse_errors, 1);
}

#[test]
fn between_takes_the_nth_occurrence() {
    let body = "    columns:
      time:   { between: [\"[\", \"]\"] }
      first:  { between: [\"<\", \">\"] }
      second: { between: [\"<\", \">\"], nth: 2 }
      third:  { between: [\"<\", \">\"], nth: 3 }
    group_by: [first, second, third]
    stats: [count]
";
    let log = "[2026-11-20 10:00:01] <a> <b> <c> <d>\n\
               [2026-11-20 10:00:02] <a><b><>\n\
               [2026-11-20 10:00:03] <a> <b>\n";
    let out = replay_one(&one_monitor("minute_stat", body), log);
    assert_eq!(
        table(&out),
        vec![row(M1000, "a|b|", 1), row(M1000, "a|b|c", 1)]
    );
    let c = out.counters("m");
    // The third line has no third `<`: column `third` is missing.
    assert_eq!((c.lines, c.parse_errors), (3, 1));
    assert!(out.stderr.contains("app.log:3:"), "{}", out.stderr);
}

#[test]
fn regex_takes_the_first_capture_group() {
    let body = "    columns:
      time: { regex: \"^(\\\\S+ \\\\S+) \" }
      user: { regex: \"user=(\\\\w+)(?:,id=(\\\\d+))?\" }
      ms:   { regex: \" (\\\\d+)ms$\", type: int }
    group_by: [user]
    stats: [count, { sum: ms }]
";
    let log = "2026-11-20 10:00:01 user=bob,id=7 took 12ms\n\
               2026-11-20 10:00:02 user=bob took 30ms\n\
               2026-11-20 10:00:03 user=eve,id=9 took 5ms\n\
               2026-11-20 10:00:04 nobody took 5ms\n\
               2026-11-20 10:00:05 user=eve took 5 ms\n";
    let out = replay_one(&one_monitor("minute_stat", body), log);
    assert_eq!(out.row("m", M1000, &[("user", "bob")]).int("sum_ms"), 42);
    assert_eq!(out.row("m", M1000, &[("user", "eve")]).int("sum_ms"), 5);
    assert_eq!(out.rows_of("m").len(), 2);
    assert_eq!(out.counters("m").parse_errors, 2);
}

#[test]
fn translate_tries_map_then_regex_then_default() {
    let body = "    columns:
      time: { split: \",\", index: 0 }
      code: { split: \",\", index: 1, translate: { map: { \"200\": ok, \"404\": missing }, regex: { \"^4\": client, \"^[45]\": error }, default: other } }
      raw:  { split: \",\", index: 1, translate: { map: { \"200\": ok } } }
    group_by: [code, raw]
    stats: [count]
";
    let log = "2026-11-20 10:00:01,200\n\
               2026-11-20 10:00:02,404\n\
               2026-11-20 10:00:03,403\n\
               2026-11-20 10:00:04,503\n\
               2026-11-20 10:00:05,302\n\
               2026-11-20 10:00:06,200\n";
    let out = replay_one(&one_monitor("minute_stat", body), log);
    assert_eq!(
        table(&out),
        vec![
            row(M1000, "client|403", 1),
            row(M1000, "error|503", 1),
            row(M1000, "missing|404", 1),
            row(M1000, "ok|ok", 2),
            row(M1000, "other|302", 1),
        ]
    );
}

#[test]
fn translated_text_is_typed() {
    let body = "    columns:
      time: { split: \",\", index: 0 }
      n:    { split: \",\", index: 1, type: int, translate: { map: { none: \"0\", one: \"1\" } } }
    stats: [count, { sum: n }]
";
    let log = "2026-11-20 10:00:01,one\n\
               2026-11-20 10:00:02,none\n\
               2026-11-20 10:00:03,5\n\
               2026-11-20 10:00:04,two\n";
    let out = replay_one(&one_monitor("minute_stat", body), log);
    let r = out.row("m", M1000, &[]);
    assert_eq!((r.int("count"), r.int("sum_n")), (3, 6));
    assert_eq!(out.counters("m").parse_errors, 1);
}

#[test]
fn trim_and_required() {
    let body = "    columns:
      time: { split: \"|\", index: 0, trim: true }
      name: { split: \"|\", index: 1, trim: true, required: true }
      n:    { split: \"|\", index: 2, trim: true, type: int }
      note: { split: \"|\", index: 3 }
    group_by: [name, note]
    stats: [count, { sum: n }]
";
    let log = " 2026-11-20 10:00:01 |  bob\t|  7 | x \n\
               2026-11-20 10:00:02|bob|3| x \n\
               2026-11-20 10:00:03|   |1| x \n\
               2026-11-20 10:00:04||1| x \n\
               2026-11-20 10:00:05|eve|2|\n";
    let out = replay_one(&one_monitor("minute_stat", body), log);
    // `note` is not trimmed: ` x ` stays as written; an empty `note` is fine.
    assert_eq!(
        out.row("m", M1000, &[("name", "bob"), ("note", " x ")])
            .int("sum_n"),
        10
    );
    assert_eq!(
        out.row("m", M1000, &[("name", "eve"), ("note", "")])
            .int("sum_n"),
        2
    );
    assert_eq!(out.rows_of("m").len(), 2);
    let c = out.counters("m");
    // Lines 3 and 4: `name` is required but empty (after trimming).
    assert_eq!((c.lines, c.parsed, c.parse_errors), (5, 3, 2));
    assert!(out.stderr.contains("app.log:3:"), "{}", out.stderr);
    assert!(out.stderr.contains("app.log:4:"), "{}", out.stderr);
}

#[test]
fn without_trim_spaces_break_numbers() {
    let body = "    columns:
      time: { split: \",\", index: 0 }
      n:    { split: \",\", index: 1, type: int }
    stats: [count, { sum: n }]
";
    let log = "2026-11-20 10:00:01,1\n2026-11-20 10:00:02, 2\n2026-11-20 10:00:03,3 \n";
    let out = replay_one(&one_monitor("minute_stat", body), log);
    assert_eq!(out.row("m", M1000, &[]).int("sum_n"), 1);
    assert_eq!(out.counters("m").parse_errors, 2);
}

#[test]
fn key_limit_drops_further_keys_per_minute() {
    let body = "    columns:
      time: { split: \",\", index: 0 }
      k:    { split: \",\", index: 1 }
    group_by: [k]
    key_limit: 2
    stats: [count]
";
    let log = "2026-11-20 10:00:01,a\n\
               2026-11-20 10:00:02,b\n\
               2026-11-20 10:00:03,c\n\
               2026-11-20 10:00:04,a\n\
               2026-11-20 10:00:05,d\n\
               2026-11-20 10:00:06,b\n\
               2026-11-20 10:00:07,c\n\
               2026-11-20 10:01:01,d\n\
               2026-11-20 10:01:02,c\n\
               2026-11-20 10:01:03,a\n\
               2026-11-20 10:01:04,c\n";
    let out = replay_one(&one_monitor("minute_stat", body), log);
    assert_eq!(
        table(&out),
        vec![
            row(M1000, "a", 2),
            row(M1000, "b", 2),
            row(M1001, "c", 2),
            row(M1001, "d", 1),
        ]
    );
    let c = out.counters("m");
    assert_eq!((c.key_dropped, c.late, c.filtered), (4, 0, 0));
}

#[test]
fn default_lateness_is_two_minutes_after_the_minute_end() {
    let body = "    columns:
      time: { split: \",\", index: 0 }
      v:    { split: \",\", index: 1, type: int }
    stats: [count, { sum: v }]
";
    let log = "2026-11-20 10:00:30,1\n\
               2026-11-20 10:02:59,2\n\
               2026-11-20 10:00:40,4\n\
               2026-11-20 10:03:00,8\n\
               2026-11-20 10:00:50,16\n\
               2026-11-20 10:01:59,32\n\
               2026-11-20 09:59:00,64\n\
               2026-11-20 10:00:59,128\n";
    let out = replay_one(&one_monitor("minute_stat", body), log);
    // 10:00:40 is in time (10:01 + 2 min = 10:03:00 > 10:02:59); once a
    // line of 10:03:00 was seen, minute 10:00 is closed.
    assert_eq!(
        out.table("m", "sum_v"),
        vec![
            row(M1000, "", 5),
            row(M1001, "", 32),
            row("2026-11-20T10:02:00+08:00", "", 2),
            row("2026-11-20T10:03:00+08:00", "", 8),
        ]
    );
    let c = out.counters("m");
    assert_eq!((c.lines, c.parsed, c.late), (8, 8, 3));
}

#[test]
fn lateness_can_be_set() {
    let body = "    columns:
      time: { split: \",\", index: 0 }
      v:    { split: \",\", index: 1, type: int }
    lateness: 90s
    stats: [count, { sum: v }]
";
    let log = "2026-11-20 10:00:10,1\n\
               2026-11-20 10:02:29,2\n\
               2026-11-20 10:00:20,4\n\
               2026-11-20 10:02:30,8\n\
               2026-11-20 10:00:30,16\n\
               2026-11-20 10:01:00,32\n";
    let out = replay_one(&one_monitor("minute_stat", body), log);
    assert_eq!(
        out.table("m", "sum_v"),
        vec![
            row(M1000, "", 5),
            row(M1001, "", 32),
            row("2026-11-20T10:02:00+08:00", "", 10),
        ]
    );
    assert_eq!(out.counters("m").late, 1);
    // An hour of lateness keeps everything.
    let body = body.replace("90s", "1h");
    let out = replay_one(&one_monitor("minute_stat", &body), log);
    assert_eq!(out.row("m", M1000, &[]).int("sum_v"), 21);
    assert_eq!(out.counters("m").late, 0);
}
