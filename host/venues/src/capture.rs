//! Captured feeds, one line each, into `(receive time, message)` frames.
//!
//! - `raw`: one message a line, as the venue sent it; no receive time.
//! - `prism`: what `prism record` writes: `{"received_ms", "venue", "url", "message"}`
//!   with the frame's text in `message`.
//! - `cryptofeed`: cryptofeed's capture: `<unix s>: <message>` for what was
//!   received, `<url> <-> <unix s>` for a connection, `<wss url> <- <unix s>:
//!   <request>` for what was sent, and `<https url> -> <unix s>: <body>` for a
//!   REST answer.
//! - `tardis`: tardis-machine NDJSON, `{"localTimestamp": "<ISO 8601>", "message": {…}}`.
//!
//! REST answers the normalizers need (Binance depth snapshots and open
//! interest) are wrapped as `{"stream":"<symbol>@depthSnapshot","data":…}`,
//! the shape the Binance normalizer takes.

use std::str::FromStr;

/// A capture format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Raw,
    Prism,
    Cryptofeed,
    Tardis,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "raw" => Ok(Format::Raw),
            "prism" => Ok(Format::Prism),
            "cryptofeed" => Ok(Format::Cryptofeed),
            "tardis" => Ok(Format::Tardis),
            other => Err(format!(
                "unknown format `{other}`; use raw, prism, cryptofeed or tardis"
            )),
        }
    }
}

/// One message and when it was received (unix ms), if recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub received_ms: Option<i64>,
    pub message: String,
}

/// What a line of a capture is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Frame(Frame),
    /// Nothing to normalize: a blank line, a connection, a request sent.
    Skip(&'static str),
    /// A line that is not in the format, and why.
    Bad(String),
}

/// A line of `prism record`'s output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CapturedFrame {
    pub received_ms: i64,
    pub venue: String,
    /// The WebSocket or REST address the frame came from.
    pub url: String,
    pub message: String,
}

/// Reads one line.
#[must_use]
pub fn parse_line(format: Format, line: &str) -> Line {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.trim().is_empty() {
        return Line::Skip("blank");
    }
    match format {
        Format::Raw => Line::Frame(Frame {
            received_ms: None,
            message: line.to_owned(),
        }),
        Format::Prism => match serde_json::from_str::<CapturedFrame>(line) {
            Ok(r) => Line::Frame(Frame {
                received_ms: Some(r.received_ms),
                message: wrap_rest(&r.url, r.message),
            }),
            Err(e) => Line::Bad(format!("not a prism record line: {e}")),
        },
        Format::Cryptofeed => cryptofeed(line),
        Format::Tardis => tardis(line),
    }
}

fn seconds_to_ms(text: &str) -> Option<i64> {
    let s: f64 = text.trim().parse().ok()?;
    (s.is_finite() && s >= 0.0).then(|| (s * 1000.0).round() as i64)
}

fn cryptofeed(line: &str) -> Line {
    let (head, message) = match line.find(": ") {
        Some(at) if line[at + 2..].starts_with(['{', '[']) => (&line[..at], Some(&line[at + 2..])),
        _ => (line, None),
    };
    let mut words = head.split_whitespace();
    let first = words.next().unwrap_or_default();
    if !first.contains("://") {
        return match (seconds_to_ms(first), message) {
            (Some(ms), Some(m)) => Line::Frame(Frame {
                received_ms: Some(ms),
                message: m.to_owned(),
            }),
            _ => Line::Bad("expected `<unix seconds>: <message>`".into()),
        };
    }
    let url = first;
    match (words.next(), words.next().and_then(seconds_to_ms), message) {
        (Some("<->"), Some(_), None) => Line::Skip("connection"),
        (Some("<-"), Some(_), Some(_)) if url.starts_with("ws") => Line::Skip("request"),
        (Some("->" | "<-"), Some(ms), Some(body)) if url.starts_with("http") => {
            Line::Frame(Frame {
                received_ms: Some(ms),
                message: wrap_rest(url, body.to_owned()),
            })
        }
        (Some("->"), Some(_), Some(_)) => Line::Skip("request"),
        _ => Line::Bad("expected `<url> <arrow> <unix seconds>[: <message>]`".into()),
    }
}

/// Wraps the REST answers the normalizers take as stream messages.
/// Wraps `data` (a JSON document) as a Binance combined-stream message of
/// stream `stream`, the shape REST answers are recorded and replayed in.
pub(crate) fn combined_stream(stream: &str, data: &str) -> String {
    format!(r#"{{"stream":"{stream}","data":{data}}}"#)
}

fn wrap_rest(url: &str, body: String) -> String {
    if !url.starts_with("http") {
        return body;
    }
    let symbol = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("symbol="))
        .map(str::to_ascii_lowercase);
    let kind = if url.contains("/depth") {
        "depthSnapshot"
    } else if url.contains("/openInterest") {
        "openInterest"
    } else {
        return body;
    };
    match symbol {
        Some(symbol) => combined_stream(&format!("{symbol}@{kind}"), &body),
        None => body,
    }
}

#[derive(serde::Deserialize)]
struct TardisLine<'a> {
    #[serde(borrow, rename = "localTimestamp")]
    local_timestamp: TardisTime<'a>,
    #[serde(borrow)]
    message: &'a serde_json::value::RawValue,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum TardisTime<'a> {
    Text(&'a str),
    Millis(i64),
}

fn tardis(line: &str) -> Line {
    let parsed: TardisLine<'_> = match serde_json::from_str(line) {
        Ok(p) => p,
        Err(e) => return Line::Bad(format!("not a tardis line: {e}")),
    };
    let ms = match parsed.local_timestamp {
        TardisTime::Millis(ms) => Some(ms),
        TardisTime::Text(t) => iso8601_ms(t),
    };
    let Some(ms) = ms else {
        return Line::Bad("`localTimestamp` is not an ISO 8601 UTC time".into());
    };
    let message = parsed.message.get();
    // A message sent as a JSON string is the frame's text.
    let message = serde_json::from_str::<String>(message).unwrap_or_else(|_| message.to_owned());
    Line::Frame(Frame {
        received_ms: Some(ms),
        message,
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` to unix ms (fraction truncated to ms).
#[must_use]
pub fn iso8601_ms(text: &str) -> Option<i64> {
    let t = text.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut h = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's method.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cryptofeed_lines() {
        assert_eq!(
            parse_line(Format::Cryptofeed, r#"1626992741.06217: {"a":1}"#),
            Line::Frame(Frame {
                received_ms: Some(1_626_992_741_062),
                message: r#"{"a":1}"#.into()
            })
        );
        assert_eq!(
            parse_line(Format::Cryptofeed, "wss://x <-> 1626992740.1"),
            Line::Skip("connection")
        );
        assert_eq!(
            parse_line(Format::Cryptofeed, r#"wss://x <- 1.5: {"op":"subscribe"}"#),
            Line::Skip("request")
        );
        let Line::Frame(f) = parse_line(
            Format::Cryptofeed,
            r#"https://fapi.binance.com/fapi/v1/depth?symbol=SUSHIUSDT&limit=1000 -> 1626992741.301402: {"lastUpdateId":1,"bids":[],"asks":[]}"#,
        ) else {
            panic!()
        };
        assert_eq!(f.received_ms, Some(1_626_992_741_301));
        assert_eq!(
            f.message,
            r#"{"stream":"sushiusdt@depthSnapshot","data":{"lastUpdateId":1,"bids":[],"asks":[]}}"#
        );
        assert!(matches!(
            parse_line(Format::Cryptofeed, "garbage"),
            Line::Bad(_)
        ));
        assert_eq!(parse_line(Format::Cryptofeed, "  "), Line::Skip("blank"));
    }

    #[test]
    fn tardis_and_prism_lines() {
        let Line::Frame(f) = parse_line(
            Format::Tardis,
            r#"{"localTimestamp":"2019-10-01T00:00:01.1234567Z","message":{"e":"trade"}}"#,
        ) else {
            panic!()
        };
        assert_eq!(f.received_ms, Some(1_569_888_001_123));
        assert_eq!(f.message, r#"{"e":"trade"}"#);
        assert_eq!(iso8601_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            iso8601_ms("2024-02-29T23:59:59.999Z"),
            Some(1_709_251_199_999)
        );
        assert_eq!(iso8601_ms("2024-13-01T00:00:00Z"), None);
        let line = serde_json::to_string(&CapturedFrame {
            received_ms: 5,
            venue: "okx".into(),
            url: "wss://ws.okx.com/ws/v5/public".into(),
            message: "pong".into(),
        })
        .unwrap();
        assert_eq!(
            parse_line(Format::Prism, &line),
            Line::Frame(Frame {
                received_ms: Some(5),
                message: "pong".into()
            })
        );
    }
}
