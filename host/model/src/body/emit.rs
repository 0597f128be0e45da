//! A packed body written to a serializer straight from its MessagePack.
//!
//! Writing a body through its decoded `Value` built an `IndexMap` with
//! owned keys for every small map of a liquidation map's document, only to
//! walk it once and drop it: a fifth of the CPU of a replay that writes its
//! outputs (`--out`). This walk calls the serializer as `Value`'s own
//! `Serialize` does for the value the bytes decode to, call for call:
//! `serialize_unit` for nil and for a float that is not finite (`Value`
//! holds those as null), `serialize_u64` for any integer at or above zero
//! and `serialize_i64` below it, floats widened to `f64`, maps and arrays
//! with their lengths, entries in the order written. That is exact only
//! for bytes the body's check accepted (no key twice, string keys, valid
//! UTF-8, nothing `Value` reads otherwise), which are the only ones kept
//! packed.

use rmp::Marker;
use serde::ser::{Error, SerializeMap};
use serde::{Serialize, Serializer};
use std::cell::Cell;

/// A checked packed value; serializing it walks its bytes.
pub(super) struct Packed<'a>(pub(super) &'a [u8]);

impl Serialize for Packed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Next(&Cell::new(self.0)).serialize(s)
    }
}

/// The value at the front of the bytes left; serializing it moves past it.
/// A `Cell` because serde hands elements over by shared reference.
struct Next<'c, 'a>(&'c Cell<&'a [u8]>);

impl<'a> Next<'_, 'a> {
    fn take<E: Error>(&self, n: usize) -> Result<&'a [u8], E> {
        let rest = self.0.get();
        if n > rest.len() {
            // The check read these bytes whole; only a broken invariant
            // gets here, and it fails the write, not the host.
            return Err(E::custom("a packed body ended early"));
        }
        let (head, rest) = rest.split_at(n);
        self.0.set(rest);
        Ok(head)
    }

    fn int<E: Error, const N: usize>(&self) -> Result<[u8; N], E> {
        let bytes = self.take(N)?;
        Ok(bytes.try_into().unwrap_or([0; N]))
    }

    /// A string's, array's or map's length after its marker, in the
    /// check's width ([`super::width`]).
    fn len<E: Error>(&self, marker: Marker) -> Result<usize, E> {
        let bytes = self.take(super::width(marker))?;
        let n = bytes.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
        usize::try_from(n).map_err(|_| E::custom("a packed length past memory"))
    }

    fn str<E: Error>(&self, len: usize) -> Result<&'a str, E> {
        std::str::from_utf8(self.take(len)?).map_err(E::custom)
    }

    fn key<E: Error>(&self) -> Result<&'a str, E> {
        match Marker::from_u8(self.take(1)?[0]) {
            Marker::FixStr(n) => self.str(usize::from(n)),
            m @ (Marker::Str8 | Marker::Str16 | Marker::Str32) => {
                let len = self.len(m)?;
                self.str(len)
            }
            _ => Err(E::custom("a packed body's key is not a string")),
        }
    }
}

fn signed<S: Serializer>(s: S, n: i64) -> Result<S::Ok, S::Error> {
    // `Value` keeps an integer at or above zero as unsigned, whichever
    // form it was written in.
    match u64::try_from(n) {
        Ok(n) => s.serialize_u64(n),
        Err(_) => s.serialize_i64(n),
    }
}

fn float<S: Serializer>(s: S, f: f64) -> Result<S::Ok, S::Error> {
    if f.is_finite() {
        s.serialize_f64(f)
    } else {
        s.serialize_unit()
    }
}

impl Serialize for Next<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let marker = Marker::from_u8(self.take(1)?[0]);
        match marker {
            Marker::Null => s.serialize_unit(),
            Marker::True => s.serialize_bool(true),
            Marker::False => s.serialize_bool(false),
            Marker::FixPos(n) => s.serialize_u64(u64::from(n)),
            Marker::FixNeg(n) => s.serialize_i64(i64::from(n)),
            Marker::U8 => s.serialize_u64(u64::from(self.int::<S::Error, 1>()?[0])),
            Marker::U16 => s.serialize_u64(u64::from(u16::from_be_bytes(self.int()?))),
            Marker::U32 => s.serialize_u64(u64::from(u32::from_be_bytes(self.int()?))),
            Marker::U64 => s.serialize_u64(u64::from_be_bytes(self.int()?)),
            Marker::I8 => signed(s, i64::from(i8::from_be_bytes(self.int()?))),
            Marker::I16 => signed(s, i64::from(i16::from_be_bytes(self.int()?))),
            Marker::I32 => signed(s, i64::from(i32::from_be_bytes(self.int()?))),
            Marker::I64 => signed(s, i64::from_be_bytes(self.int()?)),
            Marker::F32 => float(s, f64::from(f32::from_be_bytes(self.int()?))),
            Marker::F64 => float(s, f64::from_be_bytes(self.int()?)),
            Marker::FixStr(n) => s.serialize_str(self.str(usize::from(n))?),
            Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let len = self.len(marker)?;
                s.serialize_str(self.str(len)?)
            }
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let len = match marker {
                    Marker::FixArray(n) => usize::from(n),
                    _ => self.len(marker)?,
                };
                // As `Vec<Value>` writes itself: through `collect_seq`.
                s.collect_seq((0..len).map(|_| Next(self.0)))
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let len = match marker {
                    Marker::FixMap(n) => usize::from(n),
                    _ => self.len(marker)?,
                };
                let mut map = s.serialize_map(Some(len))?;
                for _ in 0..len {
                    let key = self.key()?;
                    map.serialize_entry(key, &Next(self.0))?;
                }
                map.end()
            }
            _ => Err(S::Error::custom("a packed body holds a form JSON has not")),
        }
    }
}
