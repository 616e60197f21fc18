//! The process table as read from `/proc`, and process counting.

use std::fs;
use std::path::Path;

use regex::Regex;

use super::check::CheckError;

/// Bytes of a process name the kernel keeps (`TASK_COMM_LEN` - 1).
const COMM_LEN: usize = 15;

/// One live (not zombie) process.
#[derive(Debug)]
pub(super) struct Proc {
    /// Its name, `/proc/<pid>/comm` without the newline.
    comm: String,
    /// Its arguments joined with spaces; empty for kernel threads.
    cmdline: String,
}

/// Reads the processes under `root` (normally `/proc`). Processes that
/// vanish or cannot be read while scanning are skipped, zombies too.
///
/// # Errors
///
/// [`CheckError::Proc`] if `root` itself cannot be listed.
pub(super) fn scan(root: &Path) -> Result<Vec<Proc>, CheckError> {
    let entries = fs::read_dir(root).map_err(|e| CheckError::Proc {
        path: root.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut procs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_pid = name
            .to_str()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        let dir = entry.path();
        if is_zombie(&dir) {
            continue;
        }
        let Ok(comm) = fs::read(dir.join("comm")) else {
            continue;
        };
        let Ok(cmdline) = fs::read(dir.join("cmdline")) else {
            continue;
        };
        let comm = String::from_utf8_lossy(&comm)
            .trim_end_matches('\n')
            .to_string();
        let args: Vec<_> = cmdline
            .split(|&b| b == 0)
            .map(String::from_utf8_lossy)
            .collect();
        // A trailing NUL ends the last argument; drop the empty piece after it.
        let args = match args.split_last() {
            Some((last, rest)) if last.is_empty() => rest,
            _ => &args[..],
        };
        procs.push(Proc {
            comm,
            cmdline: args.join(" "),
        });
    }
    Ok(procs)
}

/// Whether the process of `dir` is a zombie (state `Z` in its `stat`,
/// after the parenthesised name, which may itself hold parentheses).
fn is_zombie(dir: &Path) -> bool {
    let Ok(stat) = fs::read(dir.join("stat")) else {
        return false;
    };
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return false;
    };
    stat[close + 1..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&s| s == b'Z')
}

/// Whether `comm` is the process name `name` (or its kernel-truncated
/// first 15 bytes).
fn name_matches(comm: &str, name: &str) -> bool {
    comm == name || (comm.len() == COMM_LEN && name.len() > COMM_LEN && name.starts_with(comm))
}

/// How many of `procs` match `name` and `pattern` (each when given).
pub(super) fn count(procs: &[Proc], name: Option<&str>, pattern: Option<&Regex>) -> u32 {
    let n = procs
        .iter()
        .filter(|p| name.is_none_or(|n| name_matches(&p.comm, n)))
        .filter(|p| pattern.is_none_or(|re| !p.cmdline.is_empty() && re.is_match(&p.cmdline)))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The verdict on `found` processes: `Ok` if it is `expected`, or at least
/// 1 without `expected`.
pub(super) fn verdict(found: u32, expected: Option<u32>) -> Result<(), CheckError> {
    match expected {
        Some(expected) if found != expected => Err(CheckError::Count { found, expected }),
        None if found == 0 => Err(CheckError::NoProcess),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(root: &Path, pid: u32, comm: &str, cmdline: &[u8], state: char) {
        let dir = root.join(pid.to_string());
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        fs::write(dir.join("cmdline"), cmdline).unwrap();
        fs::write(dir.join("stat"), format!("{pid} ({comm}) {state} 1 1 1")).unwrap();
    }

    #[test]
    fn counts_by_name_and_pattern_skipping_zombies_and_kernel_threads() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fake(root, 10, "java", b"java\0-cp\0x.jar\0a.Worker\0", 'S');
        fake(root, 11, "java", b"java\0-cp\0x.jar\0a.Worker\0", 'R');
        fake(root, 12, "java", b"java\0a.Main\0", 'S');
        fake(root, 13, "java", b"", 'Z');
        fake(root, 14, "kworker/0:1", b"", 'I');
        fake(root, 15, "a) Z (b", b"weird\0", 'S');
        fake(
            root,
            16,
            "averylongproces",
            b"/bin/averylongprocessname\0",
            'S',
        );
        fs::create_dir_all(root.join("self")).unwrap();
        fs::write(root.join("uptime"), "1 1").unwrap();
        let procs = scan(root).unwrap();
        assert_eq!(procs.len(), 6);
        let worker = Regex::new(r"java .*Worker").unwrap();
        assert_eq!(count(&procs, None, Some(&worker)), 2);
        assert_eq!(count(&procs, Some("java"), None), 3);
        assert_eq!(count(&procs, Some("java"), Some(&worker)), 2);
        assert_eq!(count(&procs, Some("jav"), None), 0);
        assert_eq!(count(&procs, None, Some(&Regex::new(".*").unwrap())), 5);
        assert_eq!(count(&procs, Some("a) Z (b"), None), 1);
        assert_eq!(count(&procs, Some("averylongprocessname"), None), 1);
        assert_eq!(count(&procs, Some("averylongproces"), None), 1);
        assert_eq!(count(&procs, Some("averylongprocessXYZ"), None), 1);
        assert!(verdict(2, Some(2)).is_ok());
        assert!(verdict(1, Some(2)).is_err());
        assert!(verdict(1, None).is_ok());
        assert!(verdict(0, None).is_err());
        assert!(verdict(0, Some(0)).is_ok());
    }

    #[test]
    fn unreadable_root_is_an_error() {
        let err = scan(Path::new("/nonexistent/proc")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/proc"), "{err}");
    }
}
