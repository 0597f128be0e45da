//! Exact numbers from wire values. A value that cannot be represented
//! exactly (more than 28 decimal places, a mantissa past 64 bits, not a
//! number) is refused with the field's name.

use prism_model::{Decimal, decimal};
use prism_sources::DecimalText;

/// Places kept when a size must be derived by division (a USD amount of an
/// inverse contract over a price): the quotient rarely terminates, so it is
/// rounded half-even to this many places, far below any venue's lot size.
pub const DERIVED_PLACES: u32 = 12;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {reason}")]
pub struct BadValue {
    pub field: String,
    pub reason: String,
}

pub(crate) fn bad(field: &str, reason: impl Into<String>) -> BadValue {
    BadValue {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A decimal text, exactly.
pub(crate) fn text(field: &str, s: &str) -> Result<Decimal, BadValue> {
    decimal::parse(s).map_err(|e| bad(field, e.to_string()))
}

/// A JSON number a venue sent as a float, read through its shortest
/// round-trip text: exact for what the venue printed (up to 15 significant
/// digits), refused when not finite.
pub(crate) fn float(field: &str, v: f64) -> Result<Decimal, BadValue> {
    if !v.is_finite() {
        return Err(bad(field, "not a finite number"));
    }
    text(field, &format!("{v}"))
}

/// A JSON number as the venue printed it (`raw`, the number's own text):
/// exact for every digit printed, with no trip through a float. A number
/// the exact parser refuses (more than 28 places, a mantissa past 96 bits)
/// is read as the float it is instead ([`float`]); anything but a number
/// is refused.
pub(crate) fn printed(field: &str, raw: &serde_json::value::RawValue) -> Result<Decimal, BadValue> {
    let s = raw.get();
    text(field, s).or_else(|refused| match s.parse::<f64>() {
        Ok(v) => float(field, v),
        Err(_) => Err(refused),
    })
}

/// `a × b`, exactly.
pub(crate) fn mul(field: &str, a: Decimal, b: Decimal) -> Result<Decimal, BadValue> {
    a.checked_mul(b)
        .map(|d| d.normalize())
        .ok_or_else(|| bad(field, format!("{a} × {b} overflows")))
}

/// `a / b`, rounded to [`DERIVED_PLACES`]: the decimal quotient (28
/// places at most), then rounded half-even to the places kept.
pub(crate) fn div(field: &str, a: Decimal, b: Decimal) -> Result<Decimal, BadValue> {
    if b.is_zero() {
        return Err(bad(field, "division by a zero price"));
    }
    if let Some(q) = quick_div(a, b) {
        return Ok(q);
    }
    a.checked_div(b)
        .map(|q| q.round_dp(DERIVED_PLACES).normalize())
        .ok_or_else(|| bad(field, format!("{a} / {b} overflows")))
}

/// What [`div`] gives, by one integer division, for the values venues send
/// (64-bit mantissas, quotients below 10⁸); `None` when it cannot be sure.
///
/// Why it agrees: the decimal quotient [`div`] rounds carries at least 8
/// places past the 12 kept when the quotient is below 10⁸ (28 places, or
/// as many as its 96-bit mantissa allows), so it is within 10⁻²⁰ of the
/// true quotient, and rounding either one to 12 places gives the same
/// result unless the true quotient lies within that distance of a midpoint
/// between two 12-place values. Those (at most one in 10⁶) are left to the
/// decimal division: the fast path rounds the true quotient only when its
/// remainder is at least 10⁻⁶ of a unit away from the midpoint. The
/// division was a tenth of an inverse contract's trade.
fn quick_div(a: Decimal, b: Decimal) -> Option<Decimal> {
    let (ma, mb) = (a.mantissa(), b.mantissa());
    let na = u128::from(u64::try_from(ma.unsigned_abs()).ok()?);
    let nb = u128::from(u64::try_from(mb.unsigned_abs()).ok()?);
    // a / b = ma / mb × 10^(sb − sa); in units of 10⁻¹² that is
    // ma × 10^(12 + sb − sa) / mb, and 10¹⁹ × 2⁶⁴ fits in 128 bits.
    let shift = (DERIVED_PLACES + b.scale()).checked_sub(a.scale())?;
    if nb == 0 || shift > 19 {
        return None;
    }
    let n = na * 10u128.pow(shift);
    let (q, r) = (n / nb, n % nb);
    if q >= 10u128.pow(20) || (2 * r).abs_diff(nb) * 1_000_000 <= nb {
        return None;
    }
    let q = q + u128::from(2 * r > nb);
    let q = i128::try_from(q).ok()?;
    let negative = (ma < 0) != (mb < 0);
    Some(Decimal::from_i128_with_scale(if negative { -q } else { q }, DERIVED_PLACES).normalize())
}

/// A decimal text, checked exactly, in canonical form (no trailing zeros,
/// no leading zeros, no `+`, `-0` as `0`): what `out(text(...))` gives,
/// without the round trip through a number.
pub(crate) fn canonical(field: &str, s: &str) -> Result<DecimalText, BadValue> {
    let t = s.trim();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !int.is_empty() || !frac.is_empty();
    if !plain
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        // Exponents and anything odd: the exact parser decides, and names the problem.
        return text(field, s).map(out);
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    // The significant digits are `int` then `frac`, less leading zeros
    // (only `frac` can have them, when `int` is empty); looked at in place.
    let (high, low) = if int.is_empty() {
        ("", frac.trim_start_matches('0'))
    } else {
        (int, frac)
    };
    let significant = high.len() + low.len();
    if frac.len() > 28
        || significant > 19
        || (significant == 19
            && high
                .bytes()
                .chain(low.bytes())
                .gt("9223372036854775807".bytes()))
    {
        return text(field, s).map(out);
    }
    let mut canon = String::with_capacity(int.len() + frac.len() + 3);
    if negative && significant > 0 {
        canon.push('-');
    }
    canon.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        canon.push('.');
        canon.push_str(frac);
    }
    Ok(DecimalText(canon))
}

/// The decimal as replay-format text (no trailing zeros): what
/// `normalize().to_string()` prints, written by [`decimal::text`] (the
/// formatter's machinery was a tenth of a trade's cost).
pub(crate) fn out(d: Decimal) -> DecimalText {
    DecimalText(decimal::text(&d.normalize()).as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `out` is the normalized decimal's text (the writer itself is
    /// tested against the formatter in `prism_model::decimal`).
    #[test]
    fn out_prints_the_normalized_text() {
        let values = [
            -Decimal::new(0, 3),
            Decimal::new(-5_000, 4),
            Decimal::new(12_300, 2),
            Decimal::new(i64::MIN, 7),
            Decimal::new(-123_450, 28),
            Decimal::MAX,
        ];
        for d in values {
            assert_eq!(out(d).0, d.normalize().to_string(), "{d:?}");
        }
    }

    /// The integer division gives what the decimal division and rounding
    /// give, over a spread of signs, scales and magnitudes (prices and
    /// USD amounts as venues send them, and far outside), with the
    /// midpoints the fast path must leave alone among them.
    #[test]
    fn quick_division_agrees_with_the_decimal_division() {
        let slow = |a: Decimal, b: Decimal| {
            a.checked_div(b)
                .map(|q| q.round_dp(DERIVED_PLACES).normalize())
        };
        let mut pairs = vec![
            (Decimal::from(2000), Decimal::new(95985, 1)),
            (Decimal::from(10), Decimal::new(3, 0)),
            (Decimal::new(-10, 0), Decimal::new(3, 0)),
            (Decimal::new(-1, 15), Decimal::new(3, 0)),
            (Decimal::new(1, 13), Decimal::new(2, 0)),
            (Decimal::new(3, 13), Decimal::new(2, 0)),
            (Decimal::new(5, 13), Decimal::new(10, 1)),
            (Decimal::new(1, 0), Decimal::new(8, 0)),
            (Decimal::new(i64::MAX, 0), Decimal::new(1, 0)),
            (Decimal::new(i64::MAX, 28), Decimal::new(i64::MAX, 0)),
            (Decimal::new(1, 0), Decimal::new(i64::MAX, 28)),
        ];
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        let mut next = || rand::Rng::next_u64(&mut rng);
        for _ in 0..400_000 {
            let (r1, r2, r3) = (next(), next(), next());
            let mantissa = |r: u64| (r >> (r % 64)) as i64 * if r & 1 == 0 { 1 } else { -1 };
            let (a, b) = (
                Decimal::new(mantissa(r1), (r2 % 29) as u32),
                Decimal::new(mantissa(r2).max(1), (r3 % 29) as u32),
            );
            pairs.push((a, b));
            // USD amounts over prices, as an inverse contract's trades.
            pairs.push((
                Decimal::from(10 * (1 + r1 % 100_000)),
                Decimal::new((r2 % 10_000_000) as i64 + 1, (r3 % 3) as u32),
            ));
            // Quotients exactly at a 12-place midpoint, and one unit of
            // the 28th place either side of it.
            let half = Decimal::new(2 * (r1 % 1_000_000) as i64 + 1, DERIVED_PLACES + 1);
            let b = Decimal::new((r3 % 1_000) as i64 + 1, (r2 % 4) as u32);
            for q in [half, half + Decimal::new(1, 28), half - Decimal::new(1, 28)] {
                if let Some(a) = q.checked_mul(b) {
                    pairs.push((a, b));
                }
            }
        }
        let mut quick = 0;
        for (a, b) in pairs {
            if let Some(q) = quick_div(a, b) {
                quick += 1;
                let want = slow(a, b).expect("the decimal division of a quick pair succeeds");
                assert_eq!((q, q.to_string()), (want, want.to_string()), "{a} / {b}");
            }
        }
        assert!(quick > 500_000, "the quick path took {quick} pairs");
    }

    #[test]
    fn exact_or_refused() {
        assert_eq!(text("p", "37000.10").unwrap().to_string(), "37000.10");
        assert!(text("p", "1e400").is_err());
        assert!(
            text("p", "12345678901234567890123").is_err(),
            "past 64 bits"
        );
        assert_eq!(float("p", 9598.5).unwrap().to_string(), "9598.5");
        assert_eq!(float("p", 0.1).unwrap().to_string(), "0.1");
        assert!(float("p", f64::NAN).is_err());
        let raw = |s: &str| serde_json::value::RawValue::from_string(s.to_owned()).unwrap();
        // A printed number reads as printed, float or not; one past the
        // exact range as the float it is; anything else is refused.
        for (number, want) in [
            ("9598.5", "9598.5"),
            ("0.1", "0.1"),
            ("10", "10"),
            ("-0.0", "0"),
            ("1e-05", "0.00001"),
            ("0.123456789012345678", "0.123456789012345678"),
            ("0.1000000000000000055511151231257827", "0.1"),
        ] {
            assert_eq!(
                out(printed("p", &raw(number)).unwrap()).0,
                out(text("w", want).unwrap()).0,
                "{number}"
            );
        }
        for not_a_number in ["\"9598.5\"", "null", "true", "1e400", "[1]"] {
            assert!(printed("p", &raw(not_a_number)).is_err(), "{not_a_number}");
        }
        let q = div("size", Decimal::from(2000), text("p", "9598.5").unwrap()).unwrap();
        assert_eq!(q.to_string(), "0.208365890504");
        assert_eq!(out(text("x", "1.2300").unwrap()).0, "1.23");
        for (input, want) in [
            ("37000.10", "37000.1"),
            ("007.50", "7.5"),
            ("-0.000", "0"),
            ("+12", "12"),
            ("0.00001000", "0.00001"),
            ("100", "100"),
            ("9223372036854775807", "9223372036854775807"),
            ("922337203685477580.7", "922337203685477580.7"),
            ("0.0009223372036854775807", "0.0009223372036854775807"),
            ("-0.50", "-0.5"),
            ("1e-5", "0.00001"),
        ] {
            assert_eq!(canonical("x", input).unwrap().0, want, "{input}");
            assert_eq!(
                canonical("x", input).unwrap().0,
                out(text("x", input).unwrap()).0,
                "{input}"
            );
        }
        for bad_input in [
            "",
            "-",
            ".",
            "1.2.3",
            "12a",
            "9223372036854775808",
            "922337203685477580.8",
            "0.0009223372036854775808",
            "1.00000000000000000000000000001",
        ] {
            assert!(canonical("x", bad_input).is_err(), "{bad_input}");
        }
    }
}
