//! Golden tests of configuration validation: every `testdata/*.good.yaml`
//! must load, and every `testdata/*.bad.yaml` must fail with exactly the
//! diagnostics in the `.expected` file beside it. Set `VIGIL_BLESS=1` to
//! rewrite the expected files, then review the diff.

use std::path::{Path, PathBuf};

use vigil_config::{load, Error, Kind, LoadOptions};

mod alerts;
mod apps;
mod dashboards;

/// Removes the first line break and the indentation common to all lines.
fn dedent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| l.get(indent..).unwrap_or("").to_string() + "\n")
        .collect()
}

/// `(file name, YAML)` pairs as the texts `load_texts` takes, dedented.
fn texts(files: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
    files
        .iter()
        .map(|(name, text)| (PathBuf::from(name), dedent(text)))
        .collect()
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata")
}

fn files(suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(testdata())
        .expect("testdata exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no {suffix} files");
    out
}

#[test]
fn good_files_load() {
    for file in files(".good.yaml") {
        if let Err(e) = load(&file, &LoadOptions::default()) {
            panic!("{} should load: {e}", file.display());
        }
    }
}

#[test]
fn bad_files_report_every_problem_with_its_position() {
    let bless = std::env::var_os("VIGIL_BLESS").is_some();
    for file in files(".bad.yaml") {
        let diags = match load(&file, &LoadOptions::default()) {
            Ok(_) => panic!("{} should fail", file.display()),
            Err(Error::Invalid(d)) => d,
            Err(e) => panic!("{}: unexpected error {e}", file.display()),
        };
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text: String = diags
            .iter()
            .map(|d| format!("{name}:{}:{}: {}\n", d.line, d.column, d.message))
            .collect();
        let expected_path = file.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &text).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("missing {}", expected_path.display()));
        assert_eq!(text, expected, "diagnostics of {name} changed");
    }
}

#[test]
fn good_file_resolves_names_to_indexes() {
    let config = load(&testdata().join("kinds.good.yaml"), &LoadOptions::default()).unwrap();
    let m = config.monitor("every_rule").unwrap();
    assert_eq!(m.key_names(), vec!["code"]);
    assert_eq!(
        m.value_names(),
        vec![
            "count",
            "sum_fee",
            "avg_ms",
            "min_ms",
            "max_fee",
            "xs",
            "ratio_fee_ms"
        ]
    );
    assert_eq!(m.lateness_secs, 90);
    assert_eq!(m.key_limit, 5);
    let source = m.source.as_ref().unwrap();
    assert_eq!(source.timezone, chrono_tz::Europe::Berlin);
    assert!(source.paths[0].ends_with("testdata/logs/*.log"));
    let code = &m.columns[1];
    let t = code.translate.as_ref().unwrap();
    assert_eq!(t.apply("0"), "ok");
    assert_eq!(t.apply("1"), "fail");
    assert_eq!(t.apply("503"), "server");
    assert_eq!(t.apply("7"), "other");
    assert!(matches!(
        &m.columns[0].rule,
        vigil_config::Rule::Split { delimiter, index: 0 } if delimiter == &vec![1u8]
    ));
    assert_eq!(m.exclude[0].values, vec!["0"]);
    let calls = config.monitor("calls").unwrap();
    match &calls.kind {
        Kind::ServiceMetrics(s) => assert_eq!(s.success, vec!["0", "200"]),
        other => panic!("{other:?}"),
    }
    match &config.monitor("rolled").unwrap().kind {
        Kind::Archive(a) => assert_eq!(a.periods.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_examples_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let config = load(&dir, &LoadOptions::default()).unwrap();
    assert!(config.monitors.len() >= 10);
}

#[test]
fn schema_documents_every_field() {
    let schema = vigil_config::json_schema();
    let text = serde_json::to_string(&schema).unwrap();
    for field in [
        "monitors",
        "group_by",
        "key_limit",
        "between",
        "translate",
        "occurrences",
        "notification",
        "subscriptions",
        "threshold",
        "count_above",
    ] {
        assert!(text.contains(field), "schema lacks {field}");
    }
}
