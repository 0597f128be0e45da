//! Counts market events and emits the running count as the series point
//! `events` after each batch. Its state is the count (8 bytes).

use prism_sdk::{Context, Event, Plugin, PluginInfo, Subscription};

/// See the crate docs.
#[derive(Default)]
pub struct TinyCounter {
    events: u64,
    last_ts: i64,
}

impl Plugin for TinyCounter {
    fn init(_config: &str) -> Result<(Self, PluginInfo), String> {
        Ok((
            Self::default(),
            PluginInfo::new("tiny-counter", "0.1.0", Subscription::all()),
        ))
    }

    fn on_event(&mut self, _ctx: &mut Context, event: &Event) -> Result<(), String> {
        if !matches!(event, Event::Instrument(_)) {
            self.events += 1;
            self.last_ts = event.ts().unwrap_or(self.last_ts);
        }
        Ok(())
    }

    fn on_batch_end(&mut self, ctx: &mut Context) -> Result<(), String> {
        #[allow(clippy::cast_precision_loss)]
        ctx.series("events", None, self.last_ts, self.events as f64);
        Ok(())
    }

    fn snapshot(&self) -> Vec<u8> {
        self.events.to_le_bytes().to_vec()
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let bytes: [u8; 8] = state
            .try_into()
            .map_err(|_| format!("state must be 8 bytes, got {}", state.len()))?;
        self.events = u64::from_le_bytes(bytes);
        Ok(())
    }
}

prism_sdk::export_plugin!(TinyCounter);
