//! Arbitrary lines through every capture format's reader: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prism_venues::capture::{Format, parse_line};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    for format in [Format::Raw, Format::Prism, Format::Cryptofeed, Format::Tardis] {
        let _ = parse_line(format, &line);
    }
});
