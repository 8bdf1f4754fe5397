//! Small pure helpers shared by command handlers.

pub mod digest;
pub mod glob;
pub mod num;

/// The bytes as C sees them: up to the first NUL (where Redis's `strchr`, `strcasecmp` or
/// `strtod` stop reading an argument).
#[inline]
pub fn cstr(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

/// Calls `f` with `s` in ASCII lowercase, made on the stack when it is short: function and
/// script names are looked up this way once per call, without an allocation.
#[inline]
pub fn with_ascii_lowercase<R>(s: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let mut buf = [0u8; 64];
    match buf.get_mut(..s.len()) {
        Some(lower) => {
            for (l, c) in lower.iter_mut().zip(s) {
                *l = c.to_ascii_lowercase();
            }
            f(lower)
        }
        None => f(&s.to_ascii_lowercase()),
    }
}

/// Hints the CPU to start loading the cache lines of `*p` (the first two: a key node spans
/// two). Never reads: a no-op where there is no prefetch instruction.
#[inline]
#[allow(unsafe_code)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is only a hint; it never faults or reads into the program, for
        // any address. The intrinsic needs SSE, which every x86_64 CPU has.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast());
            _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>().wrapping_add(64));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
