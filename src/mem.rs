//! Keeping converge's resident memory small on glibc.
//!
//! glibc's malloc gives threads their own arenas (up to eight per core) and keeps freed memory
//! for reuse. A long-running controller that reloads its desired state (a few MiB of parsed
//! manifests) from whichever thread is free then holds several copies' worth of freed pages:
//! measured at 1,101 resources, resident memory grew from 47 to 75 MiB over twenty reloads
//! while the live heap never exceeded 23 MiB (heaptrack). One arena, and a trim after each
//! reload and each full sweep, keep it near what is in use: at 11,001 resources the first
//! sweep peaked at 130.8 MiB with two arenas and 124.8 MiB with one (heap peak 86 MiB).
//! converge's threads are two runtime workers that mostly wait on AWS, so one arena's lock
//! costs little. Elsewhere (musl, other systems) these do nothing.

/// Limits malloc to one arena, unless `MALLOC_ARENA_MAX` says otherwise. Call before any
/// thread starts.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a malloc tunable; called before other threads exist.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Hands memory malloc holds free back to the operating system.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe; it takes each arena's lock while it works.
    unsafe {
        libc::malloc_trim(0);
    }
}
