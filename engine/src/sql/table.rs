//! The monitor tables: a schema provider listing the store's monitors and a
//! table provider per monitor reading its rows through
//! [`MinuteStore::read`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, RecordBatchOptions, StringArray,
    TimestampSecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::memory::MemorySourceConfig;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use vigil_model::{MinuteRow, Value};

use super::range;
use crate::store::{MinuteStore, StoreError};

/// The name of the minute column, the one filters narrow reads by.
pub(super) const MINUTE: &str = "minute";
const PERIOD: &str = "period";
const RANK: &str = "rank";
const LINE: &str = "line";
/// How far back the newest rows, which fix a table's columns, are looked
/// for: the last hour, else the last day, else all stored rows.
const PROBE_LOOKBACKS_S: [i64; 3] = [3_600, 86_400, i64::MAX];
/// Rows per record batch handed to DataFusion.
const BATCH_ROWS: usize = 8_192;

/// The monitors of a store, one table each.
#[derive(Debug)]
pub(super) struct MonitorTables {
    store: Arc<MinuteStore>,
}

impl MonitorTables {
    /// The tables of `store`.
    pub(super) fn new(store: Arc<MinuteStore>) -> Self {
        MonitorTables { store }
    }
}

#[async_trait]
impl SchemaProvider for MonitorTables {
    fn table_names(&self) -> Vec<String> {
        self.store.monitors()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if !self.table_exist(name) {
            return Ok(None);
        }
        let newest = newest_rows(&self.store, name).await?;
        Ok(Some(Arc::new(MonitorTable::new(
            Arc::clone(&self.store),
            name,
            &newest,
        ))))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.store.monitors().iter().any(|m| m == name)
    }
}

/// The newest stored rows of `monitor` (see [`PROBE_LOOKBACKS_S`]).
async fn newest_rows(store: &Arc<MinuteStore>, monitor: &str) -> Result<Vec<MinuteRow>> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut rows = Vec::new();
    for lookback in PROBE_LOOKBACKS_S {
        let (store, monitor) = (Arc::clone(store), monitor.to_string());
        let from = now.saturating_sub(lookback);
        rows = blocking(move || store.read(&monitor, from, i64::MAX).map_err(external)).await?;
        if !rows.is_empty() {
            break;
        }
    }
    Ok(rows)
}

/// Runs blocking store work on Tokio's blocking pool, so that a query's
/// time limit can fire while it reads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))?
}

/// A store error as a DataFusion error (found again by `classify`).
fn external(e: StoreError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Where a table column's cells come from.
#[derive(Debug, Clone)]
enum Source {
    Minute,
    Period,
    Key(String),
    Value(String, DataType),
    Rank,
    Line,
}

/// One monitor's rows as a table.
#[derive(Debug)]
struct MonitorTable {
    store: Arc<MinuteStore>,
    monitor: String,
    sources: Vec<Source>,
    schema: SchemaRef,
}

impl MonitorTable {
    /// The table of `monitor`, its columns those of `newest` rows.
    fn new(store: Arc<MinuteStore>, monitor: &str, newest: &[MinuteRow]) -> Self {
        let mut keys: Vec<&str> = Vec::new();
        let mut values: Vec<(&str, Option<DataType>)> = Vec::new();
        for row in newest {
            for (k, _) in &row.keys {
                if !keys.contains(&k.as_str()) {
                    keys.push(k);
                }
            }
            for (n, v) in &row.values {
                let ty = match v {
                    Value::Int(_) => Some(DataType::Int64),
                    Value::Float(_) => Some(DataType::Float64),
                    Value::Missing => None,
                };
                match values.iter_mut().find(|(name, _)| name == n) {
                    Some((_, known)) => *known = known.take().or(ty),
                    None => values.push((n, ty)),
                }
            }
        }
        let utc = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
        let mut fields = vec![
            Field::new(MINUTE, utc, false),
            Field::new(PERIOD, DataType::Utf8, true),
        ];
        let mut sources = vec![Source::Minute, Source::Period];
        let mut taken = vec![MINUTE.to_string(), PERIOD.into(), RANK.into(), LINE.into()];
        let mut unique = |name: &str, prefix: &str| {
            let name = if taken.iter().any(|t| t == name) {
                format!("{prefix}{name}")
            } else {
                name.to_string()
            };
            taken.push(name.clone());
            name
        };
        for k in keys {
            fields.push(Field::new(unique(k, "k:"), DataType::Utf8, true));
            sources.push(Source::Key(k.into()));
        }
        for (n, ty) in values {
            let ty = ty.unwrap_or(DataType::Float64);
            fields.push(Field::new(unique(n, "v:"), ty.clone(), true));
            sources.push(Source::Value(n.into(), ty));
        }
        fields.push(Field::new(RANK, DataType::Int32, true));
        fields.push(Field::new(LINE, DataType::Utf8, true));
        sources.extend([Source::Rank, Source::Line]);
        MonitorTable {
            store,
            monitor: monitor.to_string(),
            sources,
            schema: Arc::new(Schema::new(fields)),
        }
    }
}

#[async_trait]
impl TableProvider for MonitorTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match range::bound(f) {
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (from, to) = range::minute_range(filters);
        let indices = match projection {
            Some(p) => p.clone(),
            None => (0..self.sources.len()).collect(),
        };
        let schema = Arc::new(self.schema.project(&indices)?);
        let sources: Vec<Source> = indices.iter().map(|&i| self.sources[i].clone()).collect();
        let (store, monitor) = (Arc::clone(&self.store), self.monitor.clone());
        let batch_schema = Arc::clone(&schema);
        let batches = blocking(move || {
            let rows = store.read(&monitor, from, to).map_err(external)?;
            rows.chunks(BATCH_ROWS)
                .map(|chunk| batch(&batch_schema, &sources, &monitor, chunk))
                .collect()
        })
        .await?;
        Ok(MemorySourceConfig::try_new_exec(&[batches], schema, None)?)
    }
}

/// The record batch of `rows` with the columns `sources` of `schema`.
fn batch(
    schema: &SchemaRef,
    sources: &[Source],
    monitor: &str,
    rows: &[MinuteRow],
) -> Result<RecordBatch> {
    let columns = sources
        .iter()
        .map(|s| column(s, monitor, rows))
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &options,
    )?)
}

/// One column of `rows`.
fn column(source: &Source, monitor: &str, rows: &[MinuteRow]) -> Result<ArrayRef> {
    let text = |f: &dyn Fn(&MinuteRow) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    Ok(match source {
        Source::Minute => Arc::new(
            TimestampSecondArray::from_iter_values(rows.iter().map(|r| r.minute))
                .with_timezone("UTC"),
        ),
        Source::Period => text(&|r| r.period.as_deref()),
        Source::Key(k) => text(&|r| r.key(k)),
        Source::Line => text(&|r| r.line.as_deref()),
        Source::Rank => Arc::new(
            rows.iter()
                .map(|r| r.rank.and_then(|x| i32::try_from(x).ok()))
                .collect::<Int32Array>(),
        ),
        Source::Value(n, DataType::Int64) => Arc::new(
            rows.iter()
                .map(|r| match r.value(n) {
                    Some(Value::Int(i)) => Ok(Some(i)),
                    Some(Value::Float(_)) => Err(mixed_types(monitor, n)),
                    Some(Value::Missing) | None => Ok(None),
                })
                .collect::<Result<Int64Array>>()?,
        ),
        Source::Value(n, _) => Arc::new(
            rows.iter()
                .map(|r| r.value(n).and_then(Value::as_f64))
                .collect::<Float64Array>(),
        ),
    })
}

/// The error of a float in an integer value column: the store keeps one
/// type per value name, so its data is inconsistent.
fn mixed_types(monitor: &str, value: &str) -> DataFusionError {
    external(StoreError::Invalid {
        path: monitor.into(),
        message: format!("value `{value}` is stored both as integers and as floats"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_come_from_the_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MinuteStore::open(dir.path(), 3600).expect("open");
        let row = |host: &str, rate: Value| {
            let keys = vec![("minute".into(), "k".into()), ("host".into(), host.into())];
            let mut r = MinuteRow::new("m", 0, keys);
            r.values = vec![("host".into(), Value::Int(1)), ("rate".into(), rate)];
            r
        };
        let rows = [row("a", Value::Missing), row("b", Value::Missing)];
        let table = MonitorTable::new(Arc::new(store), "m", &rows);
        let columns: Vec<(&str, &DataType)> = table
            .schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type()))
            .collect();
        let utc = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
        assert_eq!(
            columns,
            [
                ("minute", &utc),
                ("period", &DataType::Utf8),
                ("k:minute", &DataType::Utf8),
                ("host", &DataType::Utf8),
                ("v:host", &DataType::Int64),
                ("rate", &DataType::Float64),
                ("rank", &DataType::Int32),
                ("line", &DataType::Utf8),
            ]
        );
        let batch = batch(&table.schema, &table.sources, "m", &rows).expect("batch");
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            batch.column(2).as_ref(),
            &StringArray::from(vec!["k", "k"]) as &dyn arrow::array::Array
        );
    }
}
