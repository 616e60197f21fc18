//! Value functions against series computed by hand.

use std::collections::BTreeMap;

use chrono_tz::{Asia::Shanghai, Europe::Berlin, UTC};
use vigil_alerting::value::{compute, same_local_minute, Outcome};
use vigil_config::alert::ValueFn;

use crate::support::utc;

const T0: i64 = 1_780_000_020 / 60 * 60;

fn m(i: i64) -> i64 {
    T0 + i * 60
}

/// Minutes 0..=9: 10, 20, 0, 40, (none), 60, 70, 80, 90, 100.
fn series() -> BTreeMap<i64, f64> {
    [
        10.0,
        20.0,
        0.0,
        40.0,
        f64::NAN,
        60.0,
        70.0,
        80.0,
        90.0,
        100.0,
    ]
    .into_iter()
    .enumerate()
    .filter(|(_, v)| !v.is_nan())
    .map(|(i, v)| (m(i as i64), v))
    .collect()
}

fn at(func: ValueFn, i: i64) -> Outcome {
    compute(func, &series(), m(i), UTC)
}

fn close(o: Outcome, want: f64) {
    match o {
        Outcome::Value(v) => assert!((v - want).abs() < 1e-9, "{v} != {want}"),
        other => panic!("{other:?}, expected {want}"),
    }
}

#[test]
fn current_and_minute_over_minute() {
    close(at(ValueFn::Current, 9), 100.0);
    assert_eq!(at(ValueFn::Current, 4), Outcome::Missing);
    close(at(ValueFn::Mom, 9), 10.0 / 90.0 * 100.0);
    close(at(ValueFn::Mom, 1), 100.0);
    // 40 against 0: a zero base is reported, never infinity
    assert_eq!(at(ValueFn::Mom, 3), Outcome::ZeroBase);
    // 60 against a minute without data
    assert_eq!(at(ValueFn::Mom, 5), Outcome::Missing);
    // no data now, data before
    assert_eq!(at(ValueFn::Mom, 4), Outcome::Missing);
    // a drop to zero is -100 %
    close(at(ValueFn::Mom, 2), -100.0);
}

#[test]
fn sums_averages_and_extremes_over_the_last_minutes() {
    close(at(ValueFn::SumLast(3), 9), 270.0);
    close(at(ValueFn::SumLast(3), 5), 100.0);
    close(at(ValueFn::SumLast(1), 2), 0.0);
    close(at(ValueFn::AvgLast(3), 5), 50.0);
    close(at(ValueFn::AvgLast(10), 9), 470.0 / 9.0);
    close(at(ValueFn::MinLast(3), 9), 80.0);
    close(at(ValueFn::MaxLast(3), 9), 100.0);
    // "above X for 3 minutes" cannot be told across a minute without data
    assert_eq!(at(ValueFn::MinLast(3), 5), Outcome::Missing);
    // before the first minute there is nothing
    assert_eq!(
        compute(ValueFn::SumLast(3), &series(), m(-5), UTC),
        Outcome::Missing
    );
    assert_eq!(
        compute(ValueFn::AvgLast(3), &series(), m(-5), UTC),
        Outcome::Missing
    );
}

#[test]
fn sum_of_the_last_minutes_against_those_before() {
    // 90 + 100 = 190 against 70 + 80 = 150
    close(at(ValueFn::SumLastVsPrev(2), 9), 40.0 / 150.0 * 100.0);
    // 0 + 40 against 10 + 20
    close(at(ValueFn::SumLastVsPrev(2), 3), 10.0 / 30.0 * 100.0);
    // 40 against 0
    assert_eq!(at(ValueFn::SumLastVsPrev(1), 3), Outcome::ZeroBase);
    // 10 against nothing
    assert_eq!(at(ValueFn::SumLastVsPrev(1), 0), Outcome::Missing);
}

/// A series holding `now` at `minute` and `base` at `base_minute`, and a
/// decoy one hour either side of the base (where a 24 h shift would land
/// in a zone with daylight saving time).
fn pair(minute: i64, now: f64, base_minute: i64, base: f64) -> BTreeMap<i64, f64> {
    let mut s = BTreeMap::new();
    s.insert(base_minute - 3600, 999.0);
    s.insert(base_minute + 3600, 999.0);
    s.insert(base_minute, base);
    s.insert(minute, now);
    s
}

#[test]
fn yesterday_and_last_week_in_a_zone_without_daylight_saving() {
    // 2026-07-02 10:00 in Shanghai is 02:00 UTC; yesterday is exactly 24 h back
    let now = utc(2026, 7, 2, 2, 0);
    let yesterday = utc(2026, 7, 1, 2, 0);
    let week = utc(2026, 6, 25, 2, 0);
    assert_eq!(same_local_minute(now, Shanghai, 1), Some(yesterday));
    assert_eq!(same_local_minute(now, Shanghai, 7), Some(week));
    close(
        compute(
            ValueFn::Dod,
            &pair(now, 150.0, yesterday, 100.0),
            now,
            Shanghai,
        ),
        50.0,
    );
    close(
        compute(ValueFn::Wow, &pair(now, 50.0, week, 200.0), now, Shanghai),
        -75.0,
    );
    assert_eq!(
        compute(
            ValueFn::Dod,
            &pair(now, 150.0, yesterday, 0.0),
            now,
            Shanghai
        ),
        Outcome::ZeroBase
    );
    let mut s = pair(now, 150.0, yesterday, 100.0);
    s.remove(&yesterday);
    assert_eq!(compute(ValueFn::Dod, &s, now, Shanghai), Outcome::Missing);
}

#[test]
fn yesterday_follows_the_wall_clock_across_daylight_saving_in_berlin() {
    // Spring forward on 2026-03-29: 12:00 CEST (10:00 UTC) vs 12:00 CET
    // the day before (11:00 UTC), 23 hours earlier.
    let now = utc(2026, 3, 29, 10, 0);
    let base = utc(2026, 3, 28, 11, 0);
    assert_eq!(same_local_minute(now, Berlin, 1), Some(base));
    close(
        compute(ValueFn::Dod, &pair(now, 100.0, base, 50.0), now, Berlin),
        100.0,
    );
    // Fall back on 2026-10-25: 12:00 CET (11:00 UTC) vs 12:00 CEST (10:00
    // UTC) the day before, 25 hours earlier.
    let now = utc(2026, 10, 25, 11, 0);
    let base = utc(2026, 10, 24, 10, 0);
    assert_eq!(same_local_minute(now, Berlin, 1), Some(base));
    close(
        compute(ValueFn::Dod, &pair(now, 30.0, base, 40.0), now, Berlin),
        -25.0,
    );
    // A week across the change: 2026-04-01 12:00 CEST vs 2026-03-25 12:00 CET
    let now = utc(2026, 4, 1, 10, 0);
    let base = utc(2026, 3, 25, 11, 0);
    assert_eq!(same_local_minute(now, Berlin, 7), Some(base));
    close(
        compute(ValueFn::Wow, &pair(now, 120.0, base, 100.0), now, Berlin),
        20.0,
    );
}

#[test]
fn a_wall_clock_time_that_did_not_exist_yesterday_has_no_base() {
    // 02:30 on 2026-03-30 (CEST, 00:30 UTC): 02:30 on the 29th was skipped
    let now = utc(2026, 3, 30, 0, 30);
    assert_eq!(same_local_minute(now, Berlin, 1), None);
    let mut s = BTreeMap::new();
    s.insert(now, 10.0);
    s.insert(now - 86_400, 10.0);
    assert_eq!(compute(ValueFn::Dod, &s, now, Berlin), Outcome::Missing);
    // 02:30 on 2026-10-26 (CET, 01:30 UTC): 02:30 on the 25th happened
    // twice; the first (CEST, 00:30 UTC) is the base
    let now = utc(2026, 10, 26, 1, 30);
    assert_eq!(
        same_local_minute(now, Berlin, 1),
        Some(utc(2026, 10, 25, 0, 30))
    );
}

#[test]
fn sum_of_the_last_minutes_against_yesterday() {
    // Berlin, spring forward: the three minutes ending 12:02 CEST on the
    // 29th against those ending 12:02 CET on the 28th.
    let now = utc(2026, 3, 29, 10, 2);
    let base = utc(2026, 3, 28, 11, 2);
    let mut s = BTreeMap::new();
    for i in 0..3 {
        s.insert(now - i * 60, 10.0 + i as f64); // 10 + 11 + 12 = 33
        s.insert(base - i * 60, 5.0 + i as f64); // 5 + 6 + 7 = 18
        s.insert(base - 3600 - i * 60, 1000.0);
    }
    close(
        compute(ValueFn::SumLastVsYesterday(3), &s, now, Berlin),
        15.0 / 18.0 * 100.0,
    );
    // Shanghai, with one minute of yesterday missing: 5 + 7 = 12
    let now = utc(2026, 7, 2, 2, 2);
    let base = now - 86_400;
    let mut s = BTreeMap::new();
    for i in 0..3 {
        s.insert(now - i * 60, 4.0);
        if i != 1 {
            s.insert(base - i * 60, 5.0 + i as f64);
        }
    }
    close(
        compute(ValueFn::SumLastVsYesterday(3), &s, now, Shanghai),
        0.0,
    );
    assert_eq!(
        compute(
            ValueFn::SumLastVsYesterday(3),
            &BTreeMap::new(),
            now,
            Shanghai
        ),
        Outcome::Missing
    );
}
