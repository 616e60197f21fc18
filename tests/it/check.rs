//! `vigil check` reports each problem as `file:line:column: message` and
//! exits non-zero; `vigil schema` prints the JSON Schema.

use std::path::Path;

use std::ffi::OsStr;

use crate::support::{vigil, Sandbox};

/// A valid monitor named `name`, to which `extra` lines are appended.
const GOOD: &str = "monitors:
  - name: good
    kind: minute_stat
    source: { paths: [app.log], timezone: Asia/Shanghai }
    time: { column: time, format: normal }
    columns:
      time:  { split: \",\", index: 0 }
      label: { split: \",\", index: 1 }
      n:     { split: \",\", index: 2, type: int }
    group_by: [label]
    stats: [count, { sum: n }]
";

/// Runs `vigil check -c path`; returns (success, stdout, stderr).
fn check(path: &Path) -> (bool, String, String) {
    let out = vigil([OsStr::new("check"), OsStr::new("-c"), path.as_os_str()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// 1-based line and column of the `nth` (1-based) occurrence of `token` in `text`.
fn position(text: &str, token: &str, nth: usize) -> (usize, usize) {
    let mut from = 0;
    let mut at = 0;
    for _ in 0..nth {
        at = from + text[from..].find(token).expect("token in text");
        from = at + token.len();
    }
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Asserts that checking `yaml` fails with exactly one diagnostic, at the
/// `nth` occurrence of `token`, whose message contains every one of `words`.
fn assert_diagnostic(yaml: &str, token: &str, nth: usize, words: &[&str]) {
    let sb = Sandbox::new();
    let file = sb.write("vigil.yaml", yaml);
    let (ok, _, stderr) = check(&file);
    assert!(!ok, "check accepted:\n{yaml}");
    let (line, column) = position(yaml, token, nth);
    let prefix = format!("{}:{line}:{column}: ", file.display());
    let diags: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with(&file.display().to_string()))
        .collect();
    assert_eq!(diags.len(), 1, "one diagnostic expected:\n{stderr}");
    assert!(
        diags[0].starts_with(&prefix),
        "expected a diagnostic at {prefix}\n{stderr}"
    );
    for w in words {
        assert!(diags[0].contains(w), "`{w}` not in: {}", diags[0]);
    }
}

#[test]
fn the_base_configuration_is_valid() {
    let sb = Sandbox::new();
    let file = sb.write("vigil.yaml", GOOD);
    let (ok, stdout, stderr) = check(&file);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ok, 1 monitor"), "{stdout}");
}

#[test]
fn unknown_column_in_group_by() {
    let yaml = GOOD.replace("group_by: [label]", "group_by: [label, nosuch]");
    assert_diagnostic(&yaml, "nosuch", 1, &["unknown column `nosuch`", "group_by"]);
}

#[test]
fn bad_regex() {
    let yaml = GOOD.replace(
        "label: { split: \",\", index: 1 }",
        "label: { regex: \"id=(\\\\d+\" }",
    );
    assert_diagnostic(&yaml, "\"id=", 1, &["invalid regex"]);
}

#[test]
fn unknown_time_format() {
    let yaml = GOOD.replace("format: normal", "format: iso8601");
    assert_diagnostic(&yaml, "iso8601", 1, &["unknown time format `iso8601`"]);
}

#[test]
fn duplicate_monitor_name() {
    let second = GOOD.replace("monitors:\n", "");
    let yaml = format!("{GOOD}{second}");
    assert_diagnostic(&yaml, "good", 2, &["duplicate monitor name `good`"]);
}

#[test]
fn duplicate_monitor_name_across_files() {
    let sb = Sandbox::new();
    sb.write("a.yaml", GOOD);
    let b = sb.write("b.yaml", GOOD);
    let (ok, _, stderr) = check(&sb.path(""));
    assert!(!ok);
    let (line, column) = position(GOOD, "good", 1);
    let want = format!(
        "{}:{line}:{column}: duplicate monitor name `good`",
        b.display()
    );
    assert!(stderr.contains(&want), "{want}\nnot in:\n{stderr}");
}

#[test]
fn sum_of_a_string_column() {
    let yaml = GOOD.replace("{ sum: n }", "{ sum: label }");
    assert_diagnostic(&yaml, "label }", 1, &["`label` is a string"]);
}

#[test]
fn unknown_field() {
    let yaml = GOOD.replace("    group_by:", "    group_bye: [label]\n    group_by:");
    assert_diagnostic(&yaml, "group_bye", 1, &["unknown field `group_bye`"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let yaml = GOOD
        .replace("group_by: [label]", "group_by: [nosuch]")
        .replace("format: normal", "format: iso8601")
        .replace("{ sum: n }", "{ sum: label }");
    let sb = Sandbox::new();
    let file = sb.write("vigil.yaml", &yaml);
    let (ok, _, stderr) = check(&file);
    assert!(!ok);
    for token in ["iso8601", "nosuch", "label }"] {
        let (line, column) = position(&yaml, token, 1);
        let at = format!("{}:{line}:{column}: ", file.display());
        assert!(stderr.contains(&at), "{at} not in:\n{stderr}");
    }
    assert!(stderr.contains("3 errors"), "{stderr}");
}

#[test]
fn replay_refuses_a_bad_configuration() {
    let sb = Sandbox::new();
    let file = sb.write(
        "vigil.yaml",
        GOOD.replace("format: normal", "format: iso8601"),
    );
    let log = sb.write("app.log", "2026-11-20 10:00:00,a,1\n");
    let out = vigil([
        OsStr::new("replay"),
        OsStr::new("-c"),
        file.as_os_str(),
        OsStr::new("-l"),
        log.as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("iso8601"));
}

#[test]
fn schema_is_json_with_monitors() {
    let out = vigil(["schema"]);
    assert!(out.status.success());
    let schema: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("vigil schema prints JSON");
    assert!(
        schema["properties"]["monitors"].is_object(),
        "no `monitors` property in {schema}"
    );
}
