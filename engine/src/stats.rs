//! The statistics of minute_stat, second_stat and minute_top monitors.

use arrow::array::StringArray;
use memchr::memmem::Finder;
use vigil_config::monitor::{ColumnType, Monitor, Stat, Stats};

use crate::aggregate::ClosedBucket;
use crate::batch::Columns;
use crate::error::Error;
use crate::operand::{NumColumn, Operand};
use crate::output::{Fold, Names};
use crate::partial::{Cell, Partial, StatsPartial};
use crate::top::TopRule;

/// How one statistic reads a row.
enum StatOp {
    /// Nothing to read: the count is the partial's lines.
    Count,
    /// Adds a column (for sums and averages).
    Sum(NumColumn),
    /// Keeps a column's minimum.
    Min(NumColumn),
    /// Keeps a column's maximum.
    Max(NumColumn),
    /// Counts a text in a string column, or in the line when `None`.
    Occurrences {
        column: Option<usize>,
        finder: Box<Finder<'static>>,
    },
    /// Adds two columns.
    Ratio(NumColumn, NumColumn),
}

/// A [`StatOp`] bound to one batch.
pub(crate) enum BoundOp<'a> {
    Count,
    Sum(Operand<'a>),
    Min(Operand<'a>),
    Max(Operand<'a>),
    Occurrences(&'a StringArray, &'a Finder<'static>),
    Ratio(Operand<'a>, Operand<'a>),
}

/// Statistics per key, optionally ranked into a top list.
pub(crate) struct StatsFold {
    ops: Vec<StatOp>,
    /// The partial of a key with no rows.
    template: StatsPartial,
    /// Set for minute_top: only the top keys are emitted, without partials.
    top: Option<TopRule>,
}

impl StatsFold {
    /// The statistics `stats` of `monitor`, ranked by `top` when set.
    pub(crate) fn new(
        monitor: &Monitor,
        stats: &Stats,
        top: Option<TopRule>,
    ) -> Result<Self, Error> {
        let mut ops = Vec::with_capacity(stats.stats.len());
        let mut cells = Vec::with_capacity(stats.stats.len());
        for named in &stats.stats {
            let what = format!("statistic `{}`", named.name);
            let num = |i: usize| NumColumn::new(monitor, i, &what);
            let (op, cell) = match &named.stat {
                Stat::Count => (StatOp::Count, Cell::Count),
                Stat::Sum(c) => {
                    let n = num(*c)?;
                    (StatOp::Sum(n), Cell::Sum(n.zero()))
                }
                Stat::Avg(c) => {
                    let n = num(*c)?;
                    (StatOp::Sum(n), Cell::Avg(n.zero()))
                }
                Stat::Min(c) => {
                    let n = num(*c)?;
                    (StatOp::Min(n), Cell::Min(n.min_identity()))
                }
                Stat::Max(c) => {
                    let n = num(*c)?;
                    (StatOp::Max(n), Cell::Max(n.max_identity()))
                }
                Stat::Occurrences { text, column } => {
                    if text.is_empty() {
                        return Err(Error::invalid(
                            &monitor.name,
                            format!("{what} searches an empty text"),
                        ));
                    }
                    if let Some(c) = column {
                        match monitor.columns.get(*c) {
                            Some(col) if col.ty == ColumnType::String => {}
                            _ => {
                                return Err(Error::invalid(
                                    &monitor.name,
                                    format!("{what} needs a string column (#{c})"),
                                ))
                            }
                        }
                    }
                    let finder = Box::new(Finder::new(text.as_bytes()).into_owned());
                    (
                        StatOp::Occurrences {
                            column: *column,
                            finder,
                        },
                        Cell::Occurrences(0),
                    )
                }
                Stat::Ratio(a, b) => {
                    let (a, b) = (num(*a)?, num(*b)?);
                    (StatOp::Ratio(a, b), Cell::Ratio(a.zero(), b.zero()))
                }
            };
            ops.push(op);
            cells.push(cell);
        }
        Ok(StatsFold {
            ops,
            template: StatsPartial { lines: 0, cells },
            top,
        })
    }
}

impl Fold for StatsFold {
    type State = StatsPartial;
    type Bound<'a> = Vec<BoundOp<'a>>;

    fn bind<'a>(&'a self, cols: &Columns<'a>) -> Result<Self::Bound<'a>, Error> {
        self.ops
            .iter()
            .map(|op| {
                Ok(match op {
                    StatOp::Count => BoundOp::Count,
                    StatOp::Sum(n) => BoundOp::Sum(n.bind(cols)?),
                    StatOp::Min(n) => BoundOp::Min(n.bind(cols)?),
                    StatOp::Max(n) => BoundOp::Max(n.bind(cols)?),
                    StatOp::Occurrences { column, finder } => {
                        let array = match column {
                            Some(c) => cols.string(*c)?,
                            None => cols.line()?,
                        };
                        BoundOp::Occurrences(array, finder)
                    }
                    StatOp::Ratio(a, b) => BoundOp::Ratio(a.bind(cols)?, b.bind(cols)?),
                })
            })
            .collect()
    }

    fn new_state(&self) -> StatsPartial {
        self.template.clone()
    }

    #[inline]
    fn update(&self, bound: &Self::Bound<'_>, state: &mut StatsPartial, row: usize) {
        state.lines += 1;
        for (op, cell) in bound.iter().zip(state.cells.iter_mut()) {
            match (op, cell) {
                (BoundOp::Sum(o), Cell::Sum(s) | Cell::Avg(s)) => o.add(s, row),
                (BoundOp::Min(o), Cell::Min(e)) => e.merge_min(o.get(row)),
                (BoundOp::Max(o), Cell::Max(e)) => e.merge_max(o.get(row)),
                (BoundOp::Occurrences(a, f), Cell::Occurrences(n)) => {
                    *n += f.find_iter(a.value(row).as_bytes()).count() as u64;
                }
                (BoundOp::Ratio(x, y), Cell::Ratio(sx, sy)) => {
                    x.add(sx, row);
                    y.add(sy, row);
                }
                // Count reads nothing; other pairs cannot occur (ops and
                // cells are built together in `new`).
                _ => {}
            }
        }
    }

    fn close(
        &self,
        names: &Names,
        start_s: i64,
        entries: Vec<(Vec<String>, StatsPartial)>,
    ) -> ClosedBucket {
        match &self.top {
            None => ClosedBucket::from_partials(
                names,
                start_s,
                entries
                    .into_iter()
                    .map(|(k, p)| (k, Partial::Stats(p)))
                    .collect(),
            ),
            Some(top) => ClosedBucket {
                start: start_s,
                rows: top.rows(
                    names,
                    start_s,
                    entries.into_iter().map(|(k, p)| (k, p.values())).collect(),
                ),
                partials: Vec::new(),
            },
        }
    }
}
