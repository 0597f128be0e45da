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
    let trimmed = text.trim();
    // `from_str` would round past 28 places; `from_str_exact` refuses.
    let value = Decimal::from_str_exact(trimmed)
        .or_else(|_| Decimal::from_scientific(trimmed))
        .map_err(|_| DecimalError::Syntax {
            text: text.to_owned(),
        })?;
    exact(value)
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
        s.collect_str(value)
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

    #[test]
    fn parses_exactly_and_keeps_scale() {
        let d = parse("37000.1").unwrap();
        assert_eq!(to_parts(d), (370_001, 1));
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
