//! Read-only SQL over stored minutes (DataFusion), for `POST /api/v1/sql`.
//!
//! - Every monitor of the [`MinuteStore`] is a table of the same name
//!   (quote names that are not plain lower-case identifiers:
//!   `SELECT * FROM "trade-errors"`). Tables are looked up when a query
//!   names them, so monitors stored after [`SqlEngine::new`] are queryable.
//! - Columns: `minute` (`Timestamp(Second, UTC)`), `period` (text, archive
//!   rows), one text column per key, one `Int64` or `Float64` column per
//!   value (null = missing), `rank` (`Int32`, top rows) and `line` (text,
//!   record_top rows). A key or value named like an earlier column is
//!   renamed `k:<name>` or `v:<name>`. The column set and the value types
//!   come from the monitor's newest stored rows (those of the last hour, else
//!   of the last day, else all); a value never seen with a number is
//!   `Float64`, and columns that only older rows have are left out.
//! - Conditions on `minute` (`<`, `<=`, `=`, `>=`, `>`, `BETWEEN`) against
//!   timestamps (`TIMESTAMP '2024-03-13T10:00:00Z'`, plain RFC 3339 text,
//!   `to_timestamp(<epoch s>)`, `now() - INTERVAL '1 hour'`), or of
//!   `CAST(minute AS BIGINT)` against epoch seconds, narrow what
//!   [`MinuteStore::read`] reads (DataFusion refuses `minute >= 1710324000`:
//!   a timestamp does not compare with an integer). Every read goes through
//!   `read`, so amended minutes count once.
//! - Only queries run (`SELECT`, `WITH`, `VALUES`, `EXPLAIN`, `DESCRIBE`);
//!   anything else is [`SqlError::ReadOnly`]. [`SqlLimits`] bound the rows
//!   returned (further rows are not collected; [`SqlResult::truncated`] says
//!   so) and the time a query may take.

mod json;
mod range;
mod table;

use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast;
use futures::StreamExt;
use thiserror::Error;

use crate::store::{MinuteStore, StoreError};

/// The catalog and schema the monitor tables live in.
const CATALOG: &str = "vigil";
const SCHEMA: &str = "public";

/// How much a query may return and how long it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Rows returned at most; further rows set [`SqlResult::truncated`].
    pub max_rows: usize,
    /// Time from parsing to the last collected row; past it the query is
    /// abandoned with [`SqlError::Timeout`].
    pub timeout: Duration,
}

impl Default for SqlLimits {
    /// 10 000 rows, 10 seconds.
    fn default() -> Self {
        SqlLimits {
            max_rows: 10_000,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The rows of a query, as JSON values.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlResult {
    /// The result's column names, in order (names may repeat, e.g. `a.x`
    /// and `b.x` of a join are both `x`).
    pub columns: Vec<String>,
    /// One array per row, aligned with `columns`: integers as JSON
    /// integers, floats as numbers, timestamps as RFC 3339 UTC text
    /// (`2024-03-13T10:00:00Z`), text as strings, null, NaN and infinities
    /// as `null`, other types as their Arrow display text.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Whether the query had more than [`SqlLimits::max_rows`] rows and
    /// `rows` holds only the first ones.
    pub truncated: bool,
}

impl SqlResult {
    /// The result as the API's JSON object: `columns`, `rows` (arrays) and
    /// `truncated`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "columns": self.columns,
            "rows": self.rows,
            "truncated": self.truncated,
        })
    }
}

/// Why a query gave no result. [`SqlError::Query`] and
/// [`SqlError::ReadOnly`] are the caller's mistakes; the others are not.
#[derive(Debug, Error)]
pub enum SqlError {
    /// The SQL does not parse, names an unknown table, column or function,
    /// does not type-check, or fails on the data (e.g. a bad cast). The
    /// message is DataFusion's and names the culprit.
    #[error("{0}")]
    Query(String),
    /// The statement is not a query (DDL, DML, `COPY`, `SET`, …).
    #[error("the SQL API is read-only: {0}")]
    ReadOnly(String),
    /// The query ran longer than [`SqlLimits::timeout`].
    #[error("the query took longer than {} s and was stopped", .0.as_secs_f64())]
    Timeout(Duration),
    /// Stored minutes could not be read.
    #[error("reading stored minutes failed: {0}")]
    Store(String),
    /// Anything else: a failed task, exhausted resources, a bug.
    #[error("internal error running the query: {0}")]
    Internal(String),
}

/// Runs read-only SQL over the minutes of a [`MinuteStore`]. Cheap to share:
/// queries take `&self` and may run concurrently.
pub struct SqlEngine {
    ctx: SessionContext,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEngine")
            .field("session", &self.ctx.session_id())
            .finish_non_exhaustive()
    }
}

impl SqlEngine {
    /// An engine over `store` (a reading handle; the engine never writes).
    /// Use a handle opened before writing starts: [`MinuteStore::open`]
    /// removes temporary files, including those of a running write.
    pub fn new(store: Arc<MinuteStore>) -> Self {
        let config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_information_schema(false);
        let ctx = SessionContext::new_with_config(config);
        let catalog = MemoryCatalogProvider::new();
        catalog
            .register_schema(SCHEMA, Arc::new(table::MonitorTables::new(store)))
            .expect("a memory catalog accepts any schema");
        ctx.register_catalog(CATALOG, Arc::new(catalog));
        SqlEngine { ctx }
    }

    /// Runs one read-only statement within `limits`. Needs a Tokio runtime
    /// with timers enabled (store reads run on its blocking pool; a read
    /// already started finishes there after a timeout, its rows dropped).
    pub async fn query(&self, sql: &str, limits: SqlLimits) -> Result<SqlResult, SqlError> {
        tokio::time::timeout(limits.timeout, self.run(sql, limits.max_rows))
            .await
            .unwrap_or(Err(SqlError::Timeout(limits.timeout)))
    }

    /// Parses, checks, plans and runs `sql`, collecting at most `max_rows`.
    async fn run(&self, sql: &str, max_rows: usize) -> Result<SqlResult, SqlError> {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let statement = state.sql_to_statement(sql, &dialect).map_err(classify)?;
        check_read_only(&statement)?;
        let plan = state.statement_to_plan(statement).await.map_err(classify)?;
        // Second line of defence: `SELECT … INTO` parses as a query but
        // plans as `CREATE TABLE`.
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| SqlError::ReadOnly(e.strip_backtrace()))?;
        // A limit lets DataFusion stop early (and sort only the top rows);
        // EXPLAIN and DESCRIBE must stay the root of their plans.
        let limit = !matches!(
            plan,
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) | LogicalPlan::DescribeTable(_)
        );
        let mut frame = self
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(classify)?;
        if limit {
            frame = frame
                .limit(0, Some(max_rows.saturating_add(1)))
                .map_err(classify)?;
        }
        let stream = frame.execute_stream().await.map_err(classify)?;
        collect(stream, max_rows).await
    }
}

/// Refuses every statement but a query, `EXPLAIN` of one, or `DESCRIBE`.
fn check_read_only(statement: &Statement) -> Result<(), SqlError> {
    let allowed = match statement {
        Statement::Statement(s) => {
            matches!(
                **s,
                ast::Statement::Query(_) | ast::Statement::ExplainTable { .. }
            )
        }
        Statement::Explain(explain) => return check_read_only(&explain.statement),
        _ => false,
    };
    if allowed {
        return Ok(());
    }
    let text = statement.to_string();
    let verb = text.split_whitespace().next().unwrap_or_default();
    Err(SqlError::ReadOnly(format!(
        "only queries (SELECT, WITH, VALUES, EXPLAIN, DESCRIBE) may run, not {verb}"
    )))
}

/// The first `max_rows` rows of `stream` as JSON; stops reading at the
/// first row past them.
async fn collect(
    mut stream: SendableRecordBatchStream,
    max_rows: usize,
) -> Result<SqlResult, SqlError> {
    let columns = stream
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut rows = Vec::new();
    let mut truncated = false;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(classify)?;
        let room = max_rows - rows.len();
        truncated = batch.num_rows() > room;
        json::append_rows(&batch, room.min(batch.num_rows()), &mut rows)
            .map_err(|e| SqlError::Internal(e.to_string()))?;
        if truncated {
            break;
        }
    }
    Ok(SqlResult {
        columns,
        rows,
        truncated,
    })
}

/// Sorts a DataFusion error into the caller's mistakes and the rest.
fn classify(error: DataFusionError) -> SqlError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(store) = e.downcast_ref::<StoreError>() {
            return SqlError::Store(store.to_string());
        }
        source = e.source();
    }
    // DataFusion's own "internal" errors stay the caller's: odd input
    // triggers them (`minute BETWEEN 1 AND 2` fails type coercion as one).
    let message = error.strip_backtrace();
    match error.find_root() {
        DataFusionError::ExecutionJoin(_)
        | DataFusionError::ResourcesExhausted(_)
        | DataFusionError::IoError(_)
        | DataFusionError::External(_) => SqlError::Internal(message),
        _ => SqlError::Query(message),
    }
}
