//! A message's data read in the same pass as its envelope.
//!
//! Venues send the channel before the data (`{"arg":{"channel":"trades"},
//! "data":[…]}`). A derived parse cannot use that order: it keeps the data
//! raw, and the data is scanned a second time once the channel is known —
//! two scans of nearly the whole message, the largest single cost of a
//! trade. A venue's envelope is instead read key by key ([`Envelope`],
//! driven by [`read`]): once the channel has been seen, the data is read as
//! the type that channel carries ([`DataSeed`]).
//!
//! Errors stay the derived parse's: when the one-pass read fails for any
//! reason, the venue parses the message again the old way (raw data, then
//! its type), whose errors name the part that is wrong. The second parse
//! runs only for messages that are refused anyway.

use crate::num::{BadValue, bad};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, Visitor};
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

/// An envelope's keys, declared by [`keys!`]: each known key read at most
/// once, any other ignored.
pub(crate) trait Keys: Copy {
    /// The known keys' names, in declaration order.
    const NAMES: &'static [&'static str];

    /// Where the key is in [`Keys::NAMES`]; `None` for a key it ignores.
    fn slot(self) -> Option<usize>;
}

/// Declares an envelope's key enum: `keys!(Key { Channel = "channel", … })`
/// makes a serde `field_identifier` enum with those variants and an `Other`
/// for any other key, and its [`Keys`] (slots follow the declaration, so
/// names and slots cannot drift apart).
macro_rules! keys {
    ($name:ident { $($key:ident = $text:literal),+ $(,)? }) => {
        #[derive(Clone, Copy, ::serde::Deserialize)]
        #[serde(field_identifier)]
        enum $name {
            $(#[serde(rename = $text)] $key,)+
            #[serde(other)]
            Other,
        }

        impl $crate::normalize::envelope::Keys for $name {
            const NAMES: &'static [&'static str] = &[$($text),+];

            fn slot(self) -> Option<usize> {
                match self {
                    Self::Other => None,
                    known => Some(known as usize),
                }
            }
        }
    };
}
pub(crate) use keys;

/// A venue's envelope, read key by key: what differs between venues.
pub(crate) trait Envelope<'de>: Default {
    /// Its keys, declared with [`keys!`].
    type Key: Deserialize<'de> + Keys;
    /// What it is, for serde's messages.
    const NAME: &'static str;

    /// Reads `key`'s value from `map`; with `one_pass`, data whose channel
    /// was seen already may be read as that channel's type.
    fn read<A: MapAccess<'de>>(
        &mut self,
        key: Self::Key,
        map: &mut A,
        one_pass: bool,
    ) -> Result<(), A::Error>;
}

/// Reads an [`Envelope`], each known key at most once (as a derived parse
/// requires).
pub(crate) struct Seed<E> {
    one_pass: bool,
    envelope: PhantomData<E>,
}

impl<E> Seed<E> {
    pub(crate) fn new(one_pass: bool) -> Self {
        Self {
            one_pass,
            envelope: PhantomData,
        }
    }
}

impl<'de, E: Envelope<'de>> DeserializeSeed<'de> for Seed<E> {
    type Value = E;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<E, D::Error> {
        d.deserialize_struct(E::NAME, E::Key::NAMES, self)
    }
}

impl<'de, E: Envelope<'de>> Visitor<'de> for Seed<E> {
    type Value = E;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {}", E::NAME)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<E, A::Error> {
        let mut envelope = E::default();
        let mut seen = 0u64;
        while let Some(key) = map.next_key::<E::Key>()? {
            if let Some(at) = key.slot() {
                if seen & (1 << at) != 0 {
                    return Err(A::Error::duplicate_field(E::Key::NAMES[at]));
                }
                seen |= 1 << at;
            }
            envelope.read(key, &mut map, self.one_pass)?;
        }
        Ok(envelope)
    }
}

/// Reads a value with the seed it holds, or `null` as `None` (what an
/// `Option` field of a derived parse does).
pub(crate) struct Optional<S>(pub(crate) S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Optional<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Optional<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value or null")
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

/// Parses a venue's `message` as the envelope `E` with its data in the
/// same pass; when that fails, again with every data kept raw (as a
/// derived parse reads it), whose error is the refusal.
pub(crate) fn read<'a, E: Envelope<'a>>(message: &'a str) -> Result<E, BadValue> {
    whole(Seed::<E>::new(true), message).or_else(|_| {
        whole(Seed::<E>::new(false), message).map_err(|e| bad("message", e.to_string()))
    })
}

/// Parses `text` with `seed` as one whole JSON document (trailing
/// characters refused, as `serde_json::from_str` does).
fn whole<'a, S: DeserializeSeed<'a>>(seed: S, text: &'a str) -> serde_json::Result<S::Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}
