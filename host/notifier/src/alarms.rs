//! The host's own alarms, found by watching what the host shows: the
//! binary hands the notifier an [`Observation`] of its plugins, feeds and
//! sinks every tick, and the watcher raises an alarm for each change that
//! matters. Watching (not hooks in the stages) keeps the notifier apart
//! from the stages before it and off their hot paths.

use crate::Notifier;
use crate::notification::{Alarm, AlarmKind};
use prism_model::wall_ms;
use std::collections::HashMap;
use std::time::Duration;

/// One plugin as the watcher sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginObservation {
    pub id: String,
    /// Stays failed until an operator resumes it.
    pub failed: bool,
    /// The end of the latest quarantine (wall ms; 0: never): a new value is
    /// a new quarantine, however short.
    pub quarantined_until_ms: i64,
    pub dead_letters: u64,
    pub swap_failures: u64,
    pub last_error: Option<String>,
}

/// One live feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedObservation {
    pub venue: String,
    pub connected: bool,
}

/// One sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkObservation {
    pub name: String,
    /// Why it is behind now (its queue full, spooling to disk), if it is.
    pub behind: Option<String>,
}

/// A trading plugin's risk state (`active`, `reducing`, `halted`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskObservation {
    pub plugin: String,
    pub state: String,
    /// The limit or operator action behind it.
    pub reason: Option<String>,
}

/// What the host shows at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    pub plugins: Vec<PluginObservation>,
    pub feeds: Vec<FeedObservation>,
    pub sinks: Vec<SinkObservation>,
    pub risk: Vec<RiskObservation>,
}

/// How long a condition lasts before it is an alarm.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub feed_down_after: Duration,
    pub sink_behind_after: Duration,
}

/// What the watcher remembers between ticks.
#[derive(Debug, Default)]
pub(crate) struct Watcher {
    plugins: HashMap<String, PluginObservation>,
    /// Per venue: since when it is down (wall ms), and whether that was
    /// raised.
    feeds_down: HashMap<String, (i64, bool)>,
    sinks_behind: HashMap<String, (i64, bool)>,
    /// Per trading plugin: its last risk state.
    risk: HashMap<String, String>,
}

impl Watcher {
    /// The alarms `now` calls for, given the last observation.
    pub(crate) fn step(&mut self, o: &Observation, t: Thresholds, now_ms: i64) -> Vec<Alarm> {
        let mut out = Vec::new();
        for p in &o.plugins {
            let before = self.plugins.get(&p.id).cloned().unwrap_or_else(|| {
                // A plugin first seen: nothing of it was raised yet.
                PluginObservation {
                    id: p.id.clone(),
                    ..PluginObservation::default()
                }
            });
            let error = p.last_error.clone().unwrap_or_default();
            let plugin = Some(p.id.clone());
            if p.failed && !before.failed {
                out.push(Alarm {
                    kind: AlarmKind::PluginFailed,
                    subject: p.id.clone(),
                    plugin: plugin.clone(),
                    title: format!("plugin `{}` failed; it stays stopped until resumed", p.id),
                    body: error.clone(),
                });
            } else if p.quarantined_until_ms != before.quarantined_until_ms
                && p.quarantined_until_ms > 0
            {
                out.push(Alarm {
                    kind: AlarmKind::PluginQuarantined,
                    subject: p.id.clone(),
                    plugin: plugin.clone(),
                    title: format!("plugin `{}` quarantined after repeated failures", p.id),
                    body: error.clone(),
                });
            }
            if p.dead_letters > before.dead_letters {
                let n = p.dead_letters - before.dead_letters;
                out.push(Alarm {
                    kind: AlarmKind::DeadLetter,
                    subject: p.id.clone(),
                    plugin: plugin.clone(),
                    title: format!(
                        "plugin `{}` set aside {n} event{} it could not process",
                        p.id,
                        if n == 1 { "" } else { "s" }
                    ),
                    body: error.clone(),
                });
            }
            if p.swap_failures > before.swap_failures {
                out.push(Alarm {
                    kind: AlarmKind::SwapRefused,
                    subject: p.id.clone(),
                    plugin,
                    title: format!(
                        "a swap of plugin `{}` was refused; the old version runs on",
                        p.id
                    ),
                    body: error,
                });
            }
            self.plugins.insert(p.id.clone(), p.clone());
        }
        for f in &o.feeds {
            let key = f.venue.clone();
            if f.connected {
                if let Some((since, raised)) = self.feeds_down.remove(&key)
                    && raised
                {
                    out.push(Alarm {
                        kind: AlarmKind::FeedRestored,
                        subject: key.clone(),
                        plugin: None,
                        title: format!("the {} feed is back", f.venue),
                        body: format!("it was down for {} s", (now_ms - since) / 1000),
                    });
                }
                continue;
            }
            let (since, raised) = self
                .feeds_down
                .entry(key.clone())
                .or_insert((now_ms, false));
            if !*raised && now_ms - *since >= millis(t.feed_down_after) {
                *raised = true;
                out.push(Alarm {
                    kind: AlarmKind::FeedDown,
                    subject: key,
                    plugin: None,
                    title: format!("the {} feed is disconnected", f.venue),
                    body: format!("no connection for {} s", (now_ms - *since) / 1000),
                });
            }
        }
        for r in &o.risk {
            let before = self
                .risk
                .insert(r.plugin.clone(), r.state.clone())
                .unwrap_or_else(|| "active".into());
            if before == r.state {
                continue;
            }
            let kind = match r.state.as_str() {
                "halted" => AlarmKind::RiskHalted,
                "reducing" => AlarmKind::RiskReducing,
                _ => AlarmKind::RiskActive,
            };
            out.push(Alarm {
                kind,
                subject: r.plugin.clone(),
                plugin: Some(r.plugin.clone()),
                title: format!("plugin `{}` is now {} (was {before})", r.plugin, r.state),
                body: r.reason.clone().unwrap_or_default(),
            });
        }
        for s in &o.sinks {
            let Some(why) = &s.behind else {
                self.sinks_behind.remove(&s.name);
                continue;
            };
            let (since, raised) = self
                .sinks_behind
                .entry(s.name.clone())
                .or_insert((now_ms, false));
            if !*raised && now_ms - *since >= millis(t.sink_behind_after) {
                *raised = true;
                out.push(Alarm {
                    kind: AlarmKind::SinkBacklog,
                    subject: s.name.clone(),
                    plugin: None,
                    title: format!("the {} sink is behind", s.name),
                    body: format!("{why} for {} s", (now_ms - *since) / 1000),
                });
            }
        }
        out
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Observes every `every` and raises what changed.
pub(crate) async fn watch(
    notifier: Notifier,
    mut observe: Box<dyn FnMut() -> Observation + Send>,
    thresholds: Thresholds,
    every: Duration,
) {
    let mut watcher = Watcher::default();
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        let o = observe();
        for alarm in watcher.step(&o, thresholds, wall_ms()) {
            tracing::warn!(kind = alarm.kind.as_str(), "{}", alarm.title);
            notifier.raise(&alarm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        feed_down_after: Duration::from_secs(30),
        sink_behind_after: Duration::from_secs(10),
    };

    fn kinds(alarms: &[Alarm]) -> Vec<&'static str> {
        alarms.iter().map(|a| a.kind.as_str()).collect()
    }

    #[test]
    fn plugin_changes_raise_once_each() {
        let mut w = Watcher::default();
        let mut p = PluginObservation {
            id: "arb".into(),
            ..Default::default()
        };
        let obs = |p: &PluginObservation| Observation {
            plugins: vec![p.clone()],
            ..Default::default()
        };
        assert!(w.step(&obs(&p), T, 0).is_empty());
        p.quarantined_until_ms = 5_000;
        p.dead_letters = 2;
        p.last_error = Some("trap: unreachable".into());
        let a = w.step(&obs(&p), T, 1_000);
        assert_eq!(kinds(&a), ["plugin_quarantined", "dead_letter"]);
        assert!(a[1].title.contains("2 events"));
        assert_eq!(a[0].body, "trap: unreachable");
        // Unchanged: nothing more.
        assert!(w.step(&obs(&p), T, 2_000).is_empty());
        // A second quarantine, then failure.
        p.quarantined_until_ms = 9_000;
        assert_eq!(kinds(&w.step(&obs(&p), T, 3_000)), ["plugin_quarantined"]);
        p.failed = true;
        p.swap_failures = 1;
        assert_eq!(
            kinds(&w.step(&obs(&p), T, 4_000)),
            ["plugin_failed", "swap_refused"]
        );
    }

    #[test]
    fn a_feed_is_down_after_the_threshold_and_back_once() {
        let mut w = Watcher::default();
        let feed = |connected| Observation {
            feeds: vec![FeedObservation {
                venue: "binance".into(),
                connected,
            }],
            ..Default::default()
        };
        assert!(w.step(&feed(false), T, 0).is_empty());
        assert!(w.step(&feed(false), T, 29_999).is_empty());
        assert_eq!(kinds(&w.step(&feed(false), T, 30_000)), ["feed_down"]);
        assert!(w.step(&feed(false), T, 60_000).is_empty());
        assert_eq!(kinds(&w.step(&feed(true), T, 61_000)), ["feed_restored"]);
        // A blip shorter than the threshold raises nothing at all.
        assert!(w.step(&feed(false), T, 62_000).is_empty());
        assert!(w.step(&feed(true), T, 63_000).is_empty());
    }

    #[test]
    fn each_risk_state_change_raises_once_by_its_urgency() {
        let mut w = Watcher::default();
        let risk = |state: &str, reason: &str| Observation {
            risk: vec![RiskObservation {
                plugin: "arb".into(),
                state: state.into(),
                reason: Some(reason.into()),
            }],
            ..Default::default()
        };
        assert!(w.step(&risk("active", ""), T, 0).is_empty());
        let a = w.step(
            &risk("reducing", "max_daily_loss: -2100 (limit 2000)"),
            T,
            1,
        );
        assert_eq!(kinds(&a), ["risk_reducing"]);
        assert_eq!(a[0].kind.priority(), prism_model::Priority::P1);
        assert_eq!(a[0].title, "plugin `arb` is now reducing (was active)");
        assert!(a[0].body.starts_with("max_daily_loss"));
        assert!(w.step(&risk("reducing", "x"), T, 2).is_empty());
        let a = w.step(&risk("halted", "operator"), T, 3);
        assert_eq!(
            (kinds(&a), a[0].kind.priority()),
            (vec!["risk_halted"], prism_model::Priority::P0)
        );
        assert_eq!(
            kinds(&w.step(&risk("active", "operator"), T, 4)),
            ["risk_active"]
        );
        // A plugin first seen halted (restored so) is raised too.
        let mut fresh = Watcher::default();
        assert_eq!(
            kinds(&fresh.step(&risk("halted", "restored"), T, 0)),
            ["risk_halted"]
        );
    }

    #[test]
    fn a_sink_behind_long_enough_raises_a_backlog() {
        let mut w = Watcher::default();
        let sink = |behind: Option<&str>| Observation {
            sinks: vec![SinkObservation {
                name: "postgres".into(),
                behind: behind.map(Into::into),
            }],
            ..Default::default()
        };
        assert!(w.step(&sink(Some("spooling")), T, 0).is_empty());
        let a = w.step(&sink(Some("spooling")), T, 10_000);
        assert_eq!(kinds(&a), ["sink_backlog"]);
        assert_eq!(a[0].body, "spooling for 10 s");
        assert!(w.step(&sink(None), T, 11_000).is_empty());
    }
}
