//! Plain JSON read by hand: the forms a program writes, never the general
//! grammar. Each reading gives `None` for what it does not read plainly
//! (a string with an escape or a control character, a nested value where
//! a plain one is skipped, …) and its caller then leaves the whole text to
//! serde_json, which decides. Used where serde's generic reading of the
//! most common messages was most of their cost.

/// A position in a JSON text.
#[derive(Debug, Clone)]
pub struct PlainJson<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> PlainJson<'a> {
    /// At the start of `text`.
    #[inline]
    #[must_use]
    pub fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    /// The next byte, whitespace included.
    #[inline]
    #[must_use]
    pub fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Skips what JSON counts as whitespace.
    #[inline]
    pub fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Takes `byte` after any whitespace, if that is what comes next.
    #[inline]
    pub fn next_is(&mut self, byte: u8) -> bool {
        self.space();
        let is = self.peek() == Some(byte);
        self.at += usize::from(is);
        is
    }

    /// Takes `word` (`true`, `null`, …) after any whitespace, if that is
    /// what comes next.
    #[inline]
    pub fn word(&mut self, word: &str) -> bool {
        self.space();
        let is = self.text.as_bytes()[self.at..].starts_with(word.as_bytes());
        if is {
            self.at += word.len();
        }
        is
    }

    /// Whether only whitespace is left.
    #[inline]
    pub fn end(&mut self) -> bool {
        self.space();
        self.at == self.text.len()
    }

    /// A string without escapes or control characters, as it is written.
    #[inline]
    pub fn str(&mut self) -> Option<&'a str> {
        if !self.next_is(b'"') {
            return None;
        }
        let start = self.at;
        let bytes = &self.text.as_bytes()[start..];
        let len = special(bytes)?;
        if bytes[len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        Some(&self.text[start..start + len])
    }

    /// An integer's text (sign and digits): at most 18 digits, no leading
    /// zero, not `-0`, not followed by a fraction or an exponent.
    #[inline]
    pub fn integer(&mut self) -> Option<&'a str> {
        self.space();
        let bytes = self.text.as_bytes();
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        let digits = start + usize::from(negative);
        let n = bytes[digits..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let end = digits + n;
        if n == 0 || n > 18 || (bytes[digits] == b'0' && (n > 1 || negative)) {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = bytes.get(end) {
            return None;
        }
        self.at = end;
        Some(&self.text[start..end])
    }

    /// An integer that fits `i64` ([`PlainJson::integer`]'s forms).
    #[inline]
    pub fn i64(&mut self) -> Option<i64> {
        self.integer()?.parse().ok()
    }

    /// A number's text as written, in JSON's grammar: `-`, then `0` or
    /// digits not starting with `0`, then an optional fraction and exponent.
    #[inline]
    pub fn number(&mut self) -> Option<&'a str> {
        self.space();
        let bytes = self.text.as_bytes();
        let start = self.at;
        let digits = |from: usize| {
            bytes[from..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let mut at = start + usize::from(bytes.get(start) == Some(&b'-'));
        let whole = digits(at);
        if whole == 0 || (whole > 1 && bytes[at] == b'0') {
            return None;
        }
        at += whole;
        if bytes.get(at) == Some(&b'.') {
            let fraction = digits(at + 1);
            if fraction == 0 {
                return None;
            }
            at += 1 + fraction;
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            at += 1;
            if let Some(b'+' | b'-') = bytes.get(at) {
                at += 1;
            }
            let exponent = digits(at);
            if exponent == 0 {
                return None;
            }
            at += exponent;
        }
        self.at = at;
        Some(&self.text[start..at])
    }

    /// Skips a plain value: a string, a number, `true`, `false` or `null`
    /// (an object or an array is not plain).
    #[inline]
    pub fn skip_plain(&mut self) -> Option<()> {
        self.space();
        match self.peek()? {
            b'"' => self.str().map(drop),
            b't' => self.word("true").then_some(()),
            b'f' => self.word("false").then_some(()),
            b'n' => self.word("null").then_some(()),
            _ => self.number().map(drop),
        }
    }
}

/// Where the first `"`, `\` or control character of `bytes` is, looked
/// for eight bytes at a time (a string ends at the first of them, or is
/// not plain).
#[inline]
fn special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte below `n` (n <= 128), exact up to the
    // first such byte: a borrow only runs upwards from it.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let x = u64::from_le_bytes(chunk.try_into().ok()?);
        let found = below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1)
            | below(x, 0x20);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|p| at + p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn special_bytes_are_found_where_a_byte_at_a_time_finds_them() {
        let mut rng = StdRng::seed_from_u64(8);
        for _ in 0..200_000 {
            let len = rng.random_range(0..40);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.random_range(0..8) {
                    0 => rng.random_range(0..=255),
                    1 => [b'"', b'\\', 0x1f, 0x20, 0x00, 0x7f, 0x80, 0xff][rng.random_range(0..8)],
                    _ => rng.random_range(0x21..0x7f),
                })
                .collect();
            let naive = bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            assert_eq!(special(&bytes), naive, "{bytes:02x?}");
        }
    }

    #[test]
    fn numbers_are_taken_as_json_writes_them() {
        for text in [
            "0", "-0", "7", "-12", "0.5", "9598.5", "1e5", "1E+5", "2.5e-08", "-0.0",
        ] {
            let mut j = PlainJson::new(text);
            assert_eq!(j.number(), Some(text), "{text}");
            assert!(j.end());
            assert!(serde_json::from_str::<serde_json::Number>(text).is_ok());
        }
        for text in ["", "-", "01", "1.", ".5", "1e", "1e+", "+1", "--1", "0x10"] {
            let mut j = PlainJson::new(text);
            let taken = j.number();
            // What is taken is a number serde_json reads whole.
            assert!(taken.is_none() || !j.end(), "{text} was taken as {taken:?}");
        }
    }
}
