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
use std::time::{Duration, Instant};
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
    pub(crate) log: LogGate,
}

impl HostState {
    pub(crate) fn new(
        plugin_id: Arc<str>,
        memory_bytes: usize,
        seed: u64,
        log: crate::plugin::LogLimits,
    ) -> Self {
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
            log: LogGate::new(log),
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
        self.write_log(level, &message);
    }
}

impl crate::bindings::v0_1::prism::plugin::host::Host for HostState {
    fn log(
        &mut self,
        level: crate::bindings::v0_1::prism::plugin::host::LogLevel,
        message: String,
    ) {
        use crate::bindings::prism::plugin::host::LogLevel as Current;
        use crate::bindings::v0_1::prism::plugin::host::LogLevel;
        let level = match level {
            LogLevel::Trace => Current::Trace,
            LogLevel::Debug => Current::Debug,
            LogLevel::Info => Current::Info,
            LogLevel::Warn => Current::Warn,
            LogLevel::Error => Current::Error,
        };
        self.write_log(level, &message);
    }
}

impl HostState {
    /// A plugin's log line, under its rate limit and escaped.
    fn write_log(&mut self, level: crate::bindings::prism::plugin::host::LogLevel, message: &str) {
        use crate::bindings::prism::plugin::host::LogLevel;
        let plugin = &*self.plugin_id;
        if let Some(summary) = self.log.take_summary(Instant::now()) {
            tracing::warn!(target: "prism::plugin", plugin, "{summary}");
        }
        if !self.log.admit(message.len(), Instant::now()) {
            return;
        }
        let message = escape(message, LOG_LINE_BYTES);
        match level {
            LogLevel::Trace => tracing::trace!(target: "prism::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "prism::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "prism::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "prism::plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "prism::plugin", plugin, "{message}"),
        }
    }
}

/// Longest plugin log line written, bytes (before escaping); the rest is cut.
const LOG_LINE_BYTES: usize = 4096;

/// A log line as it may appear in the host's log: control characters
/// (CR and LF above all, which would forge host log lines) escaped, at most
/// `max` bytes of the original kept.
pub(crate) fn escape(message: &str, max: usize) -> String {
    let mut cut = message.len().min(max);
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + 8);
    for c in message[..cut].chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    if cut < message.len() {
        out.push('…');
    }
    out
}

/// Token buckets on a plugin's log lines and bytes. What they refuse is
/// counted and summarized in one line, at most once a second.
#[derive(Debug)]
pub(crate) struct LogGate {
    limits: crate::plugin::LogLimits,
    lines: f64,
    bytes: f64,
    refilled: Option<Instant>,
    suppressed_lines: u64,
    suppressed_bytes: u64,
    /// Lines suppressed in all, for the plugin's metrics; taken by the worker.
    pub(crate) suppressed_total: u64,
    summarized: Option<Instant>,
}

impl LogGate {
    fn new(limits: crate::plugin::LogLimits) -> Self {
        Self {
            limits,
            lines: 2.0 * f64::from(limits.lines_per_s),
            bytes: 2.0 * f64::from(limits.bytes_per_s),
            refilled: None,
            suppressed_lines: 0,
            suppressed_bytes: 0,
            suppressed_total: 0,
            summarized: None,
        }
    }

    /// Whether a line of `bytes` may be written now.
    pub(crate) fn admit(&mut self, bytes: usize, now: Instant) -> bool {
        let (rate_lines, rate_bytes) = (
            f64::from(self.limits.lines_per_s),
            f64::from(self.limits.bytes_per_s),
        );
        if let Some(last) = self.refilled {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.lines = (self.lines + dt * rate_lines).min(2.0 * rate_lines);
            self.bytes = (self.bytes + dt * rate_bytes).min(2.0 * rate_bytes);
        }
        self.refilled = Some(now);
        // A line never costs more than the bucket holds, so a long line
        // (cut to LOG_LINE_BYTES when written) can always pass eventually.
        let cost = (bytes.min(LOG_LINE_BYTES) as f64).min(2.0 * rate_bytes);
        if self.lines >= 1.0 && self.bytes >= cost {
            self.lines -= 1.0;
            self.bytes -= cost;
            return true;
        }
        self.suppressed_lines += 1;
        self.suppressed_bytes += bytes as u64;
        self.suppressed_total += 1;
        false
    }

    /// The summary of what was suppressed, when there is some and the last
    /// summary is a second old.
    pub(crate) fn take_summary(&mut self, now: Instant) -> Option<String> {
        if self.suppressed_lines == 0
            || self
                .summarized
                .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1))
        {
            return None;
        }
        self.summarized = Some(now);
        let text = format!(
            "{} log lines ({} bytes) of this plugin suppressed: it logs faster than {} lines or {} bytes a second",
            self.suppressed_lines,
            self.suppressed_bytes,
            self.limits.lines_per_s,
            self.limits.bytes_per_s
        );
        self.suppressed_lines = 0;
        self.suppressed_bytes = 0;
        Some(text)
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
impl crate::bindings::v0_1::prism::plugin::events::Host for HostState {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_log_lines() {
        assert_eq!(
            escape("ok\r\n2026-01-01 ERROR forged\u{1b}[31m", 100),
            "ok\\r\\n2026-01-01 ERROR forged\\u{1b}[31m"
        );
        assert_eq!(escape("ééé", 3), "é…");
    }

    #[test]
    fn the_gate_holds_its_rate_and_summarizes_the_rest() {
        let mut gate = LogGate::new(crate::plugin::LogLimits {
            lines_per_s: 10,
            bytes_per_s: 1000,
        });
        let t0 = Instant::now();
        let passed = (0..1000).filter(|_| gate.admit(10, t0)).count();
        assert_eq!(passed, 20, "a burst of twice the rate");
        let summary = gate.take_summary(t0).unwrap();
        assert!(
            summary.starts_with("980 log lines (9800 bytes)"),
            "{summary}"
        );
        assert_eq!(gate.take_summary(t0), None);
        // One second later: ten more lines, no more.
        let t1 = t0 + Duration::from_secs(1);
        let passed = (0..1000).filter(|_| gate.admit(10, t1)).count();
        assert_eq!(passed, 10);
        // Bytes bound too: 1000 bytes a second, so big lines pass less often.
        let t2 = t1 + Duration::from_secs(2);
        let passed = (0..100).filter(|_| gate.admit(4000, t2)).count();
        assert_eq!(passed, 1, "a long line costs the whole bucket");
        assert_eq!(gate.suppressed_total, 980 + 990 + 99);
    }
}
