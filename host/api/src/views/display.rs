//! Values shown the way market front-ends show them: relative times,
//! shortened addresses, amounts with their asset, compact dollars. Used by
//! the routes such front-ends call (`frontend`); Prism's own endpoints keep
//! exact decimals and unix milliseconds.

use prism_model::{Decimal, TimestampMs};
use rust_decimal::RoundingStrategy::MidpointAwayFromZero;

/// `ts` seen from `now` (both unix ms): "just now" under 5 s, then
/// "42 s ago", "2 min ago", "3 h ago" (under 48 h), "5 d ago".
pub(crate) fn relative_time(ts: TimestampMs, now: TimestampMs) -> String {
    let s = now.saturating_sub(ts).max(0) / 1000;
    match s {
        0..5 => "just now".to_owned(),
        5..60 => format!("{s} s ago"),
        60..3_600 => format!("{} min ago", s / 60),
        3_600..172_800 => format!("{} h ago", s / 3_600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// An address as `0x49f3…8d2b`: its first six and last four characters;
/// a short one (an account number) as it is.
pub(crate) fn short_address(address: &str) -> String {
    let chars: Vec<char> = address.chars().collect();
    if chars.len() <= 12 {
        return address.to_owned();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// An amount with its asset, without sign or trailing zeros:
/// `28.40572 BTC`.
pub(crate) fn amount(size: Decimal, asset: &str) -> String {
    format!("{} {asset}", size.abs().normalize())
}

/// US dollars in short, at most three significant figures from thousands
/// up: `$717M`, `$2.57M`, `$45.3K`, `$250`, `-$1.2B`, `$12.35`.
pub(crate) fn compact_usd(value: Decimal) -> String {
    let sign = if value.is_sign_negative() && !value.is_zero() {
        "-"
    } else {
        ""
    };
    let a = value.abs();
    let units = [
        ("T", 1_000_000_000_000_i64),
        ("B", 1_000_000_000),
        ("M", 1_000_000),
        ("K", 1_000),
    ];
    for (unit, size) in units {
        // Rounded first: 999,960 is 1.00M, so "$1M", never "$1000K".
        let Some(r) = (a / Decimal::from(size)).round_sf_with_strategy(3, MidpointAwayFromZero)
        else {
            continue;
        };
        if r >= Decimal::ONE && (r < Decimal::from(1000) || unit == "T") {
            return format!("{sign}${}{unit}", r.normalize());
        }
    }
    format!(
        "{sign}${}",
        a.round_dp_with_strategy(2, MidpointAwayFromZero)
            .normalize()
    )
}

/// The nearest float of a decimal, for the fields front-ends read as
/// numbers.
pub(crate) fn number(value: Decimal) -> f64 {
    f64::try_from(value).unwrap_or_default()
}

/// A percentage with two decimals: `part / whole × 100`, 0 when the whole
/// is 0.
pub(crate) fn percent(part: Decimal, whole: Decimal) -> f64 {
    if whole.is_zero() {
        return 0.0;
    }
    number((part * Decimal::from(100) / whole).round_dp_with_strategy(2, MidpointAwayFromZero))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn times_count_back_from_now() {
        let now = 1_700_000_000_000;
        assert_eq!(relative_time(now, now), "just now");
        assert_eq!(relative_time(now - 4_999, now), "just now");
        assert_eq!(relative_time(now - 42_000, now), "42 s ago");
        assert_eq!(relative_time(now - 150_000, now), "2 min ago");
        assert_eq!(relative_time(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(relative_time(now - 47 * 3_600_000, now), "47 h ago");
        assert_eq!(relative_time(now - 5 * 86_400_000, now), "5 d ago");
        // A time after "now" (a clock behind the stream) is "just now".
        assert_eq!(relative_time(now + 60_000, now), "just now");
    }

    #[test]
    fn addresses_keep_their_ends() {
        assert_eq!(
            short_address("0x49f3aa9d1b3c3b8f6a1e2d8c3a6f0e1d2c3b8d2b"),
            "0x49f3…8d2b"
        );
        assert_eq!(short_address("281474976"), "281474976");
        assert_eq!(short_address(""), "");
    }

    #[test]
    fn amounts_carry_their_asset() {
        assert_eq!(amount(d("28.405720"), "BTC"), "28.40572 BTC");
        assert_eq!(amount(d("-12.50"), "ETH"), "12.5 ETH");
        assert_eq!(amount(d("3"), "SOL"), "3 SOL");
    }

    #[test]
    fn dollars_in_short() {
        for (value, shown) in [
            ("717000000", "$717M"),
            ("2567735.06", "$2.57M"),
            ("45300", "$45.3K"),
            ("999960", "$1M"),
            ("999", "$999"),
            ("12.345", "$12.35"),
            ("0", "$0"),
            ("-1200000000", "-$1.2B"),
            ("181000000", "$181M"),
            ("4200000000000000", "$4200T"),
        ] {
            assert_eq!(compact_usd(d(value)), shown, "{value}");
        }
    }

    #[test]
    fn percentages_have_two_decimals() {
        assert_eq!(percent(d("2"), d("3")), 66.67);
        assert_eq!(percent(d("1"), d("0")), 0.0);
        assert_eq!(percent(d("717"), d("898")), 79.84);
    }
}
