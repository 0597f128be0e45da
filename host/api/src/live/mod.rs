//! The live stream: every output batch turned once into WebSocket frames,
//! by channel, for whoever is subscribed (see the `ws` handler).

mod channel;
mod frames;

pub(crate) use channel::Channel;
pub(crate) use frames::message_text;
pub use frames::{LiveFrames, LiveSink};
