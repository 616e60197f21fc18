//! [`LineBuf`]: the lines of a batch in one buffer.

/// Lines kept in one buffer, each followed by `\n`: the form they take in
/// an ingest frame ([`vigil_model::wire::encode_ingest_payloads`]), so a
/// batch is read with one copy and shipped with one more, allocating
/// nothing per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineBuf {
    text: Vec<u8>,
    count: usize,
}

impl LineBuf {
    /// Number of lines.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there is no line.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The lines, without their `\n`.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        vigil_model::wire::lines(&self.text)
    }

    /// The lines, each followed by `\n`: a batch's payload in a frame.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }

    /// Where the next line starts: the mark of a line being appended.
    pub(crate) fn mark(&self) -> usize {
        self.text.len()
    }

    /// Appends `part` to the line being appended (begun at the last mark).
    pub(crate) fn extend_line(&mut self, part: &[u8]) {
        self.text.extend_from_slice(part);
    }

    /// The line begun at `mark`, so far.
    pub(crate) fn line(&self, mark: usize) -> &[u8] {
        &self.text[mark..]
    }

    /// Drops the line begun at `mark`: it is not kept.
    pub(crate) fn discard(&mut self, mark: usize) {
        self.text.truncate(mark);
    }

    /// Drops one trailing `\r` of the line begun at `mark`.
    pub(crate) fn trim_cr(&mut self, mark: usize) {
        if let [.., b'\r'] = self.line(mark) {
            self.text.pop();
        }
    }

    /// Ends the line being appended: it is kept.
    pub(crate) fn finish_line(&mut self) {
        self.text.push(b'\n');
        self.count += 1;
    }
}

impl AsRef<[u8]> for LineBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_one_buffer() {
        let mut buf = LineBuf::default();
        assert!(buf.is_empty());
        for line in ["a", "", "bc"] {
            buf.extend_line(line.as_bytes());
            buf.finish_line();
        }
        assert_eq!(buf.len(), 3);
        assert_eq!(buf.as_bytes(), b"a\n\nbc\n");
        let mark = buf.mark();
        buf.extend_line(b"de");
        buf.extend_line(b"f\r");
        assert_eq!(buf.line(mark), b"def\r");
        buf.trim_cr(mark);
        buf.trim_cr(mark);
        buf.finish_line();
        let mark = buf.mark();
        buf.extend_line(b"dropped");
        buf.discard(mark);
        let lines: Vec<&[u8]> = buf.iter().collect();
        assert_eq!(lines, [&b"a"[..], b"", b"bc", b"def"]);
        assert_eq!(buf.len(), 4);
    }
}
