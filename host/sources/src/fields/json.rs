//! The JSON [`Cursor`]: besides what [`read`](super::read::read) gives up
//! on, it gives up on strings with escapes (a backslash) or control
//! characters, numbers with a fraction, an exponent or a leading zero,
//! integers of more than 18 digits, and a negative zero.

use super::read::Cursor;
use super::{DecimalField, DecimalStr};
use crate::json::PlainJson;
use prism_model::{Decimal, decimal};
use std::borrow::Cow;

/// The record's fields, or `None` when they are left to serde_json;
/// `text` is one whole line.
pub(super) fn read(text: &str) -> Option<super::Fields<'_>> {
    super::read::read(&mut Json {
        json: PlainJson::new(text),
        first: true,
    })
}

struct Json<'a> {
    json: PlainJson<'a>,
    /// No entry of the map read yet.
    first: bool,
}

impl<'a> Cursor<'a> for Json<'a> {
    fn open(&mut self) -> Option<()> {
        self.json.next_is(b'{').then_some(())
    }

    fn key(&mut self) -> Option<Option<&'a [u8]>> {
        if self.json.next_is(b'}') {
            return Some(None);
        }
        // After an entry, a comma and then a key (`{"a":1,}` is refused).
        if !self.first && !self.json.next_is(b',') {
            return None;
        }
        self.first = false;
        let key = self.json.str()?;
        self.json.next_is(b':').then_some(Some(key.as_bytes()))
    }

    fn close(&mut self) -> Option<()> {
        self.json.end().then_some(())
    }

    fn null(&mut self) -> bool {
        self.json.word("null")
    }

    fn str(&mut self) -> Option<&'a str> {
        self.json.str()
    }

    fn raw_str(&mut self) -> Option<&'a [u8]> {
        self.json.str().map(str::as_bytes)
    }

    fn i64(&mut self) -> Option<i64> {
        self.json.i64()
    }

    fn bool(&mut self) -> Option<bool> {
        if self.json.word("true") {
            Some(true)
        } else if self.json.word("false") {
            Some(false)
        } else {
            None
        }
    }

    fn decimal(&mut self) -> Option<DecimalField<'a>> {
        self.json.space();
        if self.json.peek() == Some(b'"') {
            let text = self.json.str()?;
            return Some(match decimal::plain(text.as_bytes()) {
                Some(d) => DecimalField::Read(d),
                None => DecimalField::Text(DecimalStr(Cow::Borrowed(text))),
            });
        }
        // An integer (at most 18 digits, see `i64`) is the decimal its
        // digits are, at scale 0.
        Some(DecimalField::Read(Decimal::from(self.json.i64()?)))
    }

    fn open_list(&mut self) -> Option<Option<usize>> {
        self.json.next_is(b'[').then_some(None)
    }

    fn more(&mut self, count: usize, _len: Option<usize>) -> Option<bool> {
        if self.json.next_is(b']') {
            return Some(false);
        }
        // After an element, a comma and then an element (`[1,]` is
        // refused: what follows the comma must read as one).
        if count > 0 && !self.json.next_is(b',') {
            return None;
        }
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Fields;
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    /// Any value a field might meet, as JSON text: what the writer writes
    /// and what it never does, valid JSON or not.
    fn value(rng: &mut StdRng, depth: u32) -> String {
        let texts = [
            r#""trade""#,
            r#""funding""#,
            r#""book""#,
            r#""position""#,
            r#""liquidation""#,
            r#""open_interest""#,
            r#""binance""#,
            r#""BTCUSDT""#,
            r#""buy""#,
            r#""sell""#,
            r#""long""#,
            r#""short""#,
            r#""37000.1""#,
            r#""0.25""#,
            r#""-1""#,
            r#""""#,
            r#""Ünïcode→""#,
            r#""b\u0075y""#,
            r#""tab\there""#,
            "\"raw\ttab\"",
            r#""esc\"aped""#,
        ];
        let numbers = [
            "0",
            "7",
            "-5",
            "-0",
            "01",
            "1.5",
            "1e3",
            "2E-2",
            "1700000000000",
            "4294967295",
            "4294967296",
            "999999999999999999",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "18446744073709551616",
            "12abc",
            "-",
        ];
        match rng.random_range(0..if depth > 2 { 12 } else { 15 }) {
            0..=4 => texts[rng.random_range(0..texts.len())].to_owned(),
            5..=7 => numbers[rng.random_range(0..numbers.len())].to_owned(),
            8 => "null".to_owned(),
            9 => ["true", "false", "truex", "nul"][rng.random_range(0..4)].to_owned(),
            10 => "{}".to_owned(),
            11 => r#""sell""#.to_owned(),
            _ => {
                let n = rng.random_range(0..4);
                let mut levels = Vec::new();
                for _ in 0..n {
                    let width = if rng.random_range(0..6) == 0 {
                        rng.random_range(0..4)
                    } else {
                        2
                    };
                    let items: Vec<String> = (0..width).map(|_| value(rng, depth + 1)).collect();
                    levels.push(format!("[{}]", items.join(&space(rng, ","))));
                }
                let trailing = if rng.random_range(0..20) == 0 {
                    ","
                } else {
                    ""
                };
                format!("[{}{trailing}]", levels.join(","))
            }
        }
    }

    /// `sep` with whitespace around it, now and then.
    fn space(rng: &mut StdRng, sep: &str) -> String {
        let ws = [" ", "\n", "\t", "\r", "  "];
        match rng.random_range(0..8) {
            0 => format!("{}{sep}", ws[rng.random_range(0..ws.len())]),
            1 => format!("{sep}{}", ws[rng.random_range(0..ws.len())]),
            _ => sep.to_owned(),
        }
    }

    #[test]
    fn what_it_reads_is_what_serde_reads() {
        let mut rng = StdRng::seed_from_u64(29);
        let (mut taken, mut given_up) = (0, 0);
        for _ in 0..200_000 {
            let n = rng.random_range(0..12);
            let mut entries = Vec::new();
            for _ in 0..n {
                let key = super::super::read::TEST_KEYS
                    [rng.random_range(0..super::super::read::TEST_KEYS.len())];
                let key = match rng.random_range(0..30) {
                    // serde_json reads an escaped key as the name it spells.
                    0 => format!("\"\\u{:04x}{}\"", key.as_bytes()[0], &key[1..]),
                    1 => key.to_owned(),
                    _ => format!(r#""{key}""#),
                };
                let colon = space(&mut rng, ":");
                entries.push(format!("{key}{colon}{}", value(&mut rng, 0)));
            }
            let comma = space(&mut rng, ",");
            let mut text = format!("{{{}}}", entries.join(&comma));
            match rng.random_range(0..40) {
                0 => text.insert(text.len() - 1, ','),
                1 => text.push_str(" x"),
                2 => text.push('\n'),
                3 => text.insert(0, ' '),
                _ => {}
            }
            match read(&text) {
                Some(fields) => {
                    let serde = serde_json::from_str::<Fields<'_>>(&text);
                    assert_eq!(serde.as_ref().ok(), Some(&fields), "{text}");
                    taken += 1;
                }
                None => given_up += 1,
            }
        }
        // Both ways are exercised, not one only.
        assert!(taken > 20_000 && given_up > 20_000, "{taken} {given_up}");
    }

    #[test]
    fn truncated_and_changed_records_are_left_to_serde() {
        let mut rng = StdRng::seed_from_u64(6);
        let text = r#"{"type":"book","exchange":"okx","symbol":"BTC-USDT-SWAP","ts":1700000000000,"received_ts":1700000000001,"snapshot":true,"bids":[["37000.1","2"],["36999",5]],"asks":[["37001","1"]]}"#;
        assert!(read(text).is_some());
        for cut in 0..text.len() {
            assert_eq!(read(&text[..cut]), None, "cut at {cut}");
        }
        let alphabet = b"{}[],:\" \\0123456789.-eEtrufalsn";
        for _ in 0..50_000 {
            let mut changed = text.as_bytes().to_vec();
            let at = rng.random_range(0..changed.len());
            changed[at] = alphabet[rng.random_range(0..alphabet.len())];
            let changed = String::from_utf8(changed).unwrap();
            if let Some(fields) = read(&changed) {
                let serde = serde_json::from_str::<Fields<'_>>(&changed);
                assert_eq!(serde.as_ref().ok(), Some(&fields), "{changed}");
            }
        }
    }
}
