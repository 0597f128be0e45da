//! A component built against a later contract version (`prism:plugin@0.3.0`,
//! `wit/` here: today's contract under that version, without the `host`
//! import). Its exports have the shapes this host calls, and it imports
//! nothing but the contract's own types: the host must still refuse it by
//! naming the version, not run it as if it were built for a version it hosts.

#[allow(missing_docs, unreachable_pub, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
    });
}

use bindings::prism::plugin::events::Event;
use bindings::prism::plugin::outputs::Output;
use bindings::{PluginInfo, Subscription};

struct Future;

impl bindings::Guest for Future {
    fn init(_config: String) -> Result<PluginInfo, String> {
        Ok(PluginInfo {
            name: "future".into(),
            version: "0.3.0".into(),
            subscription: Subscription {
                kinds: Vec::new(),
                exchanges: Vec::new(),
                symbols: Vec::new(),
                timer_interval_ms: None,
            },
        })
    }

    fn on_events(_events: Vec<Event>) -> Result<Vec<Output>, String> {
        Ok(Vec::new())
    }

    fn snapshot() -> Vec<u8> {
        Vec::new()
    }

    fn restore(_state: Vec<u8>) -> Result<(), String> {
        Ok(())
    }
}

bindings::export!(Future with_types_in bindings);
