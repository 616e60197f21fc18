//! A parser of HotSpot's hsperfdata files (`/tmp/hsperfdata_<user>/<pid>`),
//! the memory-mapped performance counters every HotSpot JVM publishes unless
//! started with `-XX:-UsePerfData`.
//!
//! Layout (version 2.0, as in OpenJDK's `perfMemory.hpp`):
//!
//! ```text
//! prologue (32 bytes)
//!   magic           u32  0xcafec0c0, always big-endian bytes CA FE C0 C0
//!   byte_order      u8   0 = big endian, 1 = little endian (all fields below)
//!   major, minor    u8   2, 0
//!   accessible      u8   1 once the JVM finished initialising the region
//!   used            i32  bytes of the region in use
//!   overflow        i32  bytes that did not fit
//!   mod_time_stamp  i64  time of the last structural change (ticks)
//!   entry_offset    i32  offset of the first entry
//!   num_entries     i32  number of entries
//! entries, back to back from entry_offset
//!   entry_length    i32  whole entry, header + name + padding + data
//!   name_offset     i32  from the entry start: NUL-terminated name
//!   vector_length   i32  0 = scalar, else number of elements
//!   data_type       u8   'J' = long, 'B' = byte (a string when a vector)
//!   flags           u8
//!   data_units      u8   1 none, 2 bytes, 3 ticks, 4 events, 5 string, 6 hertz
//!   data_variability u8  1 constant, 2 monotonic, 3 variable
//!   data_offset     i32  from the entry start: the value
//! ```
//!
//! Every offset and length is checked against the entry and the buffer: a
//! truncated or corrupt file is an [`HsperfError`], never a panic, and every
//! entry advances the cursor by at least its header so parsing always ends.

use std::collections::BTreeMap;

use nom::bytes::complete::{tag, take, take_until};
use nom::number::complete::{i32, i64, u8 as byte};
use nom::number::Endianness;
use nom::{IResult, Parser};

/// The magic number that starts every hsperfdata file (big-endian bytes).
pub const MAGIC: [u8; 4] = [0xCA, 0xFE, 0xC0, 0xC0];
/// Size in bytes of the version 2 prologue.
pub const PROLOGUE_LEN: usize = 32;
/// Size in bytes of the fixed part of an entry.
pub const ENTRY_HEADER_LEN: usize = 20;

/// Why a buffer is not a readable hsperfdata file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HsperfError {
    /// Shorter than the prologue.
    #[error("too short for an hsperfdata prologue: {0} bytes")]
    TooShort(usize),
    /// The first four bytes are not `CA FE C0 C0`.
    #[error("bad magic {0:02x?}, not an hsperfdata file")]
    BadMagic([u8; 4]),
    /// The byte order byte is neither 0 nor 1.
    #[error("bad byte order byte {0}")]
    BadByteOrder(u8),
    /// A prologue version other than 2.x.
    #[error("unsupported hsperfdata version {major}.{minor}")]
    UnsupportedVersion {
        /// Major version found.
        major: u8,
        /// Minor version found.
        minor: u8,
    },
    /// The prologue says more bytes are in use than the buffer holds.
    #[error("truncated: the prologue says {used} bytes are used, the file has {len}")]
    Truncated {
        /// Bytes in use according to the prologue.
        used: i64,
        /// Bytes actually present.
        len: usize,
    },
    /// A prologue field out of range.
    #[error("corrupt prologue: {0}")]
    BadPrologue(&'static str),
    /// An entry that does not fit or does not make sense.
    #[error("corrupt entry #{index} at offset {offset}: {reason}")]
    BadEntry {
        /// Index of the entry, from 0.
        index: u32,
        /// Byte offset of the entry in the buffer.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The fixed header of an hsperfdata file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prologue {
    /// True when the multi-byte fields are big-endian.
    pub big_endian: bool,
    /// Major version (2).
    pub major: u8,
    /// Minor version (0).
    pub minor: u8,
    /// False while the JVM is still setting the region up.
    pub accessible: bool,
    /// Bytes of the region in use.
    pub used: i32,
    /// Bytes that did not fit in the region.
    pub overflow: i32,
    /// Time stamp of the last structural modification.
    pub mod_time_stamp: i64,
    /// Offset of the first entry.
    pub entry_offset: i32,
    /// Number of entries.
    pub num_entries: i32,
}

/// Unit of measure of an entry (`PerfData::Units`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Units {
    /// A plain number.
    None,
    /// Bytes (HotSpot labels a few word counts so too, e.g. `sun.gc.tlab.alloc`).
    Bytes,
    /// High-resolution ticks; divide by `sun.os.hrt.frequency` for seconds.
    Ticks,
    /// A count of events.
    Events,
    /// A string.
    String,
    /// Hertz.
    Hertz,
    /// A code this parser does not know.
    Other(u8),
}

impl From<u8> for Units {
    fn from(code: u8) -> Self {
        match code {
            1 => Self::None,
            2 => Self::Bytes,
            3 => Self::Ticks,
            4 => Self::Events,
            5 => Self::String,
            6 => Self::Hertz,
            other => Self::Other(other),
        }
    }
}

/// How an entry's value may change (`PerfData::Variability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variability {
    /// Set once.
    Constant,
    /// Only grows (a cumulative counter).
    Monotonic,
    /// Goes up and down (a gauge).
    Variable,
    /// A code this parser does not know.
    Other(u8),
}

impl From<u8> for Variability {
    fn from(code: u8) -> Self {
        match code {
            1 => Self::Constant,
            2 => Self::Monotonic,
            3 => Self::Variable,
            other => Self::Other(other),
        }
    }
}

/// The value of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A scalar long (`'J'`).
    Long(i64),
    /// A byte vector (`'B'`, vector length > 0): the bytes before the first
    /// NUL, decoded as UTF-8 (lossily).
    Text(String),
    /// Another type or shape, kept only by its type code.
    Unsupported(u8),
}

/// One named counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Its unit.
    pub units: Units,
    /// Its variability.
    pub variability: Variability,
}

/// A parsed hsperfdata file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerfData {
    /// The header.
    pub prologue: Prologue,
    /// Entries by name (the first one wins if a name repeats).
    pub entries: BTreeMap<String, Entry>,
}

impl PerfData {
    /// The long value of `name`, if it exists and is a long.
    pub fn long(&self, name: &str) -> Option<i64> {
        match self.entries.get(name)?.value {
            Value::Long(v) => Some(v),
            _ => None,
        }
    }

    /// The string value of `name`, if it exists and is a string.
    pub fn text(&self, name: &str) -> Option<&str> {
        match &self.entries.get(name)?.value {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// The entry header as stored.
struct RawEntry {
    entry_length: i32,
    name_offset: i32,
    vector_length: i32,
    data_type: u8,
    units: u8,
    variability: u8,
    data_offset: i32,
}

type Res<'a, T> = IResult<&'a [u8], T>;

/// Magic, byte order and the three one-byte fields after it.
fn prologue_start(input: &[u8]) -> Res<'_, (u8, u8, u8, u8)> {
    let (rest, (_, order, major, minor, accessible)) =
        (tag(&MAGIC[..]), byte, byte, byte, byte).parse(input)?;
    Ok((rest, (order, major, minor, accessible)))
}

/// used, overflow, mod_time_stamp, entry_offset, num_entries.
fn prologue_rest(input: &[u8], e: Endianness) -> Res<'_, (i32, i32, i64, i32, i32)> {
    (i32(e), i32(e), i64(e), i32(e), i32(e)).parse(input)
}

fn raw_entry(input: &[u8], e: Endianness) -> Res<'_, RawEntry> {
    let (rest, (entry_length, name_offset, vector_length, data_type, _flags, units, variability)) =
        (i32(e), i32(e), i32(e), byte, byte, byte, byte).parse(input)?;
    let (rest, data_offset) = i32(e)(rest)?;
    Ok((
        rest,
        RawEntry {
            entry_length,
            name_offset,
            vector_length,
            data_type,
            units,
            variability,
            data_offset,
        },
    ))
}

/// An offset inside an entry of `len` bytes that points past its header.
fn inner_offset(offset: i32, len: usize) -> Option<usize> {
    usize::try_from(offset)
        .ok()
        .filter(|o| *o >= ENTRY_HEADER_LEN && *o < len)
}

/// Parses a whole hsperfdata buffer (a copy of the file).
///
/// Does not reject a region that is not yet [`Prologue::accessible`]: the
/// caller decides what to do with a JVM that is still starting.
pub fn parse(buf: &[u8]) -> Result<PerfData, HsperfError> {
    if buf.len() < PROLOGUE_LEN {
        if buf.len() >= 4 && buf[..4] != MAGIC {
            return Err(HsperfError::BadMagic([buf[0], buf[1], buf[2], buf[3]]));
        }
        return Err(HsperfError::TooShort(buf.len()));
    }
    let (rest, (order, major, minor, accessible)) =
        prologue_start(buf).map_err(|_| HsperfError::BadMagic([buf[0], buf[1], buf[2], buf[3]]))?;
    let e = match order {
        0 => Endianness::Big,
        1 => Endianness::Little,
        other => return Err(HsperfError::BadByteOrder(other)),
    };
    if major != 2 {
        return Err(HsperfError::UnsupportedVersion { major, minor });
    }
    let (_, (used, overflow, mod_time_stamp, entry_offset, num_entries)) =
        prologue_rest(rest, e).map_err(|_| HsperfError::TooShort(buf.len()))?;
    let prologue = Prologue {
        big_endian: e == Endianness::Big,
        major,
        minor,
        accessible: accessible != 0,
        used,
        overflow,
        mod_time_stamp,
        entry_offset,
        num_entries,
    };
    let used_len =
        usize::try_from(used).map_err(|_| HsperfError::BadPrologue("negative used size"))?;
    if used_len > buf.len() {
        return Err(HsperfError::Truncated {
            used: used.into(),
            len: buf.len(),
        });
    }
    let num_entries = u32::try_from(num_entries)
        .map_err(|_| HsperfError::BadPrologue("negative number of entries"))?;
    let mut offset = usize::try_from(entry_offset)
        .ok()
        .filter(|o| *o >= PROLOGUE_LEN && *o <= buf.len())
        .ok_or(HsperfError::BadPrologue("entry offset out of the file"))?;

    let mut entries = BTreeMap::new();
    for index in 0..num_entries {
        let bad = |reason| HsperfError::BadEntry {
            index,
            offset,
            reason,
        };
        // `offset` never passes buf.len(): it only grows by checked lengths.
        let rest = &buf[offset..];
        let (_, raw) = raw_entry(rest, e).map_err(|_| bad("header past the end of the file"))?;
        let len = usize::try_from(raw.entry_length)
            .ok()
            .filter(|l| *l >= ENTRY_HEADER_LEN)
            .ok_or(bad("entry length shorter than its header"))?;
        let entry = rest
            .get(..len)
            .ok_or(bad("entry length past the end of the file"))?;
        let name_at =
            inner_offset(raw.name_offset, len).ok_or(bad("name offset outside the entry"))?;
        let data_at =
            inner_offset(raw.data_offset, len).ok_or(bad("data offset outside the entry"))?;
        let name: Res<'_, &[u8]> = take_until(&b"\0"[..])(&entry[name_at..]);
        let (_, name) = name.map_err(|_| bad("name not NUL-terminated inside the entry"))?;
        let data = &entry[data_at..];
        let vector_length =
            usize::try_from(raw.vector_length).map_err(|_| bad("negative vector length"))?;
        let value = match (raw.data_type, vector_length) {
            (b'J', 0) => {
                let (_, v) = i64(e)(data).map_err(|_: nom::Err<nom::error::Error<&[u8]>>| {
                    bad("long value past the end of the entry")
                })?;
                Value::Long(v)
            }
            (b'B', n) if n > 0 => {
                let (_, bytes) =
                    take(n)(data).map_err(|_: nom::Err<nom::error::Error<&[u8]>>| {
                        bad("byte vector past the end of the entry")
                    })?;
                let text = bytes.split(|b| *b == 0).next().unwrap_or_default();
                Value::Text(String::from_utf8_lossy(text).into_owned())
            }
            (other, _) => Value::Unsupported(other),
        };
        entries
            .entry(String::from_utf8_lossy(name).into_owned())
            .or_insert(Entry {
                value,
                units: raw.units.into(),
                variability: raw.variability.into(),
            });
        offset += len;
    }
    Ok(PerfData { prologue, entries })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A value to write with [`build`].
    pub(crate) enum V<'a> {
        L(i64),
        S(&'a str),
    }

    /// Builds an hsperfdata buffer laid out as HotSpot does: 8-byte aligned
    /// entries, name after the header, value after the name.
    pub(crate) fn build(big_endian: bool, entries: &[(&str, u8, V<'_>)]) -> Vec<u8> {
        let i32b = |v: i32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let i64b = |v: i64| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut body = Vec::new();
        for (name, units, value) in entries {
            let name_offset = ENTRY_HEADER_LEN;
            let data_offset = (name_offset + name.len() + 1).div_ceil(8) * 8;
            let (data_type, vector_length, data): (u8, usize, Vec<u8>) = match value {
                V::L(v) => (b'J', 0, i64b(*v).to_vec()),
                V::S(s) => {
                    let mut d = s.as_bytes().to_vec();
                    d.push(0);
                    (b'B', d.len(), d)
                }
            };
            let len = (data_offset + data.len()).div_ceil(8) * 8;
            let mut entry = Vec::with_capacity(len);
            entry.extend(i32b(len as i32));
            entry.extend(i32b(name_offset as i32));
            entry.extend(i32b(vector_length as i32));
            entry.extend([data_type, 0, *units, 3]);
            entry.extend(i32b(data_offset as i32));
            entry.extend(name.as_bytes());
            entry.resize(data_offset, 0);
            entry.extend(&data);
            entry.resize(len, 0);
            body.extend(entry);
        }
        let mut buf = MAGIC.to_vec();
        buf.extend([u8::from(!big_endian), 2, 0, 1]);
        buf.extend(i32b((PROLOGUE_LEN + body.len()) as i32));
        buf.extend(i32b(0));
        buf.extend(i64b(12345));
        buf.extend(i32b(PROLOGUE_LEN as i32));
        buf.extend(i32b(entries.len() as i32));
        buf.extend(body);
        buf.resize(buf.len() + 64, 0);
        buf
    }

    fn sample_entries() -> Vec<(&'static str, u8, V<'static>)> {
        vec![
            ("sun.os.hrt.frequency", 6, V::L(1_000_000_000)),
            (
                "sun.rt.javaCommand",
                5,
                V::S("com.example.Main --port 8080"),
            ),
            ("sun.gc.collector.0.invocations", 4, V::L(-3)),
            ("a", 1, V::L(i64::MAX)),
        ]
    }

    #[test]
    fn parses_both_byte_orders() {
        for big in [true, false] {
            let data = parse(&build(big, &sample_entries())).unwrap();
            assert_eq!(data.prologue.big_endian, big);
            assert!(data.prologue.accessible);
            assert_eq!(data.prologue.num_entries, 4);
            assert_eq!(data.prologue.mod_time_stamp, 12345);
            assert_eq!(data.long("sun.os.hrt.frequency"), Some(1_000_000_000));
            assert_eq!(data.long("sun.gc.collector.0.invocations"), Some(-3));
            assert_eq!(data.long("a"), Some(i64::MAX));
            assert_eq!(
                data.text("sun.rt.javaCommand"),
                Some("com.example.Main --port 8080")
            );
            let e = &data.entries["sun.os.hrt.frequency"];
            assert_eq!(
                (e.units, e.variability),
                (Units::Hertz, Variability::Variable)
            );
            assert_eq!(data.long("sun.rt.javaCommand"), None);
            assert_eq!(data.text("a"), None);
        }
    }

    #[test]
    fn header_errors() {
        let good = build(false, &sample_entries());
        assert_eq!(parse(&good[..10]), Err(HsperfError::TooShort(10)));
        let mut bad = good.clone();
        bad[0] = 0xCB;
        assert!(matches!(parse(&bad), Err(HsperfError::BadMagic(_))));
        assert!(matches!(parse(&bad[..8]), Err(HsperfError::BadMagic(_))));
        let mut bad = good.clone();
        bad[4] = 7;
        assert_eq!(parse(&bad), Err(HsperfError::BadByteOrder(7)));
        let mut bad = good.clone();
        bad[5] = 1;
        assert_eq!(
            parse(&bad),
            Err(HsperfError::UnsupportedVersion { major: 1, minor: 0 })
        );
        let used = PROLOGUE_LEN + 100;
        assert!(matches!(
            parse(&good[..used]),
            Err(HsperfError::Truncated { .. })
        ));
        let mut bad = good.clone();
        bad[24..28].copy_from_slice(&4i32.to_le_bytes()); // entry offset inside the prologue
        assert!(matches!(parse(&bad), Err(HsperfError::BadPrologue(_))));
        let mut bad = good.clone();
        bad[28..32].copy_from_slice(&(-1i32).to_le_bytes());
        assert!(matches!(parse(&bad), Err(HsperfError::BadPrologue(_))));
        let mut bad = good;
        bad[7] = 0;
        assert!(!parse(&bad).unwrap().prologue.accessible);
    }

    #[test]
    fn entry_errors_never_panic() {
        let good = build(true, &sample_entries());
        let first = PROLOGUE_LEN;
        // entry_length 0 (would loop forever), huge, negative; offsets outside.
        for (at, value, reason) in [
            (0, 0, "entry length shorter than its header"),
            (0, i32::MAX, "entry length past the end of the file"),
            (0, -8, "entry length shorter than its header"),
            (4, 1000, "name offset outside the entry"),
            (4, 3, "name offset outside the entry"),
            (16, -1, "data offset outside the entry"),
            (8, -1, "negative vector length"),
        ] {
            let mut bad = good.clone();
            bad[first + at..first + at + 4].copy_from_slice(&value.to_be_bytes());
            assert_eq!(
                parse(&bad),
                Err(HsperfError::BadEntry {
                    index: 0,
                    offset: first,
                    reason
                }),
                "field at {at} = {value}"
            );
        }
        // More entries announced than present: the next header is zeros.
        let mut bad = good.clone();
        bad[28..32].copy_from_slice(&5i32.to_be_bytes());
        assert!(matches!(
            parse(&bad),
            Err(HsperfError::BadEntry { index: 4, .. })
        ));
        // A string longer than its entry.
        let mut bad = good.clone();
        let second =
            first + i32::from_be_bytes(good[first..first + 4].try_into().unwrap()) as usize;
        bad[second + 8..second + 12].copy_from_slice(&4000i32.to_be_bytes());
        assert!(matches!(
            parse(&bad),
            Err(HsperfError::BadEntry { index: 1, .. })
        ));
        // A name without its NUL.
        let mut bad = good;
        let len = i32::from_be_bytes(bad[first..first + 4].try_into().unwrap()) as usize;
        for b in &mut bad[first + ENTRY_HEADER_LEN..first + len] {
            *b = b'x';
        }
        assert!(matches!(
            parse(&bad),
            Err(HsperfError::BadEntry { index: 0, .. })
        ));
    }

    #[test]
    fn unknown_types_are_kept_as_unsupported() {
        let mut buf = build(false, &sample_entries());
        // Turn the first entry (a long) into an int.
        buf[PROLOGUE_LEN + 12] = b'I';
        let data = parse(&buf).unwrap();
        assert_eq!(
            data.entries["sun.os.hrt.frequency"].value,
            Value::Unsupported(b'I')
        );
    }
}
