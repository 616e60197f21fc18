//! Keys: the group-by columns' values of a row, encoded into reusable bytes.
//!
//! A string value is written as its length (`u32`, little endian) and its
//! bytes, except the last column's, which runs to the end; an `Int` value is
//! its 8 little-endian bytes and a `Float` value the 8 bytes of its bits. Every
//! part is thus self-delimiting and two rows have the same bytes iff they
//! have the same key. Keys are decoded to text only when a bucket closes:
//! integers and floats as their `Display` text.
//!
//! A batch's keys are encoded once, into a [`KeyedBatch`] that numbers the
//! distinct keys: the collector aggregates each batch in several views (in
//! total and per label), and every view's aggregator then finds a row's
//! key by its number instead of encoding and hashing it again.

use std::collections::HashMap;

use arrow::array::StringArray;
use arrow::record_batch::RecordBatch;
use foldhash::fast::RandomState;
use vigil_config::monitor::{ColumnType, Monitor};

use crate::batch::Columns;
use crate::error::Error;

/// The key columns of a monitor.
pub(crate) struct KeySchema {
    /// Index and type of each key column, in group-by order.
    pub(crate) columns: Vec<(usize, ColumnType)>,
    /// Key column names, in group-by order.
    pub(crate) names: Vec<String>,
}

/// One key column of one batch.
enum KeyCol<'a> {
    Str(&'a StringArray),
    Int(&'a [i64]),
    Float(&'a [f64]),
}

/// The key columns of one batch.
pub(crate) struct BoundKey<'a> {
    cols: Vec<KeyCol<'a>>,
}

impl KeySchema {
    /// The key columns of `monitor`.
    pub(crate) fn new(monitor: &Monitor) -> Result<Self, Error> {
        let mut columns = Vec::with_capacity(monitor.group_by.len());
        let mut names = Vec::with_capacity(monitor.group_by.len());
        for &i in &monitor.group_by {
            let column = monitor.columns.get(i).ok_or_else(|| {
                Error::invalid(
                    &monitor.name,
                    format!("group_by refers to column #{i}, which does not exist"),
                )
            })?;
            columns.push((i, column.ty));
            names.push(column.name.clone());
        }
        Ok(KeySchema { columns, names })
    }

    /// The key columns of a batch.
    pub(crate) fn bind<'a>(&self, cols: &Columns<'a>) -> Result<BoundKey<'a>, Error> {
        let cols = self
            .columns
            .iter()
            .map(|&(i, ty)| {
                Ok(match ty {
                    ColumnType::String => KeyCol::Str(cols.string(i)?),
                    ColumnType::Int => KeyCol::Int(cols.int(i)?),
                    ColumnType::Float => KeyCol::Float(cols.float(i)?),
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(BoundKey { cols })
    }

    /// The key values encoded in `bytes`, as text in group-by order.
    pub(crate) fn decode(&self, mut bytes: &[u8]) -> Vec<String> {
        let last = self.columns.len().saturating_sub(1);
        self.columns
            .iter()
            .enumerate()
            .map(|(i, &(_, ty))| match ty {
                ColumnType::String => {
                    let len = if i == last {
                        usize::MAX
                    } else {
                        u32::from_le_bytes(word(take(&mut bytes, 4))) as usize
                    };
                    String::from_utf8_lossy(take(&mut bytes, len)).into_owned()
                }
                ColumnType::Int => i64::from_le_bytes(word(take(&mut bytes, 8))).to_string(),
                ColumnType::Float => {
                    f64::from_bits(u64::from_le_bytes(word(take(&mut bytes, 8)))).to_string()
                }
            })
            .collect()
    }
}

/// A record batch of one monitor with its rows' keys encoded and numbered
/// once (see the [module docs](self)). Made by
/// [`crate::Aggregator::group`]; any aggregator of a monitor with the same
/// group-by columns takes it ([`crate::Aggregator::push_grouped`]).
pub struct KeyedBatch<'a> {
    /// The rows.
    pub(crate) batch: &'a RecordBatch,
    /// The key columns the keys were encoded from.
    pub(crate) columns: Vec<(usize, ColumnType)>,
    /// Per row, the number of its key.
    pub(crate) groups: Vec<u32>,
    /// Per key number, the encoded key.
    pub(crate) keys: Vec<Box<[u8]>>,
}

impl KeyedBatch<'_> {
    /// The rows of the batch.
    pub fn num_rows(&self) -> usize {
        self.groups.len()
    }
}

/// Splits the first `n` bytes (or all, when fewer) off `bytes`.
fn take<'b>(bytes: &mut &'b [u8], n: usize) -> &'b [u8] {
    let (head, tail) = bytes.split_at(n.min(bytes.len()));
    *bytes = tail;
    head
}

/// The first `N` bytes of `bytes`, zero-padded (encoded keys always have them).
fn word<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut w = [0u8; N];
    let n = bytes.len().min(N);
    w[..n].copy_from_slice(&bytes[..n]);
    w
}

impl BoundKey<'_> {
    /// Numbers the distinct keys of the first `rows` rows: per row its
    /// group, per group its encoded key, in order of first appearance.
    pub(crate) fn group(&self, rows: usize) -> (Vec<u32>, Vec<Box<[u8]>>) {
        let mut index: HashMap<Box<[u8]>, u32, RandomState> = HashMap::default();
        let mut keys: Vec<Box<[u8]>> = Vec::new();
        let mut groups = Vec::with_capacity(rows);
        let mut buf = Vec::new();
        let mut last: Option<u32> = None;
        for row in 0..rows {
            buf.clear();
            self.encode(row, &mut buf);
            let group = match last {
                // Runs of one key are common: no hashing for them.
                Some(g) if *keys[g as usize] == *buf => g,
                _ => match index.get(buf.as_slice()) {
                    Some(&g) => g,
                    None => {
                        // A batch has far fewer than 2^32 rows.
                        let g = keys.len() as u32;
                        keys.push(buf.as_slice().into());
                        index.insert(buf.as_slice().into(), g);
                        g
                    }
                },
            };
            last = Some(group);
            groups.push(group);
        }
        (groups, keys)
    }

    /// Appends the key of `row` to `buf`.
    #[inline]
    pub(crate) fn encode(&self, row: usize, buf: &mut Vec<u8>) {
        let last = self.cols.len().saturating_sub(1);
        for (i, col) in self.cols.iter().enumerate() {
            match col {
                KeyCol::Str(a) => {
                    let v = a.value(row).as_bytes();
                    if i != last {
                        // Arrow `Utf8` offsets are i32, so a value always fits in u32.
                        buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    }
                    buf.extend_from_slice(v);
                }
                KeyCol::Int(a) => buf.extend_from_slice(&a[row].to_le_bytes()),
                KeyCol::Float(a) => buf.extend_from_slice(&a[row].to_bits().to_le_bytes()),
            }
        }
    }
}
