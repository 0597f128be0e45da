//! Logging to the host. In a native test, lines go to stderr.

#[cfg(target_arch = "wasm32")]
fn write(level: crate::bindings::prism::plugin::host::LogLevel, message: &str) {
    crate::bindings::prism::plugin::host::log(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
fn write(level: crate::bindings::prism::plugin::host::LogLevel, message: &str) {
    eprintln!("[{level:?}] {message}");
}

use crate::bindings::prism::plugin::host::LogLevel;

/// Logs at debug level.
pub fn debug(message: &str) {
    write(LogLevel::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    write(LogLevel::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    write(LogLevel::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    write(LogLevel::Error, message);
}
