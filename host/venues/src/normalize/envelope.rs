//! A message's data read in the same pass as its envelope.
//!
//! Venues send the channel before the data (`{"arg":{"channel":"trades"},
//! "data":[…]}`). A derived parse cannot use that order: it keeps the data
//! raw, and the data is scanned a second time once the channel is known —
//! two scans of nearly the whole message, the largest single cost of a
//! trade. A venue's envelope is instead read by a visitor that, once it has
//! seen the channel, reads the data as the type that channel carries
//! ([`DataSeed`]).
//!
//! Errors stay the derived parse's: when the one-pass read fails for any
//! reason, the venue parses the message again the old way (raw data, then
//! its type), whose errors name the part that is wrong. The second parse
//! runs only for messages that are refused anyway.

use crate::num::{BadValue, bad};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error};
use serde_json::value::RawValue;
use std::marker::PhantomData;

/// A message's data: read as its channel's type already, or raw.
pub(crate) enum Data<'a, T> {
    Read(T),
    Raw(&'a RawValue),
}

/// Reads a data value as `T` when `typed`, else keeps it raw; raw `null`
/// is `None`, as an `Option<&RawValue>` field of a derived parse reads it.
pub(crate) struct DataSeed<T> {
    typed: bool,
    read: PhantomData<T>,
}

impl<T> DataSeed<T> {
    pub(crate) fn new(typed: bool) -> Self {
        Self {
            typed,
            read: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for DataSeed<T> {
    type Value = Option<Data<'de, T>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.typed {
            T::deserialize(d).map(|read| Some(Data::Read(read)))
        } else {
            Option::<&RawValue>::deserialize(d).map(|raw| raw.map(Data::Raw))
        }
    }
}

/// Parses a venue's `message` with the seed `envelope(true)` makes (data in
/// the same pass); when that fails, again with `envelope(false)` (every
/// data raw, as a derived parse reads it), whose error is the refusal.
pub(crate) fn read<'a, S: DeserializeSeed<'a>>(
    message: &'a str,
    envelope: impl Fn(bool) -> S,
) -> Result<S::Value, BadValue> {
    whole(envelope(true), message)
        .or_else(|_| whole(envelope(false), message).map_err(|e| bad("message", e.to_string())))
}

/// Parses `text` with `seed` as one whole JSON document (trailing
/// characters refused, as `serde_json::from_str` does).
fn whole<'a, S: DeserializeSeed<'a>>(seed: S, text: &'a str) -> serde_json::Result<S::Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The keys of an envelope seen so far: each may come once, as a derived
/// parse requires.
#[derive(Default)]
pub(crate) struct Keys(u32);

impl Keys {
    /// Notes key number `at` (< 32), named `name`; refuses it the second time.
    pub(crate) fn once<E: Error>(&mut self, at: u32, name: &'static str) -> Result<(), E> {
        let bit = 1 << at;
        if self.0 & bit != 0 {
            return Err(E::duplicate_field(name));
        }
        self.0 |= bit;
        Ok(())
    }
}
