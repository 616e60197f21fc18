//! Mounted partitions: which mounts of the mount table are reported, and
//! their sizes by statvfs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::source::ReadError;

/// File system types that are not storage, left out by default.
const VIRTUAL_FS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nfsd",
    "nsfs",
    "overlay",
    "aufs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "udf",
];

/// One line of a mount table (`/proc/<pid>/mounts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// What is mounted: a device (`/dev/vda1`) or a name (`tmpfs`).
    pub spec: String,
    /// Where, as seen by the process of the table.
    pub mount_point: String,
    /// The file system type.
    pub fstype: String,
}

/// Undoes the kernel's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a mount table; a line with fewer than three fields is an error.
pub(crate) fn parse_mounts(text: &str) -> Result<Vec<Mount>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, line)| {
            let mut f = line.split_whitespace();
            match (f.next(), f.next(), f.next()) {
                (Some(spec), Some(mount_point), Some(fstype)) => Ok(Mount {
                    spec: unescape(spec),
                    mount_point: unescape(mount_point),
                    fstype: unescape(fstype),
                }),
                _ => Err(format!("line {}: {line:?}", n + 1)),
            }
        })
        .collect()
}

/// Whether a mount is storage: not a virtual file system type, and backed
/// by a block device (`/dev/…`) or a ZFS dataset.
fn is_real(m: &Mount) -> bool {
    !VIRTUAL_FS.contains(&m.fstype.as_str())
        && !m.fstype.starts_with("cgroup")
        && !m.fstype.starts_with("fuse")
        && (m.spec.starts_with("/dev/") || m.fstype == "zfs")
}

/// The mounts to report, sorted by mount point: those of `fs_types` when
/// given, else the real ones. A mount point mounted over keeps its last
/// mount (the visible one); a device mounted at several places (bind
/// mounts, btrfs subvolumes) keeps its shortest mount point, as df does.
pub(crate) fn select(mounts: Vec<Mount>, fs_types: Option<&[String]>) -> Vec<Mount> {
    let wanted = |m: &Mount| match fs_types {
        Some(types) => types.contains(&m.fstype),
        None => is_real(m),
    };
    let mut by_point: BTreeMap<String, Mount> = BTreeMap::new();
    for m in mounts {
        // A later mount hides an earlier one at the same place, wanted or not.
        by_point.insert(m.mount_point.clone(), m);
    }
    let mut by_device: BTreeMap<String, Mount> = BTreeMap::new();
    let mut others = Vec::new();
    for m in by_point.into_values().filter(wanted) {
        if !m.spec.starts_with('/') {
            others.push(m);
            continue;
        }
        match by_device.get(&m.spec) {
            Some(kept) if kept.mount_point.len() <= m.mount_point.len() => {}
            _ => {
                by_device.insert(m.spec.clone(), m);
            }
        }
    }
    let mut out: Vec<Mount> = by_device.into_values().chain(others).collect();
    out.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    out
}

/// Where `mount_point` is reached from this process: under `host_root`.
pub(crate) fn reach(host_root: &Path, mount_point: &str) -> PathBuf {
    host_root.join(mount_point.trim_start_matches('/'))
}

/// The partition metrics of the file system at `path`, df's arithmetic:
/// `btotl` = blocks, `bused` = blocks − free, `bfree` = blocks available
/// to unprivileged users, `util` = used / (used + available) (df's Use%,
/// not rounded); blocks reserved for root are in neither used nor free.
pub(crate) fn stats(path: &Path) -> Result<BTreeMap<String, f64>, ReadError> {
    let st = rustix::fs::statvfs(path).map_err(|e| ReadError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("statvfs: {e}")),
    })?;
    let unit = if st.f_frsize > 0 {
        st.f_frsize
    } else {
        st.f_bsize
    };
    let bytes = |blocks: u64| blocks as f64 * unit as f64;
    let total = bytes(st.f_blocks);
    let used = bytes(st.f_blocks.saturating_sub(st.f_bfree));
    let avail = bytes(st.f_bavail);
    let inodes = st.f_files as f64;
    let ifree = st.f_ffree as f64;
    let pct = |part: f64, whole: f64| {
        if whole > 0.0 {
            part / whole * 100.0
        } else {
            0.0
        }
    };
    Ok(BTreeMap::from([
        ("partition_btotl".to_string(), total),
        ("partition_bused".to_string(), used),
        ("partition_bfree".to_string(), avail),
        ("partition_util".to_string(), pct(used, used + avail)),
        ("partition_itotl".to_string(), inodes),
        ("partition_ifree".to_string(), ifree),
        (
            "partition_iutil".to_string(),
            pct((inodes - ifree).max(0.0), inodes),
        ),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(spec: &str, point: &str, fstype: &str) -> Mount {
        Mount {
            spec: spec.into(),
            mount_point: point.into(),
            fstype: fstype.into(),
        }
    }

    #[test]
    fn octal_escapes_are_undone() {
        assert_eq!(unescape(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape(r"a\134b\011c"), "a\\b\tc");
        assert_eq!(unescape(r"trailing\04"), r"trailing\04");
        assert_eq!(unescape(r"\999"), r"\999");
    }

    #[test]
    fn mount_table_lines() {
        let t = "/dev/vda / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n";
        assert_eq!(
            parse_mounts(t).unwrap(),
            [m("/dev/vda", "/", "ext4"), m("proc", "/proc", "proc")]
        );
        assert!(parse_mounts("only two\n").is_err());
    }

    #[test]
    fn real_file_systems_are_selected_once_per_device() {
        let mounts = vec![
            m("/dev/vda", "/", "ext4"),
            m("proc", "/proc", "proc"),
            m("tmpfs", "/run", "tmpfs"),
            m("cgroup", "/sys/fs/cgroup/cpu", "cgroup"),
            m("/dev/vda", "/etc/hosts", "ext4"),
            m("/dev/loop3", "/snap/core/1", "squashfs"),
            m("server:/export", "/mnt/nfs", "nfs4"),
            m("gvfsd-fuse", "/run/user/1000/gvfs", "fuse.gvfsd-fuse"),
            m("/dev/sdb1", "/data", "xfs"),
            m("tank/home", "/home", "zfs"),
        ];
        let points: Vec<String> = select(mounts.clone(), None)
            .into_iter()
            .map(|m| m.mount_point)
            .collect();
        assert_eq!(points, ["/", "/data", "/home"]);
        let tmp = select(mounts, Some(&["tmpfs".to_string()]));
        assert_eq!(tmp, [m("tmpfs", "/run", "tmpfs")]);
    }

    #[test]
    fn the_last_mount_at_a_point_wins() {
        let mounts = vec![m("/dev/vda", "/", "ext4"), m("overlay", "/", "overlay")];
        assert!(select(mounts, None).is_empty());
    }
}
