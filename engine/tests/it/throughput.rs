//! A rough throughput check of the hot path (run with
//! `cargo test --release -p vigil-engine -- --ignored throughput --nocapture`).

use std::sync::Arc;
use std::time::Instant;

use vigil_config::monitor::{ColumnType, Kind, Service};
use vigil_engine::Aggregator;

use crate::*;

#[test]
#[ignore = "timing; run in release"]
fn throughput_service_metrics_two_keys() {
    let m = monitor(
        "svc",
        Kind::ServiceMetrics(Service {
            result: 2,
            success: vec!["Y".to_string()],
            count: Some(3),
            elapsed: Some(4),
        }),
        vec![
            col("app", ColumnType::String),
            col("service", ColumnType::String),
            col("result", ColumnType::String),
            col("calls", ColumnType::Int),
            col("elapsed", ColumnType::Int),
        ],
        vec![0, 1],
    );
    let rows = 8192usize;
    let apps = ["web", "batch", "api", "jobs"];
    let services: Vec<String> = (0..50).map(|k| format!("service_{k:02}")).collect();
    let mut batches = Vec::new();
    let mut t = T0;
    for b in 0..200u64 {
        let mut times = Vec::with_capacity(rows);
        let (mut app, mut svc, mut res, mut calls, mut el) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in 0..rows as u64 {
            let h = (r * 2_654_435_761 + b * 97) % 1_000_003;
            t += 1;
            times.push(t);
            app.push(apps[(h % 4) as usize]);
            svc.push(services[(h / 4 % 50) as usize].as_str());
            res.push(if h % 10 == 0 { "N" } else { "Y" });
            calls.push((h % 7) as i64 + 1);
            el.push((h % 1000) as i64);
        }
        batches.push(batch(
            &times,
            vec![s(&app), s(&svc), s(&res), i(&calls), i(&el)],
        ));
    }
    let mut agg = Aggregator::new(Arc::new(m)).expect("aggregator");
    let start = Instant::now();
    let mut out = 0;
    for b in &batches {
        agg.push(b).expect("push");
        out += agg
            .drain_closed(agg.newest_ms().unwrap_or(0) - 120_000)
            .len();
    }
    out += agg.drain_all().len();
    let secs = start.elapsed().as_secs_f64();
    let total = (rows * batches.len()) as f64;
    println!(
        "{total} rows in {secs:.3} s: {:.2} M rows/s ({out} buckets)",
        total / secs / 1e6
    );
}
