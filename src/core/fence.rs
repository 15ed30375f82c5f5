//! Whether this process may change AWS for a shard right now: the fence a lease puts around a
//! shard's mutating requests (high availability, `run --lease-table`).
//!
//! The lease coordinator extends a shard's [`Fence`] on every renewal it saw land, to the
//! renewal's send time plus the renew deadline; the HTTP layer of the shard's clients asks
//! [`Fence::allows_mutation`] right before it sends each mutating attempt (retries included);
//! the engine stamps the lease's holder and token on its audit records. Without high
//! availability a shard's fence is [`Fence::open`]: it never refuses.
//!
//! Time is [`boot_time`]: a monotonic clock that keeps counting while the host is suspended,
//! so a replica that wakes from a suspend finds its fence expired instead of trusting a lease
//! that another replica may have taken meanwhile. Wall clocks of different hosts are never
//! compared.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Whether [`boot_time`] keeps counting through a host suspend on this platform (Linux).
/// High availability refuses to start where it does not: a holder waking from a suspend would
/// trust a fence that another replica's takeover has made stale.
pub const SUSPEND_AWARE: bool = cfg!(target_os = "linux");

/// Time since boot, counting suspend (Linux `CLOCK_BOOTTIME`). Elsewhere, the process's
/// monotonic clock (which may stop during a suspend: see [`SUSPEND_AWARE`]).
pub fn boot_time() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_BOOTTIME exists on every Linux
        // kernel since 2.6.39. On failure (never seen) fall through to the monotonic clock.
        if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } == 0 {
            return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
    }
    process_clock()
}

/// The process's monotonic clock since its first use.
fn process_clock() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// Who holds a shard's lease, as audit records and `/status` show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseStamp {
    /// `<replica id>/<process id>`.
    pub holder: String,
    /// The fencing token of this tenure: incremented on every acquisition, never reset.
    pub token: u64,
}

/// The fence around one shard's mutating requests.
#[derive(Debug, Clone, Default)]
pub struct Fence(Option<Arc<Leased>>);

#[derive(Debug)]
struct Leased {
    stamp: LeaseStamp,
    /// Boot-clock nanoseconds until which mutations may be sent; 0 once revoked.
    until_nanos: AtomicU64,
}

impl Fence {
    /// No lease: mutations always pass (converge runs alone).
    pub fn open() -> Fence {
        Fence(None)
    }

    /// The fence of a lease just acquired; mutations pass until `until` (boot clock).
    pub fn leased(stamp: LeaseStamp, until: Duration) -> Fence {
        Fence(Some(Arc::new(Leased {
            stamp,
            until_nanos: AtomicU64::new(nanos(until)),
        })))
    }

    /// Whether a mutating request may be sent now.
    pub fn allows_mutation(&self) -> bool {
        match &self.0 {
            None => true,
            Some(l) => nanos(boot_time()) < l.until_nanos.load(Ordering::Acquire),
        }
    }

    /// A renewal landed: mutations pass until `until` (never moves the fence back, and never
    /// reopens a revoked one).
    pub fn extend(&self, until: Duration) {
        if let Some(l) = &self.0 {
            let until = nanos(until);
            let _ = l
                .until_nanos
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                    (cur != 0 && until > cur).then_some(until)
                });
        }
    }

    /// The lease is gone (lost, released, handed over): nothing passes any more.
    pub fn revoke(&self) {
        if let Some(l) = &self.0 {
            l.until_nanos.store(0, Ordering::Release);
        }
    }

    /// The lease's holder and token; `None` without a lease.
    pub fn stamp(&self) -> Option<&LeaseStamp> {
        self.0.as_ref().map(|l| &l.stamp)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> LeaseStamp {
        LeaseStamp {
            holder: "a/1".into(),
            token: 7,
        }
    }

    #[test]
    fn an_open_fence_always_allows() {
        assert!(Fence::open().allows_mutation());
        assert!(Fence::open().stamp().is_none());
    }

    #[test]
    fn a_lease_allows_until_its_deadline_and_extends_forward_only() {
        let now = boot_time();
        let f = Fence::leased(stamp(), now + Duration::from_secs(60));
        assert!(f.allows_mutation());
        f.extend(now); // backwards: ignored
        assert!(f.allows_mutation());
        let past = Fence::leased(stamp(), now.saturating_sub(Duration::from_millis(1)));
        assert!(!past.allows_mutation(), "deadline passed");
        past.extend(boot_time() + Duration::from_secs(60));
        assert!(past.allows_mutation(), "a landed renewal reopens it");
    }

    #[test]
    fn a_revoked_fence_never_reopens() {
        let f = Fence::leased(stamp(), boot_time() + Duration::from_secs(60));
        let clone = f.clone();
        f.revoke();
        assert!(!clone.allows_mutation(), "clones share the lease");
        clone.extend(boot_time() + Duration::from_secs(120));
        assert!(!f.allows_mutation());
        assert_eq!(f.stamp().map(|s| s.token), Some(7));
    }

    #[test]
    fn the_boot_clock_moves_forward() {
        let a = boot_time();
        std::thread::sleep(Duration::from_millis(2));
        assert!(boot_time() > a);
    }
}
