//! Index rules of the string commands GETRANGE (and its alias SUBSTR), SETRANGE and APPEND,
//! matching Redis 7.0 `src/t_string.c`, each checked against redis-server 7.0.15.
//!
//! Argument order the handlers must keep (it decides which error wins):
//!
//! - GETRANGE: parse `start` then `end` ("value is not an integer or out of range") before the
//!   key lookup; a missing key is an empty bulk; WRONGTYPE after that.
//! - SETRANGE: parse the offset, then [`setrange_plan`] refuses a negative offset ("offset is
//!   out of range") before the key lookup and the WRONGTYPE check; then the plan decides.
//!
//! Integer-encoded values are ranged over their decimal text, which is what ferrodis stores.

use std::ops::Range;

/// The byte range `GETRANGE key start end` returns from a string of `len` bytes (empty range
/// for an empty reply). Redis quirks: `start` and `end` both negative with `start > end` is
/// empty, but otherwise a too-negative `end` is clamped to 0, so `GETRANGE "Hello" 0 -100`
/// is `"H"`.
pub fn getrange(len: usize, start: i64, end: i64) -> Range<usize> {
    if start < 0 && end < 0 && start > end {
        return 0..0;
    }
    let len_i = len as i128;
    let (mut start, mut end) = (i128::from(start), i128::from(end));
    if start < 0 {
        start += len_i;
    }
    if end < 0 {
        end += len_i;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len_i {
        end = len_i - 1;
    }
    if start > end || len == 0 {
        return 0..0;
    }
    start as usize..end as usize + 1
}

/// Returns whether a string of `size + append` bytes is allowed (Redis `checkStringLength`:
/// at most `max_bulk_len`, no overflow; else "string exceeds maximum allowed size
/// (proto-max-bulk-len)"). Clients that must be obeyed pass `u64::MAX`.
pub fn check_string_length(size: u64, append: u64, max_bulk_len: u64) -> bool {
    size.checked_add(append)
        .is_some_and(|total| total <= max_bulk_len)
}

/// Why SETRANGE refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetRangeError {
    /// Negative offset: "offset is out of range" (checked before the key type).
    OffsetOutOfRange,
    /// `offset + len(value)` is too big: "string exceeds maximum allowed size
    /// (proto-max-bulk-len)".
    TooBig,
}

/// What SETRANGE should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetRangePlan {
    /// Empty value: change nothing (do not create the key) and reply with this length (0 for a
    /// missing key, the current length otherwise, whatever the offset).
    Reply(usize),
    /// Create the string if missing, then call [`setrange`] at this offset and reply with the
    /// new length.
    Write(usize),
}

/// Decides SETRANGE from the offset, the current length (`None`: missing key; the caller has
/// already answered WRONGTYPE), the value length and proto-max-bulk-len.
pub fn setrange_plan(
    offset: i64,
    existing_len: Option<usize>,
    value_len: usize,
    max_bulk_len: u64,
) -> Result<SetRangePlan, SetRangeError> {
    let offset = u64::try_from(offset).map_err(|_| SetRangeError::OffsetOutOfRange)?;
    if value_len == 0 {
        return Ok(SetRangePlan::Reply(existing_len.unwrap_or(0)));
    }
    if !check_string_length(offset, value_len as u64, max_bulk_len) {
        return Err(SetRangeError::TooBig);
    }
    let offset = usize::try_from(offset).map_err(|_| SetRangeError::TooBig)?;
    Ok(SetRangePlan::Write(offset))
}

/// Writes `value` at `offset`, zero-padding the string first if it is shorter; returns the new
/// length (the SETRANGE reply).
pub fn setrange(buf: &mut Vec<u8>, offset: usize, value: &[u8]) -> usize {
    let end = offset + value.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[offset..end].copy_from_slice(value);
    buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 512 * 1024 * 1024;

    /// Applies GETRANGE to a slice.
    fn gr(s: &[u8], start: i64, end: i64) -> &[u8] {
        &s[getrange(s.len(), start, end)]
    }

    #[test]
    fn getrange_like_redis() {
        // Expectations from redis-server 7.0.15 on "Hello".
        let s = b"Hello";
        assert_eq!(gr(s, 0, -100), b"H");
        assert_eq!(gr(s, -1, -5), b"");
        assert_eq!(gr(s, -100, -200), b"");
        assert_eq!(gr(s, -200, -100), b"H");
        assert_eq!(gr(s, 3, 1), b"");
        assert_eq!(gr(s, 0, 0), b"H");
        assert_eq!(gr(s, -1, -1), b"o");
        assert_eq!(gr(s, 5, 10), b"");
        assert_eq!(gr(s, 4, 100), b"o");
        assert_eq!(gr(s, i64::MIN, i64::MAX), b"Hello");
        assert_eq!(gr(s, 2, i64::MIN), b"");
        assert_eq!(gr(s, 1, 3), b"ell");
        assert_eq!(gr(b"", 0, -1), b"");
        assert_eq!(gr(b"", 0, 0), b"");
        assert_eq!(gr(b"", -1, 0), b"");
        assert_eq!(gr(b"12345", 1, 2), b"23");
    }

    #[test]
    fn setrange_like_redis() {
        use SetRangeError::*;
        use SetRangePlan::*;
        // Expectations from redis-server 7.0.15 (proto-max-bulk-len 512mb).
        assert_eq!(setrange_plan(5, None, 0, MAX), Ok(Reply(0)));
        assert_eq!(setrange_plan(-1, Some(5), 1, MAX), Err(OffsetOutOfRange));
        assert_eq!(setrange_plan(-1, None, 0, MAX), Err(OffsetOutOfRange));
        assert_eq!(setrange_plan(99999999999, Some(5), 0, MAX), Ok(Reply(5)));
        assert_eq!(setrange_plan(99999999999, None, 0, MAX), Ok(Reply(0)));
        assert_eq!(
            setrange_plan(536870911, Some(5), 1, MAX),
            Ok(Write(536870911))
        );
        assert_eq!(setrange_plan(536870912, Some(5), 1, MAX), Err(TooBig));
        assert_eq!(setrange_plan(i64::MAX, Some(5), 1, MAX), Err(TooBig));
        assert_eq!(setrange_plan(536870912, None, 1, MAX), Err(TooBig));
        assert_eq!(
            setrange_plan(1 << 40, None, 1, u64::MAX),
            Ok(Write(1 << 40))
        );

        let mut v = b"Hello".to_vec();
        assert_eq!(setrange(&mut v, 1, b"abc"), 5);
        assert_eq!(v, b"Habco");
        assert_eq!(setrange(&mut v, 7, b"Z"), 8);
        assert_eq!(v, b"Habco\0\0Z");
        let mut v = Vec::new();
        assert_eq!(setrange(&mut v, 2, b"x"), 3);
        assert_eq!(v, b"\0\0x");
    }

    #[test]
    fn string_length() {
        assert!(check_string_length(MAX - 1, 1, MAX));
        assert!(!check_string_length(MAX, 1, MAX));
        assert!(!check_string_length(u64::MAX, 1, u64::MAX));
        assert!(check_string_length(0, 0, 0));
    }
}
