//! Host metrics of the built-in monitor `system` (DESIGN.md §2 "Host
//! metrics"), read from /proc, /sys and statvfs by [`SystemSampler`].
//!
//! Each call returns:
//!
//! - one node-wide [`Sample`] (no keys): `cpu_total_cores`, `cpu_util`,
//!   `cpu_user`, `cpu_sys`, `cpu_wait`, `cpu_steal` (percent of all CPU
//!   time); `load_load1`, `load_load5`, `load_load15`; `mem_total`,
//!   `mem_used` (total − free − buffers − cached, bytes), `mem_util` (%);
//!   `traffic_bytin`, `traffic_bytout` (bytes/s), `traffic_pktin`,
//!   `traffic_pktout`, `traffic_pktdrp`, `traffic_pkterr` (packets/s,
//!   received + sent for drops and errors), summed over the interfaces not
//!   skipped; `tcp_active`, `tcp_pasive`, `tcp_AtmpFail`, `tcp_lisove`
//!   (per second), `tcp_CurrEstab` (current), `tcp_retran` (% of sent
//!   segments); `udp_idgm`, `udp_odgm`, `udp_idmerr`, `udp_noport` (per
//!   second);
//! - one sample per mounted partition, keys `{"partition": mount point}`:
//!   `partition_btotl`, `partition_bused`, `partition_bfree` (bytes),
//!   `partition_util` (%), `partition_itotl`, `partition_ifree`,
//!   `partition_iutil` (%), with df's arithmetic;
//! - one sample per whole disk, keys `{"disk": name}`: `io_rio`, `io_wio`
//!   (IO/s), `io_rbytes`, `io_wbytes` (bytes/s), `io_rqsize` (KB per IO),
//!   `io_qusize` (average queue), `io_await`, `io_svctm` (ms per IO).
//!
//! Rates are per second over the interval between the `now_ms` of two
//! calls, from counter deltas: the first call (and a call whose `now_ms`
//! is not after the previous one) gives gauges only, and a counter that
//! went down leaves out the metrics it feeds for that round. A file that
//! cannot be read or parsed leaves out its metrics and adds one line to
//! [`Sampled::errors`] naming it; the other sources are still read.
//!
//! In a container (a DaemonSet) mount the host's /proc and / and point
//! [`SystemOptions::proc_root`], [`SystemOptions::host_root`] at them, with
//! [`SystemOptions::ns_pid`] `Some(1)` to see the host's network counters
//! and mounts rather than the container's.

mod partition;
mod rates;
mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;

use vigil_model::wire::Sample;

use super::{Sampled, Sampler};
use source::{CpuTicks, DiskCounters, NetCounters, Protocols, ReadError};

/// The monitor name the samples carry.
pub const MONITOR: &str = "system";

/// Where the [`SystemSampler`] reads, and what it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemOptions {
    /// The proc file system: `/proc`, or where a container mounts the
    /// host's (`/host/proc`).
    pub proc_root: PathBuf,
    /// The sys file system, `/sys`: `<sys>/block` lists the whole disks.
    /// Without it, disks are told from partitions by their names.
    pub sys_root: PathBuf,
    /// Where the mount points of the mount table are reached: `/`, or
    /// where a container mounts the host's root (`/host/root`). statvfs is
    /// called on `<host_root>/<mount point>`; samples carry the mount
    /// point as the table says it.
    pub host_root: PathBuf,
    /// Whose view of network counters and mounts is read: `None` reads
    /// `<proc>/net/…` and `<proc>/self/mounts` (the agent's own network and
    /// mount namespaces); `Some(pid)` reads `<proc>/<pid>/net/…` and
    /// `<proc>/<pid>/mounts`, e.g. `Some(1)` for the host's init when the
    /// agent runs in a container with the host's /proc mounted.
    pub ns_pid: Option<u32>,
    /// File system types whose mounts are reported (`["ext4", "tmpfs"]`),
    /// whatever their device. `None` (the default): real file systems
    /// only, i.e. mounts of a block device (`/dev/…`) or a ZFS dataset,
    /// less virtual and image types (proc, sysfs, tmpfs, devtmpfs,
    /// overlay, cgroup*, squashfs, nsfs, fuse.*, iso9660, …). Network file
    /// systems are only reported when named here; statvfs on a dead one
    /// can block the sampler.
    pub fs_types: Option<Vec<String>>,
    /// Interfaces left out of the traffic sums: names, or glob patterns
    /// such as `veth*`. Default `["lo"]`.
    pub skip_interfaces: Vec<String>,
}

impl Default for SystemOptions {
    fn default() -> Self {
        SystemOptions {
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            host_root: PathBuf::from("/"),
            ns_pid: None,
            fs_types: None,
            skip_interfaces: vec!["lo".to_string()],
        }
    }
}

/// The counters of one call, kept to compute the next call's rates.
#[derive(Debug, Clone)]
struct Counters {
    time_ms: i64,
    cpu: Option<CpuTicks>,
    net: Option<BTreeMap<String, NetCounters>>,
    protocols: Option<Protocols>,
    listen_overflows: Option<u64>,
    disks: Option<BTreeMap<String, DiskCounters>>,
}

/// Samples the host metrics of the `system` monitor; see the module
/// documentation for what it reports.
///
/// ```no_run
/// use vigil_agent::metrics::Sampler;
/// use vigil_agent::metrics::system::{SystemOptions, SystemSampler};
///
/// let mut sampler = SystemSampler::new(SystemOptions::default());
/// let first = sampler.sample(1_700_000_000_000); // gauges only
/// let next = sampler.sample(1_700_000_010_000); // gauges and rates
/// for e in &next.errors {
///     eprintln!("{e}");
/// }
/// # let _ = first;
/// ```
#[derive(Debug)]
pub struct SystemSampler {
    options: SystemOptions,
    /// Skipped interfaces: the name, and its glob pattern when valid.
    skip: Vec<(String, Option<glob::Pattern>)>,
    prev: Option<Counters>,
}

impl SystemSampler {
    /// A sampler reading as `options` say. A skipped interface that is not
    /// a valid glob pattern is matched as a plain name.
    pub fn new(options: SystemOptions) -> Self {
        let skip = options
            .skip_interfaces
            .iter()
            .map(|s| (s.clone(), glob::Pattern::new(s).ok()))
            .collect();
        SystemSampler {
            options,
            skip,
            prev: None,
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> &SystemOptions {
        &self.options
    }

    /// `<proc>/<name>` or `<proc>/<ns_pid>/<name>`.
    fn ns_path(&self, name: &str) -> PathBuf {
        match self.options.ns_pid {
            Some(pid) => self.options.proc_root.join(pid.to_string()).join(name),
            None => self.options.proc_root.join(name),
        }
    }

    /// The partition samples' keys and values.
    fn partitions(&self, errors: &mut Vec<String>) -> Vec<(String, rates::Values)> {
        let table = match self.options.ns_pid {
            Some(pid) => self.options.proc_root.join(pid.to_string()).join("mounts"),
            None => self.options.proc_root.join("self/mounts"),
        };
        let mounts = source::read_text(&table).and_then(|text| {
            partition::parse_mounts(&text).map_err(|m| ReadError::parse(&table, m))
        });
        let Some(mounts) = keep(mounts, errors) else {
            return Vec::new();
        };
        partition::select(mounts, self.options.fs_types.as_deref())
            .into_iter()
            .filter_map(|m| {
                let path = partition::reach(&self.options.host_root, &m.mount_point);
                keep(partition::stats(&path), errors).map(|v| (m.mount_point, v))
            })
            .collect()
    }
}

/// The value of `r`, or None with its error added to `errors`.
fn keep<T>(r: Result<T, ReadError>, errors: &mut Vec<String>) -> Option<T> {
    r.map_err(|e| errors.push(e.to_string())).ok()
}

fn sample(time_ms: i64, keys: BTreeMap<String, String>, values: rates::Values) -> Sample {
    Sample {
        monitor: MONITOR.to_string(),
        time_ms,
        keys,
        values,
    }
}

impl Sampler for SystemSampler {
    fn sample(&mut self, now_ms: i64) -> Sampled {
        let mut errors = Vec::new();
        let mut node = rates::Values::new();
        let proc = &self.options.proc_root;

        let cpu = keep(source::read_cpu(&proc.join("stat")), &mut errors);
        if let Some(cpu) = &cpu {
            node.insert("cpu_total_cores".into(), cpu.cores as f64);
        }
        if let Some([l1, l5, l15]) = keep(source::read_load(&proc.join("loadavg")), &mut errors) {
            node.insert("load_load1".into(), l1);
            node.insert("load_load5".into(), l5);
            node.insert("load_load15".into(), l15);
        }
        if let Some(m) = keep(source::read_memory(&proc.join("meminfo")), &mut errors) {
            let used = m
                .total
                .saturating_sub(m.free)
                .saturating_sub(m.buffers)
                .saturating_sub(m.cached);
            node.insert("mem_total".into(), m.total as f64);
            node.insert("mem_used".into(), used as f64);
            let util = if m.total == 0 {
                0.0
            } else {
                used as f64 * 100.0 / m.total as f64
            };
            node.insert("mem_util".into(), util);
        }
        let skip = &self.skip;
        let net = keep(
            source::read_net_dev(&self.ns_path("net/dev"), |name| {
                skip.iter()
                    .any(|(s, p)| s == name || p.as_ref().is_some_and(|p| p.matches(name)))
            }),
            &mut errors,
        );
        let protocols = keep(source::read_snmp(&self.ns_path("net/snmp")), &mut errors);
        if let Some(p) = &protocols {
            node.insert("tcp_CurrEstab".into(), p.curr_estab as f64);
        }
        let listen_overflows = keep(
            source::read_listen_overflows(&self.ns_path("net/netstat")),
            &mut errors,
        );
        let disks = keep(
            source::read_disks(&proc.join("diskstats"), &self.options.sys_root),
            &mut errors,
        );
        let partitions = self.partitions(&mut errors);

        let cur = Counters {
            time_ms: now_ms,
            cpu: cpu.map(|c| c.ticks),
            net,
            protocols,
            listen_overflows,
            disks,
        };
        let mut per_disk = Vec::new();
        if let Some(prev) = self.prev.take().filter(|p| now_ms > p.time_ms) {
            let dt = now_ms - prev.time_ms;
            if let (Some(p), Some(c)) = (&prev.cpu, &cur.cpu) {
                rates::cpu(p, c, &mut node);
            }
            if let (Some(p), Some(c)) = (&prev.net, &cur.net) {
                rates::traffic(p, c, dt, &mut node);
            }
            if let (Some(p), Some(c)) = (&prev.protocols, &cur.protocols) {
                rates::protocols(p, c, dt, &mut node);
            }
            if let (Some(p), Some(c)) = (prev.listen_overflows, cur.listen_overflows) {
                rates::listen_overflows(p, c, dt, &mut node);
            }
            if let (Some(p), Some(c)) = (&prev.disks, &cur.disks) {
                for (name, now) in c {
                    if let Some(v) = p.get(name).and_then(|before| rates::disk(before, now, dt)) {
                        per_disk.push((name.clone(), v));
                    }
                }
            }
        }
        self.prev = Some(cur);

        let mut samples = Vec::new();
        if !node.is_empty() {
            samples.push(sample(now_ms, BTreeMap::new(), node));
        }
        for (point, values) in partitions {
            let keys = BTreeMap::from([("partition".to_string(), point)]);
            samples.push(sample(now_ms, keys, values));
        }
        for (name, values) in per_disk {
            let keys = BTreeMap::from([("disk".to_string(), name)]);
            samples.push(sample(now_ms, keys, values));
        }
        Sampled { samples, errors }
    }
}
