//! Prism's event sources: replay files and the simulator, and the pump that
//! feeds their events into the pipeline at a chosen pace.

pub mod file;
pub mod msgpack;
pub mod pump;
pub mod record;
pub mod simulator;
pub mod to_record;

pub use file::{EventReader, FileError, Format, RecordWriter, SkipReporter, Skipped};
pub use pump::{Pacer, SourceStats};
pub use record::{DecimalText, Normalizer, Record, RecordError};
pub use simulator::{Simulator, SimulatorSettings};
pub use to_record::event_json;
