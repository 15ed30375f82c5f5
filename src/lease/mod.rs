//! High availability and scale-out: replicas of one controller share its shards through
//! leases in a DynamoDB table (`run --lease-table`), one writer per shard, fenced.
//!
//! - [`table`]: the items and the conditional writes (the DynamoDB Lock Client's protocol, plus
//!   a fencing token).
//! - [`assign`]: which live replica should hold which shard (rendezvous hashing with bounded
//!   loads, sticky to the current holders).
//! - [`coordinator`]: the loop every replica runs each `--lease-retry` (jittered): read the
//!   table, heartbeat, renew what it holds, take what is free and meant for it (or left unheld),
//!   hand over what is meant for another, and publish [`Grants`] to the supervisor, which runs
//!   the loops of exactly the shards granted.
//!
//! The timings, as Kubernetes' leader election names them: a holder renews every retry period
//! and stops sending mutating requests once `--lease-renew-deadline` has passed since the send
//! time of its last renewal that landed (the [`Fence`], checked right before every request
//! leaves); another replica takes over only after it saw the record unchanged for a whole
//! `--lease-duration` on its own boot clock. So `lease − renew deadline` must cover the longest
//! attempt a holder may still have in flight (`--attempt-timeout`), checked at start-up.

pub mod assign;
pub mod coordinator;
pub mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::watch;

use crate::core::fence::Fence;
use crate::core::ShardId;

pub use coordinator::Coordinator;
pub use table::{LeaseTable, Me, TableError};

/// `run`'s lease settings.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub table: String,
    pub replica_id: String,
    /// How long a standby must see a record unchanged before taking it over.
    pub duration: Duration,
    /// How long after the send time of its last landed renewal a holder may still mutate.
    pub renew_deadline: Duration,
    /// The period of the coordinator's loop (jittered ±20 %).
    pub retry: Duration,
}

/// Lease timings that cannot be safe.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimingError {
    #[error("--lease-duration ({duration:?}) minus --lease-renew-deadline ({deadline:?}) must cover --attempt-timeout ({attempt:?}): a mutating attempt let through just before the deadline could still be in flight when another replica may take over. Raise --lease-duration to at least {need:?}, or lower --lease-renew-deadline or --attempt-timeout")]
    AttemptOutlivesLease {
        duration: Duration,
        deadline: Duration,
        attempt: Duration,
        need: Duration,
    },
    #[error("--lease-renew-deadline ({deadline:?}) must be longer than --lease-retry ({retry:?}), or the holder cannot renew before its deadline; raise --lease-renew-deadline (3 × --lease-retry or more is usual)")]
    DeadlineBelowRetry { deadline: Duration, retry: Duration },
    #[error("--lease-retry must be more than 0")]
    ZeroRetry,
}

impl LeaseSettings {
    /// Refuses timings under which two replicas could write at once, naming the flag to change.
    pub fn check(&self, attempt_timeout: Duration) -> Result<(), TimingError> {
        if self.retry.is_zero() {
            return Err(TimingError::ZeroRetry);
        }
        if self.renew_deadline <= self.retry {
            return Err(TimingError::DeadlineBelowRetry {
                deadline: self.renew_deadline,
                retry: self.retry,
            });
        }
        if self.duration < self.renew_deadline + attempt_timeout {
            return Err(TimingError::AttemptOutlivesLease {
                duration: self.duration,
                deadline: self.renew_deadline,
                attempt: attempt_timeout,
                need: self.renew_deadline + attempt_timeout,
            });
        }
        Ok(())
    }
}

/// The shards this replica may run now, each with its fence: what the coordinator publishes
/// and the supervisor obeys.
pub type GrantMap = BTreeMap<ShardId, Fence>;

/// The supervisor's side of the leases: which shards are granted, and which of them still
/// have loops running here (a shard is released only after its loops stopped, so its
/// in-flight changes finish under the lease).
#[derive(Clone)]
pub struct Grants {
    pub granted: watch::Receiver<GrantMap>,
    active: watch::Sender<BTreeSet<ShardId>>,
}

impl Grants {
    /// The shard's loops are about to run here.
    pub fn started(&self, shard: &ShardId) {
        self.active.send_modify(|a| {
            a.insert(shard.clone());
        });
    }

    /// The shard's loops have stopped here.
    pub fn stopped(&self, shard: &ShardId) {
        self.active.send_modify(|a| {
            a.remove(shard);
        });
    }
}

/// Facts shared between replicas: a kind of one shard refers to resources of another shard
/// of its account (an Auto Scaling group to the account's instance profile, a DNS record to a
/// load balancer), and with leases the two shards may run on different replicas. The holder of
/// a shard writes the facts its kinds published to the table when they change; a replica that
/// runs another shard of the same account reads them when their digest (on the lease record)
/// changes. Implemented by the supervisor, which owns every account's facts store.
pub trait SharedFacts: Send + Sync {
    /// The facts shard `id` published here, as JSON; `None` unless it runs here.
    fn export(&self, id: &ShardId) -> Option<String>;
    /// Whether a shard of `id`'s account runs here (so `id`'s facts are wanted).
    fn wants(&self, id: &ShardId) -> bool;
    /// The facts of shard `id`, which another replica runs.
    fn import(&self, id: &ShardId, json: &str);
    /// Changes whenever the store `id`'s facts go into is replaced (the account is reached
    /// another way): what was imported into the old one must be imported again.
    fn epoch(&self, id: &ShardId) -> u64;
}

/// A stable digest of a facts document (FNV-1a 64, hex).
pub fn digest(text: &str) -> String {
    format!("{:016x}", fnv1a(text.bytes()))
}

/// FNV-1a, 64 bits: the same on every replica, build and platform (std's hashers promise
/// none of that).
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The SplitMix64 finaliser: spreads a 64-bit value's bits over the whole word.
fn spread(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The replica's default id: the host's name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "converge".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(duration: u64, deadline: u64, retry: u64) -> LeaseSettings {
        LeaseSettings {
            table: "t".into(),
            replica_id: "r".into(),
            duration: Duration::from_secs(duration),
            renew_deadline: Duration::from_secs(deadline),
            retry: Duration::from_secs(retry),
        }
    }

    #[test]
    fn the_defaults_cover_the_default_attempt_timeout() {
        assert_eq!(settings(30, 10, 2).check(Duration::from_secs(20)), Ok(()));
    }

    #[test]
    fn a_lease_too_short_for_an_attempt_names_the_flags() {
        let e = settings(30, 10, 2)
            .check(Duration::from_secs(25))
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("Raise --lease-duration to at least 35s"),
            "{text}"
        );
        assert!(text.contains("--attempt-timeout"), "{text}");
    }

    #[test]
    fn a_deadline_within_one_retry_is_refused() {
        let e = settings(30, 2, 2)
            .check(Duration::from_secs(1))
            .unwrap_err();
        assert!(e.to_string().contains("--lease-renew-deadline"), "{e}");
    }

    #[test]
    fn a_hostname_is_never_empty() {
        assert!(!hostname().is_empty());
    }
}
