//! The notifier's place in the sink stage: plugin alerts and signals that
//! match a rule become notifications.

use crate::Inner;
use crate::notification::{Notification, strength_rank};
use prism_config::SignalRule;
use prism_model::{Output, OutputBatch, OutputId, Priority, Signal};
use prism_sinks::{Sink, SinkError};
use std::sync::Arc;

/// Takes output batches on the sink stage's thread for the notifier.
pub struct NotifySink {
    inner: Arc<Inner>,
}

impl NotifySink {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }
}

/// The priority the first matching rule gives a signal, if any.
pub(crate) fn rule_priority(rules: &[SignalRule], plugin: &str, s: &Signal) -> Option<Priority> {
    rules
        .iter()
        .find(|r| {
            r.plugin.as_deref().is_none_or(|p| p == plugin)
                && s.strength != prism_model::Strength::Ignore
                && strength_rank(s.strength) >= strength_rank(r.min_strength)
                && (r.directions.is_empty() || r.directions.contains(&s.direction))
        })
        .map(|r| r.priority)
}

impl Sink for NotifySink {
    fn write(&mut self, batch: &OutputBatch) -> Result<(), SinkError> {
        let plugin: &str = &batch.plugin;
        let mut made = Vec::new();
        let mut last = None;
        for (i, o) in batch.outputs.iter().enumerate() {
            let id = OutputId::new(batch.position, i);
            let n = match o {
                Output::Alert(a) => Notification::from_alert(plugin, id, a),
                Output::Signal(s) => match rule_priority(&self.inner.rules, plugin, s) {
                    Some(p) => Notification::from_signal(plugin, id, s, p),
                    None => continue,
                },
                _ => continue,
            };
            made.push((id, n));
            last = Some(id);
        }
        let Some(last) = last else {
            return Ok(());
        };
        let mut views = Vec::new();
        {
            let mut state = self.inner.lock();
            for (id, n) in made {
                // Made again by a restarted or recovering pipeline: it was
                // taken already.
                if state.taken(plugin, id) {
                    continue;
                }
                views.extend(state.submit(n, false, None).1);
            }
            state.take_up_to(plugin, last);
        }
        self.inner.announce(views);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prism_model::{Direction, Instrument, Strength};

    fn instrument() -> Arc<Instrument> {
        let mut r = prism_model::InstrumentRegistry::default();
        let (id, _) = r.intern("binance", "BTCUSDT");
        r.get(id).cloned().unwrap()
    }

    fn signal(strength: Strength, direction: Direction) -> Signal {
        Signal {
            instrument: instrument(),
            ts: 1,
            direction,
            strength,
            reason: "r".into(),
        }
    }

    #[test]
    fn rules_match_by_plugin_strength_and_direction() {
        let rules = vec![
            SignalRule {
                plugin: Some("arb".into()),
                min_strength: Strength::Medium,
                directions: vec![Direction::Long],
                priority: Priority::P0,
            },
            SignalRule {
                plugin: None,
                min_strength: Strength::Strong,
                directions: vec![],
                priority: Priority::P2,
            },
        ];
        let p = |plugin, s, d| rule_priority(&rules, plugin, &signal(s, d));
        assert_eq!(
            p("arb", Strength::Medium, Direction::Long),
            Some(Priority::P0)
        );
        assert_eq!(p("arb", Strength::Weak, Direction::Long), None);
        assert_eq!(
            p("arb", Strength::Strong, Direction::Short),
            Some(Priority::P2)
        );
        assert_eq!(p("other", Strength::Medium, Direction::Long), None);
        assert_eq!(
            p("other", Strength::Strong, Direction::Flat),
            Some(Priority::P2)
        );
        let ignore_all = vec![SignalRule {
            plugin: None,
            min_strength: Strength::Ignore,
            directions: vec![],
            priority: Priority::P2,
        }];
        assert_eq!(
            rule_priority(&ignore_all, "x", &signal(Strength::Ignore, Direction::Long)),
            None
        );
    }
}
