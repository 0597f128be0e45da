//! What the notifier shows: notifications with their delivery status,
//! and each channel's counters.

use crate::notification::Notification;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Where one notification stands on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Queued, or waiting to be retried.
    Pending,
    Sent,
    /// Refused for good by the service, or still failing when
    /// `give_up_after` ran out.
    Failed,
    /// Pushed out of a full queue by more urgent ones.
    Dropped,
}

impl DeliveryStatus {
    /// The name the API uses.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dropped => "dropped",
        }
    }
}

/// One channel's delivery of one notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryView {
    pub channel: String,
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's failure (never holds a secret).
    pub last_error: Option<String>,
    /// Wall ms it was delivered.
    pub delivered_at_ms: Option<i64>,
}

/// One notification and where it stands on every channel that wanted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordView {
    /// Its number in this host's history (newer is larger).
    pub seq: u64,
    #[serde(flatten)]
    pub notification: Notification,
    /// Wall ms it was raised.
    pub raised_at_ms: i64,
    /// Set when it repeated an earlier one within the de-duplication
    /// window: it was not sent; a summary follows when the window closes.
    pub repeat_of: Option<u64>,
    pub deliveries: Vec<DeliveryView>,
}

/// Which notifications to list.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub plugin: Option<String>,
    pub kind: Option<String>,
    /// `P0`, `P1` or `P2`: at least this urgent.
    pub min_priority: Option<prism_model::Priority>,
    /// Only those with a delivery on this channel…
    pub channel: Option<String>,
    /// …in this status (on any channel when `channel` is not given).
    pub status: Option<DeliveryStatus>,
    /// Only those numbered below this (the page cursor).
    pub before: Option<u64>,
    pub limit: usize,
}

/// A channel's counters.
#[derive(Debug, Default)]
pub struct ChannelMetrics {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub dropped: AtomicU64,
    /// Raise-to-delivery time of the delivered ones, ms.
    pub latency_ms_sum: AtomicU64,
    pub latency_ms_max: AtomicU64,
    pub last_sent_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
}

impl ChannelMetrics {
    pub(crate) fn count_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn note_sent(&self, latency_ms: u64, now_ms: i64) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.latency_ms_sum.fetch_add(latency_ms, Ordering::Relaxed);
        self.latency_ms_max.fetch_max(latency_ms, Ordering::Relaxed);
        self.last_sent_ms.store(now_ms, Ordering::Relaxed);
    }

    pub(crate) fn note_error(&self, message: &str) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(message.to_owned());
        }
    }

    /// The last failure, if any.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

/// A channel as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelView {
    pub name: String,
    /// `webhook`, `telegram`, `slack`, `discord` or `email`.
    pub kind: &'static str,
    pub min_priority: String,
    pub sent: u64,
    pub failed: u64,
    pub retried: u64,
    pub dropped: u64,
    pub queued: usize,
    /// Mean raise-to-delivery time of the delivered ones, ms.
    pub latency_ms_mean: f64,
    pub latency_ms_max: u64,
    pub last_error: Option<String>,
}

/// The dead man's switch, as the API shows it.
#[derive(Debug, Default)]
pub struct HeartbeatMetrics {
    pub beats: AtomicU64,
    pub failures: AtomicU64,
    pub last_ok_ms: AtomicI64,
}
