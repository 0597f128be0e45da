//! The pacing of deliveries: a rate limit per channel, retries with
//! exponential backoff and jitter, and de-duplication of repeats.

use std::collections::HashMap;

/// A token bucket: `per_minute` messages in a burst, then one every
/// `60 / per_minute` seconds. Times are wall ms passed in, so tests drive it.
#[derive(Debug, Clone)]
pub(crate) struct RateLimit {
    capacity: f64,
    per_ms: f64,
    tokens: f64,
    at_ms: i64,
}

impl RateLimit {
    pub(crate) fn new(per_minute: u32, now_ms: i64) -> Self {
        let capacity = f64::from(per_minute.max(1));
        Self {
            capacity,
            per_ms: capacity / 60_000.0,
            tokens: capacity,
            at_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: i64) {
        let elapsed = (now_ms - self.at_ms).max(0) as f64;
        self.tokens = (self.tokens + elapsed * self.per_ms).min(self.capacity);
        self.at_ms = now_ms.max(self.at_ms);
    }

    /// Takes a token if there is one; else the wall ms when there will be.
    pub(crate) fn take(&mut self, now_ms: i64) -> Result<(), i64> {
        self.refill(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - self.tokens) / self.per_ms).ceil() as i64;
            Err(now_ms + wait.max(1))
        }
    }
}

/// The wait before retry `attempt` (1 for the first retry): `initial ×
/// 2^(attempt−1)` capped at `max`, then scaled by a random factor in
/// [0.5, 1] so channels that failed together do not retry together.
pub(crate) fn backoff_ms(initial_ms: u64, max_ms: u64, attempt: u32, unit_random: f64) -> u64 {
    let exp = attempt.saturating_sub(1).min(40);
    let full = initial_ms.saturating_mul(1u64 << exp).min(max_ms);
    let scaled = full as f64 * (0.5 + 0.5 * unit_random.clamp(0.0, 1.0));
    scaled.round() as u64
}

/// A random number in [0, 1) from the OS: for jitter only, never a decision
/// of the pipeline.
pub(crate) fn unit_random() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// What de-duplication says of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The first of its key in the window: deliver it.
    First,
    /// A repeat of the notification numbered this: held back and counted.
    Repeat(u64),
}

/// One key's window.
#[derive(Debug, Clone)]
struct Window {
    opened_ms: i64,
    repeats: u64,
    /// The sequence number of the notification that opened it.
    first_seq: u64,
}

/// A summary due when a window with repeats closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) key: String,
    pub(crate) first_seq: u64,
    pub(crate) repeats: u64,
    pub(crate) window_ms: i64,
}

/// Repeats of a key within `window_ms` of its first are held back; when the
/// window closes, a summary says how many there were. At most `max_keys`
/// windows are open; past that the oldest closes early.
#[derive(Debug)]
pub(crate) struct Dedup {
    window_ms: i64,
    max_keys: usize,
    open: HashMap<String, Window>,
}

impl Dedup {
    pub(crate) fn new(window_ms: i64, max_keys: usize) -> Self {
        Self {
            window_ms,
            max_keys: max_keys.max(1),
            open: HashMap::new(),
        }
    }

    /// Notes a notification of `key` numbered `seq` at `now_ms`. Returns
    /// what to do with it and the summaries of windows it closed early.
    pub(crate) fn see(&mut self, key: &str, seq: u64, now_ms: i64) -> (Seen, Vec<Summary>) {
        if self.window_ms <= 0 {
            return (Seen::First, Vec::new());
        }
        let mut closed = self.expire(now_ms);
        if let Some(w) = self.open.get_mut(key) {
            w.repeats += 1;
            return (Seen::Repeat(w.first_seq), closed);
        }
        if self.open.len() >= self.max_keys
            && let Some(oldest) = self
                .open
                .iter()
                .min_by_key(|(_, w)| w.opened_ms)
                .map(|(k, _)| k.clone())
            && let Some(w) = self.open.remove(&oldest)
            && w.repeats > 0
        {
            closed.push(self.summary(oldest, &w));
        }
        self.open.insert(
            key.to_owned(),
            Window {
                opened_ms: now_ms,
                repeats: 0,
                first_seq: seq,
            },
        );
        (Seen::First, closed)
    }

    /// Closes the windows older than the window at `now_ms`; returns the
    /// summaries of those that saw repeats.
    pub(crate) fn expire(&mut self, now_ms: i64) -> Vec<Summary> {
        let window = self.window_ms;
        let done: Vec<String> = self
            .open
            .iter()
            .filter(|(_, w)| now_ms - w.opened_ms >= window)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for key in done {
            if let Some(w) = self.open.remove(&key)
                && w.repeats > 0
            {
                out.push(self.summary(key, &w));
            }
        }
        out.sort_by_key(|s| s.first_seq);
        out
    }

    fn summary(&self, key: String, w: &Window) -> Summary {
        Summary {
            key,
            first_seq: w.first_seq,
            repeats: w.repeats,
            window_ms: self.window_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_bursts_then_paces() {
        // 6 a minute: a burst of 6, then one every 10 s.
        let mut r = RateLimit::new(6, 0);
        for _ in 0..6 {
            assert_eq!(r.take(0), Ok(()));
        }
        assert_eq!(r.take(0), Err(10_000));
        assert_eq!(r.take(9_999), Err(10_000));
        assert_eq!(r.take(10_000), Ok(()));
        assert_eq!(r.take(10_000), Err(20_000));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_down_to_half() {
        assert_eq!(backoff_ms(1_000, 60_000, 1, 1.0), 1_000);
        assert_eq!(backoff_ms(1_000, 60_000, 2, 1.0), 2_000);
        assert_eq!(backoff_ms(1_000, 60_000, 4, 1.0), 8_000);
        assert_eq!(backoff_ms(1_000, 60_000, 30, 1.0), 60_000);
        assert_eq!(backoff_ms(1_000, 60_000, 4, 0.0), 4_000);
        assert_eq!(backoff_ms(1_000, 60_000, 200, 0.5), 45_000);
        let r = unit_random();
        assert!((0.0..1.0).contains(&r));
    }

    #[test]
    fn dedup_lets_the_first_through_and_sums_up_the_rest() {
        let mut d = Dedup::new(1_000, 100);
        assert_eq!(d.see("feed:binance", 1, 0).0, Seen::First);
        assert_eq!(d.see("feed:binance", 2, 10).0, Seen::Repeat(1));
        assert_eq!(d.see("feed:binance", 3, 999).0, Seen::Repeat(1));
        assert_eq!(d.see("feed:okx", 4, 500).0, Seen::First);
        let closed = d.expire(1_000);
        assert_eq!(
            closed,
            [Summary {
                key: "feed:binance".into(),
                first_seq: 1,
                repeats: 2,
                window_ms: 1_000
            }]
        );
        // okx had no repeats: it closes silently.
        assert!(d.expire(1_500).is_empty());
        // After the window, the key is new again.
        assert_eq!(d.see("feed:binance", 5, 1_001).0, Seen::First);
    }

    #[test]
    fn dedup_keys_are_bounded() {
        let mut d = Dedup::new(60_000, 2);
        d.see("a", 1, 0);
        d.see("a", 2, 1);
        d.see("b", 3, 2);
        let (seen, closed) = d.see("c", 4, 3);
        assert_eq!(seen, Seen::First);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].key, "a");
        assert_eq!(closed[0].repeats, 1);
        assert_eq!(d.open.len(), 2);
    }
}
