//! Serde support for the contract's enums, which are generated without it:
//! `#[serde(with = "prism_sdk::serde_with::position_side")]` on a field.
//! Values are written as the API writes them: `"long"`, `"buy"`, …

macro_rules! text_enum {
    ($module:ident, $ty:ty, $($variant:ident => $text:literal),+ $(,)?) => {
        #[doc = concat!("`", stringify!($ty), "` as lower-case text.")]
        pub mod $module {
            use serde::{Deserialize, Deserializer, Serializer};

            /// Writes the value as text.
            ///
            /// # Errors
            /// The serializer's.
            pub fn serialize<S: Serializer>(value: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(match value { $(<$ty>::$variant => $text),+ })
            }

            /// Reads the value from text.
            ///
            /// # Errors
            /// Text that names no variant.
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let text = String::deserialize(d)?;
                match text.as_str() {
                    $($text => Ok(<$ty>::$variant),)+
                    other => Err(serde::de::Error::custom(format!("unknown value `{other}`"))),
                }
            }
        }
    };
}

text_enum!(side, crate::Side, Buy => "buy", Sell => "sell");
text_enum!(position_side, crate::PositionSide, Long => "long", Short => "short");
text_enum!(direction, crate::Direction, Long => "long", Short => "short", Flat => "flat");

/// `rust_decimal::Decimal` written as its serde `Serialize` writes it (the
/// exact text, scale kept: `"1.50"`), several times faster for the 64-bit
/// mantissas prices and sizes have: `#[serde(with =
/// "prism_sdk::serde_with::decimal")]` on a field of a document or log body
/// that is written often. Read back as `rust_decimal` reads it.
pub mod decimal {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the decimal's exact text.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(prism_model::decimal::text(value).as_str())
    }

    /// Reads a decimal as `rust_decimal`'s own `Deserialize` does.
    ///
    /// # Errors
    /// The deserializer's.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        <Decimal as Deserialize>::deserialize(d)
    }
}

/// [`decimal`] for an optional field (`None` is written as nothing is:
/// `null`, or MessagePack's nil).
pub mod decimal_option {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the decimal's exact text, or none.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_some(prism_model::decimal::text(v).as_str()),
            None => s.serialize_none(),
        }
    }

    /// Reads an optional decimal as `rust_decimal`'s own `Deserialize` does.
    ///
    /// # Errors
    /// The deserializer's.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        Option::<Decimal>::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use crate::PositionSide;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        #[serde(with = "super::position_side")]
        side: PositionSide,
    }

    #[test]
    fn round_trips_as_text() {
        let json = serde_json::to_string(&Row {
            side: PositionSide::Short,
        })
        .unwrap();
        assert_eq!(json, r#"{"side":"short"}"#);
        let row: Row = serde_json::from_str(&json).unwrap();
        assert_eq!(row.side, PositionSide::Short);
        assert!(serde_json::from_str::<Row>(r#"{"side":"up"}"#).is_err());
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Bucket {
        #[serde(with = "super::decimal")]
        price: rust_decimal::Decimal,
        #[serde(with = "super::decimal_option")]
        last: Option<rust_decimal::Decimal>,
    }

    #[derive(Serialize)]
    struct Plain {
        price: rust_decimal::Decimal,
        last: Option<rust_decimal::Decimal>,
    }

    /// The same bytes as `rust_decimal`'s own `Serialize`, in JSON and in
    /// MessagePack (the body format), and the value read back.
    #[test]
    fn decimals_are_written_as_rust_decimal_writes_them() {
        for (price, last) in [
            ("37000.10", Some("-0.000")),
            ("0", None),
            (
                "-12345678901234567.8",
                Some("79228162514264337593543950335"),
            ),
            ("0.0000000000000000000000000001", Some("1")),
        ] {
            let price: rust_decimal::Decimal = price.parse().unwrap();
            let last = last.map(|l| l.parse::<rust_decimal::Decimal>().unwrap());
            let ours = Bucket { price, last };
            let theirs = Plain { price, last };
            assert_eq!(
                serde_json::to_string(&ours).unwrap(),
                serde_json::to_string(&theirs).unwrap()
            );
            let packed = rmp_serde::to_vec_named(&ours).unwrap();
            assert_eq!(packed, rmp_serde::to_vec_named(&theirs).unwrap());
            assert_eq!(rmp_serde::from_slice::<Bucket>(&packed).unwrap(), ours);
        }
    }
}
