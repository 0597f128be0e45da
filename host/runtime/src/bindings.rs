//! The one place the host generates bindings from `wit/`.
//!
//! Two contract versions are hosted: the current one (`wit/`, 0.2) and 0.1
//! (`wit/0.1/`, kept verbatim), so plugins built before 0.2 keep running.
//! The two share their `types` and `outputs` interfaces, which did not
//! change: 0.1's bindings reuse 0.2's Rust types for them, so one set of
//! conversions serves both. Generated types never leave this crate:
//! [`crate::conversions`] turns them into `prism-model` types.

/// The current contract, `prism:plugin@0.2.0`.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "plugin",
    });
}

/// `prism:plugin@0.1.0`, for plugins built before 0.2.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1",
        world: "plugin",
        with: {
            "prism:plugin/types@0.1.0": super::v0_2::prism::plugin::types,
            "prism:plugin/outputs@0.1.0": super::v0_2::prism::plugin::outputs,
        },
    });
}

pub use v0_2::*;
