//! `prism normalize`: a venue's recorded messages into Prism's replay format.

use prism_sources::{Format as FileFormat, RecordWriter};
use prism_venues::capture::{Format, Line, parse_line};
use prism_venues::{Contract, Contracts, FeedNormalizer, Outcome, Venue};
use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::process::ExitCode;

/// Refusals reported one by one; past this only counted.
const REPORTED: usize = 20;

/// Parses `VENUE:SYMBOL=VALUE` or `VENUE:SYMBOL=VALUE/inverse`.
pub(crate) fn parse_contract(text: &str) -> anyhow::Result<(String, String, Contract)> {
    let usage = || {
        anyhow::anyhow!(
            "--contract `{text}`: expected VENUE:SYMBOL=VALUE (append /inverse for a value in USD)"
        )
    };
    let (key, value) = text.split_once('=').ok_or_else(usage)?;
    let (venue, symbol) = key.split_once(':').ok_or_else(usage)?;
    let (value, inverse) = match value.strip_suffix("/inverse") {
        Some(v) => (v, true),
        None => (value, false),
    };
    let value = prism_model::decimal::parse(value)
        .map_err(|e| anyhow::anyhow!("--contract `{text}`: {e}"))?;
    anyhow::ensure!(
        value > prism_model::Decimal::ZERO,
        "--contract `{text}`: the value must be > 0"
    );
    Ok((
        venue.to_owned(),
        symbol.to_owned(),
        Contract { value, inverse },
    ))
}

/// Normalizes `input` (one message or capture line a line) into `out`.
pub(crate) fn normalize(
    venue: &str,
    format: &str,
    input: &Path,
    out: &Path,
    contracts: &[String],
) -> anyhow::Result<ExitCode> {
    let venue: Venue = venue.parse()?;
    let format: Format = format.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let mut table = Contracts::default();
    for c in contracts {
        let (v, symbol, contract) = parse_contract(c)?;
        table.set(&v, &symbol, contract);
    }
    let file = std::fs::File::open(input)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", input.display()))?;
    let created = std::fs::File::create(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let mut writer = RecordWriter::new(BufWriter::new(created), FileFormat::from_path(out));
    let mut normalizer = FeedNormalizer::new(venue, table);
    let mut records = Vec::new();
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut skipped: BTreeMap<&'static str, u64> = BTreeMap::new();
    let (mut lines, mut bad_lines, mut reported) = (0u64, 0u64, 0usize);
    let name = input.display().to_string();
    let mut input_lines = prism_sources::BoundedLines::new(BufReader::new(file));
    loop {
        let next = input_lines
            .next_line()
            .map_err(|e| anyhow::anyhow!("{name}:{}: cannot read: {e}", lines + 1))?;
        let Some(numbered) = next else { break };
        lines += 1;
        let number = numbered.number;
        let line = match numbered.text {
            Ok(text) => text,
            Err(why) => {
                bad_lines += 1;
                if reported < REPORTED {
                    reported += 1;
                    eprintln!("{name}:{number}: {why}");
                }
                continue;
            }
        };
        let frame = match parse_line(format, line) {
            Line::Frame(f) => f,
            Line::Skip(why) => {
                *skipped.entry(why).or_default() += 1;
                continue;
            }
            Line::Bad(why) => {
                bad_lines += 1;
                if reported < REPORTED {
                    reported += 1;
                    eprintln!("{name}:{number}: not a {format:?} line: {why}");
                }
                continue;
            }
        };
        records.clear();
        if let Outcome::Rejected(reason) =
            normalizer.push(&frame.message, frame.received_ms, &mut records)
            && reported < REPORTED
        {
            reported += 1;
            eprintln!("{name}:{number}: refused: {reason}");
        }
        for r in &records {
            let kind = serde_json::to_value(r)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_owned))
                .unwrap_or_default();
            *by_type.entry(kind).or_default() += 1;
            writer
                .write(r)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
        }
    }
    writer.finish()?;
    let s = normalizer.stats();
    crate::out!(
        "{name}: {lines} lines, {} messages → {} records in {}",
        s.messages,
        s.records,
        out.display()
    );
    for (kind, n) in &by_type {
        crate::out!("  {kind:<14} {n}");
    }
    let list = |m: &BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    crate::out!("  control messages: {}", s.control);
    if !s.unsupported.is_empty() {
        crate::out!("  no Prism event for: {}", list(&s.unsupported));
    }
    if !s.unknown.is_empty() {
        crate::out!("  unknown message types: {}", list(&s.unknown));
    }
    crate::out!(
        "  refused: {} messages, {bad_lines} lines not in the format",
        s.rejected
    );
    crate::out!(
        "  books: {} gaps, {} checksum mismatches, {} stale and {} out-of-sync updates dropped, {} still waiting for a snapshot at the end; {} duplicates dropped",
        s.book_gaps,
        s.checksum_mismatches,
        s.book_stale,
        s.book_unsynced,
        s.book_waiting,
        s.duplicates
    );
    if !skipped.is_empty() {
        let skipped: Vec<String> = skipped.iter().map(|(k, n)| format!("{k} {n}")).collect();
        crate::out!("  lines skipped: {}", skipped.join(", "));
    }
    if s.records == 0 {
        // A file of nothing is almost always a wrong venue or format.
        eprintln!(
            "error: no record came out of {name}: is it a {venue} recording in the {format:?} format?"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
