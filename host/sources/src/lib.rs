//! Prism's event sources: replay files and the simulator, and the loops
//! that feed their events into the pipeline at a chosen pace.

pub mod candles;
mod fields;
pub mod file;
pub mod from_event;
mod json;
pub mod lines;
mod market_record;
pub mod msgpack;
pub mod pump;
pub mod record;
pub mod simulator;
pub mod stream;

pub use candles::CandleBuilder;
pub use fields::BadRecord;
pub use file::{EventReader, FileError, Format, RecordWriter, SkipReporter, Skipped};
pub use from_event::event_json;
pub use lines::{BoundedLines, MAX_LINE_BYTES, NumberedLine};
pub use pump::{Pacer, SourceState, SourceStats};
pub use record::{DecimalText, Normalizer, Record, RecordError};
pub use simulator::{Simulator, SimulatorSettings};
pub use stream::{
    CHUNK, ChunkReader, Positions, SourceError, emit, replay, simulate, spawn_source,
};
