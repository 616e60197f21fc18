//! Which monitors read a file, and how a monitor's source turns a file's
//! bytes into events: shared by `vigil replay` and `vigil run`.

use std::path::Path;

use vigil_config::{Encoding, Monitor};

/// Whether `monitor`'s source paths match `file`, by full path (as given or
/// canonical) or, failing that, by file name.
pub fn reads(monitor: &Monitor, file: &Path) -> bool {
    let Some(source) = &monitor.source else {
        return false;
    };
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
    source.paths.iter().any(|p| {
        let full = glob::Pattern::new(&p.to_string_lossy())
            .map(|g| g.matches_path(&abs) || g.matches_path(file))
            .unwrap_or(false);
        let by_name = match (p.file_name(), &name) {
            (Some(pat), Some(n)) => glob::Pattern::new(&pat.to_string_lossy())
                .map(|g| g.matches(n))
                .unwrap_or(false),
            _ => false,
        };
        full || by_name
    })
}

/// How a source turns bytes into events; monitors with equal keys can share
/// one read of a file.
#[derive(Debug, Clone, PartialEq)]
struct ReadKey {
    encoding: Encoding,
    max_line_bytes: usize,
    multiline: Option<(String, usize)>,
}

impl ReadKey {
    /// The read settings of `m`'s source.
    fn of(m: &Monitor) -> Self {
        let s = m.source.as_ref();
        ReadKey {
            encoding: s.map_or(Encoding::Auto, |s| s.encoding),
            max_line_bytes: s.map_or(vigil_config::validate::DEFAULT_MAX_LINE_BYTES, |s| {
                s.max_line_bytes
            }),
            multiline: s
                .and_then(|s| s.multiline.as_ref())
                .map(|ml| (ml.start.as_str().to_string(), ml.max_lines)),
        }
    }
}

/// Splits monitors (given with their indexes) into groups that decode a
/// file the same way, in first-seen order; returns the indexes per group.
pub fn read_groups<'a>(
    monitors: impl IntoIterator<Item = (usize, &'a Monitor)>,
) -> Vec<Vec<usize>> {
    let mut groups: Vec<(ReadKey, Vec<usize>)> = Vec::new();
    for (i, m) in monitors {
        let key = ReadKey::of(m);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}
