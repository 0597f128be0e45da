//! The builds a whole-process benchmark compares side by side: this
//! checkout's `prism` and, with `--baseline BIN`, another build of it
//! (e.g. from an older commit).

// Each benchmark includes this file and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use crate::args::Args;

/// Which of the compared builds a measurement is of.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Build {
    Baseline,
    This,
}

impl Build {
    /// The build's name in a result table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Build::Baseline => "baseline",
            Build::This => "this build",
        }
    }
}

/// This build and the `--baseline` one, if given.
pub(crate) struct Builds {
    baseline: Option<PathBuf>,
    this: PathBuf,
}

/// Each build's measurements, in the order they were made.
pub(crate) struct Measured<T> {
    pub(crate) baseline: Vec<T>,
    pub(crate) this: Vec<T>,
}

impl Builds {
    /// `--baseline BIN` and the `prism` binary this benchmark was built with.
    pub(crate) fn from_args(args: &Args) -> Self {
        Builds {
            baseline: args.text("--baseline").map(PathBuf::from),
            this: PathBuf::from(env!("CARGO_BIN_EXE_prism")),
        }
    }

    /// Whether a baseline is measured too.
    pub(crate) fn compared(&self) -> bool {
        self.baseline.is_some()
    }

    /// This checkout's `prism`.
    pub(crate) fn this(&self) -> &Path {
        &self.this
    }

    /// Measures every build `runs` times, the builds in turn within each
    /// run, so a drift of the machine (another process, the CPU's clock)
    /// hits both alike instead of favouring the one measured first.
    pub(crate) fn in_turn<T>(
        &self,
        runs: usize,
        mut measure: impl FnMut(Build, &Path) -> T,
    ) -> Measured<T> {
        let mut measured = Measured {
            baseline: Vec::new(),
            this: Vec::new(),
        };
        for _ in 0..runs {
            if let Some(baseline) = &self.baseline {
                measured.baseline.push(measure(Build::Baseline, baseline));
            }
            measured.this.push(measure(Build::This, &self.this));
        }
        measured
    }
}

/// The median of `values` (the upper one of an even count).
///
/// # Panics
/// When `values` is empty: a benchmark without a measurement is a fault.
pub(crate) fn median<T: Copy + PartialOrd>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values[values.len() / 2]
}
