//! A log split into several files at arbitrary line boundaries and replayed
//! with `--log p1 --log p2 …` gives exactly what the whole file gives.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

use crate::support::Sandbox;

const CONFIG: &str = "monitors:
  - name: by_key
    kind: minute_stat
    source: { paths: [\"*.log\"], timezone: Asia/Shanghai, max_line_bytes: 60 }
    time: { column: time, format: normal }
    columns:
      time: { split: \",\", index: 0 }
      key:  { split: \",\", index: 1 }
      v:    { split: \",\", index: 2, type: int }
      tag:  { split: \",\", index: 3 }
    exclude: { tag: skip }
    group_by: [key]
    key_limit: 3
    stats: [count, { sum: v }, { max: v }, { avg: v }]

  - name: calls
    kind: service_metrics
    source: { paths: [\"*.log\"], timezone: Asia/Shanghai }
    time: { column: time, format: normal }
    columns:
      time:   { split: \",\", index: 0 }
      v:      { split: \",\", index: 2, type: float }
      result: { split: \",\", index: 3 }
    lateness: 30s
    service: { result: result, success: Y, elapsed: v }
";

/// One generated line: minute drift, second, key, value, and what kind of
/// line it is.
type Spec = (i64, u32, u32, i64, u8);

fn render(i: usize, n: usize, (drift, sec, key, v, kind): Spec) -> String {
    // The minute grows along the file, with lines up to three minutes behind.
    let minute = ((i * 6 / n.max(1)) as i64 + drift).clamp(0, 59);
    let time = format!("2026-11-20 10:{minute:02}:{sec:02}");
    match kind {
        0..=3 => format!("{time},k{key},{v},Y"),
        4 => format!("{time},k{key},{v},N"),
        5 => format!("{time},k{key},{v},skip"),
        6 => format!("{time},k{key},{v}.5,Y"),
        7 => String::new(),
        8 => format!("{time},k{key},{v},{}", "x".repeat(60)),
        _ => format!("{time}x,k{key},{v},Y"),
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (-3i64..=1, 0u32..60, 0u32..5, -5i64..100, 0u8..12)
}

proptest! {
    #![proptest_config(Config {
        cases: 12,
        failure_persistence: None,
        max_shrink_iters: 32,
        ..Config::default()
    })]

    #[test]
    fn pieces_give_the_same_result_as_the_whole(
        specs in prop::collection::vec(spec(), 1..300),
        cuts in prop::collection::vec(any::<Index>(), 0..5),
        crlf in any::<bool>(),
    ) {
        let n = specs.len();
        let eol = if crlf { "\r\n" } else { "\n" };
        let lines: Vec<String> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}{eol}", render(i, n, *s)))
            .collect();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(n + 1)).collect();
        cuts.sort_unstable();
        cuts.push(n);

        let sb = Sandbox::new();
        sb.write("vigil.yaml", CONFIG);
        sb.write("whole.log", lines.concat());
        let mut names = Vec::new();
        let mut from = 0;
        for (p, &to) in cuts.iter().enumerate() {
            let name = format!("p{p}.log");
            sb.write(&name, lines[from..to].concat());
            names.push(name);
            from = to;
        }
        let whole = sb.replay("vigil.yaml", &["whole.log"], &[]);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let pieces = sb.replay("vigil.yaml", &refs, &[]);
        prop_assert_eq!(&pieces.rows, &whole.rows);
        prop_assert_eq!(&pieces.counters, &whole.counters);
        let c = whole.counters.iter().find(|(m, _)| m == "by_key").unwrap().1;
        prop_assert_eq!(c.lines, n as u64);
    }
}
