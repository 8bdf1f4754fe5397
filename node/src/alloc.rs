//! A global allocator that counts live bytes, so `used_memory` and `maxmemory` see the
//! real heap (Redis keeps the same counter in `zmalloc`).

#![allow(unsafe_code)] // GlobalAlloc is an unsafe trait; we only forward to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

/// The system allocator plus a live-bytes counter.
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and only
// adds bookkeeping on an atomic counter, so System's guarantees hold.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            ALLOCATED.fetch_add(l.size(), Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            ALLOCATED.fetch_add(l.size(), Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        ALLOCATED.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            if new > l.size() {
                ALLOCATED.fetch_add(new - l.size(), Relaxed);
            } else {
                ALLOCATED.fetch_sub(l.size() - new, Relaxed);
            }
        }
        q
    }
}

/// Live heap bytes.
pub fn allocated() -> usize {
    ALLOCATED.load(Relaxed)
}

/// Corrects the live-bytes count for memory a container hands out from blocks it allocated
/// itself (the key table's node pages): negative when it takes bytes back, positive when it
/// hands them out, so `used_memory` follows the bytes in use, as `maxmemory` needs.
pub fn account(delta: isize) {
    // Unit tests run without this allocator: only the test's own tally moves.
    #[cfg(not(test))]
    if delta >= 0 {
        ALLOCATED.fetch_add(delta.unsigned_abs(), Relaxed);
    } else {
        ALLOCATED.fetch_sub(delta.unsigned_abs(), Relaxed);
    }
    #[cfg(test)]
    ACCOUNTED.with(|a| a.set(a.get() + delta));
}

#[cfg(test)]
thread_local! {
    static ACCOUNTED: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

/// What [`account`] was given on this thread so far (tests).
#[cfg(test)]
pub fn accounted_here() -> isize {
    ACCOUNTED.with(std::cell::Cell::get)
}

/// Allocations at or above this size get their own mapping (glibc's `M_MMAP_THRESHOLD`), so
/// memory they free (large hash tables, big values) goes back to the kernel at once.
pub const MMAP_THRESHOLD: usize = 1 << 20;

/// Free heap memory is kept for reuse this long before [`Releaser`] hands it back to the
/// kernel (jemalloc, Redis's allocator, decays its dirty pages over about 10 s too).
pub const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// How much longer a due release waits for a quiet second while the server is busy.
pub const BUSY_DEFER: std::time::Duration = std::time::Duration::from_secs(60);

/// Sets glibc's malloc thresholds (once, first thing in `main`); false if glibc refused them
/// or the allocator is not glibc's.
///
/// glibc trims a heap itself whenever more than 128 KiB sits free at its top. SET of 1 KiB
/// values, freeing and allocating a batch at a time, then made about 300 `madvise` calls a
/// second and faulted every dropped page back in (6% of the server's time in `perf`). And a
/// worker thread's arena is made of 64 MiB heaps that glibc unmaps as soon as one is wholly
/// free, whatever the trim threshold: a list of 1.3 GB deleted and pushed again was faulted
/// back in page by page, at half the rate of a push into reused pages (Redis reuses its
/// pages). So every thread allocates from the one main arena (whose small blocks still come
/// from per-thread caches without a lock), nothing is trimmed on `free`, and the cron gives
/// free memory back through [`Releaser`] once it has sat unused for [`RELEASE_AFTER`].
/// One arena also packed that list tighter: 1.50 GB resident against 1.66 GB.
pub fn tune() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters (it takes the arena locks itself),
        // and every value is within glibc's accepted ranges (mmap threshold at most 32 MiB
        // on 64-bit; the trim threshold is any size; the arena limit any positive number).
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1) == 1
                && libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Hands every whole free page of every heap back to the kernel (`malloc_trim`); also what
/// `MEMORY PURGE` does. It holds each arena's lock while it walks that arena's free blocks,
/// so run it off the workers (`spawn_blocking`).
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Decides when free heap memory has sat unused long enough to be released: fed the
/// resident size and the live bytes about once a second, it answers true when the gap
/// between them has stayed more than a slack (32 MiB, or an eighth of the live bytes) above
/// what it was after the last release for [`RELEASE_AFTER`], and the server is idle (or has
/// been busy for [`BUSY_DEFER`] more). `malloc_trim` holds the heap's lock while it hands
/// back a large free heap, and every allocation waits meanwhile: a release in the middle of
/// a load took SADD -P 16's p99 from 1.4 to 4.5 ms. The gap a release cannot close (pages partly in use) becomes the new
/// base, so a fragmented heap is not walked again and again for nothing.
#[derive(Debug, Default)]
pub struct Releaser {
    /// Since when the gap has been over the limit.
    since: Option<std::time::Instant>,
    /// The gap measured after the last release (lowered whenever the gap is smaller).
    base: u64,
    /// A release ran: the next reading sets `base`.
    released: bool,
}

impl Releaser {
    /// One reading; true: call [`release`] now.
    pub fn due(&mut self, now: std::time::Instant, rss: u64, live: u64, busy: bool) -> bool {
        let gap = rss.saturating_sub(live);
        if std::mem::take(&mut self.released) {
            self.base = gap;
            return false;
        }
        // At least 32 MiB, or an eighth of the live data, over the base.
        let slack = (32u64 << 20).max(live / 8);
        if gap <= self.base.saturating_add(slack) {
            self.since = None;
            // The gap shrank (memory reused or released by glibc): lower the base with it.
            self.base = self.base.min(gap);
            return false;
        }
        let since = *self.since.get_or_insert(now);
        let waited = now.duration_since(since);
        if waited < RELEASE_AFTER || (busy && waited < RELEASE_AFTER + BUSY_DEFER) {
            return false;
        }
        self.since = None;
        self.released = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::{Releaser, BUSY_DEFER, RELEASE_AFTER};
    use std::time::{Duration, Instant};

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_thresholds() {
        assert!(super::tune());
    }

    const MB: u64 = 1 << 20;

    #[test]
    fn free_memory_is_released_after_it_sat_unused_for_the_delay() {
        let t0 = Instant::now();
        let mut r = Releaser::default();
        // A big delete: 1.6 GB resident, 10 MB live.
        let s = Duration::from_secs(1);
        for i in 0..10 {
            assert!(!r.due(t0 + s * i, 1600 * MB, 10 * MB, false), "tick {i}");
        }
        assert!(r.due(t0 + RELEASE_AFTER, 1600 * MB, 10 * MB, false));
        // After the release, 30 MB resident: that gap is the new base.
        assert!(!r.due(t0 + RELEASE_AFTER + s, 30 * MB, 10 * MB, false));
        for i in 0..30 {
            assert!(!r.due(t0 + RELEASE_AFTER + s * (2 + i), 30 * MB, 10 * MB, false));
        }
    }

    #[test]
    fn memory_reused_in_time_is_not_released() {
        let t0 = Instant::now();
        let mut r = Releaser::default();
        let s = Duration::from_secs(1);
        for i in 0..9 {
            assert!(!r.due(t0 + s * i, 1600 * MB, 10 * MB, false));
        }
        // Refilled before the delay ran out: the clock starts again at the next big gap.
        assert!(!r.due(t0 + s * 9, 1600 * MB, 1500 * MB, false));
        for i in 10..20 {
            assert!(!r.due(t0 + s * i, 1600 * MB, 10 * MB, false), "tick {i}");
        }
        assert!(r.due(t0 + s * 20, 1600 * MB, 10 * MB, false));
    }

    #[test]
    fn a_gap_a_release_could_not_close_is_not_walked_again() {
        let t0 = Instant::now();
        let mut r = Releaser::default();
        let s = Duration::from_secs(1);
        assert!(!r.due(t0, 900 * MB, 500 * MB, false));
        assert!(r.due(t0 + RELEASE_AFTER, 900 * MB, 500 * MB, false));
        // Fragmented: the release got nothing back.
        assert!(!r.due(t0 + RELEASE_AFTER + s, 900 * MB, 500 * MB, false));
        for i in 0..60 {
            assert!(!r.due(t0 + RELEASE_AFTER + s * (2 + i), 900 * MB, 500 * MB, false));
        }
        // The gap grows by more than the slack again: released after the delay.
        let t1 = t0 + Duration::from_secs(100);
        assert!(!r.due(t1, 1600 * MB, 500 * MB, false));
        assert!(r.due(t1 + RELEASE_AFTER, 1600 * MB, 500 * MB, false));
    }

    #[test]
    fn a_busy_server_is_released_once_quiet_or_after_the_longer_delay() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut r = Releaser::default();
        assert!(!r.due(t0, 1600 * MB, 10 * MB, true));
        // Due, but busy: waits for a quiet second.
        assert!(!r.due(t0 + RELEASE_AFTER, 1600 * MB, 10 * MB, true));
        assert!(!r.due(t0 + RELEASE_AFTER + s, 1600 * MB, 10 * MB, true));
        assert!(r.due(t0 + RELEASE_AFTER + 2 * s, 1600 * MB, 10 * MB, false));
        // Busy all along: released at the end of the longer delay all the same.
        let mut r = Releaser::default();
        assert!(!r.due(t0, 1600 * MB, 10 * MB, true));
        for i in 10..70 {
            assert!(!r.due(t0 + s * i, 1600 * MB, 10 * MB, true), "tick {i}");
        }
        assert!(r.due(t0 + RELEASE_AFTER + BUSY_DEFER, 1600 * MB, 10 * MB, true));
    }
}
