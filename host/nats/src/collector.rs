//! The collector: the source's normalized events published to the market
//! stream, one replay record a message.

use crate::publisher::{Message, Publisher};
use crate::subject::{event_id, market_subject};
use crate::{Encoding, Nats};
use bytes::Bytes;
use prism_model::{Archived, Event, EventKind, InstrumentId, OutputBatch};
use prism_sinks::{Sink, SinkError};
use prism_sources::Record;
use std::collections::HashSet;

/// A sink of archived input events (the router taps them with their
/// positions) that publishes each to `{prefix}.{exchange}.{symbol}.{type}`
/// with the message id `{collector}:{position}`. Before an instrument's
/// first event in a run it publishes the instrument's record (base, quote,
/// market kind, contract size) to `{prefix}.{exchange}.{symbol}.instrument`,
/// id `{collector}:{position}:i`.
pub struct Collector {
    publisher: Publisher,
    prefix: String,
    collector: String,
    encoding: Encoding,
    kinds: Vec<EventKind>,
    declared: HashSet<InstrumentId>,
}

impl Collector {
    pub(crate) fn new(nats: &Nats) -> Self {
        let s = &nats.settings;
        Self {
            publisher: Publisher::new(
                nats.js.clone(),
                nats.handle.clone(),
                nats.health(),
                s.in_flight,
                nats.stopping.clone(),
            ),
            prefix: s.subject_prefix.clone(),
            collector: s.collector.clone(),
            encoding: s.encoding,
            kinds: s.collect.clone(),
            declared: HashSet::new(),
        }
    }

    fn encode(&self, record: &Record) -> Result<(Bytes, &'static str), SinkError> {
        let failed = |e: String| SinkError::Other {
            sink: "nats collector".into(),
            message: format!("a record cannot be encoded: {e}"),
        };
        Ok(match self.encoding {
            Encoding::Json => (
                Bytes::from(serde_json::to_vec(record).map_err(|e| failed(e.to_string()))?),
                "application/json",
            ),
            Encoding::Msgpack => (
                Bytes::from(rmp_serde::to_vec_named(record).map_err(|e| failed(e.to_string()))?),
                "application/msgpack",
            ),
        })
    }
}

impl Sink for Collector {
    fn write(&mut self, _batch: &OutputBatch) -> Result<(), SinkError> {
        Ok(())
    }

    fn archive(&mut self, events: &Archived) -> Result<(), SinkError> {
        for (position, instrument, event) in &events.events {
            // The router taps what every sink wants; this one takes its kinds.
            let Some(kind) = event.kind().filter(|k| self.kinds.contains(k)) else {
                continue;
            };
            if self.declared.insert(instrument.id) {
                let declaration = Event::Instrument(instrument.clone());
                if let Some(record) = Record::from_event(&declaration, instrument) {
                    let (payload, content_type) = self.encode(&record)?;
                    self.publisher.push(Message {
                        subject: format!(
                            "{}.{}.{}.instrument",
                            self.prefix,
                            crate::token(&instrument.exchange),
                            crate::token(&instrument.symbol)
                        ),
                        id: format!("{}:i", event_id(&self.collector, *position)),
                        content_type,
                        headers: Vec::new(),
                        payload,
                    });
                }
            }
            let Some(record) = Record::from_event(event, instrument) else {
                continue;
            };
            let (payload, content_type) = self.encode(&record)?;
            self.publisher.push(Message {
                subject: market_subject(
                    &self.prefix,
                    &instrument.exchange,
                    &instrument.symbol,
                    kind,
                ),
                id: event_id(&self.collector, *position),
                content_type,
                headers: Vec::new(),
                payload,
            });
        }
        Ok(())
    }

    fn idle(&mut self) -> Result<(), SinkError> {
        self.publisher.flush(None);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.publisher.finish("nats collector", "events")
    }
}
