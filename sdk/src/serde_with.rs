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
}
