//! Bytes to text, per source encoding.
//!
//! A [`Decoder`] is made per file: with [`Encoding::Auto`] the first line
//! holding a non-ASCII byte decides between UTF-8 and GBK for the rest of
//! that file.

use std::borrow::Cow;

use encoding_rs::{DecoderResult, GBK};
use vigil_config::Encoding;

/// A line whose bytes are invalid in the encoding in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line is not valid {} (first bad byte at offset {offset})", encoding_name(.encoding))]
pub struct DecodeError {
    /// The encoding that rejected the line; `Auto` when the line is valid
    /// in neither UTF-8 nor GBK before the file's encoding was decided.
    pub encoding: Encoding,
    /// Offset of the first bad byte within the line. For `Auto`, the later
    /// of the UTF-8 and GBK offsets: the line is valid up to there in one of
    /// them.
    pub offset: usize,
}

/// How an encoding is named in messages.
fn encoding_name(encoding: &Encoding) -> &'static str {
    match encoding {
        Encoding::Auto => "UTF-8 nor GBK",
        Encoding::Utf8 => "UTF-8",
        Encoding::Gbk => "GBK",
    }
}

/// Decodes the lines of one file.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// The encoding configured or decided so far (`Auto` while undecided).
    encoding: Encoding,
}

impl Decoder {
    /// A decoder for one file in `encoding`.
    pub fn new(encoding: Encoding) -> Self {
        Decoder { encoding }
    }

    /// The encoding decided for this file so far (`Auto` until a non-ASCII
    /// line was seen, when configured as `Auto`).
    pub fn detected(&self) -> Encoding {
        self.encoding
    }

    /// Text of a line, or `Err(DecodeError)` when the bytes are invalid for
    /// the encoding in force. Borrows the bytes whenever they are valid UTF-8
    /// (and, for GBK, when they are ASCII).
    ///
    /// # Errors
    ///
    /// [`DecodeError`] when the bytes are invalid in the encoding in force
    /// (for `Auto` while undecided: invalid in both UTF-8 and GBK).
    pub fn decode<'a>(&mut self, bytes: &'a [u8]) -> Result<Cow<'a, str>, DecodeError> {
        match self.encoding {
            Encoding::Utf8 => decode_utf8(bytes).map(Cow::Borrowed),
            Encoding::Gbk => decode_gbk(bytes),
            Encoding::Auto => self.decode_auto(bytes),
        }
    }

    /// Text of a whole block of lines (each ending with `\n`) when every
    /// line of it decodes to the bytes themselves: the block is valid
    /// UTF-8 and the file is UTF-8 or undecided (then decided as UTF-8 if
    /// the block is not ASCII), or the block is ASCII. The state afterwards
    /// is the same as after [`Decoder::decode`] of each line. `None` (and
    /// nothing decided) otherwise: decode the lines one by one.
    ///
    /// One pass over a block instead of one call per line: a newline never
    /// falls inside a multi-byte UTF-8 sequence, so a valid block is made of
    /// valid lines.
    pub fn decode_block<'a>(&mut self, block: &'a [u8]) -> Option<&'a str> {
        let text = std::str::from_utf8(block).ok()?;
        match self.encoding {
            Encoding::Utf8 => Some(text),
            Encoding::Auto => {
                if !text.is_ascii() {
                    self.encoding = Encoding::Utf8;
                }
                Some(text)
            }
            Encoding::Gbk => text.is_ascii().then_some(text),
        }
    }

    /// Decodes while undecided, deciding on the first non-ASCII line that is
    /// valid in UTF-8 or GBK.
    fn decode_auto<'a>(&mut self, bytes: &'a [u8]) -> Result<Cow<'a, str>, DecodeError> {
        let utf8_offset = match std::str::from_utf8(bytes) {
            Ok(text) => {
                if !text.is_ascii() {
                    self.encoding = Encoding::Utf8;
                }
                return Ok(Cow::Borrowed(text));
            }
            Err(e) => e.valid_up_to(),
        };
        match decode_gbk(bytes) {
            Ok(text) => {
                self.encoding = Encoding::Gbk;
                Ok(text)
            }
            Err(e) => Err(DecodeError {
                encoding: Encoding::Auto,
                offset: utf8_offset.max(e.offset),
            }),
        }
    }
}

/// The bytes as UTF-8 text.
fn decode_utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|e| DecodeError {
        encoding: Encoding::Utf8,
        offset: e.valid_up_to(),
    })
}

/// The bytes decoded as GBK (the GB18030 decoder of `encoding_rs`), no replacement.
fn decode_gbk(bytes: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
    GBK.decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or_else(|| DecodeError {
            encoding: Encoding::Gbk,
            offset: gbk_error_offset(bytes),
        })
}

/// Offset of the first byte of the first malformed GBK sequence in `bytes`
/// (`bytes.len()` if there is none, which the caller rules out).
fn gbk_error_offset(bytes: &[u8]) -> usize {
    let mut decoder = GBK.new_decoder_without_bom_handling();
    let mut scratch = [0u8; 1024];
    let mut pos = 0;
    loop {
        let (result, read, _) =
            decoder.decode_to_utf8_without_replacement(&bytes[pos..], &mut scratch, true);
        pos += read;
        match result {
            DecoderResult::OutputFull => {}
            DecoderResult::InputEmpty => return bytes.len(),
            DecoderResult::Malformed(bad, after) => {
                return pos.saturating_sub(usize::from(bad) + usize::from(after));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gbk(text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = GBK.encode(text);
        assert!(!unmappable);
        bytes.into_owned()
    }

    #[test]
    fn utf8_chinese() {
        let mut d = Decoder::new(Encoding::Utf8);
        let text = "家居,交易 ok";
        let out = d.decode(text.as_bytes()).unwrap();
        assert!(matches!(out, Cow::Borrowed(_)));
        assert_eq!(out, text);
        assert_eq!(d.detected(), Encoding::Utf8);
    }

    #[test]
    fn gbk_text() {
        let bytes = gbk("家居,交易");
        assert_ne!(bytes, "家居,交易".as_bytes());
        let mut d = Decoder::new(Encoding::Gbk);
        assert_eq!(d.decode(&bytes).unwrap(), "家居,交易");
        assert!(matches!(
            d.decode(b"plain").unwrap(),
            Cow::Borrowed("plain")
        ));
        assert_eq!(
            d.decode(b"ab\xff").unwrap_err(),
            DecodeError {
                encoding: Encoding::Gbk,
                offset: 2
            }
        );
        // A lead byte cut off at the end of the line.
        let mut cut = bytes.clone();
        cut.truncate(3);
        assert_eq!(d.decode(&cut).unwrap_err().offset, 2);
    }

    #[test]
    fn auto_picks_gbk_for_a_gbk_file() {
        let mut d = Decoder::new(Encoding::Auto);
        assert_eq!(d.decode(b"2024-01-01 start").unwrap(), "2024-01-01 start");
        assert_eq!(d.detected(), Encoding::Auto);
        assert_eq!(d.decode(&gbk("家居,交易")).unwrap(), "家居,交易");
        assert_eq!(d.detected(), Encoding::Gbk);
        // From now on GBK, even for bytes that happen to be valid UTF-8.
        let utf8_too = "é".as_bytes();
        assert_eq!(d.decode(utf8_too).unwrap(), GBK.decode(utf8_too).0);
        assert_eq!(d.detected(), Encoding::Gbk);
    }

    #[test]
    fn auto_picks_utf8_for_a_utf8_file() {
        let mut d = Decoder::new(Encoding::Auto);
        assert_eq!(d.decode(b"ascii").unwrap(), "ascii");
        assert_eq!(d.decode("家居,交易".as_bytes()).unwrap(), "家居,交易");
        assert_eq!(d.detected(), Encoding::Utf8);
        // Now GBK bytes are errors.
        let err = d.decode(&gbk("家居")).unwrap_err();
        assert_eq!(err.encoding, Encoding::Utf8);
        assert_eq!(err.offset, 0);
    }

    #[test]
    fn auto_undecided_on_invalid_line() {
        let mut d = Decoder::new(Encoding::Auto);
        let err = d.decode(b"abc\xff").unwrap_err();
        assert_eq!(
            err,
            DecodeError {
                encoding: Encoding::Auto,
                offset: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "line is not valid UTF-8 nor GBK (first bad byte at offset 3)"
        );
        assert_eq!(d.detected(), Encoding::Auto);
        assert_eq!(d.decode("日志".as_bytes()).unwrap(), "日志");
        assert_eq!(d.detected(), Encoding::Utf8);
    }

    #[test]
    fn blocks_decode_as_their_lines_would() {
        let mut auto = Decoder::new(Encoding::Auto);
        assert_eq!(auto.decode_block(b"a=1\nb=2\n"), Some("a=1\nb=2\n"));
        assert_eq!(auto.detected(), Encoding::Auto);
        assert_eq!(
            auto.decode_block("k=\u{4e2d}\n".as_bytes()),
            Some("k=\u{4e2d}\n")
        );
        assert_eq!(auto.detected(), Encoding::Utf8);

        // Invalid UTF-8 (here GBK): line by line, nothing decided.
        let mut undecided = Decoder::new(Encoding::Auto);
        let mut block = gbk("\u{4e2d}\u{6587}");
        block.push(b'\n');
        assert_eq!(undecided.decode_block(&block), None);
        assert_eq!(undecided.detected(), Encoding::Auto);
        assert_eq!(Decoder::new(Encoding::Utf8).decode_block(&block), None);

        // A GBK file takes ASCII blocks whole, and nothing else.
        let mut gbk_file = Decoder::new(Encoding::Gbk);
        assert_eq!(gbk_file.decode_block(b"ok\n"), Some("ok\n"));
        assert_eq!(gbk_file.decode_block("\u{4e2d}\n".as_bytes()), None);
        assert_eq!(gbk_file.detected(), Encoding::Gbk);
    }

    #[test]
    fn invalid_utf8() {
        let mut d = Decoder::new(Encoding::Utf8);
        let err = d.decode(b"\xff").unwrap_err();
        assert_eq!(
            err,
            DecodeError {
                encoding: Encoding::Utf8,
                offset: 0
            }
        );
        assert_eq!(
            err.to_string(),
            "line is not valid UTF-8 (first bad byte at offset 0)"
        );
        assert_eq!(d.decode(b"ok \xc3\x28").unwrap_err().offset, 3);
        assert_eq!(d.decode(b"ok \xc3\xa9").unwrap(), "ok é");
    }

    proptest! {
        #[test]
        fn decode_never_panics(
            lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6),
            mode in prop_oneof![Just(Encoding::Auto), Just(Encoding::Utf8), Just(Encoding::Gbk)],
        ) {
            let mut d = Decoder::new(mode);
            for line in &lines {
                match d.decode(line) {
                    Ok(text) => prop_assert!(!text.is_empty() || line.is_empty()),
                    Err(e) => prop_assert!(e.offset < line.len()),
                }
            }
        }
    }
}
