//! include / exclude: whitelists, blacklists, and how they combine.
//!
//! Every test replays the same ten lines, whose `v` values are distinct
//! powers of two: the sum of `v` over the kept lines says exactly which
//! lines were kept.

use crate::support::{one_monitor, replay_one, Counters};

/// Line `i` (1-based) has `v = 2^(i-1)`.
const LOG: &str = "\
2026-11-20 10:00:01,A,x,1
2026-11-20 10:00:02,B,x,2
2026-11-20 10:00:03,C,x,4
2026-11-20 10:00:04,A,y,8
2026-11-20 10:00:05,B,y,16
2026-11-20 10:00:06,C,y,32
2026-11-20 10:00:07,AB,x,64
2026-11-20 10:00:08,a,x,128
2026-11-20 10:00:09, A,x,256
2026-11-20 10:00:10,,x,512
";

/// The sum of `v` over the kept lines (0 when none is kept) and the
/// counters, for a monitor with these `column a` options and filters.
fn kept_with(a_options: &str, filters: &str) -> (i64, Counters) {
    let body = format!(
        "    columns:
      time: {{ split: \",\", index: 0 }}
      a:    {{ split: \",\", index: 1{a_options} }}
      b:    {{ split: \",\", index: 2 }}
      v:    {{ split: \",\", index: 3, type: int }}
{filters}
    stats: [count, {{ sum: v }}]
"
    );
    let out = replay_one(&one_monitor("minute_stat", &body), LOG);
    let rows = out.rows_of("m");
    assert!(rows.len() <= 1, "one minute only: {rows:?}");
    let c = out.counters("m");
    assert_eq!(c.lines, 10);
    assert_eq!(c.parsed, 10);
    assert_eq!(c.parse_errors, 0);
    let (count, sum) = rows
        .first()
        .map_or((0, 0), |r| (r.int("count"), r.int("sum_v")));
    assert_eq!(count, i64::from(sum.count_ones()), "count = kept lines");
    assert_eq!(c.filtered, 10 - count as u64, "filtered = the other lines");
    (sum, c)
}

fn kept(filters: &str) -> i64 {
    kept_with("", filters).0
}

/// The sum of `v` over lines 1-based `lines`.
fn lines(lines: &[u32]) -> i64 {
    lines.iter().map(|i| 1i64 << (i - 1)).sum()
}

#[test]
fn no_filter_keeps_everything() {
    assert_eq!(kept(""), 1023);
}

#[test]
fn include_list_keeps_any_of_its_values() {
    assert_eq!(kept("    include: { a: \"A,B\" }"), lines(&[1, 2, 4, 5]));
}

#[test]
fn include_columns_are_anded() {
    assert_eq!(
        kept("    include: { a: \"A,B\", b: \"x\" }"),
        lines(&[1, 2])
    );
    assert_eq!(kept("    include: { a: C, b: y }"), lines(&[6]));
    assert_eq!(kept("    include: { a: AB, b: y }"), 0);
}

#[test]
fn exclude_list_drops_each_of_its_values() {
    assert_eq!(
        kept("    exclude: { a: \"A,B\" }"),
        lines(&[3, 6, 7, 8, 9, 10])
    );
}

#[test]
fn exclude_columns_are_ored() {
    assert_eq!(
        kept("    exclude: { a: A, b: y }"),
        lines(&[2, 3, 7, 8, 9, 10])
    );
}

#[test]
fn include_and_exclude_together_are_anded() {
    assert_eq!(
        kept("    include: { a: \"A,B,C\" }\n    exclude: { b: y }"),
        lines(&[1, 2, 3])
    );
    // A line both whitelisted and blacklisted is dropped.
    assert_eq!(kept("    include: { a: A }\n    exclude: { a: A }"), 0);
}

#[test]
fn values_match_exactly() {
    // Not `AB` (prefix), `a` (case), ` A` (space), nor the empty value.
    assert_eq!(kept("    include: { a: A }"), lines(&[1, 4]));
    assert_eq!(kept("    exclude: { a: A }"), 1023 - lines(&[1, 4]));
    assert_eq!(kept("    include: { a: \"B,AB\" }"), lines(&[2, 5, 7]));
}

#[test]
fn values_are_matched_after_trim() {
    assert_eq!(
        kept_with(", trim: true", "    include: { a: A }").0,
        lines(&[1, 4, 9])
    );
}

#[test]
fn values_are_matched_after_translation() {
    let t = ", translate: { map: { A: alpha, B: alpha }, default: other }";
    assert_eq!(
        kept_with(t, "    include: { a: alpha }").0,
        lines(&[1, 2, 4, 5])
    );
    // The raw value no longer matches.
    assert_eq!(kept_with(t, "    include: { a: A }").0, 0);
    assert_eq!(
        kept_with(t, "    exclude: { a: other }").0,
        lines(&[1, 2, 4, 5])
    );
}

#[test]
fn an_empty_item_is_the_empty_value() {
    assert_eq!(kept("    include: { a: \"\" }"), lines(&[10]));
    assert_eq!(kept("    include: { a: \"A,\" }"), lines(&[1, 4, 10]));
    assert_eq!(kept("    exclude: { a: \"\" }"), 1023 - lines(&[10]));
}

#[test]
fn typed_columns_are_matched_by_their_text() {
    // `v` is an int column: the filter still compares the text.
    assert_eq!(kept("    include: { v: \"1,4,016\" }"), lines(&[1, 3]));
    assert_eq!(kept("    include: { v: 2 }"), lines(&[2]));
}

#[test]
fn plain_scalar_filter_values_are_kept_as_written() {
    // Each value, written unquoted in the YAML, must keep the line holding it.
    let written = [
        "1.0", "1.50", "0x10", "0o17", "1e3", "+1", ".5", "-0", "True", ".inf",
    ];
    let mut wrong = Vec::new();
    for w in written {
        let body = format!(
            "    columns:
      time: {{ split: \",\", index: 0 }}
      ver:  {{ split: \",\", index: 1 }}
    include: {{ ver: {w} }}
    stats: [count]
"
        );
        let out = replay_one(
            &one_monitor("minute_stat", &body),
            format!("2026-11-20 10:00:01,{w}\n"),
        );
        if out.counters("m").filtered != 0 {
            wrong.push(w);
        }
    }
    assert!(
        wrong.is_empty(),
        "include {{ ver: X }} drops the line whose ver is X for X in {wrong:?}"
    );
}
