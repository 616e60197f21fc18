//! `aggregate_bench`: vigil's own streaming aggregation (`vigil_engine::Aggregator`)
//! against a DataFusion SQL `GROUP BY` over the same Arrow batches.
//!
//! ```text
//! cargo build --release -p vigil-benches
//! target/release/aggregate_bench                 # 2,000,000 lines, best of 3
//! taskset -c 0 target/release/aggregate_bench    # everything on one core
//! ```
//!
//! The generated log is cut into record batches by the collector's
//! [`Cutter`] (the same path as `vigil replay`), the batches are kept in
//! memory, then each contender is timed over them:
//!
//! - the engine: a fresh [`Aggregator`], `push` of every batch, `drain_all`;
//! - DataFusion: the batches as a `MemTable`, and
//!   `SELECT __time / 60000, service, method, SUM(count), SUM(CASE WHEN
//!   result = 'Y' THEN count ELSE 0 END), SUM(elapsed) … GROUP BY 1, 2, 3`,
//!   planned and collected on a one-thread runtime with one partition, and
//!   on a runtime with one worker and one partition per core.
//!
//! Both results are compared group by group (calls and successes exactly,
//! the elapsed sum to 1e-9 relative); any difference is an error. The
//! reading, decoding and cutting stages are timed too, as the context of
//! the aggregation figures.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use clap::Parser;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use vigil_benches::{ensure_log, load_average, si, write_monitor_yaml, LogSpec, MONITOR_NAME};
use vigil_collector::cut::Cutter;
use vigil_collector::decode::Decoder;
use vigil_collector::reader::{LineReader, RawLine};
use vigil_config::Monitor;
use vigil_engine::partial::{Partial, Sum};
use vigil_engine::Aggregator;

/// The DataFusion query; `t` holds the cut batches.
const QUERY: &str = r#"SELECT __time / 60000 AS minute, service, method,
       SUM("count") AS total,
       SUM(CASE WHEN result = 'Y' THEN "count" ELSE 0 END) AS success,
       SUM(elapsed) AS elapsed
FROM t
GROUP BY 1, 2, 3"#;

/// Cuts a generated service log into Arrow batches, then times the engine's
/// aggregation and DataFusion's GROUP BY over them.
#[derive(Debug, Parser)]
#[command(max_term_width = 100)]
struct Cli {
    /// Lines of the generated log.
    #[arg(long, default_value_t = 2_000_000)]
    lines: u64,
    /// Distinct (service, method) keys in the log.
    #[arg(long, default_value_t = 200)]
    keys: u32,
    /// Minutes the log spans.
    #[arg(long, default_value_t = 60)]
    minutes: u32,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the generated log and the monitor YAML are kept.
    #[arg(long, default_value = "target/bench-data")]
    data_dir: PathBuf,
    /// Runs of each measurement; the best (shortest) is reported.
    #[arg(long, default_value_t = 3)]
    runs: u32,
}

/// One (minute, service, method) group's sums.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Group {
    total: i128,
    success: i128,
    elapsed: f64,
}

/// Groups by (minute start in epoch seconds, service, method).
type Groups = HashMap<(i64, String, String), Group>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match bench(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aggregate_bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn bench(cli: &Cli) -> Result<()> {
    if cli.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let spec = LogSpec {
        lines: cli.lines,
        minutes: cli.minutes,
        keys: cli.keys,
        seed: cli.seed,
    };
    let log = ensure_log(&cli.data_dir, &spec)?;
    let yaml = write_monitor_yaml(&cli.data_dir, &log)?;
    let options = vigil_config::LoadOptions {
        check_strftime: vigil_collector::time::validate_strftime,
        ..Default::default()
    };
    let config = vigil_config::load(&yaml, &options)
        .with_context(|| format!("cannot load {}", yaml.display()))?;
    let monitor = Arc::new(
        config
            .monitor(MONITOR_NAME)
            .with_context(|| format!("{} has no monitor {MONITOR_NAME}", yaml.display()))?
            .clone(),
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "{}: {} lines; best of {} run(s); {} core(s) available",
        log.display(),
        cli.lines,
        cli.runs,
        cores
    );

    let load_before = load_average();
    // Stages before the aggregation: read + decode, then read + decode + cut.
    let mut read_times = Vec::new();
    let mut cut_times = Vec::new();
    let mut batches = Vec::new();
    let mut bytes = 0;
    for _ in 0..cli.runs {
        let (lines, b, t) = read_decode(&monitor, &log)?;
        if lines != cli.lines {
            bail!(
                "{} has {lines} lines, expected {}",
                log.display(),
                cli.lines
            );
        }
        bytes = b;
        read_times.push(t);
        let (cut, t) = read_decode_cut(&monitor, &log)?;
        cut_times.push(t);
        batches = cut;
    }
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let schema = batches
        .first()
        .map(RecordBatch::schema)
        .context("no row was kept: nothing to aggregate")?;
    let mem_mb = batches
        .iter()
        .map(RecordBatch::get_array_memory_size)
        .sum::<usize>() as f64
        / 1e6;
    eprintln!(
        "{rows} rows kept in {} batches ({mem_mb:.0} MB of Arrow memory)",
        batches.len()
    );

    // The engine.
    let mut engine_times = Vec::new();
    let mut engine_groups = Groups::new();
    for _ in 0..cli.runs {
        let (groups, t) = run_engine(&monitor, &batches)?;
        engine_times.push(t);
        engine_groups = groups;
    }

    // DataFusion, one thread / one partition, then one per core.
    let mut df1_times = Vec::new();
    let mut df_groups = Groups::new();
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("cannot start a tokio runtime")?;
    for _ in 0..cli.runs {
        let (groups, t) = rt1.block_on(run_datafusion(&schema, &batches, 1))?;
        df1_times.push(t);
        df_groups = groups;
    }
    compare(&engine_groups, &df_groups).context("engine and DataFusion (1 thread) differ")?;
    let mut dfn_times = Vec::new();
    if cores > 1 {
        let rtn = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .build()
            .context("cannot start a tokio runtime")?;
        for _ in 0..cli.runs {
            let (groups, t) = rtn.block_on(run_datafusion(&schema, &batches, cores))?;
            dfn_times.push(t);
            compare(&engine_groups, &groups)
                .with_context(|| format!("engine and DataFusion ({cores} threads) differ"))?;
        }
    }

    let best = |v: &[Duration]| v.iter().min().copied();
    let read = best(&read_times).context("no run")?;
    let cut = best(&cut_times).context("no run")?;
    let engine = best(&engine_times).context("no run")?;
    let df1 = best(&df1_times).context("no run")?;
    let lines = cli.lines as f64;
    let per_s = |n: f64, t: Duration| n / t.as_secs_f64();

    println!();
    println!(
        "{:<40} {:>8} {:>14} {:>9}",
        "stage", "secs", "per second", "MB/s"
    );
    println!(
        "{:<40} {:>8.3} {:>8} lines {:>9.1}",
        "read + decode (LineReader, Decoder)",
        read.as_secs_f64(),
        si(per_s(lines, read)),
        per_s(bytes as f64 / 1e6, read)
    );
    println!(
        "{:<40} {:>8.3} {:>8} lines {:>9.1}",
        "read + decode + cut (Cutter)",
        cut.as_secs_f64(),
        si(per_s(lines, cut)),
        per_s(bytes as f64 / 1e6, cut)
    );
    let agg_row = |name: &str, t: Duration| {
        println!(
            "{:<40} {:>8.3} {:>9} rows {:>9}",
            name,
            t.as_secs_f64(),
            si(per_s(rows as f64, t)),
            "-"
        );
    };
    agg_row("engine Aggregator push + drain_all", engine);
    agg_row("DataFusion GROUP BY, 1 thread", df1);
    let dfn = best(&dfn_times);
    if let Some(t) = dfn {
        agg_row(&format!("DataFusion GROUP BY, {cores} threads"), t);
    }
    println!();
    let total: i128 = engine_groups.values().map(|g| g.total).sum();
    let success: i128 = engine_groups.values().map(|g| g.success).sum();
    println!(
        "verified: {} groups, sum(total) = {total}, sum(success) = {success}, identical per group in both",
        engine_groups.len()
    );
    // Throughput ratio: above 1 the engine is faster.
    let mut summary = format!(
        "engine {} rows/s, DataFusion {} rows/s on 1 thread: engine/DataFusion = {:.2}",
        si(per_s(rows as f64, engine)),
        si(per_s(rows as f64, df1)),
        df1.as_secs_f64() / engine.as_secs_f64()
    );
    if let Some(t) = dfn {
        summary.push_str(&format!(
            "; DataFusion on {cores} threads {} rows/s: engine/DataFusion = {:.2}",
            si(per_s(rows as f64, t)),
            t.as_secs_f64() / engine.as_secs_f64()
        ));
    }
    println!("{summary}");
    println!(
        "(best of {} runs; load average before {load_before}, after {})",
        cli.runs,
        load_average()
    );
    Ok(())
}

/// Reads and decodes every line of `log` as `vigil replay` does; returns
/// the lines, the bytes and the time taken.
fn read_decode(monitor: &Monitor, log: &Path) -> Result<(u64, u64, Duration)> {
    let source = monitor.source.as_ref().context("monitor without source")?;
    let start = Instant::now();
    let file = File::open(log).with_context(|| format!("cannot open {}", log.display()))?;
    let mut reader = LineReader::new(file, source.max_line_bytes);
    let mut decoder = Decoder::new(source.encoding);
    let mut lines = 0u64;
    let mut chars = 0usize;
    while let Some(raw) = reader.next_line()? {
        lines += 1;
        if let RawLine::Line(b) = raw {
            if let Ok(text) = decoder.decode(b) {
                chars += text.len();
            }
        }
    }
    let elapsed = start.elapsed();
    std::hint::black_box(chars);
    Ok((lines, reader.offset(), elapsed))
}

/// Reads, decodes and cuts every line of `log` into record batches with the
/// monitor's [`Cutter`]; returns the batches and the time taken.
fn read_decode_cut(monitor: &Arc<Monitor>, log: &Path) -> Result<(Vec<RecordBatch>, Duration)> {
    let source = monitor.source.as_ref().context("monitor without source")?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut cutter =
        Cutter::new(monitor.clone(), now_ms).context("monitor without source or time")?;
    let mut batches = Vec::new();
    let start = Instant::now();
    let file = File::open(log).with_context(|| format!("cannot open {}", log.display()))?;
    let mut reader = LineReader::new(file, source.max_line_bytes);
    let mut decoder = Decoder::new(source.encoding);
    while let Some(raw) = reader.next_line()? {
        let RawLine::Line(b) = raw else {
            cutter.reject();
            continue;
        };
        match decoder.decode(b) {
            Ok(text) => {
                // Malformed lines are counted by the cutter; the generated
                // log is clean, which the counters check below confirms.
                let _ = cutter.push(&text);
            }
            Err(_) => cutter.reject(),
        }
        if cutter.batch_full() {
            batches.extend(cutter.take_batch());
        }
    }
    batches.extend(cutter.take_batch());
    let elapsed = start.elapsed();
    let c = cutter.counters();
    if c.parse_errors != 0 {
        bail!("{} lines of {} did not cut", c.parse_errors, log.display());
    }
    Ok((batches, elapsed))
}

/// Aggregates `batches` with a fresh engine [`Aggregator`].
fn run_engine(monitor: &Arc<Monitor>, batches: &[RecordBatch]) -> Result<(Groups, Duration)> {
    let mut aggregator = Aggregator::new(monitor.clone())?;
    let start = Instant::now();
    for b in batches {
        aggregator.push(b)?;
    }
    let buckets = aggregator.drain_all();
    let elapsed = start.elapsed();
    let c = aggregator.counters();
    if c.late != 0 || c.key_dropped != 0 {
        bail!("the engine dropped rows: {c:?}");
    }
    let mut groups = Groups::new();
    for bucket in buckets {
        for kp in bucket.partials {
            let [service, method] = <[String; 2]>::try_from(kp.key)
                .map_err(|k| anyhow::anyhow!("unexpected key {k:?}"))?;
            let Partial::Service(p) = kp.partial else {
                bail!("not a service_metrics partial");
            };
            let elapsed = match p.elapsed {
                Some(Sum::Float(f)) => f,
                Some(Sum::Int(i)) => i as f64,
                None => bail!("no elapsed sum"),
            };
            groups.insert(
                (bucket.start, service, method),
                Group {
                    total: p.total,
                    success: p.success,
                    elapsed,
                },
            );
        }
    }
    Ok((groups, elapsed))
}

/// Runs [`QUERY`] over `batches` split round-robin into `partitions`.
async fn run_datafusion(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    partitions: usize,
) -> Result<(Groups, Duration)> {
    let mut parts = vec![Vec::new(); partitions];
    for (i, b) in batches.iter().enumerate() {
        parts[i % partitions].push(b.clone());
    }
    let config = SessionConfig::new().with_target_partitions(partitions);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_table("t", Arc::new(MemTable::try_new(schema.clone(), parts)?))?;
    let start = Instant::now();
    let out = ctx.sql(QUERY).await?.collect().await?;
    let elapsed = start.elapsed();
    let mut groups = Groups::new();
    for batch in &out {
        let col = |i: usize, ty: &DataType| cast(batch.column(i), ty);
        let minute = col(0, &DataType::Int64)?;
        let service = col(1, &DataType::Utf8)?;
        let method = col(2, &DataType::Utf8)?;
        let total = col(3, &DataType::Int64)?;
        let success = col(4, &DataType::Int64)?;
        let elapsed_sum = col(5, &DataType::Float64)?;
        let minute = downcast::<Int64Array>(&minute)?;
        let service = downcast::<StringArray>(&service)?;
        let method = downcast::<StringArray>(&method)?;
        let total = downcast::<Int64Array>(&total)?;
        let success = downcast::<Int64Array>(&success)?;
        let elapsed_sum = downcast::<Float64Array>(&elapsed_sum)?;
        for r in 0..batch.num_rows() {
            groups.insert(
                (
                    minute.value(r) * 60,
                    service.value(r).to_string(),
                    method.value(r).to_string(),
                ),
                Group {
                    total: i128::from(total.value(r)),
                    success: i128::from(success.value(r)),
                    elapsed: elapsed_sum.value(r),
                },
            );
        }
    }
    Ok((groups, elapsed))
}

fn downcast<T: Array + 'static>(a: &Arc<dyn Array>) -> Result<&T> {
    a.as_any()
        .downcast_ref::<T>()
        .with_context(|| format!("unexpected column type {}", a.data_type()))
}

/// Checks that two results have the same groups with the same sums.
fn compare(a: &Groups, b: &Groups) -> Result<()> {
    if a.len() != b.len() {
        bail!("{} groups against {}", a.len(), b.len());
    }
    for (key, x) in a {
        let Some(y) = b.get(key) else {
            bail!("group {key:?} is missing on one side");
        };
        let close = (x.elapsed - y.elapsed).abs() <= 1e-9 * x.elapsed.abs().max(1.0);
        if x.total != y.total || x.success != y.success || !close {
            bail!("group {key:?}: {x:?} against {y:?}");
        }
    }
    Ok(())
}
