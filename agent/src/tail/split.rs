//! Reading the complete lines of a file from an offset, bounded in memory.

use std::io::{ErrorKind, Read, Seek, SeekFrom};

use super::LineBuf;

/// Size of each `read` call.
const CHUNK: usize = 64 * 1024;

/// The complete lines read from one offset, up to end of file or a budget.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Lines {
    /// Lines without their `\n` and without one trailing `\r`.
    pub(crate) lines: LineBuf,
    /// Lines longer than the bound, skipped.
    pub(crate) too_long: u64,
    /// Lines skipped because they did not fit in `keep`.
    pub(crate) dropped: u64,
    /// Bytes the returned lines occupy in the file (with `\r` and `\n`).
    pub(crate) kept: u64,
    /// Offset just after the last complete line (the start offset if none).
    pub(crate) end: u64,
    /// Whether reading stopped at the budget with more of the file unread.
    pub(crate) cut: bool,
}

/// Reads the complete (`\n`-terminated) lines of `file` from `start`, to end
/// of file or until `budget` bytes of the file are consumed, whichever comes
/// first. A final line without `\n` is left unread: `end` stops before it.
///
/// Lines are never split: `end - start` stays within `budget`, except that
/// the first line is always taken whole. A line longer than `max_line_bytes`
/// (after dropping one trailing `\r`) is counted in `too_long` and never held
/// in memory beyond `max_line_bytes + 1` bytes. Lines are returned while the
/// bytes they occupy in the file add up to at most `keep`; a line that does
/// not fit in what is left is skipped and counted in `dropped`.
pub(crate) fn read_lines<F: Read + Seek>(
    file: &mut F,
    start: u64,
    max_line_bytes: usize,
    budget: u64,
    mut keep: u64,
) -> std::io::Result<Lines> {
    file.seek(SeekFrom::Start(start))?;
    let mut out = Lines {
        end: start,
        ..Lines::default()
    };
    // The line in progress is appended to `out.lines` from `mark` on,
    // capped at `max_line_bytes + 1` bytes, and dropped if not kept.
    let mut mark = out.lines.mark();
    // Whether the line in progress already went past the cap.
    let mut overflow = false;
    // Bytes of the line in progress read so far.
    let mut pending_len: u64 = 0;
    let cap = max_line_bytes.saturating_add(1);
    let mut buf = vec![0u8; CHUNK];
    'read: loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            let (part, newline) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (&chunk[..i], true),
                None => (chunk, false),
            };
            pending_len += part.len() as u64;
            // Past the budget with a line already taken: this one waits.
            if out.end > start && out.end - start + pending_len + u64::from(newline) > budget {
                out.cut = true;
                break 'read;
            }
            if !overflow {
                let room = cap - out.lines.line(mark).len();
                if part.len() > room {
                    overflow = true;
                    out.lines.discard(mark);
                } else {
                    out.lines.extend_line(part);
                }
            }
            chunk = &chunk[part.len()..];
            if newline {
                chunk = &chunk[1..];
                out.end += pending_len + 1;
                out.lines.trim_cr(mark);
                if overflow || out.lines.line(mark).len() > max_line_bytes {
                    out.too_long += 1;
                    out.lines.discard(mark);
                } else if pending_len + 1 > keep {
                    out.dropped += 1;
                    out.lines.discard(mark);
                } else {
                    keep -= pending_len + 1;
                    out.kept += pending_len + 1;
                    out.lines.finish_line();
                }
                mark = out.lines.mark();
                pending_len = 0;
                overflow = false;
            }
        }
    }
    // A line left incomplete (end of file, or the budget) is not returned.
    out.lines.discard(mark);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn lines(data: &[u8], start: u64, max: usize) -> Lines {
        read_lines(
            &mut Cursor::new(data.to_vec()),
            start,
            max,
            u64::MAX,
            u64::MAX,
        )
        .unwrap()
    }

    fn texts(got: &Lines) -> Vec<Vec<u8>> {
        got.lines.iter().map(<[u8]>::to_vec).collect()
    }

    fn budgeted(data: &[u8], start: u64, budget: u64) -> Lines {
        read_lines(
            &mut Cursor::new(data.to_vec()),
            start,
            100,
            budget,
            u64::MAX,
        )
        .unwrap()
    }

    #[test]
    fn splits_complete_lines_only() {
        let got = lines(b"a\nbb\r\nccc", 0, 10);
        assert_eq!(texts(&got), vec![b"a".to_vec(), b"bb".to_vec()]);
        assert_eq!(got.end, 6);
        assert_eq!(got.too_long, 0);
    }

    #[test]
    fn starts_at_offset() {
        let got = lines(b"a\nbb\n", 2, 10);
        assert_eq!(texts(&got), vec![b"bb".to_vec()]);
        assert_eq!(got.end, 5);
    }

    #[test]
    fn too_long_lines_are_counted_and_skipped() {
        let got = lines(b"12345\n123\n1234\r\n", 0, 4);
        assert_eq!(texts(&got), vec![b"123".to_vec(), b"1234".to_vec()]);
        assert_eq!(got.too_long, 1);
        assert_eq!(got.end, 16);
    }

    #[test]
    fn long_lines_across_chunks() {
        let mut data = vec![b'x'; CHUNK * 2 + 7];
        data.push(b'\n');
        data.extend_from_slice(b"ok\n");
        let got = lines(&data, 0, 100);
        assert_eq!(texts(&got), vec![b"ok".to_vec()]);
        assert_eq!(got.too_long, 1);
        assert_eq!(got.end, data.len() as u64);
    }

    #[test]
    fn budget_stops_between_lines() {
        let data = b"aaa\nbbb\nccc\n";
        let got = budgeted(data, 0, 8);
        assert_eq!(texts(&got), vec![b"aaa".to_vec(), b"bbb".to_vec()]);
        assert_eq!((got.end, got.cut), (8, true));
        let got = budgeted(data, 0, 7);
        assert_eq!(texts(&got), vec![b"aaa".to_vec()]);
        assert_eq!((got.end, got.cut), (4, true));
        let got = budgeted(data, 8, 8);
        assert_eq!(texts(&got), vec![b"ccc".to_vec()]);
        assert_eq!((got.end, got.cut), (12, false));
    }

    #[test]
    fn first_line_is_taken_even_over_budget() {
        let got = budgeted(b"abcdefgh\nx\n", 0, 3);
        assert_eq!(texts(&got), vec![b"abcdefgh".to_vec()]);
        assert_eq!((got.end, got.cut), (9, true));
    }

    #[test]
    fn partial_tail_is_not_a_cut() {
        let got = budgeted(b"a\nbbbb", 0, 100);
        assert_eq!((got.end, got.cut), (2, false));
    }

    #[test]
    fn lines_over_keep_are_dropped_and_counted() {
        let data = b"aaa\nbbbbbbbb\ncc\ndd\n";
        let got = read_lines(&mut Cursor::new(data.to_vec()), 0, 100, u64::MAX, 8).unwrap();
        assert_eq!(texts(&got), vec![b"aaa".to_vec(), b"cc".to_vec()]);
        assert_eq!((got.dropped, got.kept, got.end), (2, 7, data.len() as u64));
    }

    #[test]
    fn empty_lines_are_kept() {
        let got = lines(b"\n\n", 0, 0);
        assert_eq!(texts(&got), vec![Vec::<u8>::new(), Vec::new()]);
    }
}
