//! The per-file read rate limit: a token bucket refilled continuously.

use std::time::{Duration, Instant};

/// Bytes a file may still read, refilled at a steady rate.
///
/// The bucket holds at most `burst` worth of its rate. A read may take more
/// than what is left (a line is never split), leaving the bucket in debt:
/// the file then reads nothing until the refill has paid the debt back, so
/// the long-run rate holds whatever the line lengths.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// Refill rate, bytes per second.
    rate: f64,
    /// Most tokens held.
    capacity: f64,
    /// Tokens now (negative while in debt).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bucket {
    /// A full bucket for `kib_per_min` KiB per minute, holding `burst` of
    /// it (at least one byte).
    pub(crate) fn per_minute(kib_per_min: u64, burst: Duration, now: Instant) -> Self {
        let rate = kib_per_min as f64 * 1024.0 / 60.0;
        let capacity = (rate * burst.as_secs_f64()).max(1.0);
        Bucket {
            rate,
            capacity,
            tokens: capacity,
            at: now,
        }
    }

    /// Whole bytes available at `now`; 0 while empty or in debt.
    pub(crate) fn available(&mut self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens as u64
        } else {
            0
        }
    }

    /// Takes `bytes` out of the bucket (possibly into debt).
    pub(crate) fn spend(&mut self, bytes: u64) {
        self.tokens -= bytes as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn refills_at_the_rate_up_to_one_second() {
        let t0 = Instant::now();
        // 60 KiB per minute = 1024 bytes per second.
        let mut b = Bucket::per_minute(60, SECOND, t0);
        assert_eq!(b.available(t0), 1024);
        b.spend(1024);
        assert_eq!(b.available(t0), 0);
        assert_eq!(b.available(t0 + Duration::from_millis(500)), 512);
        assert_eq!(b.available(t0 + Duration::from_secs(60)), 1024);
    }

    #[test]
    fn debt_is_paid_back_before_reading_again() {
        let t0 = Instant::now();
        let mut b = Bucket::per_minute(60, SECOND, t0);
        b.spend(3072);
        assert_eq!(b.available(t0 + Duration::from_secs(1)), 0);
        assert_eq!(b.available(t0 + Duration::from_millis(2500)), 512);
    }

    #[test]
    fn a_minute_burst_holds_the_whole_quota() {
        let t0 = Instant::now();
        let mut b = Bucket::per_minute(60, Duration::from_secs(60), t0);
        assert_eq!(b.available(t0), 60 * 1024);
    }

    #[test]
    fn slow_rates_let_one_line_through_at_a_time() {
        let t0 = Instant::now();
        // 1 KiB per minute: about 17 bytes per second.
        let mut b = Bucket::per_minute(1, SECOND, t0);
        assert_eq!(b.available(t0), 17);
        b.spend(100);
        assert_eq!(b.available(t0 + Duration::from_secs(4)), 0);
        assert!(b.available(t0 + Duration::from_secs(7)) > 0);
    }
}
