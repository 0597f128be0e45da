//! Reading text files a line at a time with a bound on each line, so one
//! damaged line (invalid UTF-8, a missing newline in a huge file) costs that
//! line only: it is reported with its number and skipped, and the lines
//! before and after it are read as usual.

use std::io::BufRead;

/// The longest line any Prism reader accepts, in bytes. A line past it is
/// skipped whole (its number reported); memory stays bounded by it.
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// One line of a file: its 1-based number, and its text or why it is unusable.
#[derive(Debug, PartialEq, Eq)]
pub struct NumberedLine<'a> {
    pub number: u64,
    pub text: Result<&'a str, String>,
}

/// Lines of a reader, each at most `max` bytes (the newline and a carriage
/// return before it excluded).
pub struct BoundedLines<R> {
    inner: R,
    buf: Vec<u8>,
    number: u64,
    max: usize,
    /// Bytes taken from `inner` so far.
    consumed: u64,
    /// Bytes of the last line returned still in `inner`'s buffer (it was
    /// lent from there, not copied): consumed at the next call.
    lent: usize,
}

impl<R: BufRead> BoundedLines<R> {
    /// Lines of `inner`, at most [`MAX_LINE_BYTES`] each.
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, MAX_LINE_BYTES)
    }

    /// Lines of `inner`, at most `max` bytes each.
    pub fn with_max(inner: R, max: usize) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            number: 0,
            max,
            consumed: 0,
            lent: 0,
        }
    }

    /// Bytes read so far (the lines returned, their line ends included).
    #[must_use]
    pub fn bytes_read(&self) -> u64 {
        self.consumed
    }

    /// The number of the last line returned (0 before the first).
    #[must_use]
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The next line, or `None` at the end of the input.
    ///
    /// # Errors
    /// I/O errors of the reader (not bad content: that is a line's `text`).
    pub fn next_line(&mut self) -> std::io::Result<Option<NumberedLine<'_>>> {
        self.inner.consume(std::mem::take(&mut self.lent));
        // A line whole in the reader's buffer is lent from it, not copied.
        let whole = loop {
            match self.inner.fill_buf() {
                Ok(available) => {
                    break memchr::memchr(b'\n', available).filter(|&at| at <= self.max);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if let Some(at) = whole {
            let available = self.inner.fill_buf()?;
            self.lent = at + 1;
            self.consumed += self.lent as u64;
            self.number += 1;
            let line = &available[..at];
            return Ok(Some(NumberedLine {
                number: self.number,
                text: text_of(line.strip_suffix(b"\r").unwrap_or(line)),
            }));
        }
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let (chunk, done) = match memchr::memchr(b'\n', available) {
                Some(at) => (&available[..at], Some(at + 1)),
                None => (available, None),
            };
            if !too_long {
                if self.buf.len() + chunk.len() > self.max {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let used = done.unwrap_or(available.len());
            self.inner.consume(used);
            self.consumed += used as u64;
            if done.is_some() {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        let number = self.number;
        if too_long {
            return Ok(Some(NumberedLine {
                number,
                text: Err(format!(
                    "the line is longer than {} bytes; skipped",
                    self.max
                )),
            }));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(NumberedLine {
            number,
            text: text_of(&self.buf),
        }))
    }
}

/// A line's bytes as text, or why they are not.
fn text_of(line: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(line).map_err(|e| {
        format!(
            "the line is not valid UTF-8 (byte {} of the line); skipped",
            e.valid_up_to() + 1
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Vec<(u64, Result<String, String>)> {
        let mut lines = BoundedLines::with_max(std::io::Cursor::new(input.to_vec()), max);
        let mut out = Vec::new();
        while let Some(l) = lines.next_line().unwrap() {
            out.push((l.number, l.text.map(str::to_owned)));
        }
        out
    }

    #[test]
    fn bad_bytes_and_long_lines_cost_their_line_only() {
        let input = b"one\r\ntw\xffo\n\nthree is long\nfour";
        let got = all(input, 8);
        assert_eq!(got[0], (1, Ok("one".into())));
        assert_eq!(got[1].0, 2);
        assert!(got[1].1.as_ref().unwrap_err().contains("byte 3"), "{got:?}");
        assert_eq!(got[2], (3, Ok(String::new())));
        assert_eq!(got[3].0, 4);
        assert!(got[3].1.as_ref().unwrap_err().contains("longer than 8"));
        assert_eq!(got[4], (5, Ok("four".into())));
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn a_long_line_across_buffer_refills_is_skipped_whole() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\nok\n");
        let reader = std::io::BufReader::with_capacity(64, std::io::Cursor::new(input));
        let mut lines = BoundedLines::with_max(reader, 1000);
        assert!(lines.next_line().unwrap().unwrap().text.is_err());
        assert_eq!(lines.next_line().unwrap().unwrap().text, Ok("ok"));
        assert!(lines.next_line().unwrap().is_none());
    }

    #[test]
    fn lines_lent_from_the_buffer_and_lines_copied_across_refills_agree() {
        let input: &[u8] = b"alpha\r\nbeta gamma\n\nd\xffelta\nepsilon is longer\r\nzeta\nlast";
        let whole = all(input, 12);
        for capacity in [1, 3, 7, 16] {
            let reader = std::io::BufReader::with_capacity(capacity, std::io::Cursor::new(input));
            let mut lines = BoundedLines::with_max(reader, 12);
            let mut got = Vec::new();
            while let Some(l) = lines.next_line().unwrap() {
                got.push((l.number, l.text.map(str::to_owned)));
            }
            assert_eq!(got, whole, "buffer of {capacity}");
            assert_eq!(lines.bytes_read(), input.len() as u64);
        }
        assert_eq!(whole[0], (1, Ok("alpha".into())));
        assert!(whole[3].1.is_err());
        assert!(whole[4].1.as_ref().unwrap_err().contains("longer than 12"));
        assert_eq!(whole[6], (7, Ok("last".into())));
    }
}
