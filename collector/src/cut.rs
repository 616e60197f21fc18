//! Cutting one monitor's lines into typed columns, filtering them, and
//! collecting the kept rows into Arrow record batches for the engine.
//!
//! A line goes through: column rules (split / between / regex) → trim →
//! required check → translate → type → time → include/exclude filters. Any
//! failure before the filters makes the line a parse error of this monitor
//! (counted, described by a [`CutError`], and skipped); nothing panics.
//!
//! The batch layout is the engine's input contract: column 0 the event time
//! (`Int64` epoch ms), then one column per monitor column (`Utf8`, `Int64`
//! or `Float64`), then the raw line (`Utf8`) when the monitor needs it.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use memchr::memmem;
use smallvec::SmallVec;
use vigil_config::{ColumnType, Monitor, Rule};
use vigil_model::Counters;

use crate::number::{parse_float, parse_int};
use crate::time::TimeParser;

/// Rows collected before a batch is handed on.
pub const BATCH_ROWS: usize = 8192;

/// Why a line could not be cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CutError {
    /// The line was not valid in the source's encoding.
    Encoding(String),
    /// The line was longer than the source allows.
    TooLong {
        /// The line's length in bytes.
        len: u64,
        /// The bound.
        max: usize,
    },
    /// A column's rule found nothing in the line.
    Missing {
        /// The column.
        column: String,
    },
    /// A required column was empty.
    Empty {
        /// The column.
        column: String,
    },
    /// A column's value is not of its type.
    BadNumber {
        /// The column.
        column: String,
        /// The expected type.
        ty: ColumnType,
        /// The value found.
        value: String,
    },
    /// The time column did not parse in the monitor's format.
    BadTime {
        /// The column.
        column: String,
        /// The value found.
        value: String,
    },
}

impl fmt::Display for CutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |v: &str| -> String {
            if v.chars().count() > 40 {
                format!("{}…", v.chars().take(40).collect::<String>())
            } else {
                v.to_string()
            }
        };
        match self {
            CutError::Encoding(e) => write!(f, "{e}"),
            CutError::TooLong { len, max } => {
                write!(f, "line of {len} bytes is longer than max_line_bytes {max}")
            }
            CutError::Missing { column } => write!(f, "column `{column}`: not found in the line"),
            CutError::Empty { column } => write!(f, "column `{column}`: required but empty"),
            CutError::BadNumber { column, ty, value } => write!(
                f,
                "column `{column}`: `{}` is not a valid {}",
                short(value),
                ty.name()
            ),
            CutError::BadTime { column, value } => {
                write!(
                    f,
                    "column `{column}`: `{}` is not a valid time",
                    short(value)
                )
            }
        }
    }
}

/// A typed value of one cut column.
#[derive(Clone, Copy)]
enum Typed {
    Str,
    Int(i64),
    Float(f64),
}

enum Builder {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
}

impl Builder {
    fn new(ty: ColumnType) -> Self {
        match ty {
            ColumnType::String => {
                Builder::Str(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16))
            }
            ColumnType::Int => Builder::Int(Int64Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Float => Builder::Float(Float64Builder::with_capacity(BATCH_ROWS)),
        }
    }

    /// The collected array; the builder starts again with room for a batch
    /// like this one (arrow's `finish` leaves it with no capacity at all).
    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => Arc::new(finish_strings(b)),
            Builder::Int(b) => {
                let array = b.finish();
                *b = Int64Builder::with_capacity(BATCH_ROWS);
                Arc::new(array)
            }
            Builder::Float(b) => {
                let array = b.finish();
                *b = Float64Builder::with_capacity(BATCH_ROWS);
                Arc::new(array)
            }
        }
    }
}

/// Finishes a string builder and re-creates it with as much text room as
/// this batch needed, so the next batch does not regrow from nothing.
fn finish_strings(b: &mut StringBuilder) -> arrow::array::StringArray {
    let bytes = b.values_slice().len();
    let array = b.finish();
    *b = StringBuilder::with_capacity(BATCH_ROWS, bytes);
    array
}

/// Field boundaries of a line split by one delimiter, computed once per line
/// for all the columns that use that delimiter.
struct Splitter {
    delimiter: Vec<u8>,
    finder: memmem::Finder<'static>,
    /// Highest field index any column needs.
    max_index: usize,
    /// Start and end of each field found in the current line.
    fields: SmallVec<[(usize, usize); 16]>,
}

impl Splitter {
    fn split(&mut self, line: &[u8]) {
        self.fields.clear();
        let mut start = 0;
        let d = self.delimiter.len();
        if d == 1 {
            // Fields are short, so one memchr call per field costs more than
            // finding every delimiter of a 32-byte block at once: the
            // comparison below compiles to a vector compare and bit mask.
            let byte = self.delimiter[0];
            let blocks = line.chunks_exact(32);
            let tail = blocks.remainder();
            let mut base = 0;
            for block in blocks.map(|b| b as &[u8]).chain(std::iter::once(tail)) {
                let mut mask = block
                    .iter()
                    .enumerate()
                    .fold(0u32, |m, (i, &b)| m | (u32::from(b == byte) << i));
                while mask != 0 {
                    let pos = base + mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    self.fields.push((start, pos));
                    start = pos + 1;
                    if self.fields.len() > self.max_index {
                        return;
                    }
                }
                base += block.len();
            }
        } else {
            while let Some(pos) = self.finder.find(&line[start..]) {
                self.fields.push((start, start + pos));
                start += pos + d;
                if self.fields.len() > self.max_index {
                    return;
                }
            }
        }
        self.fields.push((start, line.len()));
    }
}

/// How one column is located.
enum Locate {
    /// Field `index` of splitter `splitter`.
    Field { splitter: usize, index: usize },
    /// Between delimiters.
    Between(Box<Between>),
    /// First capture group.
    Regex(regex::Regex),
}

/// The text after the `nth` `left` up to the next `right`.
struct Between {
    left: memmem::Finder<'static>,
    left_len: usize,
    right: memmem::Finder<'static>,
    nth: usize,
}

/// Cuts one monitor's lines and collects its kept rows.
pub struct Cutter {
    monitor: Arc<Monitor>,
    schema: SchemaRef,
    splitters: Vec<Splitter>,
    locates: Vec<Locate>,
    time_column: usize,
    time: TimeParser,
    needs_line: bool,
    times: Int64Builder,
    builders: Vec<Builder>,
    lines: Option<StringBuilder>,
    rows: usize,
    counters: Counters,
}

impl Cutter {
    /// A cutter for `monitor`; `now_ms` anchors formats without a year.
    ///
    /// The monitor must have a source and a time rule (every monitor but an
    /// archive has, once validated).
    pub fn new(monitor: Arc<Monitor>, now_ms: i64) -> Option<Self> {
        let source = monitor.source.as_ref()?;
        let time_rule = monitor.time.as_ref()?;
        let mut splitters: Vec<Splitter> = Vec::new();
        let mut locates = Vec::with_capacity(monitor.columns.len());
        for c in &monitor.columns {
            locates.push(match &c.rule {
                Rule::Split { delimiter, index } => {
                    let s = match splitters.iter().position(|s| &s.delimiter == delimiter) {
                        Some(s) => s,
                        None => {
                            splitters.push(Splitter {
                                delimiter: delimiter.clone(),
                                finder: memmem::Finder::new(delimiter).into_owned(),
                                max_index: 0,
                                fields: SmallVec::new(),
                            });
                            splitters.len() - 1
                        }
                    };
                    splitters[s].max_index = splitters[s].max_index.max(*index);
                    Locate::Field {
                        splitter: s,
                        index: *index,
                    }
                }
                Rule::Between { left, right, nth } => Locate::Between(Box::new(Between {
                    left: memmem::Finder::new(left).into_owned(),
                    left_len: left.len(),
                    right: memmem::Finder::new(right).into_owned(),
                    nth: *nth,
                })),
                Rule::Regex(re) => Locate::Regex(re.clone()),
            });
        }
        let mut fields = vec![Field::new("__time", DataType::Int64, false)];
        for c in &monitor.columns {
            let ty = match c.ty {
                ColumnType::String => DataType::Utf8,
                ColumnType::Int => DataType::Int64,
                ColumnType::Float => DataType::Float64,
            };
            fields.push(Field::new(c.name.clone(), ty, false));
        }
        let needs_line = monitor.needs_line();
        if needs_line {
            fields.push(Field::new("__line", DataType::Utf8, false));
        }
        Some(Cutter {
            schema: Arc::new(Schema::new(fields)),
            splitters,
            locates,
            time_column: time_rule.column,
            time: TimeParser::new(&time_rule.format, source.timezone, now_ms),
            needs_line,
            times: Int64Builder::with_capacity(BATCH_ROWS),
            builders: monitor.columns.iter().map(|c| Builder::new(c.ty)).collect(),
            lines: needs_line.then(|| StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 128)),
            rows: 0,
            counters: Counters::default(),
            monitor,
        })
    }

    /// The monitor this cutter serves.
    pub fn monitor(&self) -> &Arc<Monitor> {
        &self.monitor
    }

    /// The schema of the batches this cutter produces.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// What this cutter has seen so far (lines, parsed, parse errors, filtered).
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Takes the counters collected since the last call (for callers that
    /// sum the work of several cutters of one monitor).
    pub fn take_counters(&mut self) -> Counters {
        std::mem::take(&mut self.counters)
    }

    /// Counts a line that failed before it could be cut (encoding, length).
    pub fn reject(&mut self) {
        self.counters.lines += 1;
        self.counters.parse_errors += 1;
    }

    /// Cuts one line. Returns `Err` (after counting it) for a malformed line;
    /// a filtered line is counted and returns `Ok`.
    pub fn push(&mut self, line: &str) -> Result<(), CutError> {
        self.counters.lines += 1;
        match self.cut(line) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.counters.parse_errors += 1;
                Err(e)
            }
        }
    }

    /// Rows waiting in the current batch.
    pub fn pending_rows(&self) -> usize {
        self.rows
    }

    /// Whether the current batch is full and should be taken.
    pub fn batch_full(&self) -> bool {
        self.rows >= BATCH_ROWS
    }

    /// Takes the rows collected so far as a batch (None when there are none).
    pub fn take_batch(&mut self) -> Option<RecordBatch> {
        if self.rows == 0 {
            return None;
        }
        self.rows = 0;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.builders.len() + 2);
        columns.push(Arc::new(self.times.finish()));
        self.times = Int64Builder::with_capacity(BATCH_ROWS);
        columns.extend(self.builders.iter_mut().map(Builder::finish));
        if let Some(lines) = &mut self.lines {
            columns.push(Arc::new(finish_strings(lines)));
        }
        // The builders are filled in lockstep with the schema built in `new`,
        // so a mismatch is a bug in this module, reported rather than hidden.
        RecordBatch::try_new(self.schema.clone(), columns).ok()
    }

    fn cut(&mut self, line: &str) -> Result<(), CutError> {
        let bytes = line.as_bytes();
        for s in &mut self.splitters {
            s.split(bytes);
        }
        let monitor = &*self.monitor;
        let mut texts: SmallVec<[&str; 16]> = SmallVec::with_capacity(monitor.columns.len());
        let mut typed: SmallVec<[Typed; 16]> = SmallVec::with_capacity(monitor.columns.len());
        for (i, c) in monitor.columns.iter().enumerate() {
            let raw = locate(&self.locates[i], &self.splitters, line).ok_or_else(|| {
                CutError::Missing {
                    column: c.name.clone(),
                }
            })?;
            let mut text = if c.trim { raw.trim() } else { raw };
            if c.required && text.is_empty() {
                return Err(CutError::Empty {
                    column: c.name.clone(),
                });
            }
            if let Some(t) = &c.translate {
                text = t.apply(text);
            }
            let value = match c.ty {
                ColumnType::String => Typed::Str,
                ColumnType::Int => Typed::Int(parse_int(text).ok_or_else(|| bad(c, text))?),
                ColumnType::Float => Typed::Float(parse_float(text).ok_or_else(|| bad(c, text))?),
            };
            texts.push(text);
            typed.push(value);
        }
        let time_text = texts[self.time_column];
        let time_ms = self
            .time
            .parse(time_text)
            .ok_or_else(|| CutError::BadTime {
                column: monitor.columns[self.time_column].name.clone(),
                value: time_text.to_string(),
            })?;
        self.counters.parsed += 1;
        let kept = monitor.include.iter().all(|f| f.matches(texts[f.column]))
            && !monitor.exclude.iter().any(|f| f.matches(texts[f.column]));
        if !kept {
            self.counters.filtered += 1;
            return Ok(());
        }
        self.times.append_value(time_ms);
        for ((b, text), value) in self.builders.iter_mut().zip(&texts).zip(&typed) {
            match (b, value) {
                (Builder::Str(b), _) => b.append_value(text),
                (Builder::Int(b), Typed::Int(v)) => b.append_value(*v),
                (Builder::Float(b), Typed::Float(v)) => b.append_value(*v),
                // Builders and typed values both follow the column types.
                (Builder::Int(b), _) => b.append_value(0),
                (Builder::Float(b), _) => b.append_value(0.0),
            }
        }
        if self.needs_line {
            if let Some(lines) = &mut self.lines {
                lines.append_value(line);
            }
        }
        self.rows += 1;
        Ok(())
    }
}

fn bad(c: &vigil_config::Column, text: &str) -> CutError {
    CutError::BadNumber {
        column: c.name.clone(),
        ty: c.ty,
        value: text.to_string(),
    }
}

fn locate<'a>(how: &Locate, splitters: &[Splitter], line: &'a str) -> Option<&'a str> {
    match how {
        Locate::Field { splitter, index } => {
            let (s, e) = *splitters[*splitter].fields.get(*index)?;
            line.get(s..e)
        }
        Locate::Between(between) => {
            let b = line.as_bytes();
            let mut from = 0;
            for _ in 0..between.nth {
                from += between.left.find(&b[from..])? + between.left_len;
            }
            let len = between.right.find(&b[from..])?;
            line.get(from..from + len)
        }
        Locate::Regex(re) => re.captures(line)?.get(1).map(|m| m.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn splitter(delimiter: &[u8], max_index: usize) -> Splitter {
        Splitter {
            delimiter: delimiter.to_vec(),
            finder: memmem::Finder::new(delimiter).into_owned(),
            max_index,
            fields: SmallVec::new(),
        }
    }

    proptest! {
        /// The block splitter finds the same fields as a plain split, for
        /// lines of any length (across 32-byte blocks) and any field count.
        #[test]
        fn split_matches_a_plain_split(
            line in proptest::collection::vec(prop_oneof![Just(b','), Just(b'a'), any::<u8>()], 0..200),
            max_index in 0usize..40,
            multi in any::<bool>(),
        ) {
            let delimiter: &[u8] = if multi { b",a" } else { b"," };
            let mut s = splitter(delimiter, max_index);
            s.split(&line);
            let mut expected = Vec::new();
            let mut start = 0;
            let finder = memmem::Finder::new(delimiter);
            while let Some(p) = finder.find(&line[start..]) {
                expected.push((start, start + p));
                start += p + delimiter.len();
                if expected.len() > max_index {
                    break;
                }
            }
            if expected.len() <= max_index {
                expected.push((start, line.len()));
            }
            prop_assert_eq!(s.fields.to_vec(), expected);
        }
    }
}
