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

/// Allocations at or above this size get their own mapping (glibc's `M_MMAP_THRESHOLD`).
pub const MMAP_THRESHOLD: usize = 1 << 20;
/// Free memory at the top of a heap is handed back to the kernel only above this size
/// (glibc's `M_TRIM_THRESHOLD`).
pub const TRIM_THRESHOLD: usize = 4 << 20;

/// Sets glibc's malloc thresholds (once, first thing in `main`); false if glibc refused them
/// or the allocator is not glibc's.
///
/// With glibc's defaults a worker thread's heap is trimmed whenever more than 128 KiB sits
/// free at its top: SET of 1 KiB values, freeing and allocating a batch at a time, made
/// about 300 `madvise` calls a second and faulted every dropped page back in (6% of the
/// server's time in `perf`). Fixed thresholds keep at most `TRIM_THRESHOLD` free per heap.
/// Blocks of `MMAP_THRESHOLD` and more (large hash tables, big values) still get their own
/// mapping, so memory they free goes back to the kernel at once (with a higher threshold, the
/// tables a large set outgrew stayed in the heap: 51 B per member of RSS instead of 37).
pub fn tune() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters (it takes the arena locks itself),
        // and both values are within glibc's accepted ranges (mmap threshold at most 32 MiB
        // on 64-bit).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_thresholds() {
        assert!(super::tune());
    }
}
