//! Parsing a monitor's time column into epoch milliseconds (UTC).
//!
//! The named formats are parsed by hand from bytes; only strftime patterns go
//! through chrono's parser. Local times are turned into UTC instants through
//! a one-entry cache keyed on the local (date, hour): consecutive lines in the
//! same local hour cost a comparison and an addition, and chrono-tz is asked
//! again only when the local hour changes.

use std::fmt::Write as _;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;
use vigil_config::time_format::TimeFormat;

/// Milliseconds in a day: how far in the future a `monthfirst` time may be
/// before it is taken as last year's.
const DAY_MS: i64 = 86_400_000;

/// Checks that `pattern` is a strftime pattern (chrono's `%` syntax) that the
/// collector can parse times with.
///
/// Rejects patterns with an unknown or incomplete specifier (`%Q`, a
/// trailing `%`, …), and patterns that do not give a complete date and time
/// (they need year, month, day, hour and minute, or `%s`), since every line
/// would then fail to parse.
///
/// The error says what is wrong and how to fix it, without repeating the
/// pattern: callers name it ("invalid strftime pattern `…`: {error}").
pub fn validate_strftime(pattern: &str) -> Result<(), String> {
    let items = StrftimeItems::new(pattern).parse_to_owned().map_err(|_| {
        "it contains an unknown or incomplete `%` specifier (use chrono's syntax, e.g. \
         `%Y-%m-%d %H:%M:%S`; write `%%` for a literal `%`)"
            .to_owned()
    })?;
    // Format a sample time with the pattern and parse it back: this fails
    // when the pattern leaves out part of the date or time.
    let incomplete = || {
        "it does not give a full date and time: it needs the year, month, day, hour and \
         minute (e.g. `%Y-%m-%d %H:%M:%S`), or `%s`; for times written without a year use \
         the `monthfirst` format"
            .to_owned()
    };
    let sample = NaiveDate::from_ymd_opt(2021, 3, 4)
        .and_then(|d| d.and_hms_milli_opt(15, 6, 7, 89))
        .ok_or_else(incomplete)?
        .and_utc()
        .fixed_offset();
    let mut text = String::new();
    write!(text, "{}", sample.format_with_items(items.iter())).map_err(|_| incomplete())?;
    match strftime_fields(&text, &items) {
        Some(_) => Ok(()),
        None => Err(incomplete()),
    }
}

/// Parses one monitor's time column into epoch milliseconds (UTC), in the
/// source's timezone.
///
/// Build one per monitor (or per thread): it keeps a small cache of the
/// last local hour's UTC offset, which is why [`TimeParser::parse`] takes
/// `&mut self`.
#[derive(Debug, Clone)]
pub struct TimeParser {
    /// The format, with a strftime pattern pre-parsed.
    kind: Kind,
    /// Local time → UTC, with its cache.
    clock: LocalClock,
    /// "Now" in epoch milliseconds, for `monthfirst`.
    now_ms: i64,
    /// The year of `now_ms` in the source's timezone, for `monthfirst`.
    now_year: i32,
    /// `now_ms` as wall-clock time in the source's timezone (read as if
    /// UTC), for `monthfirst` times that fall in a DST gap.
    now_local_ms: i64,
}

/// [`TimeFormat`], ready to parse with.
#[derive(Debug, Clone)]
enum Kind {
    Normal,
    Apache,
    Long,
    ShortLong,
    MonthFirst,
    Revert,
    MonthFirst2,
    /// The pattern's items; `None` when the pattern is invalid (then every
    /// parse fails: check patterns with [`validate_strftime`] first).
    Strftime(Option<Vec<Item<'static>>>),
}

impl TimeParser {
    /// A parser for times written in `format`, in timezone `tz`.
    ///
    /// `now_ms` (epoch milliseconds) is only used by `monthfirst`, whose
    /// lines carry no year: it gives the current year in `tz`. An invalid
    /// strftime pattern (see [`validate_strftime`]) gives a parser that
    /// rejects every line.
    pub fn new(format: &TimeFormat, tz: Tz, now_ms: i64) -> Self {
        let kind = match format {
            TimeFormat::Normal => Kind::Normal,
            TimeFormat::Apache => Kind::Apache,
            TimeFormat::Long => Kind::Long,
            TimeFormat::ShortLong => Kind::ShortLong,
            TimeFormat::MonthFirst => Kind::MonthFirst,
            TimeFormat::Revert => Kind::Revert,
            TimeFormat::MonthFirst2 => Kind::MonthFirst2,
            TimeFormat::Strftime(pattern) => {
                Kind::Strftime(StrftimeItems::new(pattern).parse_to_owned().ok())
            }
        };
        let mut parser = TimeParser {
            kind,
            clock: LocalClock::new(tz),
            now_ms,
            now_year: 1970,
            now_local_ms: now_ms,
        };
        parser.set_now_ms(now_ms);
        parser
    }

    /// Moves "now" (epoch milliseconds), which gives `monthfirst` lines
    /// their year: a long-running collector calls this now and then so that
    /// lines written after new year get the new year.
    pub fn set_now_ms(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        let local = DateTime::from_timestamp_millis(now_ms)
            .map(|utc| utc.with_timezone(&self.clock.tz).naive_local());
        self.now_year = local.map_or(1970, |l| l.year());
        self.now_local_ms = local.map_or(now_ms, |l| l.and_utc().timestamp_millis());
    }

    /// The instant `text` stands for, in epoch milliseconds (UTC).
    ///
    /// `None` when the text is not a valid time in this format: any junk,
    /// leading or trailing characters, out-of-range fields, a date that does
    /// not exist, or a local time that does not exist in the timezone (the
    /// gap when clocks are set forward). A local time that happens twice
    /// (clocks set back) gives the earlier instant. Epoch formats are UTC
    /// instants, as are strftime times with `%z` or `%s`.
    ///
    /// Strftime patterns are matched by chrono's parser, which is more
    /// lenient than the named formats: it accepts whitespace before numbers
    /// and numbers narrower than their field (`%m` matches `3`).
    pub fn parse(&mut self, text: &str) -> Option<i64> {
        let b = text.as_bytes();
        match &self.kind {
            Kind::Normal => self.parse_normal(b),
            Kind::Apache => self.parse_apache(b),
            Kind::Long => epoch_digits(b).filter(|ms| *ms <= MAX_EPOCH_MS),
            Kind::ShortLong => epoch_digits(b)?
                .checked_mul(1000)
                .filter(|ms| *ms <= MAX_EPOCH_MS),
            Kind::MonthFirst => self.parse_month_first(b),
            Kind::Revert => self.parse_revert(b),
            Kind::MonthFirst2 => self.parse_month_first2(b),
            Kind::Strftime(items) => match strftime_fields(text, items.as_deref()?)? {
                Strf::Instant(ms) => Some(ms),
                Strf::Local(f) => self.clock.utc_ms(f),
            },
        }
    }

    /// `2016-12-13 10:00:14`, optionally `.SSS` or `,SSS`.
    #[inline]
    fn parse_normal(&mut self, b: &[u8]) -> Option<i64> {
        let milli = match b.len() {
            19 => 0,
            23 if b[19] == b'.' || b[19] == b',' => num(&b[20..23])?,
            _ => return None,
        };
        if b[4] != b'-' || b[7] != b'-' || b[10] != b' ' {
            return None;
        }
        let (hour, minute, second) = hms(&b[11..19])?;
        self.clock.utc_ms(Fields {
            year: num(&b[0..4])? as i32,
            month: num(&b[5..7])?,
            day: num(&b[8..10])?,
            hour,
            minute,
            second,
            milli,
        })
    }

    /// `08/May/2017:01:13:52` or `08/May/2017 01:13:52`.
    fn parse_apache(&mut self, b: &[u8]) -> Option<i64> {
        if b.len() != 20 || b[2] != b'/' || b[6] != b'/' || (b[11] != b':' && b[11] != b' ') {
            return None;
        }
        let (hour, minute, second) = hms(&b[12..20])?;
        self.clock.utc_ms(Fields {
            year: num(&b[7..11])? as i32,
            month: month_abbr(&b[3..6])?,
            day: num(&b[0..2])?,
            hour,
            minute,
            second,
            milli: 0,
        })
    }

    /// `05-25-2017 18:28:42` (month-day-year).
    fn parse_revert(&mut self, b: &[u8]) -> Option<i64> {
        if b.len() != 19 || b[2] != b'-' || b[5] != b'-' || b[10] != b' ' {
            return None;
        }
        let (hour, minute, second) = hms(&b[11..19])?;
        self.clock.utc_ms(Fields {
            year: num(&b[6..10])? as i32,
            month: num(&b[0..2])?,
            day: num(&b[3..5])?,
            hour,
            minute,
            second,
            milli: 0,
        })
    }

    /// `May 08 2017 01:13:52`.
    fn parse_month_first2(&mut self, b: &[u8]) -> Option<i64> {
        if b.len() != 20 || b[3] != b' ' || b[6] != b' ' || b[11] != b' ' {
            return None;
        }
        let (hour, minute, second) = hms(&b[12..20])?;
        self.clock.utc_ms(Fields {
            year: num(&b[7..11])? as i32,
            month: month_abbr(&b[0..3])?,
            day: num(&b[4..6])?,
            hour,
            minute,
            second,
            milli: 0,
        })
    }

    /// `May 08 01:13:52`: this year in the source's timezone, or last year
    /// when this year would put it more than a day in the future.
    fn parse_month_first(&mut self, b: &[u8]) -> Option<i64> {
        if b.len() != 15 || b[3] != b' ' || b[6] != b' ' {
            return None;
        }
        let (hour, minute, second) = hms(&b[7..15])?;
        let month = month_abbr(&b[0..3])?;
        let day = num(&b[4..6])?;
        let mut fields = Fields {
            year: self.now_year,
            month,
            day,
            hour,
            minute,
            second,
            milli: 0,
        };
        let this_year = self.clock.utc_ms(fields);
        let in_future = match this_year {
            Some(t) => t > self.now_ms.saturating_add(DAY_MS),
            // Not a time this year: Feb 29 of a common year (so from an
            // earlier year), or in the gap when clocks move forward (compare
            // wall-clock times: last year may have had no gap then).
            None => match NaiveDate::from_ymd_opt(fields.year, month, day)
                .and_then(|d| d.and_hms_opt(hour, minute, second))
            {
                None => true,
                Some(local) => {
                    local.and_utc().timestamp_millis() > self.now_local_ms.saturating_add(DAY_MS)
                }
            },
        };
        if !in_future {
            return this_year;
        }
        fields.year -= 1;
        self.clock.utc_ms(fields)
    }
}

/// The decimal value of `digits` (all ASCII digits), `None` otherwise.
/// Only for short fields (at most 9 digits).
#[inline(always)]
fn num(digits: &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value * 10 + u32::from(d);
    }
    Some(value)
}

/// `HH:MM:SS` (exactly 8 bytes) → (hour, minute, second), ranges unchecked.
#[inline(always)]
fn hms(b: &[u8]) -> Option<(u32, u32, u32)> {
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    Some((num(&b[0..2])?, num(&b[3..5])?, num(&b[6..8])?))
}

/// English month abbreviation, as written (`Jan` … `Dec`) → 1..=12.
#[inline]
fn month_abbr(b: &[u8]) -> Option<u32> {
    Some(match b {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

/// The last millisecond of year 9999 UTC: later epoch values are not times
/// a log can carry (and could not be shown as a date).
const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// A non-empty run of ASCII digits that fits in an `i64` (no sign).
#[inline]
fn epoch_digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return None;
    }
    let mut value = 0i64;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(d))?;
    }
    Some(value)
}

/// What a strftime pattern gave.
enum Strf {
    /// An instant: the pattern had an offset (`%z`) or an epoch (`%s`).
    Instant(i64),
    /// A local time in the source's timezone.
    Local(Fields),
}

/// Parses `text` with a strftime pattern's `items`; `None` when it does not
/// match, is incomplete, out of range, or is a leap second.
fn strftime_fields(text: &str, items: &[Item<'static>]) -> Option<Strf> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text, items.iter()).ok()?;
    if parsed.offset().is_some() || parsed.timestamp().is_some() {
        let dt = parsed.to_datetime().ok()?;
        if dt.nanosecond() >= 1_000_000_000 {
            return None;
        }
        return Some(Strf::Instant(dt.timestamp_millis()));
    }
    let local: NaiveDateTime = parsed.to_naive_datetime_with_offset(0).ok()?;
    if local.nanosecond() >= 1_000_000_000 {
        return None;
    }
    Some(Strf::Local(Fields {
        year: local.year(),
        month: local.month(),
        day: local.day(),
        hour: local.hour(),
        minute: local.minute(),
        second: local.second(),
        milli: local.nanosecond() / 1_000_000,
    }))
}

/// A local date and time as written, not yet range-checked.
#[derive(Debug, Clone, Copy)]
struct Fields {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    milli: u32,
}

/// Local time → UTC in one timezone, caching the last local hour.
#[derive(Debug, Clone)]
struct LocalClock {
    tz: Tz,
    /// `Some(local - UTC seconds)` for zones that never change offset.
    fixed_offset_s: Option<i64>,
    /// The cached local hour: year, month, day, hour packed by [`hour_key`].
    key: i64,
    /// What the cached local hour maps to.
    hour: Hour,
}

/// How one local hour maps to UTC.
#[derive(Debug, Clone, Copy)]
enum Hour {
    /// The whole hour has one offset: the epoch milliseconds of `hh:00:00`.
    Start(i64),
    /// The date or hour does not exist (Feb 30, hour 24…).
    Invalid,
    /// The hour holds a transition (or a gap): ask chrono-tz for each time.
    Mixed,
}

/// Packs a local date and hour into a cache key. Fields are unchecked, but
/// they are small (month, day and hour below 256), so distinct inputs give
/// distinct keys; never equal to [`NO_KEY`].
#[inline(always)]
fn hour_key(f: &Fields) -> i64 {
    (i64::from(f.year) << 24)
        | (i64::from(f.month & 0xff) << 16)
        | (i64::from(f.day & 0xff) << 8)
        | i64::from(f.hour & 0xff)
}

/// A key no input produces: the cache is empty.
const NO_KEY: i64 = i64::MIN;

impl LocalClock {
    fn new(tz: Tz) -> Self {
        LocalClock {
            tz,
            fixed_offset_s: fixed_offset_s(tz),
            key: NO_KEY,
            hour: Hour::Invalid,
        }
    }

    /// The UTC instant of a local time in epoch milliseconds; `None` when
    /// it does not exist. Ambiguous times give the earlier instant.
    #[inline]
    fn utc_ms(&mut self, f: Fields) -> Option<i64> {
        if f.minute > 59 || f.second > 59 || f.milli > 999 || f.month > 255 || f.day > 255 {
            return None;
        }
        let key = hour_key(&f);
        if key != self.key {
            self.hour = self.classify(&f);
            self.key = key;
        }
        let within = i64::from(f.minute * 60_000 + f.second * 1000 + f.milli);
        match self.hour {
            Hour::Start(start) => Some(start + within),
            Hour::Invalid => None,
            Hour::Mixed => self.slow(&f),
        }
    }

    /// How the local hour of `f` maps to UTC (the cache miss).
    #[cold]
    fn classify(&self, f: &Fields) -> Hour {
        let Some(date) = NaiveDate::from_ymd_opt(f.year, f.month, f.day) else {
            return Hour::Invalid;
        };
        let (Some(first), Some(last)) = (
            date.and_hms_opt(f.hour, 0, 0),
            date.and_hms_opt(f.hour, 59, 59),
        ) else {
            return Hour::Invalid;
        };
        if let Some(offset) = self.fixed_offset_s {
            return Hour::Start((first.and_utc().timestamp() - offset) * 1000);
        }
        // One transition at most per hour: if the first and last second of
        // the hour are an hour (less a second) apart in UTC, the whole hour
        // has the offset of its first second (for a repeated hour, the
        // earlier one, as wanted).
        let first = self.tz.from_local_datetime(&first).earliest();
        let last = self.tz.from_local_datetime(&last).earliest();
        match (first, last) {
            (Some(a), Some(b)) if b.timestamp() - a.timestamp() == 3599 => {
                Hour::Start(a.timestamp_millis())
            }
            _ => Hour::Mixed,
        }
    }

    /// One time of an hour that holds a transition.
    #[cold]
    fn slow(&self, f: &Fields) -> Option<i64> {
        let local = NaiveDate::from_ymd_opt(f.year, f.month, f.day)?
            .and_hms_opt(f.hour, f.minute, f.second)?;
        let utc = self.tz.from_local_datetime(&local).earliest()?;
        Some(utc.timestamp_millis() + i64::from(f.milli))
    }
}

/// The offset of zones that never change it (UTC and its aliases, `Etc/…`),
/// in seconds east of UTC; `None` for the others.
fn fixed_offset_s(tz: Tz) -> Option<i64> {
    let name = tz.name();
    let fixed = name.starts_with("Etc/")
        || matches!(
            name,
            "UTC" | "UCT" | "GMT" | "GMT0" | "GMT+0" | "GMT-0" | "Greenwich" | "Universal" | "Zulu"
        );
    fixed.then(|| {
        let offset = tz.offset_from_utc_datetime(&DateTime::UNIX_EPOCH.naive_utc());
        i64::from(offset.fix().local_minus_utc())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;
    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    /// 2027-01-01 00:30:00 in Asia/Shanghai.
    const NEW_YEAR_2027_SH: i64 = 1_798_734_600_000;

    /// 2026-05-08 01:13:52 in Asia/Shanghai.
    const MAY_8_2026: i64 = 1_778_174_032_000;

    fn parser(format: &str, tz: Tz) -> TimeParser {
        TimeParser::new(&format.parse().unwrap(), tz, NEW_YEAR_2027_SH)
    }

    #[test]
    fn normal() {
        let mut p = parser("normal", SHANGHAI);
        assert_eq!(p.parse("2016-12-13 10:00:14"), Some(1_481_594_414_000));
        assert_eq!(p.parse("2016-12-13 10:00:14.123"), Some(1_481_594_414_123));
        assert_eq!(p.parse("2016-12-13 10:00:14,123"), Some(1_481_594_414_123));
        assert_eq!(p.parse("2016-12-13 10:00:14.000"), Some(1_481_594_414_000));
        // Same hour again (cache hit) and the next hours (misses).
        assert_eq!(p.parse("2016-12-13 10:59:59.999"), Some(1_481_597_999_999));
        assert_eq!(p.parse("2016-12-13 11:00:00"), Some(1_481_598_000_000));
        assert_eq!(p.parse("2016-12-13 10:00:14"), Some(1_481_594_414_000));
    }

    #[test]
    fn normal_rejects_junk() {
        let mut p = parser("normal", SHANGHAI);
        for bad in [
            "2014-06-19 17:14:02.18x",
            "2014/06/19 17:14:02.186",
            "19-06-2014 17:14:02.186",
            "2014-06-19T17:14:02.186",
            "garbage",
            "",
            " 2014-06-19 17:14:02",
            "2014-06-19 17:14:02 ",
            "2014-06-19 17:14:02.",
            "2014-06-19 17:14:02.18",
            "2014-06-19 17:14:02.1860",
            "2014-06-19 17:14:02:186",
            "2014-06-19 17:14",
            "2014-6-19 17:14:02",
            "+014-06-19 17:14:02",
            "2014-06-19 17:14:0x",
            "2014-13-19 17:14:02",
            "2014-00-19 17:14:02",
            "2014-06-00 17:14:02",
            "2014-06-31 17:14:02",
            "2014-06-19 24:00:00",
            "2014-06-19 17:60:02",
            "2014-06-19 17:14:60",
            "2014-06-19 17:14:99",
        ] {
            assert_eq!(p.parse(bad), None, "{bad:?}");
        }
        // A rejected line does not spoil the cache for the good ones.
        assert_eq!(p.parse("2016-12-13 10:00:14"), Some(1_481_594_414_000));
        assert_eq!(p.parse("2016-12-13 10:00:60"), None);
        assert_eq!(p.parse("2016-12-13 10:00:14"), Some(1_481_594_414_000));
    }

    #[test]
    fn leap_days() {
        let mut p = parser("normal", SHANGHAI);
        assert_eq!(p.parse("2024-02-29 00:00:00"), Some(1_709_136_000_000));
        assert_eq!(p.parse("2023-02-29 00:00:00"), None);
        assert_eq!(p.parse("1900-02-29 00:00:00"), None);
        assert!(p.parse("2000-02-29 00:00:00").is_some());
    }

    #[test]
    fn berlin_dst_gap_and_overlap() {
        let mut p = parser("normal", BERLIN);
        // Spring forward: 02:00 → 03:00 on 2026-03-29.
        assert_eq!(p.parse("2026-03-29 01:59:59"), Some(1_774_745_999_000));
        assert_eq!(p.parse("2026-03-29 02:30:00"), None);
        assert_eq!(p.parse("2026-03-29 02:00:00"), None);
        assert_eq!(p.parse("2026-03-29 02:59:59.999"), None);
        assert_eq!(p.parse("2026-03-29 03:00:00"), Some(1_774_746_000_000));
        // Fall back: 03:00 → 02:00 on 2026-10-25; 02:30 happens twice, the
        // earlier (+02:00) is 00:30 UTC.
        assert_eq!(p.parse("2026-10-25 02:30:00"), Some(1_792_888_200_000));
        assert_eq!(p.parse("2026-10-25 02:30:00.5"), None);
        assert_eq!(p.parse("2026-10-25 02:30:00.500"), Some(1_792_888_200_500));
        assert_eq!(p.parse("2026-10-25 03:00:00"), Some(1_792_893_600_000));
        assert_eq!(p.parse("2026-03-29 02:30:00"), None);
    }

    #[test]
    fn half_hour_transitions_inside_an_hour() {
        // Lord Howe moves 30 minutes: 02:00 → 02:30 in October, and
        // 02:00 → 01:30 in April; those hours are neither whole nor absent.
        let mut p = parser("normal", chrono_tz::Australia::Lord_Howe);
        assert_eq!(p.parse("2025-10-05 02:15:00"), None);
        assert_eq!(p.parse("2025-10-05 02:45:00"), Some(1_759_592_700_000));
        assert_eq!(p.parse("2026-04-05 01:15:00"), Some(1_775_312_100_000));
        assert_eq!(p.parse("2026-04-05 01:45:00"), Some(1_775_313_900_000));
    }

    #[test]
    fn fixed_zones() {
        let mut utc = parser("normal", chrono_tz::UTC);
        assert_eq!(utc.parse("2016-12-13 10:00:14"), Some(1_481_623_214_000));
        let mut minus5 = parser("normal", chrono_tz::Etc::GMTPlus5);
        assert_eq!(minus5.parse("2016-12-13 05:00:14"), Some(1_481_623_214_000));
        assert_eq!(fixed_offset_s(chrono_tz::Etc::GMTPlus5), Some(-5 * 3600));
        assert_eq!(fixed_offset_s(SHANGHAI), None);
        assert_eq!(fixed_offset_s(BERLIN), None);
        // Every zone taken as fixed really has one offset all along.
        let instants = [
            -2_500_000_000i64,
            0,
            1_000_000_000,
            1_800_000_000,
            4_000_000_000,
        ];
        for tz in chrono_tz::TZ_VARIANTS {
            if let Some(offset) = fixed_offset_s(tz) {
                for secs in instants {
                    let utc = DateTime::from_timestamp(secs, 0).unwrap().naive_utc();
                    let at = tz.offset_from_utc_datetime(&utc).fix().local_minus_utc();
                    assert_eq!(i64::from(at), offset, "{}", tz.name());
                }
            }
        }
    }

    #[test]
    fn apache() {
        let mut p = parser("apache", SHANGHAI);
        assert_eq!(p.parse("08/May/2017:01:13:52"), Some(1_494_177_232_000));
        assert_eq!(p.parse("08/May/2017 01:13:52"), Some(1_494_177_232_000));
        for bad in [
            "08/may/2017:01:13:52",
            "08/MAY/2017:01:13:52",
            "8/May/2017:01:13:52",
            "08/May/2017T01:13:52",
            "08/May/2017:01:13:52 +0800",
            "[08/May/2017:01:13:52]",
            "31/Apr/2017:01:13:52",
            "08/Foo/2017:01:13:52",
        ] {
            assert_eq!(p.parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn epochs() {
        let mut long = parser("long", BERLIN);
        assert_eq!(long.parse("1476064860000"), Some(1_476_064_860_000));
        assert_eq!(long.parse("0"), Some(0));
        assert_eq!(long.parse("253402300799999"), Some(MAX_EPOCH_MS));
        assert_eq!(long.parse("253402300800000"), None);
        assert_eq!(long.parse("9223372036854775807"), None);
        for bad in [
            "",
            "-1476064860000",
            "+1476064860000",
            "1476064860000 ",
            "14760648600.00",
            "9223372036854775808",
        ] {
            assert_eq!(long.parse(bad), None, "{bad:?}");
        }
        let mut short = parser("short_long", SHANGHAI);
        assert_eq!(short.parse("1476064860"), Some(1_476_064_860_000));
        assert_eq!(short.parse("1476064860000000000"), None);
        assert_eq!(short.parse("-1476064860"), None);
        assert_eq!(short.parse("1476064860x"), None);
    }

    #[test]
    fn revert() {
        let mut p = parser("revert", SHANGHAI);
        assert_eq!(p.parse("05-25-2017 18:28:42"), Some(1_495_708_122_000));
        assert_eq!(p.parse("25-05-2017 18:28:42"), None);
        assert_eq!(p.parse("05/25/2017 18:28:42"), None);
        assert_eq!(p.parse("05-25-2017 18:28:42.000"), None);
    }

    #[test]
    fn monthfirst2() {
        let mut p = parser("monthfirst2", SHANGHAI);
        assert_eq!(p.parse("May 08 2017 01:13:52"), Some(1_494_177_232_000));
        assert_eq!(p.parse("May  8 2017 01:13:52"), None);
        assert_eq!(p.parse("May 08 17 01:13:52"), None);
        assert_eq!(p.parse("Feb 29 2023 01:13:52"), None);
    }

    #[test]
    fn monthfirst_year_from_now() {
        // now = 2027-01-01 00:30:00 in Shanghai.
        let mut p = parser("monthfirst", SHANGHAI);
        // May 8 2027 would be months ahead: last year's.
        assert_eq!(p.parse("May 08 01:13:52"), Some(MAY_8_2026));
        // Last line of the old year, first lines of the new one.
        assert_eq!(p.parse("Dec 31 23:59:00"), Some(1_798_732_740_000));
        assert_eq!(p.parse("Jan 01 00:10:00"), Some(1_798_733_400_000));
        // Up to a day ahead is this year; further is last year.
        assert_eq!(p.parse("Jan 02 00:20:00"), Some(1_798_820_400_000));
        assert_eq!(p.parse("Jan 02 00:40:00"), Some(1_767_285_600_000));
        assert_eq!(p.parse("May 8 01:13:52"), None);
        assert_eq!(p.parse("May 08 2017 01:13:52"), None);
        assert_eq!(p.parse("Feb 30 01:13:52"), None);
    }

    #[test]
    fn monthfirst_feb_29_and_set_now() {
        // now = 2025-03-01 12:00:00 in Shanghai: Feb 29 can only be 2024's.
        let mut p = TimeParser::new(&TimeFormat::MonthFirst, SHANGHAI, 1_740_801_600_000);
        assert_eq!(p.parse("Feb 29 10:00:00"), Some(1_709_172_000_000));
        // Moving now to 2027-01-01 00:30 makes Dec 31 2026's.
        p.set_now_ms(NEW_YEAR_2027_SH);
        assert_eq!(p.parse("Dec 31 23:59:00"), Some(1_798_732_740_000));
    }

    #[test]
    fn monthfirst_in_a_dst_gap() {
        // now = 2027-01-15 12:00 UTC. 2027-03-28 02:30 does not exist in
        // Berlin, but it is months ahead anyway: 2026-03-28 02:30 (+01:00).
        let mut p = TimeParser::new(&TimeFormat::MonthFirst, BERLIN, 1_800_014_400_000);
        assert_eq!(p.parse("Mar 28 02:30:00"), Some(1_774_661_400_000));
        // now = 2026-04-10 12:00 UTC: 2026-03-29 02:30 is this year's gap.
        p.set_now_ms(1_775_822_400_000);
        assert_eq!(p.parse("Mar 29 02:30:00"), None);
    }

    #[test]
    fn strftime() {
        let mut p = parser("%Y-%m-%d%H:%M:%S", SHANGHAI);
        assert_eq!(p.parse("2026-11-2010:00:00"), Some(1_795_140_000_000));
        assert_eq!(p.parse("2026-11-2010:00:00x"), None);
        assert_eq!(p.parse("2026-11-3110:00:00"), None);
        assert_eq!(p.parse("garbage"), None);
        let mut millis = parser("%Y-%m-%d %H:%M:%S%.3f", SHANGHAI);
        assert_eq!(
            millis.parse("2016-12-13 10:00:14.123"),
            Some(1_481_594_414_123)
        );
        // chrono's parser takes numbers narrower than their field.
        let mut spaced = parser("%Y-%m-%d %H:%M:%S", SHANGHAI);
        assert_eq!(spaced.parse("2026-11-20 10:0:00"), Some(1_795_140_000_000));
        // An explicit offset or an epoch is an instant: the zone is ignored.
        let mut offset = parser("%Y-%m-%dT%H:%M:%S%z", BERLIN);
        assert_eq!(
            offset.parse("2016-12-13T10:00:14+0800"),
            Some(1_481_594_414_000)
        );
        let mut epoch = parser("%s", BERLIN);
        assert_eq!(epoch.parse("1476064860"), Some(1_476_064_860_000));
        // Local times follow the zone's DST rules, like the named formats.
        let mut berlin = parser("%d.%m.%Y %H:%M:%S", BERLIN);
        assert_eq!(berlin.parse("29.03.2026 02:30:00"), None);
        assert_eq!(berlin.parse("25.10.2026 02:30:00"), Some(1_792_888_200_000));
        assert_eq!(berlin.parse("25.10.2026 02:30:60"), None);
        // An invalid pattern rejects every line.
        let mut invalid = parser("%Y-%Q", SHANGHAI);
        assert_eq!(invalid.parse("2026-x"), None);
    }

    #[test]
    fn validate_strftime_patterns() {
        for good in [
            "%Y-%m-%d%H:%M:%S",
            "%Y-%m-%d %H:%M:%S%.3f",
            "%d/%b/%Y:%H:%M:%S %z",
            "%Y-%m-%dT%H:%M",
            "%s",
            "%y%m%d %I:%M:%S %p",
            "[%Y-%m-%d %H:%M:%S] 100%%",
        ] {
            assert_eq!(validate_strftime(good), Ok(()), "{good}");
        }
        let err = validate_strftime("%Y-%m-%d %Q").unwrap_err();
        assert!(
            err.contains("unknown") && err.contains("%Y-%m-%d %H:%M:%S"),
            "{err}"
        );
        assert!(validate_strftime("%Y-%m-%d %H:%M:%").is_err());
        for incomplete in [
            "%Y-%m-%d",
            "%H:%M:%S",
            "%b %d %H:%M:%S",
            "%Y-%m-%d %I:%M:%S",
            "no percent",
        ] {
            let err = validate_strftime(incomplete).unwrap_err();
            assert!(err.contains("full date and time"), "{incomplete}: {err}");
        }
    }
}
