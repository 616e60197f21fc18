//! How a monitor's time column is written: one of the named formats, or a
//! strftime pattern.
//!
//! This crate only checks the *shape* of the setting (a known name, or a
//! string containing `%`). Whether a pattern is a valid strftime pattern is
//! checked by the collector (`vigil_collector::time::validate_strftime`),
//! which owns the chrono dependency and the parser.

use std::fmt;
use std::str::FromStr;

/// How a monitor's time column is written.
///
/// Parsed from its configuration string with [`FromStr`]; [`fmt::Display`]
/// prints back the same string (the name, or the pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// `normal`: `2016-12-13 10:00:14`, optionally followed by `.SSS` or
    /// `,SSS` (exactly three digits of milliseconds).
    Normal,
    /// `apache`: `08/May/2017:01:13:52` or `08/May/2017 01:13:52`
    /// (English month abbreviations, case-sensitive).
    Apache,
    /// `long`: epoch milliseconds, digits only: `1476064860000`.
    Long,
    /// `short_long`: epoch seconds, digits only: `1476064860`.
    ShortLong,
    /// `monthfirst`: `May 08 01:13:52`, without a year: the year is the
    /// current one in the source's timezone, or the previous one when that
    /// would put the time more than one day in the future.
    MonthFirst,
    /// `revert`: month-day-year, `05-25-2017 18:28:42`.
    Revert,
    /// `monthfirst2`: `May 08 2017 01:13:52`.
    MonthFirst2,
    /// Any other string containing `%`: a strftime pattern in chrono's syntax,
    /// e.g. `%Y-%m-%d %H:%M:%S`.
    Strftime(String),
}

impl TimeFormat {
    /// The configuration names of the named formats, in documentation order:
    /// `normal`, `apache`, `long`, `short_long`, `monthfirst`, `revert`,
    /// `monthfirst2`.
    pub const NAMES: [&'static str; 7] = [
        "normal",
        "apache",
        "long",
        "short_long",
        "monthfirst",
        "revert",
        "monthfirst2",
    ];

    /// The configuration string of this format: its name, or the pattern.
    pub fn as_str(&self) -> &str {
        match self {
            TimeFormat::Normal => "normal",
            TimeFormat::Apache => "apache",
            TimeFormat::Long => "long",
            TimeFormat::ShortLong => "short_long",
            TimeFormat::MonthFirst => "monthfirst",
            TimeFormat::Revert => "revert",
            TimeFormat::MonthFirst2 => "monthfirst2",
            TimeFormat::Strftime(pattern) => pattern,
        }
    }
}

/// A time format setting that is neither a known name nor a strftime
/// pattern. Its message lists the valid names and gives an example pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown time format `{input}`: use one of normal, apache, long, short_long, \
     monthfirst, revert, monthfirst2 (lowercase, exactly as written), or a strftime \
     pattern containing `%`, such as `%Y-%m-%d %H:%M:%S`"
)]
pub struct TimeFormatError {
    /// The rejected setting, as written.
    pub input: String,
}

impl FromStr for TimeFormat {
    type Err = TimeFormatError;

    /// Parses a name (exact, lowercase) or, for any other string containing
    /// `%`, a strftime pattern (kept as written; validated by the collector).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "normal" => TimeFormat::Normal,
            "apache" => TimeFormat::Apache,
            "long" => TimeFormat::Long,
            "short_long" => TimeFormat::ShortLong,
            "monthfirst" => TimeFormat::MonthFirst,
            "revert" => TimeFormat::Revert,
            "monthfirst2" => TimeFormat::MonthFirst2,
            _ if s.contains('%') => TimeFormat::Strftime(s.to_owned()),
            _ => {
                return Err(TimeFormatError {
                    input: s.to_owned(),
                })
            }
        })
    }
}

impl fmt::Display for TimeFormat {
    /// Prints the configuration string: the name, or the pattern.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name_and_prints_it_back() {
        let expected = [
            TimeFormat::Normal,
            TimeFormat::Apache,
            TimeFormat::Long,
            TimeFormat::ShortLong,
            TimeFormat::MonthFirst,
            TimeFormat::Revert,
            TimeFormat::MonthFirst2,
        ];
        for (name, format) in TimeFormat::NAMES.iter().zip(expected) {
            let parsed: TimeFormat = name.parse().unwrap();
            assert_eq!(parsed, format);
            assert_eq!(parsed.to_string(), *name);
            assert_eq!(parsed.as_str(), *name);
        }
    }

    #[test]
    fn percent_strings_are_strftime_patterns() {
        let p = "%Y-%m-%d%H:%M:%S";
        let parsed: TimeFormat = p.parse().unwrap();
        assert_eq!(parsed, TimeFormat::Strftime(p.to_owned()));
        assert_eq!(parsed.to_string(), p);
        // Kept exactly as written, spaces included; validity is the collector's job.
        let odd: TimeFormat = " %Q ".parse().unwrap();
        assert_eq!(odd, TimeFormat::Strftime(" %Q ".to_owned()));
    }

    #[test]
    fn names_are_exact() {
        for bad in [
            "Normal",
            "NORMAL",
            " normal",
            "normal ",
            "shortlong",
            "month_first",
            "",
        ] {
            let err = bad.parse::<TimeFormat>().unwrap_err();
            assert_eq!(err.input, bad);
        }
    }

    #[test]
    fn error_message_tells_how_to_fix() {
        let err = "iso8601".parse::<TimeFormat>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`iso8601`"), "{msg}");
        for name in TimeFormat::NAMES {
            assert!(msg.contains(name), "{msg} lacks {name}");
        }
        assert!(msg.contains("%Y-%m-%d %H:%M:%S"), "{msg}");
    }
}
