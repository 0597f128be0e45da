//! The glue `export_plugin!` expands to: one plugin value per instance.
//!
//! A component instance is single-threaded, so a thread-local holds it.

use crate::{Context, Event, Output, Plugin, PluginInfo};
use std::any::Any;
use std::cell::RefCell;

struct Slot {
    plugin: Box<dyn Any>,
    ctx: Context,
}

thread_local! {
    static SLOT: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

const NOT_INITIALIZED: &str = "the host called the plugin before `init`";

/// Runs a plugin's logic over a batch: declarations go into the table first.
///
/// # Errors
/// The first error the plugin returns; its outputs so far are discarded.
pub fn dispatch<P: Plugin>(
    plugin: &mut P,
    ctx: &mut Context,
    events: &[Event],
) -> Result<Vec<Output>, String> {
    for event in events {
        if let Event::Instrument(i) = event {
            ctx.declare(i);
        }
        if let Err(e) = plugin.on_event(ctx, event) {
            ctx.take_outputs();
            return Err(e);
        }
    }
    if let Err(e) = plugin.on_batch_end(ctx) {
        ctx.take_outputs();
        return Err(e);
    }
    Ok(ctx.take_outputs())
}

/// `init` export.
///
/// # Errors
/// The plugin's refusal.
pub fn init<P: Plugin>(config: &str) -> Result<PluginInfo, String> {
    let (plugin, info) = P::init(config)?;
    SLOT.with(|slot| {
        *slot.borrow_mut() = Some(Slot {
            plugin: Box::new(plugin),
            ctx: Context::default(),
        });
    });
    Ok(info)
}

fn with<P: Plugin, R>(
    f: impl FnOnce(&mut P, &mut Context) -> Result<R, String>,
) -> Result<R, String> {
    SLOT.with(|slot| {
        let mut slot = slot.borrow_mut();
        let slot = slot.as_mut().ok_or_else(|| NOT_INITIALIZED.to_owned())?;
        let plugin = slot
            .plugin
            .downcast_mut::<P>()
            .ok_or_else(|| "plugin type mismatch".to_owned())?;
        f(plugin, &mut slot.ctx)
    })
}

/// `on-events` export.
///
/// # Errors
/// The plugin's error, or a call before `init`.
pub fn on_events<P: Plugin>(events: &[Event]) -> Result<Vec<Output>, String> {
    with::<P, _>(|plugin, ctx| dispatch(plugin, ctx, events))
}

/// `snapshot` export; empty before `init`.
#[must_use]
pub fn snapshot<P: Plugin>() -> Vec<u8> {
    with::<P, _>(|plugin, _| Ok(plugin.snapshot())).unwrap_or_default()
}

/// `restore` export.
///
/// # Errors
/// The plugin's refusal, or a call before `init`.
pub fn restore<P: Plugin>(state: &[u8]) -> Result<(), String> {
    with::<P, _>(|plugin, _| plugin.restore(state))
}
