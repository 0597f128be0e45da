//! The one place the host generates bindings from `wit/`.
//!
//! Generated types never leave this crate: [`crate::conversions`] turns them
//! into `prism-model` types at this boundary.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
});
