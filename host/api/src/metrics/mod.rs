//! `GET /metrics` in the Prometheus text format: one module per family of
//! metrics, each writing its own.

mod feeds;
mod nats;
mod notify;
mod plugins;
mod postgres;
mod process;
mod server;
mod source;

use crate::state::AppState;
use std::fmt::{Display, Write};

/// The exposition being written.
pub(crate) struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a metric: its help text and type.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample. Label values are plugin ids, venues and sink names
    /// (validated or fixed: no quotes or backslashes), so they need no
    /// escaping.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A metric with one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// The whole exposition.
pub(crate) fn render(state: &AppState) -> String {
    let mut e = Exposition {
        out: String::with_capacity(4096),
    };
    source::write(&mut e, state);
    server::write(&mut e, state);
    process::write(&mut e);
    feeds::write(&mut e, state);
    postgres::write(&mut e, state);
    nats::write(&mut e, state);
    notify::write(&mut e, state);
    plugins::write(&mut e, state);
    e.out
}
