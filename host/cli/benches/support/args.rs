//! What the whole-process benchmarks share: their command line and where
//! this checkout's builds are.

use std::path::{Path, PathBuf};

/// The checkout's root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where this checkout's plugins are built.
pub(crate) fn wasm_dir() -> PathBuf {
    let target =
        std::env::var("CARGO_TARGET_DIR").map_or_else(|_| repo().join("target"), PathBuf::from);
    target.join("wasm32-wasip2/release")
}

/// The benchmark's arguments (`--name value` and `--flag`).
pub(crate) struct Args(Vec<String>);

impl Args {
    pub(crate) fn get() -> Self {
        Args(std::env::args().collect())
    }

    /// Whether `--flag` was given.
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    /// The text after `--name`.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        let at = self.0.iter().position(|a| a == name)?;
        self.0.get(at + 1).cloned()
    }

    /// The number after `--name`.
    pub(crate) fn number(&self, name: &str) -> Option<u64> {
        self.text(name)?.parse().ok()
    }

    /// `--smoke`: the small run CI makes.
    pub(crate) fn smoke(&self) -> bool {
        self.flag("--smoke")
    }
}

/// The value at fraction `p` of sorted samples (nearest rank).
#[allow(dead_code)]
pub(crate) fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}
