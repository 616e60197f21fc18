//! Reading and parsing the /proc files: one function per source, each
//! returning the raw counters of that moment or a [`ReadError`] naming the
//! file.
//!
//! `stat`, `net/dev` and `diskstats` are parsed by `procfs-core` (its
//! parsers take any reader, so any proc root works). `meminfo`, `loadavg`,
//! `net/snmp` and `net/netstat` are parsed here: procfs-core's `Meminfo`
//! and `Snmp` demand fields this sampler does not use (and that older
//! kernels lack), `LoadAverage` rounds to `f32`, and it has no `netstat`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use procfs_core::{DiskStats, ExplicitSystemInfo, FromRead, FromReadSI, KernelStats, ProcError};

/// Largest file read, in bytes; /proc files are far smaller.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The file could not be opened or read (or statvfs failed).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its content is not what the kernel writes.
    #[error("{}: cannot parse: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

impl ReadError {
    pub(crate) fn parse(path: &Path, message: impl Into<String>) -> Self {
        ReadError::Parse {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    fn proc(path: &Path, e: ProcError) -> Self {
        let message = match e {
            // procfs-core calls every malformed input an internal bug; keep
            // only what it says about the input.
            ProcError::InternalError(e) => e
                .msg
                .trim_start_matches("Internal Unwrap Error: ")
                .to_string(),
            other => other.to_string(),
        };
        ReadError::parse(path, message)
    }
}

/// Reads a whole (small) file as text.
pub(crate) fn read_text(path: &Path) -> Result<String, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    File::open(path)
        .map_err(io)?
        .take(MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(io)?;
    Ok(text)
}

/// Jiffies of all CPUs together, from the `cpu` line of /proc/stat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CpuTicks {
    /// User mode, guest time included (the kernel counts it in both).
    pub user: u64,
    /// User mode at low priority, niced guest time included.
    pub nice: u64,
    /// System mode.
    pub system: u64,
    /// Idle.
    pub idle: u64,
    /// Idle while waiting for IO.
    pub iowait: u64,
    /// Hard interrupts.
    pub irq: u64,
    /// Soft interrupts.
    pub softirq: u64,
    /// Stolen by the hypervisor.
    pub steal: u64,
}

/// What /proc/stat gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cpu {
    /// Number of `cpuN` lines: online cores.
    pub cores: usize,
    /// Node-wide jiffies.
    pub ticks: CpuTicks,
}

/// Reads `<proc>/stat`.
pub(crate) fn read_cpu(path: &Path) -> Result<Cpu, ReadError> {
    let text = read_text(path)?;
    // Only raw ticks are used; the tick rate is never needed.
    let info = ExplicitSystemInfo {
        boot_time_secs: 0,
        ticks_per_second: 100,
        page_size: 4096,
        is_little_endian: cfg!(target_endian = "little"),
    };
    let stats =
        KernelStats::from_read(text.as_bytes(), &info).map_err(|e| ReadError::proc(path, e))?;
    let t = &stats.total;
    Ok(Cpu {
        cores: stats.cpu_time.len(),
        ticks: CpuTicks {
            user: t.user,
            nice: t.nice,
            system: t.system,
            idle: t.idle,
            iowait: t.iowait.unwrap_or(0),
            irq: t.irq.unwrap_or(0),
            softirq: t.softirq.unwrap_or(0),
            steal: t.steal.unwrap_or(0),
        },
    })
}

/// Reads `<proc>/loadavg`: the 1, 5 and 15 minute load averages.
pub(crate) fn read_load(path: &Path) -> Result<[f64; 3], ReadError> {
    let text = read_text(path)?;
    let mut fields = text.split_whitespace();
    let mut load = [0.0; 3];
    for slot in &mut load {
        let field = fields
            .next()
            .ok_or_else(|| ReadError::parse(path, "fewer than 3 fields"))?;
        *slot = field
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| ReadError::parse(path, format!("bad load average {field:?}")))?;
    }
    Ok(load)
}

/// The /proc/meminfo figures used, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Memory {
    /// MemTotal.
    pub total: u64,
    /// MemFree.
    pub free: u64,
    /// Buffers.
    pub buffers: u64,
    /// Cached.
    pub cached: u64,
}

/// Reads `<proc>/meminfo`.
pub(crate) fn read_memory(path: &Path) -> Result<Memory, ReadError> {
    let text = read_text(path)?;
    let mut fields = HashMap::new();
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if !matches!(name, "MemTotal" | "MemFree" | "Buffers" | "Cached") {
            continue;
        }
        let mut parts = rest.split_whitespace();
        let value = parts
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| ReadError::parse(path, format!("bad value in {line:?}")))?;
        let unit = match parts.next() {
            None => 1,
            Some("kB") => 1024,
            Some(other) => {
                return Err(ReadError::parse(path, format!("unknown unit {other:?}")));
            }
        };
        fields.insert(name, value.saturating_mul(unit));
    }
    let get = |name: &str| {
        fields
            .get(name)
            .copied()
            .ok_or_else(|| ReadError::parse(path, format!("no {name}")))
    };
    Ok(Memory {
        total: get("MemTotal")?,
        free: get("MemFree")?,
        buffers: get("Buffers")?,
        cached: get("Cached")?,
    })
}

/// Counters of one network interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NetCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errs: u64,
    pub rx_drop: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errs: u64,
    pub tx_drop: u64,
}

/// Reads `<proc>/net/dev`: counters per interface, those for which `skip`
/// is true left out.
pub(crate) fn read_net_dev(
    path: &Path,
    skip: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, NetCounters>, ReadError> {
    let text = read_text(path)?;
    let status = procfs_core::net::InterfaceDeviceStatus::from_read(text.as_bytes())
        .map_err(|e| ReadError::proc(path, e))?;
    Ok(status
        .0
        .into_iter()
        .filter(|(name, _)| !skip(name))
        .map(|(name, d)| {
            let counters = NetCounters {
                rx_bytes: d.recv_bytes,
                rx_packets: d.recv_packets,
                rx_errs: d.recv_errs,
                rx_drop: d.recv_drop,
                tx_bytes: d.sent_bytes,
                tx_packets: d.sent_packets,
                tx_errs: d.sent_errs,
                tx_drop: d.sent_drop,
            };
            (name, counters)
        })
        .collect())
}

/// Parses the two-line sections of /proc/net/snmp and /proc/net/netstat
/// (`Tcp: names…` then `Tcp: values…`) into `"Tcp:ActiveOpens" → value`.
/// Values that are not unsigned integers (`Tcp: MaxConn` is -1) are left
/// out.
pub(crate) fn parse_sections(text: &str) -> Result<HashMap<String, u64>, String> {
    let mut out = HashMap::new();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    while let Some(header) = lines.next() {
        let values = lines
            .next()
            .ok_or_else(|| format!("header {header:?} without a value line"))?;
        let mut names = header.split_whitespace();
        let mut nums = values.split_whitespace();
        let (prefix, value_prefix) = (names.next(), nums.next());
        let prefix = match (prefix, value_prefix) {
            (Some(p), Some(v)) if p == v && p.ends_with(':') => p,
            _ => return Err(format!("mismatched lines {header:?} and {values:?}")),
        };
        let names: Vec<&str> = names.collect();
        let nums: Vec<&str> = nums.collect();
        if names.len() != nums.len() {
            return Err(format!(
                "{prefix} has {} names but {} values",
                names.len(),
                nums.len()
            ));
        }
        for (name, num) in names.into_iter().zip(nums) {
            if let Ok(v) = num.parse::<u64>() {
                out.insert(format!("{prefix}{name}"), v);
            }
        }
    }
    Ok(out)
}

/// TCP and UDP counters of /proc/net/snmp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Protocols {
    pub active_opens: u64,
    pub passive_opens: u64,
    pub attempt_fails: u64,
    pub curr_estab: u64,
    pub out_segs: u64,
    pub retrans_segs: u64,
    pub udp_in_datagrams: u64,
    pub udp_out_datagrams: u64,
    pub udp_in_errors: u64,
    pub udp_no_ports: u64,
}

/// Reads `<proc>/net/snmp`.
pub(crate) fn read_snmp(path: &Path) -> Result<Protocols, ReadError> {
    let text = read_text(path)?;
    let fields = parse_sections(&text).map_err(|m| ReadError::parse(path, m))?;
    let get = |name: &str| {
        fields
            .get(name)
            .copied()
            .ok_or_else(|| ReadError::parse(path, format!("no {name}")))
    };
    Ok(Protocols {
        active_opens: get("Tcp:ActiveOpens")?,
        passive_opens: get("Tcp:PassiveOpens")?,
        attempt_fails: get("Tcp:AttemptFails")?,
        curr_estab: get("Tcp:CurrEstab")?,
        out_segs: get("Tcp:OutSegs")?,
        retrans_segs: get("Tcp:RetransSegs")?,
        udp_in_datagrams: get("Udp:InDatagrams")?,
        udp_out_datagrams: get("Udp:OutDatagrams")?,
        udp_in_errors: get("Udp:InErrors")?,
        udp_no_ports: get("Udp:NoPorts")?,
    })
}

/// Reads `TcpExt: ListenOverflows` of `<proc>/net/netstat`.
pub(crate) fn read_listen_overflows(path: &Path) -> Result<u64, ReadError> {
    let text = read_text(path)?;
    let fields = parse_sections(&text).map_err(|m| ReadError::parse(path, m))?;
    fields
        .get("TcpExt:ListenOverflows")
        .copied()
        .ok_or_else(|| ReadError::parse(path, "no TcpExt:ListenOverflows"))
}

/// Counters of one disk, from /proc/diskstats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DiskCounters {
    /// Reads completed.
    pub reads: u64,
    /// Sectors (512 bytes) read.
    pub sectors_read: u64,
    /// Milliseconds spent reading.
    pub read_ms: u64,
    /// Writes completed.
    pub writes: u64,
    /// Sectors (512 bytes) written.
    pub sectors_written: u64,
    /// Milliseconds spent writing.
    pub write_ms: u64,
    /// Milliseconds during which IO was in progress.
    pub io_ms: u64,
    /// Weighted milliseconds of IO (time × requests in flight).
    pub weighted_ms: u64,
}

/// Prefixes of block devices that are not disks.
const NOT_DISKS: &[&str] = &["loop", "ram", "zram", "fd"];

/// Names of whole disks in `<sys>/block` (`!` in a name stands for `/`),
/// or None when it cannot be listed.
fn sys_block_devices(sys_root: &Path) -> Option<HashSet<String>> {
    let names: HashSet<String> = std::fs::read_dir(sys_root.join("block"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().replace('!', "/"))
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Whether `name` is a partition of another device of `names` (`sda1` of
/// `sda`, `nvme0n1p2` of `nvme0n1`): the fallback when sysfs is not there.
fn looks_like_partition(name: &str, names: &HashSet<&str>) -> bool {
    names.iter().any(|disk| {
        name.len() > disk.len()
            && name.starts_with(disk)
            && name[disk.len()..]
                .trim_start_matches('p')
                .bytes()
                .all(|b| b.is_ascii_digit())
            && !name[disk.len()..].trim_start_matches('p').is_empty()
    })
}

/// Reads `<proc>/diskstats`, keeping whole disks only: devices listed in
/// `<sys>/block` (or, without sysfs, devices that are no other device's
/// partition), less loop, ram and zram devices.
pub(crate) fn read_disks(
    path: &Path,
    sys_root: &Path,
) -> Result<BTreeMap<String, DiskCounters>, ReadError> {
    let text = read_text(path)?;
    let stats = DiskStats::from_read(text.as_bytes()).map_err(|e| ReadError::proc(path, e))?;
    let whole = sys_block_devices(sys_root);
    let all: HashSet<&str> = stats.0.iter().map(|d| d.name.as_str()).collect();
    let is_disk = |name: &str| {
        !NOT_DISKS.iter().any(|p| name.starts_with(p))
            && match &whole {
                Some(whole) => whole.contains(name),
                None => !looks_like_partition(name, &all),
            }
    };
    Ok(stats
        .0
        .iter()
        .filter(|d| is_disk(&d.name))
        .map(|d| {
            let counters = DiskCounters {
                reads: d.reads,
                sectors_read: d.sectors_read,
                read_ms: d.time_reading,
                writes: d.writes,
                sectors_written: d.sectors_written,
                write_ms: d.time_writing,
                io_ms: d.time_in_progress,
                weighted_ms: d.weighted_time_in_progress,
            };
            (d.name.clone(), counters)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_pair_names_and_values() {
        let text = "Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 42\n\
                    Udp: InDatagrams\nUdp: 7\n";
        let f = parse_sections(text).unwrap();
        assert_eq!(f["Tcp:ActiveOpens"], 42);
        assert_eq!(f["Udp:InDatagrams"], 7);
        assert!(!f.contains_key("Tcp:MaxConn"));
    }

    #[test]
    fn sections_reject_mismatches() {
        assert!(parse_sections("Tcp: A B\nTcp: 1\n").is_err());
        assert!(parse_sections("Tcp: A\nUdp: 1\n").is_err());
        assert!(parse_sections("Tcp: A\n").is_err());
        assert!(parse_sections("garbage\nmore garbage\n").is_err());
    }

    #[test]
    fn partitions_are_told_from_disks() {
        let names: HashSet<&str> = ["sda", "sda1", "nvme0n1", "nvme0n1p2", "mmcblk0", "vdb"]
            .into_iter()
            .collect();
        assert!(looks_like_partition("sda1", &names));
        assert!(looks_like_partition("nvme0n1p2", &names));
        assert!(!looks_like_partition("sda", &names));
        assert!(!looks_like_partition("nvme0n1", &names));
        assert!(!looks_like_partition("vdb", &names));
        assert!(!looks_like_partition("mmcblk0", &names));
    }
}
