//! The query string of a page: the time range (`to`, `span`), the view and
//! any page-specific filter, decoded once.

use chrono::TimeZone;
use chrono_tz::Tz;
use vigil_model::View;

use crate::api::{parse_time, percent_decode, ApiError};

/// Default length of a page's range, minutes.
pub const DEFAULT_SPAN_MIN: i64 = 60;
/// Longest range a page shows, minutes (30 days).
pub const MAX_SPAN_MIN: i64 = 30 * 24 * 60;
/// The spans offered by the range picker, minutes.
pub const SPANS: [(i64, &str); 8] = [
    (15, "15 minutes"),
    (60, "1 hour"),
    (180, "3 hours"),
    (360, "6 hours"),
    (720, "12 hours"),
    (1440, "1 day"),
    (4320, "3 days"),
    (10080, "7 days"),
];

/// A page's decoded query parameters.
#[derive(Debug, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
    now_s: i64,
}

/// A resolved time range `[from_s, to_s)` and the timezone it is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Start, epoch seconds (inclusive).
    pub from_s: i64,
    /// End, epoch seconds (exclusive).
    pub to_s: i64,
    /// Length in minutes.
    pub span_min: i64,
    /// Whether `to` was given (a past range) rather than taken from the clock.
    pub pinned: bool,
    /// Timezone of the times shown.
    pub tz: Tz,
}

impl Params {
    /// Decodes `query`; `now_s` is the end of a range without `to`.
    pub fn parse(query: &str, now_s: i64) -> Self {
        let pairs = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k, true), percent_decode(v, true))
            })
            .collect();
        Params { pairs, now_s }
    }

    /// The value of `name`, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every `key.<column>=value` filter, in order.
    pub fn key_filters(&self) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("key.")?.to_string(), v.clone())))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    /// The wall clock the page was asked at, epoch seconds.
    pub fn now_s(&self) -> i64 {
        self.now_s
    }

    /// The `view` parameter: total (default), instance, idc or ldc.
    pub fn view(&self) -> Result<View, ApiError> {
        match self.get("view") {
            None => Ok(View::Total),
            Some(v) => View::parse(v).ok_or_else(|| {
                ApiError::bad(
                    "view",
                    format!("unknown view `{v}`; expected total, instance, idc or ldc"),
                )
            }),
        }
    }

    /// The range of `span` minutes (default `default_span`) ending at `to`
    /// (default now), shown in `tz`. `to` is an RFC 3339 time, epoch
    /// seconds, or a local `YYYY-MM-DDTHH:MM` in `tz` (what the range
    /// picker sends).
    pub fn range(&self, tz: Tz, default_span: i64) -> Result<Range, ApiError> {
        let span_min = match self.get("span") {
            None => default_span,
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|m| (1..=MAX_SPAN_MIN).contains(m))
                .ok_or_else(|| {
                    ApiError::bad(
                        "span",
                        format!("`span` is minutes from 1 to {MAX_SPAN_MIN}, not `{s}`"),
                    )
                })?,
        };
        let (to_s, pinned) = match self.get("to") {
            None => (self.now_s, false),
            Some(raw) => (parse_local(raw, tz).ok_or_else(|| {
                ApiError::bad(
                    "to",
                    format!("`to` is an RFC 3339 time, epoch seconds or YYYY-MM-DDTHH:MM, not `{raw}`"),
                )
            })?, true),
        };
        Ok(Range {
            from_s: to_s - span_min * 60,
            to_s,
            span_min,
            pinned,
            tz,
        })
    }
}

impl Range {
    /// The query string that keeps this range on the next page
    /// (`span=60&to=...`).
    pub fn query(&self) -> String {
        let mut q = format!("span={}", self.span_min);
        if self.pinned {
            q.push_str(&format!("&to={}", self.to_s));
        }
        q
    }

    /// The same range ending at `to_s` (pinned).
    pub fn ending_at(&self, to_s: i64, span_min: i64) -> Range {
        Range {
            from_s: to_s - span_min * 60,
            to_s,
            span_min,
            pinned: true,
            tz: self.tz,
        }
    }

    /// `to` as the range picker's local `YYYY-MM-DDTHH:MM`.
    pub fn to_local(self) -> String {
        super::format::local(self.to_s, self.tz, "%Y-%m-%dT%H:%M")
    }
}

/// Parses an RFC 3339 time, epoch seconds, or a local minute in `tz`.
pub fn parse_local(raw: &str, tz: Tz) -> Option<i64> {
    parse_time(raw).or_else(|| {
        let naive = chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M").ok()?;
        tz.from_local_datetime(&naive)
            .earliest()
            .map(|t| t.timestamp())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let p = Params::parse("span=15&to=2026-11-20T10%3A05", 0);
        let r = p.range(chrono_tz::Asia::Shanghai, 60).unwrap();
        assert_eq!(r.to_s, 1_795_140_300);
        assert_eq!(r.from_s, 1_795_140_300 - 900);
        assert!(r.pinned);
        assert_eq!(r.query(), "span=15&to=1795140300");
        assert_eq!(r.to_local(), "2026-11-20T10:05");
        let r = Params::parse("", 1000).range(Tz::UTC, 60).unwrap();
        assert_eq!((r.from_s, r.to_s, r.pinned), (1000 - 3600, 1000, false));
        assert!(Params::parse("span=0", 0).range(Tz::UTC, 60).is_err());
        assert!(Params::parse("to=soon", 0).range(Tz::UTC, 60).is_err());
    }

    #[test]
    fn filters_and_views() {
        let p = Params::parse("key.product=%E8%A1%A3%E6%9C%8D&view=idc&key.x=", 0);
        assert_eq!(p.key_filters(), vec![("product".into(), "衣服".into())]);
        assert_eq!(p.view().unwrap(), View::Idc);
        assert!(Params::parse("view=pod", 0).view().is_err());
    }
}
