//! Arbitrary bytes through a venue's normalizer (the first byte picks the
//! venue): it must never panic, and a message is all or nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prism_venues::{Contracts, FeedNormalizer, Outcome, Venue};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let venue = Venue::ALL[usize::from(pick) % Venue::ALL.len()];
    let mut n = FeedNormalizer::new(venue, Contracts::default());
    let text = String::from_utf8_lossy(rest);
    // Twice: the second message meets the state the first one left.
    for received in [Some(1_700_000_000_000), None] {
        let mut out = Vec::new();
        match n.push(&text, received, &mut out) {
            Outcome::Records(k) => assert_eq!(k, out.len()),
            _ => assert!(out.is_empty()),
        }
    }
});
