//! The MessagePack [`Cursor`]: besides what [`read`](super::read::read)
//! gives up on, it gives up on binaries, extensions, non-string keys and
//! strings that are not UTF-8 (`rmp_serde` reads some of those its own
//! way).

use super::read::Cursor;
use super::{DecimalField, DecimalStr};
use prism_model::{Decimal, decimal};
use std::borrow::Cow;

/// The record's fields, or `None` when they are left to `rmp_serde`;
/// `bytes` is one whole value.
pub(super) fn read(bytes: &[u8]) -> Option<super::Fields<'_>> {
    super::read::read(&mut Packed {
        bytes,
        at: 0,
        entries: 0,
        whole: true,
    })
}

/// Reads the fields of the record `bytes` start with into `fields` (all
/// `None` before), and gives its length: what [`read`] gives for those
/// bytes, without first walking the record to find its end. `None` when
/// the record is left to `rmp_serde`, or does not end within `bytes`.
pub(super) fn read_front<'a>(bytes: &'a [u8], fields: &mut super::Fields<'a>) -> Option<usize> {
    let mut c = Packed {
        bytes,
        at: 0,
        entries: 0,
        whole: false,
    };
    super::read::read_into(&mut c, fields)?;
    Some(c.at)
}

struct Packed<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Map entries not read yet.
    entries: usize,
    /// Whether the record must end where `bytes` do.
    whole: bool,
}

impl<'a> Packed<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let taken = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(taken)
    }

    /// A big-endian unsigned integer of `n` bytes (at most 8).
    fn be(&mut self, n: usize) -> Option<usize> {
        let v = self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        usize::try_from(v).ok()
    }

    /// A string's bytes (any of the four string forms), not yet checked.
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => self.be(1)?,
            0xda => self.be(2)?,
            0xdb => self.be(4)?,
            _ => return None,
        };
        self.take(len)
    }
}

impl<'a> Cursor<'a> for Packed<'a> {
    fn open(&mut self) -> Option<()> {
        self.entries = match self.byte()? {
            m @ 0x80..=0x8f => usize::from(m & 0x0f),
            0xde => self.be(2)?,
            0xdf => self.be(4)?,
            _ => return None,
        };
        Some(())
    }

    fn key(&mut self) -> Option<Option<&'a [u8]>> {
        if self.entries == 0 {
            return Some(None);
        }
        self.entries -= 1;
        self.string().map(Some)
    }

    fn close(&mut self) -> Option<()> {
        (!self.whole || self.at == self.bytes.len()).then_some(())
    }

    fn null(&mut self) -> bool {
        let null = self.bytes.get(self.at) == Some(&0xc0);
        self.at += usize::from(null);
        null
    }

    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.string()?).ok()
    }

    fn raw_str(&mut self) -> Option<&'a [u8]> {
        self.string()
    }

    fn i64(&mut self) -> Option<i64> {
        let m = self.byte()?;
        Some(match m {
            0x00..=0x7f => i64::from(m),
            0xe0..=0xff => i64::from(m as i8),
            0xcc => i64::from(self.take(1)?[0]),
            0xcd => i64::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            0xce => i64::from(u32::from_be_bytes(self.take(4)?.try_into().ok()?)),
            0xcf => i64::try_from(u64::from_be_bytes(self.take(8)?.try_into().ok()?)).ok()?,
            0xd0 => i64::from(self.take(1)?[0] as i8),
            0xd1 => i64::from(i16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            0xd2 => i64::from(i32::from_be_bytes(self.take(4)?.try_into().ok()?)),
            0xd3 => i64::from_be_bytes(self.take(8)?.try_into().ok()?),
            _ => return None,
        })
    }

    fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0xc2 => Some(false),
            0xc3 => Some(true),
            _ => None,
        }
    }

    fn decimal(&mut self) -> Option<DecimalField<'a>> {
        match self.bytes.get(self.at)? {
            0xa0..=0xbf | 0xd9..=0xdb => {
                let bytes = self.string()?;
                // `plain` takes ASCII only: what it reads needs no UTF-8
                // check.
                Some(match decimal::plain(bytes) {
                    Some(d) => DecimalField::Read(d),
                    None => DecimalField::Text(DecimalStr(Cow::Borrowed(
                        std::str::from_utf8(bytes).ok()?,
                    ))),
                })
            }
            0xcf => {
                // Unsigned 64-bit: written as such even past i64::MAX.
                self.at += 1;
                let v = u64::from_be_bytes(self.take(8)?.try_into().ok()?);
                Some(DecimalField::Text(DecimalStr(Cow::Owned(v.to_string()))))
            }
            // An integer is the decimal its digits are, at scale 0.
            _ => self.i64().map(|v| DecimalField::Read(Decimal::from(v))),
        }
    }

    fn open_list(&mut self) -> Option<Option<usize>> {
        let len = match self.byte()? {
            m @ 0x90..=0x9f => usize::from(m & 0x0f),
            0xdc => self.be(2)?,
            0xdd => self.be(4)?,
            _ => return None,
        };
        // Each element takes at least a byte: a count past what is left is
        // a truncated record, not an allocation to make.
        (len <= self.bytes.len() - self.at).then_some(Some(len))
    }

    fn more(&mut self, count: usize, len: Option<usize>) -> Option<bool> {
        len.map(|len| count < len)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Fields;
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    /// MessagePack written by hand, so every width of every form can be
    /// chosen (a writer picks the shortest; a file may hold any).
    struct Writer<'r> {
        out: Vec<u8>,
        rng: &'r mut StdRng,
    }

    impl Writer<'_> {
        fn len(&mut self, fix: u8, fix_max: usize, forms: [u8; 3], n: usize) {
            // The shortest form, or a wider one at random.
            let widths = [(fix_max, 0usize), (0xff, 1), (0xffff, 2), (usize::MAX, 4)];
            let fits: Vec<usize> = (0..4)
                .filter(|&i| n <= widths[i].0 && (i > 0 || fix_max > 0))
                .collect();
            let i = if self.rng.random_range(0..4) == 0 {
                fits[self.rng.random_range(0..fits.len())]
            } else {
                fits[0]
            };
            if i == 0 {
                self.out.push(fix | n as u8);
            } else {
                self.out.push(forms[i - 1]);
                let bytes = (n as u64).to_be_bytes();
                self.out.extend_from_slice(&bytes[8 - widths[i].1..]);
            }
        }

        fn str_bytes(&mut self, s: &[u8]) {
            self.len(0xa0, 31, [0xd9, 0xda, 0xdb], s.len());
            self.out.extend_from_slice(s);
        }

        fn str(&mut self, s: &str) {
            self.str_bytes(s.as_bytes());
        }

        fn map(&mut self, n: usize) {
            // map 16 and map 32 only (no map 8 in MessagePack).
            match self.rng.random_range(0..4) {
                0 => self.out.extend_from_slice(&[0xde, 0, n as u8]),
                1 => self.out.extend_from_slice(&[0xdf, 0, 0, 0, n as u8]),
                _ => self.out.push(0x80 | n as u8),
            }
        }

        fn array(&mut self, n: usize) {
            match self.rng.random_range(0..4) {
                0 => self.out.extend_from_slice(&[0xdc, 0, n as u8]),
                1 => self.out.extend_from_slice(&[0xdd, 0, 0, 0, n as u8]),
                _ => self.out.push(0x90 | n as u8),
            }
        }

        /// An integer in one of the forms that can hold it.
        fn int(&mut self, v: i128) {
            let mut forms: Vec<(u8, usize)> = Vec::new();
            if (0..=127).contains(&v) {
                forms.push((0x00, 0));
            }
            if (-32..0).contains(&v) {
                forms.push((0xe0, 0));
            }
            for (marker, bytes, lo, hi) in [
                (0xcc, 1, 0, u8::MAX as i128),
                (0xcd, 2, 0, u16::MAX as i128),
                (0xce, 4, 0, u32::MAX as i128),
                (0xcf, 8, 0, u64::MAX as i128),
                (0xd0, 1, i8::MIN as i128, i8::MAX as i128),
                (0xd1, 2, i16::MIN as i128, i16::MAX as i128),
                (0xd2, 4, i32::MIN as i128, i32::MAX as i128),
                (0xd3, 8, i64::MIN as i128, i64::MAX as i128),
            ] {
                if (lo..=hi).contains(&v) {
                    forms.push((marker, bytes));
                }
            }
            let (marker, bytes) = forms[self.rng.random_range(0..forms.len())];
            if bytes == 0 {
                self.out.push(v as i8 as u8 | marker);
            } else {
                self.out.push(marker);
                let all = (v as u128).to_be_bytes();
                self.out.extend_from_slice(&all[16 - bytes..]);
            }
        }

        /// Any value a field might meet: what the writer writes, and
        /// what it never does.
        fn value(&mut self, depth: u32) {
            let texts = [
                "trade",
                "liquidation",
                "funding",
                "open_interest",
                "book",
                "position",
                "binance",
                "BTCUSDT",
                "buy",
                "sell",
                "long",
                "short",
                "37000.1",
                "0.25",
                "-1",
                "0",
                "1e3",
                "abc",
                "",
                "0xabc",
                "Ünïcode",
            ];
            match self.rng.random_range(0..if depth > 2 { 14 } else { 17 }) {
                0..=3 => {
                    let t = texts[self.rng.random_range(0..texts.len())];
                    self.str(t);
                }
                4 | 5 => {
                    let v = match self.rng.random_range(0..6) {
                        0 => self.rng.random_range(-40..140),
                        1 => 1_700_000_000_000,
                        2 => i128::from(u64::MAX) - self.rng.random_range(0..2),
                        3 => i128::from(i64::MAX) + self.rng.random_range(0..2),
                        4 => i128::from(i64::MIN),
                        _ => i128::from(u32::MAX) + self.rng.random_range(-1..2),
                    };
                    self.int(v);
                }
                6 => self.out.push(0xc0),
                7 => self.out.push(0xc2 | self.rng.random_range(0..2u8)),
                8 => {
                    self.out.push(0xcb);
                    self.out.extend_from_slice(&37000.5f64.to_be_bytes());
                }
                9 => {
                    self.out.push(0xca);
                    self.out.extend_from_slice(&1.5f32.to_be_bytes());
                }
                10 => self.out.extend_from_slice(&[0xc4, 3, b'b', b'u', b'y']),
                11 => self.out.extend_from_slice(&[0xd4, 1, 7]),
                12 => self.str_bytes(&[0x62, 0xff, 0x79]),
                13 => self.str("sell"),
                _ => {
                    // Levels, well formed or not.
                    let n = self.rng.random_range(0..4);
                    self.array(n);
                    for _ in 0..n {
                        let width = if self.rng.random_range(0..6) == 0 {
                            self.rng.random_range(0..4)
                        } else {
                            2
                        };
                        self.array(width);
                        for _ in 0..width {
                            self.value(depth + 1);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn what_it_reads_is_what_serde_reads() {
        let mut rng = StdRng::seed_from_u64(17);
        let (mut taken, mut given_up) = (0, 0);
        for _ in 0..200_000 {
            let mut w = Writer {
                out: Vec::new(),
                rng: &mut rng,
            };
            let n = w.rng.random_range(0..12);
            w.map(n);
            for _ in 0..n {
                let key = super::super::read::TEST_KEYS
                    [w.rng.random_range(0..super::super::read::TEST_KEYS.len())];
                match w.rng.random_range(0..40) {
                    // serde takes a binary key as the name it spells, an
                    // integer key as a field's index.
                    0 => {
                        w.out.extend_from_slice(&[0xc4, key.len() as u8]);
                        w.out.extend_from_slice(key.as_bytes());
                    }
                    1 => {
                        let index = w.rng.random_range(0..30);
                        w.int(index);
                    }
                    _ => w.str(key),
                }
                w.value(0);
            }
            let bytes = w.out;
            // Read at the front of a window, with the next record behind.
            let window = [bytes.as_slice(), &[0x81, 0xa1, b'x', 0xc0]].concat();
            let mut front_fields = Fields::default();
            let front = read_front(&window, &mut front_fields).map(|len| (front_fields, len));
            match read(&bytes) {
                Some(fields) => {
                    let serde = rmp_serde::from_slice::<Fields<'_>>(&bytes);
                    assert_eq!(serde.as_ref().ok(), Some(&fields), "{bytes:02x?}");
                    assert_eq!(front, Some((fields, bytes.len())), "{bytes:02x?}");
                    assert_eq!(crate::msgpack::value_len(&window), Some(bytes.len()));
                    taken += 1;
                }
                None => {
                    assert_eq!(front, None, "{bytes:02x?}");
                    given_up += 1;
                }
            }
        }
        // Both ways are exercised, not one only.
        assert!(taken > 20_000 && given_up > 20_000, "{taken} {given_up}");
    }

    #[test]
    fn truncated_and_changed_records_are_left_to_serde() {
        let mut rng = StdRng::seed_from_u64(5);
        let record = crate::record::Record::Book {
            exchange: "okx".into(),
            symbol: "BTC-USDT-SWAP".into(),
            ts: 1_700_000_000_000,
            received_ts: Some(1_700_000_000_001),
            snapshot: true,
            bids: vec![
                ("37000.1".into(), "2".into()),
                ("36999".into(), "0.5".into()),
            ],
            asks: vec![("37001".into(), "1".into())],
        };
        let bytes = rmp_serde::to_vec_named(&record).unwrap();
        assert!(read(&bytes).is_some());
        for cut in 0..bytes.len() {
            assert_eq!(read(&bytes[..cut]), None, "cut at {cut}");
            assert_eq!(
                read_front(&bytes[..cut], &mut Fields::default()),
                None,
                "cut at {cut}"
            );
        }
        for _ in 0..20_000 {
            let mut changed = bytes.clone();
            let at = rng.random_range(0..changed.len());
            changed[at] = rng.random_range(0..=255);
            if let Some(fields) = read(&changed) {
                let serde = rmp_serde::from_slice::<Fields<'_>>(&changed);
                assert_eq!(serde.as_ref().ok(), Some(&fields), "{changed:02x?}");
            }
        }
    }
}
