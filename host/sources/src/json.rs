//! Plain JSON read by hand: the forms a program writes, never the general
//! grammar. Each reading gives `None` for what it does not read plainly
//! (a string with an escape or a control character, a nested value where
//! a plain one is skipped, …) and its caller then leaves the whole text to
//! serde_json, which decides. Used by the record reader's JSON cursor
//! (`fields/json.rs`).

/// A position in a JSON text.
#[derive(Debug, Clone)]
pub(crate) struct PlainJson<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> PlainJson<'a> {
    /// At the start of `text`.
    #[must_use]
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    /// The next byte, whitespace included.
    #[must_use]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Skips what JSON counts as whitespace.
    pub(crate) fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Takes `byte` after any whitespace, if that is what comes next.
    pub(crate) fn next_is(&mut self, byte: u8) -> bool {
        self.space();
        let is = self.peek() == Some(byte);
        self.at += usize::from(is);
        is
    }

    /// Takes `word` (`true`, `null`, …) after any whitespace, if that is
    /// what comes next.
    pub(crate) fn word(&mut self, word: &str) -> bool {
        self.space();
        let is = self.text.as_bytes()[self.at..].starts_with(word.as_bytes());
        if is {
            self.at += word.len();
        }
        is
    }

    /// Whether only whitespace is left.
    pub(crate) fn end(&mut self) -> bool {
        self.space();
        self.at == self.text.len()
    }

    /// A string without escapes or control characters, as it is written.
    pub(crate) fn str(&mut self) -> Option<&'a str> {
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
    pub(crate) fn integer(&mut self) -> Option<&'a str> {
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
    pub(crate) fn i64(&mut self) -> Option<i64> {
        self.integer()?.parse().ok()
    }
}

/// Where the first `"`, `\` or control character of `bytes` is, looked
/// for eight bytes at a time (a string ends at the first of them, or is
/// not plain).
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
}
