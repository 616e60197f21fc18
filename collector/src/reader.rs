//! Splitting a byte stream into lines, bounded in memory.
//!
//! [`LineReader`] fills a large buffer with `read` calls and hands out each
//! line as a slice of that buffer (no copy). A line longer than the bound is
//! never held in memory: its bytes are dropped as they arrive, only counted,
//! and the line is reported as [`RawLine::TooLong`].

use std::io::{ErrorKind, Read};

/// Default size of the internal buffer: 256 KiB.
pub const DEFAULT_CAPACITY: usize = 256 * 1024;

/// One line handed out by [`LineReader::next_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawLine<'a> {
    /// The bytes of the line, without its `\n` and without one trailing `\r`.
    Line(&'a [u8]),
    /// A line longer than the bound, skipped without being kept.
    TooLong {
        /// Length of the line in bytes, without its `\n` and one trailing `\r`.
        len: u64,
    },
}

/// Reads lines from any [`Read`], bounded in memory.
///
/// Memory use is the larger of the buffer capacity and `max_line_bytes + 2`,
/// whatever the input.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    /// Longest line (without `\n` and one trailing `\r`) returned as text.
    max_line_bytes: usize,
    /// Buffer; `buf.len()` is its usable size, bytes past `end` are stale.
    buf: Vec<u8>,
    /// Start of the line in progress.
    start: usize,
    /// Where the search for `\n` resumes: bytes in `start..scan` hold none.
    scan: usize,
    /// End of the valid bytes.
    end: usize,
    /// Bytes consumed up to just after the last returned line.
    offset: u64,
    /// Whether the line in progress is too long and being dropped.
    discarding: bool,
    /// Bytes of the line in progress already dropped.
    discarded: u64,
    /// Last byte dropped, to recognise a `\r` just before the `\n`.
    last_discarded: u8,
}

impl<R: Read> LineReader<R> {
    /// A reader with the default 256 KiB buffer; lines longer than
    /// `max_line_bytes` are reported as [`RawLine::TooLong`].
    pub fn new(inner: R, max_line_bytes: usize) -> Self {
        Self::with_capacity(inner, max_line_bytes, DEFAULT_CAPACITY)
    }

    /// A reader with a buffer of `capacity` bytes (at least 1). The buffer
    /// grows up to `max_line_bytes + 2` when a line needs it, never further.
    pub fn with_capacity(inner: R, max_line_bytes: usize, capacity: usize) -> Self {
        LineReader {
            inner,
            max_line_bytes,
            buf: vec![0; capacity.max(1)],
            start: 0,
            scan: 0,
            end: 0,
            offset: 0,
            discarding: false,
            discarded: 0,
            last_discarded: 0,
        }
    }

    /// Bytes consumed so far: the offset just after the last returned line.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The next line without its `\n` (and without one trailing `\r`), or a
    /// marker for a line longer than the bound. `Ok(None)` at end of input.
    /// A final line without `\n` is returned at end of input.
    ///
    /// # Errors
    ///
    /// Errors of the inner reader other than `Interrupted` (which is retried).
    /// No data is lost: calling again resumes where the reader stopped.
    pub fn next_line(&mut self) -> std::io::Result<Option<RawLine<'_>>> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.scan..self.end]) {
                let newline = self.scan + pos;
                return Ok(Some(self.take_line(newline, newline + 1)));
            }
            self.scan = self.end;
            if self.discarding || self.end - self.start > self.max_line_bytes.saturating_add(1) {
                // Too long whatever follows: drop what is held, keep counting.
                self.drop_pending();
            }
            if self.fill()? == 0 {
                if self.start == self.end && !self.discarding {
                    return Ok(None);
                }
                let end = self.end;
                return Ok(Some(self.take_line(end, end)));
            }
        }
    }

    /// Ends the line in progress at `line_end` (exclusive) and consumes input
    /// up to `next` (just after the `\n`, or `line_end` at end of input).
    fn take_line(&mut self, line_end: usize, next: usize) -> RawLine<'_> {
        let line_start = self.start;
        self.start = next;
        self.scan = next;
        self.offset += (next - line_start) as u64;
        if self.discarding {
            self.offset += self.discarded;
            let last = if line_end > line_start {
                self.buf[line_end - 1]
            } else {
                self.last_discarded
            };
            let len = self.discarded + (line_end - line_start) as u64 - u64::from(last == b'\r');
            self.discarding = false;
            self.discarded = 0;
            return RawLine::TooLong { len };
        }
        let mut line = &self.buf[line_start..line_end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.len() > self.max_line_bytes {
            RawLine::TooLong {
                len: line.len() as u64,
            }
        } else {
            RawLine::Line(line)
        }
    }

    /// Drops the bytes of the line in progress (which holds no `\n`).
    fn drop_pending(&mut self) {
        if self.end > self.start {
            self.discarded += (self.end - self.start) as u64;
            self.last_discarded = self.buf[self.end - 1];
        }
        self.discarding = true;
        self.start = 0;
        self.scan = 0;
        self.end = 0;
    }

    /// Makes room after the line in progress and reads once into it,
    /// retrying on `Interrupted`. Returns the number of bytes read.
    fn fill(&mut self) -> std::io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scan -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // The line in progress fills the buffer yet fits the bound
            // (`end <= max_line_bytes + 1`): grow, at most to the bound + 2.
            let limit = self.max_line_bytes.saturating_add(2);
            let size = self.buf.len().saturating_mul(2).min(limit);
            self.buf.resize(size, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Owned form of a [`RawLine`], for comparisons.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Owned {
        Line(Vec<u8>),
        TooLong(u64),
    }

    /// A reader returning at most the next size of `sizes` (cycled) per read.
    struct Chunked<'a> {
        data: &'a [u8],
        sizes: Vec<usize>,
        next: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let size = self.sizes[self.next % self.sizes.len()];
            self.next += 1;
            let n = size.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// All lines of `reader`, checking that the offset grows with each line
    /// and ends at the total input length.
    fn collect<R: Read>(reader: LineReader<R>) -> Vec<Owned> {
        collect_with_offset(reader).0
    }

    fn collect_with_offset<R: Read>(mut reader: LineReader<R>) -> (Vec<Owned>, u64) {
        let mut lines = Vec::new();
        let mut offsets = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            lines.push(match line {
                RawLine::Line(l) => Owned::Line(l.to_vec()),
                RawLine::TooLong { len } => Owned::TooLong(len),
            });
            offsets.push(reader.offset());
        }
        assert!(offsets.windows(2).all(|w| w[0] < w[1]));
        (lines, reader.offset())
    }

    fn lines_of(input: &[u8], max: usize) -> Vec<Owned> {
        collect(LineReader::new(input, max))
    }

    /// What `input` should split into, by the plain definition.
    fn expected(input: &[u8], max: usize) -> Vec<Owned> {
        let mut pieces: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
        if pieces.last().is_some_and(|p| p.is_empty()) {
            pieces.pop();
        }
        pieces
            .into_iter()
            .map(|p| {
                let p = p.strip_suffix(b"\r").unwrap_or(p);
                if p.len() > max {
                    Owned::TooLong(p.len() as u64)
                } else {
                    Owned::Line(p.to_vec())
                }
            })
            .collect()
    }

    fn line(s: &str) -> Owned {
        Owned::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn crlf_endings() {
        assert_eq!(
            lines_of(b"a\r\nbc\r\n\r\nd\r\r\n", 100),
            vec![line("a"), line("bc"), line(""), line("d\r")]
        );
    }

    #[test]
    fn final_line_without_newline() {
        assert_eq!(lines_of(b"a\nb", 100), vec![line("a"), line("b")]);
        assert_eq!(lines_of(b"a\nb\r", 100), vec![line("a"), line("b")]);
        assert_eq!(lines_of(b"", 100), vec![]);
        let mut reader = LineReader::new(&b"a\nbcd"[..], 100);
        reader.next_line().unwrap();
        assert_eq!(reader.offset(), 2);
        reader.next_line().unwrap();
        assert_eq!(reader.offset(), 5);
        assert!(reader.next_line().unwrap().is_none());
        assert_eq!(reader.offset(), 5);
    }

    #[test]
    fn empty_lines() {
        assert_eq!(
            lines_of(b"\n\nx\n\n", 100),
            vec![line(""), line(""), line("x"), line("")]
        );
    }

    #[test]
    fn long_line_is_skipped() {
        let mut input = vec![b'x'; 1 << 20];
        input.extend_from_slice(b"\r\nnext line\nlast");
        let mut reader = LineReader::new(&input[..], 64 * 1024);
        assert_eq!(
            reader.next_line().unwrap(),
            Some(RawLine::TooLong { len: 1 << 20 })
        );
        assert_eq!(reader.offset(), (1 << 20) + 2);
        assert_eq!(
            reader.next_line().unwrap(),
            Some(RawLine::Line(b"next line"))
        );
        assert_eq!(reader.next_line().unwrap(), Some(RawLine::Line(b"last")));
        assert_eq!(reader.next_line().unwrap(), None);
        assert_eq!(reader.offset(), input.len() as u64);
        // The buffer never grew for the long line.
        assert_eq!(reader.buf.len(), DEFAULT_CAPACITY);
    }

    #[test]
    fn bound_is_exact() {
        let input = b"abcd\nabcde\nabcd\r\nabcde\r\nabcdef\r\nabc\rd\r";
        let want = expected(input, 4);
        assert_eq!(want[1], Owned::TooLong(5));
        for cap in 1..12 {
            assert_eq!(collect(LineReader::with_capacity(&input[..], 4, cap)), want);
        }
    }

    #[test]
    fn buffer_grows_to_the_bound_only() {
        let mut input = vec![b'y'; 1000];
        input.push(b'\n');
        let mut reader = LineReader::with_capacity(&input[..], 1000, 16);
        assert_eq!(reader.next_line().unwrap().map(|_| ()), Some(()));
        assert!(reader.buf.len() <= 1002);
        let mut reader = LineReader::with_capacity(&input[..], 999, 16);
        assert_eq!(
            reader.next_line().unwrap(),
            Some(RawLine::TooLong { len: 1000 })
        );
        assert!(reader.buf.len() <= 1001);
    }

    #[test]
    fn tiny_reads_give_the_same_lines() {
        let mut input = Vec::new();
        for i in 0..500 {
            input.extend_from_slice(format!("line {i} {}\r\n", "z".repeat(i % 37)).as_bytes());
            if i % 50 == 0 {
                input.extend(std::iter::repeat_n(b'L', 300));
                input.push(b'\n');
            }
        }
        input.extend_from_slice(b"tail");
        let want = lines_of(&input, 100);
        assert_eq!(want, expected(&input, 100));
        let chunked = Chunked {
            data: &input,
            sizes: vec![1, 2, 3, 4, 5, 6, 7, 3, 1],
            next: 0,
        };
        assert_eq!(collect(LineReader::with_capacity(chunked, 100, 64)), want);
        let chunked = Chunked {
            data: &input,
            sizes: vec![7, 1, 5],
            next: 0,
        };
        assert_eq!(collect(LineReader::new(chunked, 100)), want);
    }

    #[test]
    fn interrupted_reads_are_retried() {
        struct Flaky<'a>(&'a [u8], bool);
        impl Read for Flaky<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                self.1 = !self.1;
                if self.1 {
                    return Err(ErrorKind::Interrupted.into());
                }
                let n = out.len().min(self.0.len()).min(3);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let input = b"one\ntwo\nthree";
        let reader = LineReader::new(Flaky(input, false), 10);
        assert_eq!(collect(reader), expected(input, 10));
    }

    proptest! {
        #[test]
        fn any_input_any_reads(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()],
                0..600,
            ),
            sizes in proptest::collection::vec(1usize..40, 1..8),
            max in 0usize..24,
            capacity in 1usize..64,
        ) {
            let want = expected(&input, max);
            let chunked = Chunked { data: &input, sizes, next: 0 };
            let (lines, offset) =
                collect_with_offset(LineReader::with_capacity(chunked, max, capacity));
            prop_assert_eq!(lines, want.clone());
            prop_assert_eq!(offset, input.len() as u64);
            prop_assert_eq!(lines_of(&input, max), want);
        }
    }
}
