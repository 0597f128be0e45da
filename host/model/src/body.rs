//! A document's or log's body: JSON, kept as the plugin's MessagePack until
//! something reads it.
//!
//! Reading a body into a `serde_json::Value` was 15 % of a replay of the
//! reference plugins: liquidation-map's documents are arrays of hundreds
//! of small maps, each an `IndexMap` with hashed keys and owned strings,
//! and most are replaced by the next document under their key before
//! anyone reads them. A [`Body`] from [`Body::from_msgpack`] is checked in
//! one pass without building anything (the forms it holds, the bytes its
//! value will hold) and decoded the first time it is read.
//!
//! Bodies the check does not cover (binary and extension values, keys
//! other than strings, serde_json's private key tokens, a key written
//! twice, nesting deeper than [`DEEPEST`]) are decoded at once by
//! `rmp_serde`, as every body was before: what is accepted, the value
//! read, its byte count and the words of every refusal are unchanged.

mod emit;

use crate::output::{VALUE_BYTES, body_bytes};
use rmp::Marker;
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::sync::OnceLock;

/// The deepest nesting the check follows; deeper bodies are decoded at
/// once (`rmp_serde` allows up to 1023).
const DEEPEST: u32 = 64;

/// Key text that `serde_json::Value`'s reader treats as an instruction (a
/// raw value or a number in text), not as a key.
const PRIVATE_KEY: &[u8] = b"$serde_json::private::";

/// A JSON body. Reads go through [`Body::value`] (or `Deref`); the first
/// read of a body kept as MessagePack decodes it, once.
#[derive(Clone)]
pub struct Body {
    form: Form,
    held: usize,
}

#[derive(Clone)]
enum Form {
    Json(Value),
    Packed {
        bytes: Box<[u8]>,
        json: OnceLock<Value>,
    },
}

/// A body that is not one JSON value in MessagePack; the words are
/// `rmp_serde`'s.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(String);

impl Body {
    /// The first MessagePack value of `bytes` as a body (anything after
    /// it is ignored, as `rmp_serde::from_slice` ignores it).
    ///
    /// # Errors
    /// When `bytes` do not hold a value that reads as JSON.
    pub fn from_msgpack(bytes: Vec<u8>) -> Result<Self, BodyError> {
        let mut check = Check { rest: &bytes };
        if let Some(held) = check.value(0) {
            let len = bytes.len() - check.rest.len();
            let mut bytes = bytes;
            bytes.truncate(len);
            return Ok(Self {
                form: Form::Packed {
                    bytes: bytes.into_boxed_slice(),
                    json: OnceLock::new(),
                },
                held,
            });
        }
        let value: Value = rmp_serde::from_slice(&bytes).map_err(|e| BodyError(e.to_string()))?;
        Ok(Self::from(value))
    }

    /// The JSON value.
    #[must_use]
    pub fn value(&self) -> &Value {
        match &self.form {
            Form::Json(value) => value,
            Form::Packed { bytes, json } => json.get_or_init(|| {
                // The check accepted only what `rmp_serde` reads (see the
                // module's doc and its oracle test); null is unreachable.
                rmp_serde::from_slice(bytes).unwrap_or(Value::Null)
            }),
        }
    }

    /// What the value holds in memory, in [`body_bytes`]'s unit (the one
    /// plugins' output limits count), whether it has been read yet or not.
    #[must_use]
    pub fn held(&self) -> usize {
        self.held
    }
}

impl From<Value> for Body {
    fn from(value: Value) -> Self {
        Self {
            held: body_bytes(&value),
            form: Form::Json(value),
        }
    }
}

impl std::ops::Deref for Body {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value().fmt(f)
    }
}

/// Written as its JSON value; a body still packed is written from its
/// bytes without decoding it ([`emit`]).
impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.form {
            Form::Json(value) => value.serialize(s),
            Form::Packed { bytes, .. } => emit::Packed(bytes).serialize(s),
        }
    }
}

/// One pass over a MessagePack value: `Some(held)` when it is one the
/// body keeps packed, with [`body_bytes`] of the value it reads as.
struct Check<'a> {
    rest: &'a [u8],
}

impl<'a> Check<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(head)
    }

    fn skip(&mut self, n: usize) -> Option<usize> {
        self.take(n).map(|_| VALUE_BYTES)
    }

    fn len(&mut self, width: usize) -> Option<usize> {
        let bytes = self.take(width)?;
        let len = bytes.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
        usize::try_from(len).ok()
    }

    fn text(&mut self, len: usize) -> Option<&'a [u8]> {
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).ok().map(str::as_bytes)
    }

    fn value(&mut self, depth: u32) -> Option<usize> {
        let marker = Marker::from_u8(*self.take(1)?.first()?);
        match marker {
            Marker::Null | Marker::True | Marker::False | Marker::FixPos(_) | Marker::FixNeg(_) => {
                Some(VALUE_BYTES)
            }
            Marker::U8 | Marker::I8 => self.skip(1),
            Marker::U16 | Marker::I16 => self.skip(2),
            Marker::U32 | Marker::I32 | Marker::F32 => self.skip(4),
            Marker::U64 | Marker::I64 | Marker::F64 => self.skip(8),
            Marker::FixStr(n) => self.string(usize::from(n)),
            Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let n = self.len(width(marker))?;
                self.string(n)
            }
            Marker::FixArray(n) => self.array(usize::from(n), depth),
            Marker::Array16 | Marker::Array32 => {
                let n = self.len(width(marker))?;
                self.array(n, depth)
            }
            Marker::FixMap(n) => self.map(usize::from(n), depth),
            Marker::Map16 | Marker::Map32 => {
                let n = self.len(width(marker))?;
                self.map(n, depth)
            }
            _ => None,
        }
    }

    fn string(&mut self, len: usize) -> Option<usize> {
        self.text(len).map(|s| VALUE_BYTES + s.len())
    }

    fn array(&mut self, len: usize, depth: u32) -> Option<usize> {
        if depth >= DEEPEST {
            return None;
        }
        let mut held = VALUE_BYTES;
        for _ in 0..len {
            held += self.value(depth + 1)?;
        }
        Some(held)
    }

    fn map(&mut self, len: usize, depth: u32) -> Option<usize> {
        if depth >= DEEPEST {
            return None;
        }
        // A key written twice: the value keeps one entry, the count here
        // would have two; such maps are decoded at once. Small maps (most)
        // are compared in place, larger ones sorted.
        let mut small: [&[u8]; 16] = [&[]; 16];
        let mut large: Vec<&[u8]> = Vec::new();
        let mut held = VALUE_BYTES;
        for i in 0..len {
            let key = self.key()?;
            held += VALUE_BYTES + key.len() + self.value(depth + 1)?;
            if len <= small.len() {
                if small[..i].contains(&key) {
                    return None;
                }
                small[i] = key;
            } else {
                large.push(key);
            }
        }
        large.sort_unstable();
        if large.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        Some(held)
    }

    fn key(&mut self) -> Option<&'a [u8]> {
        let len = match Marker::from_u8(*self.take(1)?.first()?) {
            Marker::FixStr(n) => usize::from(n),
            marker @ (Marker::Str8 | Marker::Str16 | Marker::Str32) => self.len(width(marker))?,
            _ => return None,
        };
        let key = self.text(len)?;
        (!key.starts_with(PRIVATE_KEY)).then_some(key)
    }
}

/// The bytes of a string's, array's or map's length after its marker.
fn width(marker: Marker) -> usize {
    match marker {
        Marker::Str8 => 1,
        Marker::Str16 | Marker::Array16 | Marker::Map16 => 2,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    /// What the host decoded before this reader: the oracle.
    fn general(bytes: &[u8]) -> Result<Value, rmp_serde::decode::Error> {
        rmp_serde::from_slice(bytes)
    }

    /// A random value written with every MessagePack form the reader covers
    /// (each integer and string width, f32 and f64) and, when `odd`, now and
    /// then one it leaves to the general decoder.
    fn write(rng: &mut StdRng, out: &mut Vec<u8>, depth: u32, odd: bool) {
        // Containers only near the top: the reader's nesting bound is
        // tested on its own.
        let pick = if depth > 4 {
            rng.random_range(0..8)
        } else {
            rng.random_range(0..16)
        };
        match pick {
            0 => rmp::encode::write_nil(out).unwrap(),
            1 => rmp::encode::write_bool(out, rng.random()).unwrap(),
            2 => {
                let n: u64 = match rng.random_range(0..5) {
                    0 => rng.random_range(0..128),
                    1 => rng.random_range(0..256),
                    2 => rng.random_range(0..65_536),
                    3 => rng.random_range(0..1 << 32),
                    _ => rng.random(),
                };
                rmp::encode::write_uint(out, n).unwrap();
            }
            3 => {
                // Each signed width by hand: write_sint picks the shortest.
                match rng.random_range(0..5) {
                    0 => drop(rmp::encode::write_sint(out, rng.random_range(-32..0)).unwrap()),
                    1 => rmp::encode::write_i8(out, rng.random()).unwrap(),
                    2 => rmp::encode::write_i16(out, rng.random()).unwrap(),
                    3 => rmp::encode::write_i32(out, rng.random()).unwrap(),
                    _ => rmp::encode::write_i64(out, rng.random()).unwrap(),
                };
            }
            4 => {
                let f = match rng.random_range(0..6) {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => -0.0,
                    _ => rng.random_range(-1e12..1e12),
                };
                if rng.random() {
                    rmp::encode::write_f64(out, f).unwrap();
                } else {
                    rmp::encode::write_f32(out, f as f32).unwrap();
                }
            }
            5..=7 => {
                let text = text(rng);
                write_str(rng, out, &text);
            }
            8..=9 if odd && rng.random_range(0..8) == 0 => {
                match rng.random_range(0..4) {
                    0 => rmp::encode::write_bin(out, b"\x01\x02").unwrap(),
                    1 => rmp::encode::write_ext_meta(out, 1, 3)
                        .map(|_| out.extend_from_slice(&[1, 2, 3]))
                        .unwrap(),
                    2 => {
                        // Invalid UTF-8.
                        rmp::encode::write_str_len(out, 2).unwrap();
                        out.extend_from_slice(&[0xc3, 0x28]);
                    }
                    _ => out.push(0xc1),
                }
            }
            8..=11 => {
                let n = rng.random_range(0..6);
                rmp::encode::write_array_len(out, n).unwrap();
                for _ in 0..n {
                    write(rng, out, depth + 1, odd);
                }
            }
            _ => {
                let n = rng.random_range(0..8);
                rmp::encode::write_map_len(out, n).unwrap();
                for i in 0..n {
                    if odd && rng.random_range(0..40) == 0 {
                        match rng.random_range(0..3) {
                            0 => drop(rmp::encode::write_uint(out, 7).unwrap()),
                            1 => write_str(rng, out, "$serde_json::private::RawValue"),
                            _ => write_str(rng, out, "k0"),
                        };
                    } else {
                        let key = format!("k{i}{}", text(rng));
                        write_str(rng, out, &key);
                    }
                    write(rng, out, depth + 1, odd);
                }
            }
        }
    }

    fn text(rng: &mut StdRng) -> String {
        let len = match rng.random_range(0..400) {
            0 => rng.random_range(300..70_000),
            1..=40 => rng.random_range(32..300),
            _ => rng.random_range(0..12),
        };
        (0..len)
            .map(|_| match rng.random_range(0..10) {
                0 => 'é',
                1 => '€',
                2 => '"',
                _ => char::from(rng.random_range(b'a'..=b'z')),
            })
            .collect()
    }

    /// Each string width, not only the shortest that fits.
    fn write_str(rng: &mut StdRng, out: &mut Vec<u8>, s: &str) {
        let len = s.len();
        match rng.random_range(0..4) {
            0 if len < 256 => {
                out.push(0xd9);
                out.push(len as u8);
            }
            1 if len < 65_536 => {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            2 => {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            _ => rmp::encode::write_str_len(out, len as u32)
                .map(|_| ())
                .unwrap(),
        }
        out.extend_from_slice(s.as_bytes());
    }

    /// Whether kept packed or decoded at once, a body reads as the
    /// general decoder reads it, counts what `body_bytes` counts, and is
    /// refused exactly when the general decoder refuses it, in its words:
    /// over well-formed bodies, bodies with forms the check leaves to the
    /// general decoder, and those bodies cut short or with a byte changed.
    #[test]
    fn reads_what_the_general_decoder_reads() {
        let mut rng = StdRng::seed_from_u64(11);
        let (mut packed, mut decoded, mut refused) = (0, 0, 0);
        for round in 0..20_000 {
            let odd = round % 2 == 1;
            let mut bytes = Vec::new();
            write(&mut rng, &mut bytes, 0, odd);
            if !odd {
                // Plain bodies are all kept packed (keys are unique: each
                // carries its place in the map).
                assert!(Check { rest: &bytes }.value(0).is_some(), "{bytes:02x?}");
            }
            let mut cases = vec![bytes.clone(), [bytes.as_slice(), &[0x01, 0xc0]].concat()];
            if bytes.len() > 1 {
                cases.push(bytes[..rng.random_range(0..bytes.len())].to_vec());
                let mut changed = bytes.clone();
                changed[rng.random_range(0..bytes.len())] = rng.random();
                cases.push(changed);
            }
            for case in cases {
                let kept = Check { rest: &case }.value(0).is_some();
                match (Body::from_msgpack(case.clone()), general(&case)) {
                    (Ok(body), Ok(oracle)) => {
                        // Written before it is read: a packed body is
                        // written from its bytes, as its value writes
                        // itself to each serializer, and stays undecoded.
                        assert_eq!(
                            serde_json::to_string(&body).unwrap(),
                            serde_json::to_string(&oracle).unwrap()
                        );
                        assert_eq!(
                            serde_json::to_string_pretty(&body).unwrap(),
                            serde_json::to_string_pretty(&oracle).unwrap()
                        );
                        assert_eq!(
                            rmp_serde::to_vec(&body).unwrap(),
                            rmp_serde::to_vec(&oracle).unwrap()
                        );
                        assert_eq!(serde_json::to_value(&body).unwrap(), oracle);
                        if let Form::Packed { json, .. } = &body.form {
                            assert!(json.get().is_none());
                        }
                        assert_eq!(body.held(), body_bytes(&oracle), "{case:02x?}");
                        assert_eq!(*body.value(), oracle, "{case:02x?}");
                        if kept {
                            packed += 1;
                        } else {
                            decoded += 1;
                        }
                    }
                    (Err(e), Err(oracle)) => {
                        assert!(!kept);
                        assert_eq!(e.to_string(), oracle.to_string());
                        refused += 1;
                    }
                    (body, oracle) => panic!("{body:?} against {oracle:?}: {case:02x?}"),
                }
            }
        }
        // Every path was taken.
        assert!(
            packed > 40_000 && decoded > 200 && refused > 5_000,
            "{packed} / {decoded} / {refused}"
        );
    }

    #[test]
    fn leaves_the_rest_to_the_general_decoder() {
        let nested = |depth: usize| {
            let mut bytes = vec![0x91; depth];
            bytes.push(0xc0);
            bytes
        };
        let packed = |bytes: &[u8]| Check { rest: bytes }.value(0).is_some();
        let deepest = nested(DEEPEST as usize);
        assert!(packed(&deepest));
        assert_eq!(
            *Body::from_msgpack(deepest.clone()).unwrap(),
            general(&deepest).unwrap()
        );
        let deeper = nested(DEEPEST as usize + 1);
        assert!(!packed(&deeper));
        assert_eq!(
            *Body::from_msgpack(deeper.clone()).unwrap(),
            general(&deeper).unwrap()
        );
        // A header that claims more than the body holds is refused.
        assert!(Body::from_msgpack(vec![0xdf, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(Body::from_msgpack(vec![0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
        // serde_json's raw-value token as a first key is read by the
        // general decoder as the JSON text it names.
        let mut raw = Vec::new();
        rmp::encode::write_map_len(&mut raw, 1).unwrap();
        rmp::encode::write_str(&mut raw, "$serde_json::private::RawValue").unwrap();
        rmp::encode::write_str(&mut raw, "[1,2]").unwrap();
        assert!(!packed(&raw));
        assert_eq!(*Body::from_msgpack(raw).unwrap(), serde_json::json!([1, 2]));
        // A key written twice, in a small map and in a large one: the value
        // keeps the last, and counts one entry.
        for len in [2u32, 40] {
            let mut twice = Vec::new();
            rmp::encode::write_map_len(&mut twice, len).unwrap();
            for i in 0..len - 1 {
                rmp::encode::write_str(&mut twice, &format!("k{i}")).unwrap();
                rmp::encode::write_uint(&mut twice, 1).unwrap();
            }
            rmp::encode::write_str(&mut twice, "k0").unwrap();
            rmp::encode::write_uint(&mut twice, 2).unwrap();
            assert!(!packed(&twice));
            let body = Body::from_msgpack(twice).unwrap();
            assert_eq!(body["k0"], 2);
            assert_eq!(body.held(), body_bytes(&body));
        }
        // What follows the value is not kept.
        let body = Body::from_msgpack(vec![0x01, 0xc0, 0xc0]).unwrap();
        assert!(matches!(&body.form, Form::Packed { bytes, .. } if bytes.len() == 1));
    }
}
