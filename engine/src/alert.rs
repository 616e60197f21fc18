//! match_alert: lines counted per key, with the first few attached.

use arrow::array::StringArray;
use vigil_config::monitor::MatchAlert;
use vigil_model::Value;

use crate::aggregate::ClosedBucket;
use crate::batch::Columns;
use crate::error::Error;
use crate::output::{Fold, Names};

/// A key's matching lines in one bucket.
#[derive(Clone)]
pub(crate) struct Matches {
    count: u64,
    /// The first `max_lines` lines.
    lines: Vec<String>,
}

/// The fold of a match_alert monitor.
pub(crate) struct MatchFold {
    max_lines: usize,
}

impl MatchFold {
    /// The settings of a match_alert monitor.
    pub(crate) fn new(alert: &MatchAlert) -> Self {
        MatchFold {
            max_lines: alert.max_lines,
        }
    }
}

impl Fold for MatchFold {
    type State = Matches;
    type Bound<'a> = &'a StringArray;

    fn bind<'a>(&'a self, cols: &Columns<'a>) -> Result<&'a StringArray, Error> {
        cols.line()
    }

    fn new_state(&self) -> Matches {
        Matches {
            count: 0,
            lines: Vec::new(),
        }
    }

    #[inline]
    fn update(&self, line: &&StringArray, state: &mut Matches, row: usize) {
        state.count += 1;
        if state.lines.len() < self.max_lines {
            state.lines.push(line.value(row).to_string());
        }
    }

    fn close(
        &self,
        names: &Names,
        start_s: i64,
        entries: Vec<(Vec<String>, Matches)>,
    ) -> ClosedBucket {
        let rows = entries
            .into_iter()
            .map(|(key, m)| {
                let mut row = names.row(start_s, &key);
                row.values =
                    names.values(vec![Value::Int(i64::try_from(m.count).unwrap_or(i64::MAX))]);
                row.lines = m.lines;
                row
            })
            .collect();
        ClosedBucket {
            start: start_s,
            rows,
            partials: Vec::new(),
        }
    }
}
