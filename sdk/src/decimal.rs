//! Conversions between the contract's [`Decimal`] and `rust_decimal`.

use crate::Decimal;

/// A value that cannot cross the contract exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    /// Scale above 28.
    Scale(u8),
    /// Mantissa needs more than 64 bits.
    Overflow(String),
    /// Not a decimal text.
    Syntax(String),
}

impl std::fmt::Display for DecimalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecimalError::Scale(s) => write!(f, "scale {s} is above 28"),
            DecimalError::Overflow(v) => write!(f, "{v} does not fit a 64-bit mantissa"),
            DecimalError::Syntax(t) => write!(f, "`{t}` is not a decimal"),
        }
    }
}

impl std::error::Error for DecimalError {}

impl Decimal {
    /// Makes `mantissa × 10^-scale`.
    #[must_use]
    pub const fn new(mantissa: i64, scale: u8) -> Self {
        Self { mantissa, scale }
    }

    /// Converts to `rust_decimal` exactly.
    ///
    /// # Errors
    /// [`DecimalError::Scale`] when `scale` is above 28.
    pub fn to_rust(self) -> Result<rust_decimal::Decimal, DecimalError> {
        rust_decimal::Decimal::try_from_i128_with_scale(
            i128::from(self.mantissa),
            u32::from(self.scale),
        )
        .map_err(|_| DecimalError::Scale(self.scale))
    }

    /// Converts from `rust_decimal`, normalizing trailing zeros if needed.
    ///
    /// # Errors
    /// [`DecimalError::Overflow`] when the value needs more than 64 bits of mantissa.
    pub fn from_rust(value: rust_decimal::Decimal) -> Result<Self, DecimalError> {
        let fit = |d: rust_decimal::Decimal| {
            i64::try_from(d.mantissa()).ok().map(|m| Self {
                mantissa: m,
                // At most 28.
                scale: d.scale() as u8,
            })
        };
        fit(value)
            .or_else(|| fit(value.normalize()))
            .ok_or_else(|| DecimalError::Overflow(value.to_string()))
    }

    /// Parses a decimal text such as `"37000.1"`.
    ///
    /// # Errors
    /// [`DecimalError::Syntax`] or [`DecimalError::Overflow`].
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        let d: rust_decimal::Decimal = text
            .trim()
            .parse()
            .map_err(|_| DecimalError::Syntax(text.to_owned()))?;
        Self::from_rust(d)
    }

    /// The nearest `f64` (for statistics only, never for money).
    #[must_use]
    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 / 10f64.powi(i32::from(self.scale))
    }
}

impl TryFrom<Decimal> for rust_decimal::Decimal {
    type Error = DecimalError;
    fn try_from(d: Decimal) -> Result<Self, Self::Error> {
        d.to_rust()
    }
}

impl TryFrom<rust_decimal::Decimal> for Decimal {
    type Error = DecimalError;
    fn try_from(d: rust_decimal::Decimal) -> Result<Self, Self::Error> {
        Decimal::from_rust(d)
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_rust() {
            Ok(d) => write!(f, "{d}"),
            Err(_) => write!(f, "{}e-{}", self.mantissa, self.scale),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_exactly_both_ways() {
        let d = Decimal::new(370_001, 1);
        assert_eq!(d.to_rust().unwrap().to_string(), "37000.1");
        assert_eq!(Decimal::parse("-0.0000125").unwrap(), Decimal::new(-125, 7));
        assert_eq!(
            Decimal::from_rust(rust_decimal::Decimal::new(5, 3)).unwrap(),
            Decimal::new(5, 3)
        );
        assert_eq!(Decimal::new(-1, 0).to_string(), "-1");
        assert!((Decimal::new(125, 2).to_f64() - 1.25).abs() < 1e-15);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        assert_eq!(Decimal::new(1, 29).to_rust(), Err(DecimalError::Scale(29)));
        let big: rust_decimal::Decimal = "79228162514264337593543950335".parse().unwrap();
        assert!(matches!(
            Decimal::from_rust(big),
            Err(DecimalError::Overflow(_))
        ));
        // Trailing zeros are normalized away rather than refused.
        let padded: rust_decimal::Decimal = "1.000000000000000000000000".parse().unwrap();
        assert_eq!(Decimal::from_rust(padded).unwrap(), Decimal::new(1, 0));
        assert!(Decimal::parse("x").is_err());
    }
}
