//! Finding where one MessagePack value ends, without decoding it, so a
//! malformed record can be skipped and the rest of the file still read.

/// Length in bytes of the first complete MessagePack value in `buf`, or
/// `None` if `buf` ends before the value does (or the marker is invalid:
/// `0xc1` is never used).
#[must_use]
pub fn value_len(buf: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    // Values still to read at the current position (maps count twice).
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let marker = *buf.get(at)?;
        at += 1;
        let mut be = |n: usize| -> Option<u64> {
            let bytes = buf.get(at..at + n)?;
            at += n;
            Some(bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
        };
        let (skip, children): (u64, u64) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => (0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (u64::from(marker & 0x1f), 0),
            0xc4 | 0xd9 => (be(1)?, 0),
            0xc5 | 0xda => (be(2)?, 0),
            0xc6 | 0xdb => (be(4)?, 0),
            0xc7 => (be(1)? + 1, 0),
            0xc8 => (be(2)? + 1, 0),
            0xc9 => (be(4)? + 1, 0),
            0xca | 0xce | 0xd2 => (4, 0),
            0xcb | 0xcf | 0xd3 => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, be(2)?),
            0xdd => (0, be(4)?),
            0xde => (0, 2 * be(2)?),
            0xdf => (0, 2 * be(4)?),
            0xc1 => return None,
        };
        at = at.checked_add(usize::try_from(skip).ok()?)?;
        if at > buf.len() {
            return None;
        }
        pending = pending.checked_add(children)?;
        // Each child needs at least a byte: a count beyond the buffer is truncation.
        if pending > (buf.len() - at) as u64 {
            return None;
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_nested_values() {
        let v = serde_json::json!({"type": "trade", "price": "1.5", "bids": [["1", "2"]], "n": 70000, "f": 1.5, "neg": -3});
        let bytes = rmp_serde::to_vec_named(&v).unwrap();
        assert_eq!(value_len(&bytes), Some(bytes.len()));
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        assert_eq!(value_len(&two), Some(bytes.len()));
        assert_eq!(value_len(&bytes[..bytes.len() - 1]), None);
        assert_eq!(value_len(&[0xc1]), None);
        assert_eq!(value_len(&[0xdf, 0xff, 0xff, 0xff, 0xff]), None);
    }
}
