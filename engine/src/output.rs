//! The names output rows carry, and the fold interface every kind implements.

use vigil_model::{MinuteRow, Value};

use crate::aggregate::ClosedBucket;
use crate::batch::Columns;
use crate::error::Error;

/// Monitor, key and value names of the rows a monitor emits.
pub(crate) struct Names {
    /// The monitor's name.
    pub(crate) monitor: String,
    /// Key column names, in group-by order.
    pub(crate) keys: Vec<String>,
    /// Value names, in output order.
    pub(crate) values: Vec<String>,
}

impl Names {
    /// A row of bucket `start_s` for `key` (values in group-by order), with no values.
    pub(crate) fn row(&self, start_s: i64, key: &[String]) -> MinuteRow {
        let keys = self.keys.iter().cloned().zip(key.iter().cloned()).collect();
        MinuteRow::new(&self.monitor, start_s, keys)
    }

    /// `values` paired with the value names.
    pub(crate) fn values(&self, values: Vec<Value>) -> Vec<(String, Value)> {
        self.values.iter().cloned().zip(values).collect()
    }
}

/// What one monitor kind computes per key and bucket.
pub(crate) trait Fold {
    /// The per-key state of one bucket (cloned when a bucket is drained,
    /// since it stays amendable).
    type State: Clone;
    /// The columns the kind reads, bound to one batch.
    type Bound<'a>
    where
        Self: 'a;

    /// Binds the kind's columns of a batch.
    fn bind<'a>(&'a self, cols: &Columns<'a>) -> Result<Self::Bound<'a>, Error>;

    /// The state of a key not seen yet.
    fn new_state(&self) -> Self::State;

    /// Adds row `row` of the bound batch to `state`.
    fn update(&self, bound: &Self::Bound<'_>, state: &mut Self::State, row: usize);

    /// The output of a bucket starting at `start_s`, from its key-sorted states.
    fn close(
        &self,
        names: &Names,
        start_s: i64,
        entries: Vec<(Vec<String>, Self::State)>,
    ) -> ClosedBucket;
}
