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

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer};
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

/// Parses `text` with `seed` as one whole JSON document (trailing
/// characters refused, as `serde_json::from_str` does).
pub(crate) fn one_pass<'a, S: DeserializeSeed<'a>>(
    seed: S,
    text: &'a str,
) -> serde_json::Result<S::Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}
