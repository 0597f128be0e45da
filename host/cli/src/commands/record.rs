//! `prism record`: the raw frames of the config's live feeds into a file.

use prism_config::{SourceConfig, parse_duration};
use prism_sources::SourceStats;
use prism_venues::live::{FeedUse, Feeds};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Records until Ctrl-C or for `duration`.
pub(crate) fn record(
    config: Option<PathBuf>,
    out: &Path,
    duration: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let (config, _) = super::run::load_config(config)?;
    let SourceConfig::Live(live) = &config.source else {
        anyhow::bail!(
            "prism record needs a config whose [source] is kind = \"live\" with [[source.venues]]"
        );
    };
    let limit = duration.map(parse_duration).transpose()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(SourceStats::default());
    let venues = live
        .venues
        .iter()
        .map(crate::settings::feed)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let feeds = Feeds::start(
        venues,
        FeedUse::Record(out.to_path_buf()),
        stats.clone(),
        &stop,
    )?;
    let flag = stop.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    runtime.block_on(async move {
        let deadline = async {
            match limit {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = deadline => {}
        }
        flag.store(true, Ordering::Relaxed);
    });
    let metrics = feeds.metrics.clone();
    feeds.join()?;
    crate::out!(
        "recorded {:.1} s into {}",
        started.elapsed().max(Duration::ZERO).as_secs_f64(),
        out.display()
    );
    let mut frames = 0;
    for (venue, m) in metrics {
        let messages = m.messages.load(Ordering::Relaxed);
        frames += messages;
        crate::out!(
            "  {venue}: {messages} messages, {} records, {} reconnects",
            m.records.load(Ordering::Relaxed),
            m.reconnects.load(Ordering::Relaxed)
        );
    }
    if frames == 0 {
        eprintln!("error: nothing was recorded: no feed delivered a message (see the log for why)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
