//! Per-resource retry backoff: exponential with jitter (backon), capped, forgotten on success.
//!
//! A failing resource is retried after its own delay; every other resource keeps its own
//! schedule. Terminal errors wait the full cap (no retry storm), until the desired spec
//! changes and the entry is forgotten.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::time::Instant;

struct Entry {
    delays: ExponentialBackoff,
    due: Instant,
    attempts: u32,
}

/// The backoff state of every failing key.
pub struct Backoffs<K> {
    builder: ExponentialBuilder,
    max: Duration,
    entries: HashMap<K, Entry>,
}

impl<K: Eq + Hash + Clone> Backoffs<K> {
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        let builder = ExponentialBuilder::new()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Backoffs {
            builder,
            max,
            entries: HashMap::new(),
        }
    }

    /// Records a failure of `key` at `now`; returns the delay until its next attempt.
    pub fn failed(&mut self, key: &K, terminal: bool, now: Instant) -> Duration {
        let builder = self.builder;
        let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
            delays: builder.build(),
            due: now,
            attempts: 0,
        });
        entry.attempts += 1;
        let delay = if terminal {
            self.max
        } else {
            entry.delays.next().unwrap_or(self.max).min(self.max)
        };
        entry.due = now + delay;
        delay
    }

    /// Forgets `key` (after a success, or when its desired spec changed).
    pub fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// True while `key` must not be retried yet.
    pub fn is_waiting(&self, key: &K, now: Instant) -> bool {
        self.entries.get(key).is_some_and(|e| e.due > now)
    }

    /// When `key` may be retried, if it is backing off.
    pub fn due(&self, key: &K) -> Option<Instant> {
        self.entries.get(key).map(|e| e.due)
    }

    /// Consecutive failures of `key`.
    pub fn attempts(&self, key: &K) -> u32 {
        self.entries.get(key).map_or(0, |e| e.attempts)
    }

    /// Keys whose delay has expired at `now`.
    pub fn due_keys(&self, now: Instant) -> Vec<K> {
        self.entries
            .iter()
            .filter(|(_, e)| e.due <= now)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The earliest time any key may be retried.
    pub fn next_due(&self) -> Option<Instant> {
        self.entries.values().map(|e| e.due).min()
    }

    /// Drops keys for which `keep` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.entries.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn delays_grow_and_stop_at_the_cap() {
        let mut b = Backoffs::new(Duration::from_secs(1), Duration::from_secs(10));
        let key = "q".to_string();
        let mut last = Duration::ZERO;
        let mut delays = Vec::new();
        for _ in 0..8 {
            let d = b.failed(&key, false, Instant::now());
            assert!(d <= Duration::from_secs(10), "{d:?} exceeds the cap");
            delays.push(d);
            last = d;
        }
        assert!(delays[0] >= Duration::from_secs(1) && delays[0] <= Duration::from_secs(2));
        assert_eq!(last, Duration::from_secs(10));
        assert_eq!(b.attempts(&key), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_waits_until_due_and_others_are_unaffected() {
        let mut b = Backoffs::new(Duration::from_secs(4), Duration::from_secs(60));
        let failing = "a".to_string();
        let healthy = "b".to_string();
        let d = b.failed(&failing, false, Instant::now());
        assert!(b.is_waiting(&failing, Instant::now()));
        assert!(!b.is_waiting(&healthy, Instant::now()));
        tokio::time::advance(d - Duration::from_millis(1)).await;
        assert!(b.is_waiting(&failing, Instant::now()));
        tokio::time::advance(Duration::from_millis(2)).await;
        assert!(!b.is_waiting(&failing, Instant::now()));
        assert_eq!(b.next_due(), b.due(&failing));
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_and_terminal_waits_the_cap() {
        let mut b = Backoffs::new(Duration::from_secs(1), Duration::from_secs(30));
        let k = 1u32;
        b.failed(&k, false, Instant::now());
        b.failed(&k, false, Instant::now());
        b.forget(&k);
        assert_eq!(b.attempts(&k), 0);
        let first = b.failed(&k, false, Instant::now());
        assert!(first <= Duration::from_secs(2));
        assert_eq!(b.failed(&2, true, Instant::now()), Duration::from_secs(30));
    }
}
