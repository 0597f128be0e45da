//! No input makes a normalizer panic: arbitrary bytes, and real messages
//! cut short, with bytes flipped or spliced. Every message ends as exactly
//! one outcome, and the counts add up.

use prism_venues::{Contracts, FeedNormalizer, Outcome, Venue};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;

fn samples() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/messages");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("tests/data holds the recordings") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        out.extend(text.lines().map(str::to_owned));
    }
    out
}

fn mutate(rng: &mut StdRng, base: &str, others: &[String]) -> String {
    let mut bytes = base.as_bytes().to_vec();
    match rng.random_range(0..5) {
        0 => bytes.truncate(rng.random_range(0..=bytes.len())),
        1 => {
            for _ in 0..rng.random_range(1..8) {
                if !bytes.is_empty() {
                    let at = rng.random_range(0..bytes.len());
                    bytes[at] = rng.random();
                }
            }
        }
        2 => {
            let other = others[rng.random_range(0..others.len())].as_bytes();
            let cut = rng.random_range(0..=bytes.len());
            let from = rng.random_range(0..=other.len());
            bytes.truncate(cut);
            bytes.extend_from_slice(&other[from..]);
        }
        3 => {
            // Numbers and strings swapped for extremes.
            let text = String::from_utf8_lossy(&bytes)
                .replace("\"0.", "\"99999999999999999999999999999.")
                .replace(':', ":-")
                .replace("true", "\"x\"");
            bytes = text.into_bytes();
        }
        _ => {
            bytes = (0..rng.random_range(0..300))
                .map(|_| rng.random())
                .collect()
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn arbitrary_and_mangled_input_never_panics() {
    let samples = samples();
    let mut rng = StdRng::seed_from_u64(7);
    for venue in Venue::ALL {
        let mut n = FeedNormalizer::new(venue, Contracts::default());
        let (mut outcomes, mut records) = (0u64, 0u64);
        for i in 0..20_000 {
            let base = &samples[i % samples.len()];
            let message = mutate(&mut rng, base, &samples);
            let mut out = Vec::new();
            let received = if i % 2 == 0 {
                Some(1_700_000_000_000)
            } else {
                None
            };
            let o = n.push(&message, received, &mut out);
            if let Outcome::Records(k) = o {
                assert_eq!(k, out.len());
                records += k as u64;
            } else {
                assert!(out.is_empty(), "{venue}: {o:?} left records");
            }
            outcomes += 1;
        }
        let s = n.stats();
        assert_eq!(s.messages, outcomes);
        assert_eq!(s.records, records);
        assert!(
            s.rejected > 0,
            "{venue}: mangled input is refused, not accepted"
        );
    }
}
