//! The throttling schedule of an alert that keeps firing (DESIGN.md §7):
//! every minute for 3 minutes, every 2 for 4, every 5 for 25, every 10 for
//! 50, every 30 for 150, then hourly. Counted from the first firing minute:
//! notifications at minutes 0, 1, 2, 3, 5, 7, 12, …, 27, 32, 42, …, 72, 82,
//! 112, …, 202, 232, 292, …
//!
//! The schedule is a sequence of *slots*; a notification is due when the
//! firing has entered a slot that was not notified yet. That also works
//! when rules are checked every N minutes or a minute is skipped.

/// (interval, duration) of each phase, minutes.
const PHASES: [(i64, i64); 5] = [(1, 3), (2, 4), (5, 25), (10, 50), (30, 150)];

/// After the phases: one notification per hour.
const FINAL_INTERVAL: i64 = 60;

/// The slot that `elapsed` minutes after the first firing minute falls in
/// (slot 0 is the first minute). Without throttling every minute is a slot.
pub fn slot(elapsed: i64, throttle: bool) -> i64 {
    let elapsed = elapsed.max(0);
    if !throttle {
        return elapsed;
    }
    let mut start = 0;
    let mut slots = 0;
    for (interval, duration) in PHASES {
        if elapsed < start + duration {
            return slots + (elapsed - start) / interval;
        }
        start += duration;
        slots += duration / interval;
    }
    slots + (elapsed - start) / FINAL_INTERVAL
}

/// Whether a notification is due at `elapsed` minutes into a firing whose
/// last notification went out in slot `last_slot` (`None`: none yet).
pub fn due(elapsed: i64, last_slot: Option<i64>, throttle: bool) -> bool {
    last_slot.is_none_or(|last| slot(elapsed, throttle) > last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_start_at_each_phase_boundary() {
        assert_eq!(slot(0, true), 0);
        assert_eq!(slot(2, true), 2);
        assert_eq!(slot(3, true), 3);
        assert_eq!(slot(4, true), 3);
        assert_eq!(slot(5, true), 4);
        assert_eq!(slot(7, true), 5);
        assert_eq!(slot(232, true), 20);
        assert_eq!(slot(291, true), 20);
        assert_eq!(slot(292, true), 21);
        assert_eq!(slot(17, false), 17);
    }
}
