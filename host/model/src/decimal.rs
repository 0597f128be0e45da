//! Exact decimals as the plugin contract carries them.
//!
//! The contract's `decimal` is `mantissa: s64, scale: u8`. `rust_decimal`
//! holds a 96-bit mantissa, so every decimal that enters the pipeline is
//! checked once, at parse time, to fit 64 bits; after that, conversions at the
//! plugin boundary cannot fail.

pub use rust_decimal::Decimal;

/// The largest scale a decimal may have (that of `rust_decimal`).
pub const MAX_SCALE: u32 = 28;

/// Why a text or value is not an exact decimal of the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text is not a decimal number.
    #[error("`{text}` is not a decimal number")]
    Syntax { text: String },
    /// The value needs more than 64 bits of mantissa.
    #[error("`{value}` does not fit an exact decimal with a 64-bit mantissa")]
    Overflow { value: String },
    /// The scale is larger than [`MAX_SCALE`].
    #[error("scale {scale} is larger than {MAX_SCALE}")]
    Scale { scale: u32 },
}

/// Parses a decimal text such as `"37000.1"`, `"-12.5"` or `"1e-5"`, exactly.
///
/// # Errors
/// [`DecimalError::Syntax`] for anything that is not a number, and
/// [`DecimalError::Overflow`] when it does not fit a 64-bit mantissa.
pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
    // A plain text holds no white space, so trimming it changes nothing:
    // it is read before trimming (trimming is Unicode-aware, and most
    // texts need none).
    if let Some(value) = plain(text.as_bytes()) {
        return Ok(value);
    }
    let trimmed = text.trim();
    if trimmed.len() != text.len()
        && let Some(value) = plain(trimmed.as_bytes())
    {
        return Ok(value);
    }
    // `from_str` would round past 28 places; `from_str_exact` refuses.
    let value = Decimal::from_str_exact(trimmed)
        .or_else(|_| Decimal::from_scientific(trimmed))
        .map_err(|_| DecimalError::Syntax {
            text: text.to_owned(),
        })?;
    exact(value)
}

/// The decimal of a plain text — digits, then optionally `.` and digits,
/// at most 18 digits in all, optionally a leading `-` before a non-zero
/// value — read without `rust_decimal`'s general parser: the common case
/// of every feed and file (the general parser and its check were ~7 % of a
/// replay's source thread).
/// `None` for anything else, which the general parser then decides; for
/// what it takes, the value, scale and sign are exactly the general
/// parser's (tested on every shape), so it is exactly what [`parse`]
/// gives for the same text. A reader that has the text's bytes need not
/// check them for UTF-8 first: every byte it takes is ASCII.
#[must_use]
pub fn plain(text: &[u8]) -> Option<Decimal> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        bytes => (false, bytes),
    };
    let (int, frac) = match digits.iter().position(|&b| b == b'.') {
        Some(at) => (&digits[..at], &digits[at + 1..]),
        None => (digits, &[][..]),
    };
    let dotted = int.len() != digits.len();
    if int.is_empty() || (dotted && frac.is_empty()) || int.len() + frac.len() > 18 {
        return None;
    }
    // Two loops, not one over a chain of both: a chained iterator checks
    // which half it is in at every digit.
    let mut mantissa: i64 = 0;
    for part in [int, frac] {
        for &b in part {
            if !b.is_ascii_digit() {
                return None;
            }
            mantissa = mantissa * 10 + i64::from(b - b'0');
        }
    }
    // `-0` keeps its sign in `rust_decimal`; the general parser makes it.
    if negative && mantissa == 0 {
        return None;
    }
    let scale = u32::try_from(frac.len()).ok()?;
    Some(Decimal::new(
        if negative { -mantissa } else { mantissa },
        scale,
    ))
}

/// Checks that `value` fits the contract (64-bit mantissa), normalizing away
/// trailing zeros first so `1.000…0` with a huge mantissa still fits.
///
/// # Errors
/// [`DecimalError::Overflow`] when even the normalized mantissa needs more
/// than 64 bits.
pub fn exact(value: Decimal) -> Result<Decimal, DecimalError> {
    if i64::try_from(value.mantissa()).is_ok() {
        return Ok(value);
    }
    let normalized = value.normalize();
    if i64::try_from(normalized.mantissa()).is_ok() {
        Ok(normalized)
    } else {
        Err(DecimalError::Overflow {
            value: value.to_string(),
        })
    }
}

/// Splits a decimal checked by [`exact`] into the contract's parts.
///
/// A value that was not checked and does not fit is saturated; the pipeline
/// only holds checked values, so that cannot happen there.
#[must_use]
pub fn to_parts(value: Decimal) -> (i64, u8) {
    let mantissa = i64::try_from(value.mantissa()).unwrap_or(if value.is_sign_negative() {
        i64::MIN
    } else {
        i64::MAX
    });
    // `scale()` is at most 28, so it always fits a u8.
    (mantissa, value.scale() as u8)
}

/// Builds a decimal from the contract's parts.
///
/// # Errors
/// [`DecimalError::Scale`] when `scale` is above [`MAX_SCALE`].
pub fn from_parts(mantissa: i64, scale: u8) -> Result<Decimal, DecimalError> {
    Decimal::try_from_i128_with_scale(i128::from(mantissa), u32::from(scale)).map_err(|_| {
        DecimalError::Scale {
            scale: u32::from(scale),
        }
    })
}

/// A decimal's text, held in place: what its `Display` writes (and its
/// serde `Serialize`): the scale kept (`1.50`), a negative zero as `-0`.
#[derive(Clone, Copy)]
pub struct Text {
    bytes: [u8; 32],
    len: u8,
}

impl Text {
    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, '-' and '.' are written.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes `value` as [`Text`]. `rust_decimal` divides its 96-bit mantissa
/// by ten a digit at a time; a mantissa of 64 bits (every value of the
/// contract) is written by 64-bit division here, several times faster,
/// most of all inside a plugin, where a document's decimals are written
/// for every boundary.
#[must_use]
pub fn text(value: &Decimal) -> Text {
    // At most 29 digits (96 bits), or 28 places: with the sign and "0.",
    // at most 31 bytes.
    let mut digits = [b'0'; 32];
    let mut at = digits.len();
    // 128-bit division only for the digits of a mantissa past 64 bits.
    let mut wide = value.mantissa().unsigned_abs();
    while wide > u128::from(u64::MAX) {
        at -= 1;
        digits[at] = b'0' + (wide % 10) as u8;
        wide /= 10;
    }
    let mut rest = wide as u64;
    while rest > 0 {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // `Display` writes at least `scale` digits (leading zeros) and at
    // least one before the point.
    let scale = value.scale() as usize;
    let shown = (digits.len() - at).max(scale);
    let digits = &digits[digits.len() - shown..];
    let mut out = Text {
        bytes: [0; 32],
        len: 0,
    };
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        out.bytes[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    if value.is_sign_negative() {
        put(b"-");
    }
    let (int, frac) = digits.split_at(shown - scale);
    put(if int.is_empty() { b"0" } else { int });
    if !frac.is_empty() {
        put(b".");
        put(frac);
    }
    // At most 31 bytes were written.
    out.len = len as u8;
    out
}

/// Serde helpers that write decimals as JSON strings (`"37000.1"`), so no
/// reader ever parses money through a float.
pub mod as_string {
    use super::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the decimal as its exact text.
    ///
    /// # Errors
    /// Only those of the serializer.
    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(super::text(value).as_str())
    }

    /// Reads a decimal from a string (or a JSON number's exact text).
    ///
    /// # Errors
    /// When the text is not an exact decimal of the contract.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`text`] writes what `Display` and serde write, for every shape:
    /// zeros of every scale and sign, scales below and above the digit
    /// count, 64-bit and 96-bit mantissas.
    #[test]
    fn text_is_what_display_and_serde_write() {
        let mut values = vec![
            Decimal::ZERO,
            -Decimal::ZERO,
            Decimal::new(0, 3),
            -Decimal::new(0, 3),
            Decimal::new(-5, 1),
            Decimal::new(12_300, 2),
            Decimal::new(i64::MAX, 0),
            Decimal::new(i64::MIN, 7),
            Decimal::new(1, 28),
            Decimal::new(-123_450, 28),
            Decimal::MAX,
            Decimal::MIN,
            Decimal::from_i128_with_scale(170_141_183_460_469_231_731, 10),
            Decimal::from_i128_with_scale(-18_446_744_073_709_551_616, 28),
        ];
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        for _ in 0..50_000 {
            let (a, b): (u64, u64) = (rand::Rng::next_u64(&mut rng), rand::Rng::next_u64(&mut rng));
            let wide = i128::from(a >> (a % 64)) << (b % 33);
            let mantissa = if b & 1 == 0 { wide } else { -wide };
            values.push(Decimal::from_i128_with_scale(mantissa, (a % 29) as u32));
        }
        for d in values {
            let want = d.to_string();
            assert_eq!(text(&d).as_str(), want, "{d:?}");
            assert_eq!(
                serde_json::to_string(&d).unwrap(),
                format!("\"{want}\""),
                "{d:?}"
            );
        }
    }

    #[test]
    fn plain_texts_read_as_the_general_parser_reads_them() {
        let general = |t: &str| {
            Decimal::from_str_exact(t)
                .or_else(|_| Decimal::from_scientific(t))
                .ok()
        };
        let mut texts: Vec<String> = [
            "0",
            "00",
            "0.0",
            "0.000",
            "-0",
            "-0.0",
            "7",
            "007",
            "007.50",
            "-12.5",
            "37000.1",
            "37000.10",
            "0.000000001",
            "123456789012345678",
            "-123456789012345678",
            "1234567890.12345678",
            "999999999999999999",
            "1.",
            ".5",
            "-",
            "",
            "1.2.3",
            "1e5",
            "+1",
            "1_000",
            "12a",
            "--1",
            "- 1",
            "1234567890123456789",
            "0.0000000000000000001",
        ]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
        // Every split of a long run of digits, with and without a sign.
        let digits = "907000000000000310";
        for at in 0..=digits.len() {
            let (a, b) = digits.split_at(at);
            for sign in ["", "-"] {
                texts.push(format!("{sign}{a}.{b}"));
                texts.push(format!("{sign}{a}"));
            }
        }
        for t in &texts {
            if let Some(fast) = plain(t.as_bytes()) {
                let slow = general(t).unwrap_or_else(|| panic!("{t:?} taken, general refuses"));
                assert_eq!(fast, slow, "{t:?}");
                assert_eq!(fast.scale(), slow.scale(), "{t:?}");
                assert_eq!(fast.is_sign_negative(), slow.is_sign_negative(), "{t:?}");
                assert_eq!(fast.to_string(), slow.to_string(), "{t:?}");
                assert_eq!(fast.mantissa(), slow.mantissa(), "{t:?}");
            }
        }
        assert!(plain(b"37000.1").is_some() && plain(b"-0").is_none() && plain(b"1.").is_none());
    }

    #[test]
    fn parses_exactly_and_keeps_scale() {
        let d = parse("37000.1").unwrap();
        assert_eq!(to_parts(d), (370_001, 1));
        // White space around the text, ASCII or not, is not part of it.
        for padded in [
            " 37000.1",
            "37000.1\n",
            "\t37000.1 ",
            "\u{2003}37000.1\u{a0}",
        ] {
            assert_eq!(to_parts(parse(padded).unwrap()), (370_001, 1), "{padded:?}");
        }
        assert!(parse("37000 .1").is_err());
        assert_eq!(to_parts(parse("-12.50").unwrap()), (-1250, 2));
        assert_eq!(to_parts(parse("0.0000125").unwrap()), (125, 7));
        assert_eq!(to_parts(parse("1e-5").unwrap()), (1, 5));
    }

    #[test]
    fn round_trips_through_parts() {
        for text in ["0", "1", "-0.00000001", "36950", "9223372036854775807"] {
            let d = parse(text).unwrap();
            let (m, s) = to_parts(d);
            assert_eq!(from_parts(m, s).unwrap(), d, "{text}");
        }
        assert_eq!(from_parts(5, 3).unwrap().to_string(), "0.005");
    }

    #[test]
    fn rejects_what_is_not_exact() {
        assert!(matches!(parse("abc"), Err(DecimalError::Syntax { .. })));
        assert!(matches!(parse(""), Err(DecimalError::Syntax { .. })));
        // 2^63 needs 64 bits plus sign.
        assert!(matches!(
            parse("9223372036854775808"),
            Err(DecimalError::Overflow { .. })
        ));
        assert!(matches!(from_parts(1, 29), Err(DecimalError::Scale { .. })));
    }

    #[test]
    fn normalizes_trailing_zeros_that_would_overflow() {
        let d = parse("1.0000000000000000000000000").unwrap();
        assert_eq!(to_parts(d), (1, 0));
    }
}
