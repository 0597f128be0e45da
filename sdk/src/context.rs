//! What a plugin sees and emits during a call.

use crate::{
    Alert, Decimal, Direction, Document, Instrument, InstrumentId, LogEntry, OrderIntent, Output,
    Priority, SeriesPoint, Side, Signal, Strength, TimestampMs,
};
use serde::Serialize;

/// The instrument table, filled from `Event::Instrument` declarations.
#[derive(Debug, Default, Clone)]
pub struct Instruments {
    table: Vec<Option<Instrument>>,
}

impl Instruments {
    /// The instrument behind an id, once declared.
    #[must_use]
    pub fn get(&self, id: InstrumentId) -> Option<&Instrument> {
        self.table.get(id as usize).and_then(Option::as_ref)
    }

    /// Every declared instrument, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Instrument> {
        self.table.iter().flatten()
    }

    pub(crate) fn declare(&mut self, instrument: &Instrument) {
        let at = instrument.id as usize;
        if self.table.len() <= at {
            self.table.resize(at + 1, None);
        }
        self.table[at] = Some(instrument.clone());
    }
}

/// The instrument table and the outputs of the current call.
#[derive(Debug, Default)]
pub struct Context {
    instruments: Instruments,
    outputs: Vec<Output>,
}

impl Context {
    /// The instruments declared so far.
    #[must_use]
    pub fn instruments(&self) -> &Instruments {
        &self.instruments
    }

    pub(crate) fn declare(&mut self, instrument: &Instrument) {
        self.instruments.declare(instrument);
    }

    pub(crate) fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// Emits any output.
    pub fn emit(&mut self, output: Output) {
        self.outputs.push(output);
    }

    /// Emits a series point.
    pub fn series(
        &mut self,
        name: &str,
        instrument: Option<InstrumentId>,
        ts: TimestampMs,
        value: f64,
    ) {
        self.emit(Output::Series(SeriesPoint {
            name: name.to_owned(),
            instrument,
            ts,
            value,
        }));
    }

    /// Emits a document whose body is `body` encoded as MessagePack (with
    /// field names, so the host can serve it as JSON).
    ///
    /// # Errors
    /// When `body` cannot be encoded.
    pub fn document<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        ts: TimestampMs,
        body: &T,
    ) -> Result<(), String> {
        let body = encode(body)?;
        self.emit(Output::Document(Document {
            key: key.to_owned(),
            ts,
            body,
        }));
        Ok(())
    }

    /// Emits a log entry whose body is `body` encoded as MessagePack.
    ///
    /// # Errors
    /// When `body` cannot be encoded.
    pub fn log<T: Serialize + ?Sized>(
        &mut self,
        name: &str,
        instrument: Option<InstrumentId>,
        ts: TimestampMs,
        body: &T,
    ) -> Result<(), String> {
        let body = encode(body)?;
        self.emit(Output::Log(LogEntry {
            name: name.to_owned(),
            instrument,
            ts,
            body,
        }));
        Ok(())
    }

    /// Emits a signal.
    pub fn signal(
        &mut self,
        instrument: InstrumentId,
        ts: TimestampMs,
        direction: Direction,
        strength: Strength,
        reason: &str,
    ) {
        self.emit(Output::Signal(Signal {
            instrument,
            ts,
            direction,
            strength,
            reason: reason.to_owned(),
        }));
    }

    /// Emits an order intent for the paper executor.
    #[allow(clippy::too_many_arguments)]
    pub fn order(
        &mut self,
        client_id: &str,
        instrument: InstrumentId,
        ts: TimestampMs,
        side: Side,
        size: Decimal,
        limit_price: Option<Decimal>,
        reduce_only: bool,
    ) {
        self.emit(Output::Order(OrderIntent {
            client_id: client_id.to_owned(),
            instrument,
            ts,
            side,
            size,
            limit_price,
            reduce_only,
        }));
    }

    /// Emits an alert.
    pub fn alert(&mut self, priority: Priority, ts: TimestampMs, title: &str, body: &str) {
        self.emit(Output::Alert(Alert {
            priority,
            ts,
            title: title.to_owned(),
            body: body.to_owned(),
        }));
    }
}

/// Encodes a body as MessagePack maps (named fields).
///
/// # Errors
/// When serialization fails.
pub(crate) fn encode<T: Serialize + ?Sized>(body: &T) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(body).map_err(|e| format!("cannot encode body: {e}"))
}
