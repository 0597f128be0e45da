//! The per-instance host state: a WASI context that grants nothing.
//!
//! Rust's `wasm32-wasip2` standard library imports WASI, so those imports
//! exist, but every capability behind them is empty: no preopened
//! directories (file opens fail), no environment variables or arguments, no
//! sockets or name lookups (denied), a wall and monotonic clock frozen at the
//! epoch (a plugin's time is event time), and randomness from a seeded
//! generator so a replay reproduces the same outputs.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// How much of a plugin's stdout/stderr is kept (for panic messages).
const CAPTURE_BYTES: usize = 8 << 10;

/// Keeps the last [`CAPTURE_BYTES`] a plugin wrote to stdout or stderr.
///
/// Writes never fail, however much a plugin prints, so printing cannot turn
/// into a fault; the tail is what explains a panic.
#[derive(Clone, Default)]
pub(crate) struct TailPipe(Arc<Mutex<VecDeque<u8>>>);

impl TailPipe {
    fn push(&self, bytes: &[u8]) {
        let Ok(mut tail) = self.0.lock() else { return };
        let keep = bytes.len().min(CAPTURE_BYTES);
        tail.extend(&bytes[bytes.len() - keep..]);
        let excess = tail.len().saturating_sub(CAPTURE_BYTES);
        tail.drain(..excess);
    }

    /// Takes what was captured, leaving the pipe empty.
    pub(crate) fn take(&self) -> String {
        let Ok(mut tail) = self.0.lock() else {
            return String::new();
        };
        let bytes: Vec<u8> = tail.drain(..).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TailPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for TailPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for TailPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for TailPipe {
    async fn ready(&mut self) {}
}

struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// What a store carries for one plugin instance.
pub(crate) struct HostState {
    pub(crate) plugin_id: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: MemoryLimiter,
    pub(crate) stderr: TailPipe,
}

impl HostState {
    pub(crate) fn new(plugin_id: Arc<str>, memory_bytes: usize, seed: u64) -> Self {
        let stderr = TailPipe::default();
        let wasi = WasiCtx::builder()
            .stdout(stderr.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(StdRng::seed_from_u64(seed))
            .insecure_random(StdRng::seed_from_u64(seed.rotate_left(17)))
            .insecure_random_seed(u128::from(seed))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        let limits = MemoryLimiter {
            limit: memory_bytes,
            used: 0,
        };
        Self {
            plugin_id,
            wasi,
            table: ResourceTable::new(),
            limits,
            stderr,
        }
    }

    /// Bytes of linear memory in use by the instance.
    pub(crate) fn limits_used(&self) -> usize {
        self.limits.used
    }

    /// The stdout/stderr captured since the last call, as text.
    pub(crate) fn captured(&self) -> String {
        self.stderr.take()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl crate::bindings::prism::plugin::host::Host for HostState {
    fn log(&mut self, level: crate::bindings::prism::plugin::host::LogLevel, message: String) {
        use crate::bindings::prism::plugin::host::LogLevel;
        const MAX: usize = 4096;
        let mut message = message;
        if message.len() > MAX {
            let mut cut = MAX;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.plugin_id;
        match level {
            LogLevel::Trace => tracing::trace!(target: "prism::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "prism::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "prism::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "prism::plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "prism::plugin", plugin, "{message}"),
        }
    }
}

/// Caps the sum of a plugin's linear memories, and counts what it uses.
///
/// Growing past the cap traps (rather than returning -1 to the guest) so the
/// fault is reported as a memory fault instead of a confusing allocation
/// panic deep in the guest.
pub(crate) struct MemoryLimiter {
    limit: usize,
    used: usize,
}

/// The message of the memory-limit trap; matched when classifying faults.
pub(crate) const MEMORY_LIMIT_TRAP: &str = "plugin memory limit exceeded";

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.used - current.min(self.used) + desired;
        if total > self.limit {
            return Err(wasmtime::format_err!(
                "{MEMORY_LIMIT_TRAP}: {total} bytes wanted, {} allowed",
                self.limit
            ));
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

// The contract's type-only interfaces are imports with no functions.
impl crate::bindings::prism::plugin::types::Host for HostState {}
impl crate::bindings::prism::plugin::events::Host for HostState {}
impl crate::bindings::prism::plugin::outputs::Host for HostState {}
