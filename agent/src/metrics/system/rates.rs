//! Rates and percentages from two readings of the same counters.
//!
//! A counter that went down between the readings (wrapped, or reset by a
//! reboot or a re-created device) gives no value for that round: the
//! metrics it feeds are left out rather than made negative or huge.

use std::collections::BTreeMap;

use super::source::{CpuTicks, DiskCounters, NetCounters, Protocols};

/// Metric name → value.
pub(crate) type Values = BTreeMap<String, f64>;

/// `cur − prev`, or None when the counter went down.
fn delta(prev: u64, cur: u64) -> Option<u64> {
    cur.checked_sub(prev)
}

/// `d` counted over `dt_ms` milliseconds, per second.
fn per_sec(d: u64, dt_ms: i64) -> f64 {
    d as f64 * 1000.0 / dt_ms as f64
}

/// `part / whole` in percent, 0 when `whole` is 0.
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// cpu_util, cpu_user, cpu_sys, cpu_wait, cpu_steal: shares of all CPU
/// time between the two readings. The total is the sum of user, nice,
/// system, idle, iowait, irq, softirq and steal (guest time is already
/// inside user and nice). cpu_util is the share of user, nice, system, irq
/// and softirq (DESIGN's user, sys, nice, guest, hardirq and softirq, with
/// guest counted once).
pub(crate) fn cpu(prev: &CpuTicks, cur: &CpuTicks, out: &mut Values) {
    let d = |f: fn(&CpuTicks) -> u64| delta(f(prev), f(cur));
    let (
        Some(user),
        Some(nice),
        Some(system),
        Some(idle),
        Some(iowait),
        Some(irq),
        Some(softirq),
        Some(steal),
    ) = (
        d(|t| t.user),
        d(|t| t.nice),
        d(|t| t.system),
        d(|t| t.idle),
        d(|t| t.iowait),
        d(|t| t.irq),
        d(|t| t.softirq),
        d(|t| t.steal),
    )
    else {
        return;
    };
    let busy = user + nice + system + irq + softirq;
    let total = busy + idle + iowait + steal;
    if total == 0 {
        return;
    }
    out.insert("cpu_util".into(), percent(busy, total));
    out.insert("cpu_user".into(), percent(user, total));
    out.insert("cpu_sys".into(), percent(system, total));
    out.insert("cpu_wait".into(), percent(iowait, total));
    out.insert("cpu_steal".into(), percent(steal, total));
}

/// The traffic_* rates: sums over the interfaces present in both readings.
/// traffic_pktdrp and traffic_pkterr add received and sent.
pub(crate) fn traffic(
    prev: &BTreeMap<String, NetCounters>,
    cur: &BTreeMap<String, NetCounters>,
    dt_ms: i64,
    out: &mut Values,
) {
    type Fields = fn(&NetCounters) -> [u64; 2];
    let metrics: [(&str, Fields); 6] = [
        ("traffic_bytin", |c| [c.rx_bytes, 0]),
        ("traffic_bytout", |c| [c.tx_bytes, 0]),
        ("traffic_pktin", |c| [c.rx_packets, 0]),
        ("traffic_pktout", |c| [c.tx_packets, 0]),
        ("traffic_pktdrp", |c| [c.rx_drop, c.tx_drop]),
        ("traffic_pkterr", |c| [c.rx_errs, c.tx_errs]),
    ];
    'metric: for (name, fields) in metrics {
        let mut sum = 0u64;
        for (iface, now) in cur {
            let Some(before) = prev.get(iface) else {
                continue;
            };
            for (p, c) in fields(before).into_iter().zip(fields(now)) {
                match delta(p, c) {
                    Some(d) => sum = sum.saturating_add(d),
                    None => continue 'metric,
                }
            }
        }
        out.insert(name.into(), per_sec(sum, dt_ms));
    }
}

/// The tcp_* and udp_* rates of /proc/net/snmp; tcp_retran is
/// retransmitted / sent segments in percent (0 when none were sent).
pub(crate) fn protocols(prev: &Protocols, cur: &Protocols, dt_ms: i64, out: &mut Values) {
    type Field = fn(&Protocols) -> u64;
    let rates: [(&str, Field); 7] = [
        ("tcp_active", |p| p.active_opens),
        ("tcp_pasive", |p| p.passive_opens),
        ("tcp_AtmpFail", |p| p.attempt_fails),
        ("udp_idgm", |p| p.udp_in_datagrams),
        ("udp_odgm", |p| p.udp_out_datagrams),
        ("udp_idmerr", |p| p.udp_in_errors),
        ("udp_noport", |p| p.udp_no_ports),
    ];
    for (name, field) in rates {
        if let Some(d) = delta(field(prev), field(cur)) {
            out.insert(name.into(), per_sec(d, dt_ms));
        }
    }
    if let (Some(retrans), Some(sent)) = (
        delta(prev.retrans_segs, cur.retrans_segs),
        delta(prev.out_segs, cur.out_segs),
    ) {
        out.insert("tcp_retran".into(), percent(retrans, sent));
    }
}

/// tcp_lisove: listen queue overflows per second.
pub(crate) fn listen_overflows(prev: u64, cur: u64, dt_ms: i64, out: &mut Values) {
    if let Some(d) = delta(prev, cur) {
        out.insert("tcp_lisove".into(), per_sec(d, dt_ms));
    }
}

/// The io_* metrics of one disk (iostat's arithmetic): io_rio, io_wio
/// (IO/s), io_rbytes, io_wbytes (bytes/s, sectors of 512 bytes), io_rqsize
/// (KB per IO), io_qusize (weighted IO ms per ms: the average queue),
/// io_await (ms per IO, queueing included), io_svctm (busy ms per IO).
/// Per-IO figures are 0 when there was no IO. None when a counter went
/// down.
pub(crate) fn disk(prev: &DiskCounters, cur: &DiskCounters, dt_ms: i64) -> Option<Values> {
    let reads = delta(prev.reads, cur.reads)?;
    let writes = delta(prev.writes, cur.writes)?;
    let sectors_r = delta(prev.sectors_read, cur.sectors_read)?;
    let sectors_w = delta(prev.sectors_written, cur.sectors_written)?;
    let read_ms = delta(prev.read_ms, cur.read_ms)?;
    let write_ms = delta(prev.write_ms, cur.write_ms)?;
    let io_ms = delta(prev.io_ms, cur.io_ms)?;
    let weighted_ms = delta(prev.weighted_ms, cur.weighted_ms)?;
    let ios = reads + writes;
    let per_io = |x: f64| if ios == 0 { 0.0 } else { x / ios as f64 };
    Some(BTreeMap::from([
        ("io_rio".to_string(), per_sec(reads, dt_ms)),
        ("io_wio".to_string(), per_sec(writes, dt_ms)),
        (
            "io_rbytes".to_string(),
            per_sec(sectors_r.saturating_mul(512), dt_ms),
        ),
        (
            "io_wbytes".to_string(),
            per_sec(sectors_w.saturating_mul(512), dt_ms),
        ),
        (
            "io_rqsize".to_string(),
            per_io((sectors_r + sectors_w) as f64 / 2.0),
        ),
        ("io_qusize".to_string(), weighted_ms as f64 / dt_ms as f64),
        ("io_await".to_string(), per_io((read_ms + write_ms) as f64)),
        ("io_svctm".to_string(), per_io(io_ms as f64)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_shares() {
        let prev = CpuTicks::default();
        let cur = CpuTicks {
            user: 20,
            nice: 5,
            system: 10,
            idle: 50,
            iowait: 5,
            irq: 2,
            softirq: 3,
            steal: 5,
        };
        let mut out = Values::new();
        cpu(&prev, &cur, &mut out);
        assert_eq!(out["cpu_util"], 40.0);
        assert_eq!(out["cpu_user"], 20.0);
        assert_eq!(out["cpu_sys"], 10.0);
        assert_eq!(out["cpu_wait"], 5.0);
        assert_eq!(out["cpu_steal"], 5.0);
        // Reversed: counters went down, nothing.
        let mut out = Values::new();
        cpu(&cur, &prev, &mut out);
        assert!(out.is_empty());
        // No time passed: nothing.
        cpu(&cur, &cur, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn disk_without_io_has_zero_per_io_figures() {
        let c = DiskCounters::default();
        let v = disk(&c, &c, 1000).unwrap();
        assert_eq!(v["io_await"], 0.0);
        assert_eq!(v["io_rqsize"], 0.0);
        assert_eq!(v["io_svctm"], 0.0);
        assert_eq!(v["io_qusize"], 0.0);
    }
}
