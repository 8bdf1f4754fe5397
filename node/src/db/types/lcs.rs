//! The longest common subsequence of two strings, for the `LCS` command (Redis 7.0 semantics).
//!
//! Redis fills the classic `(alen+1) x (blen+1)` table of `u32` lengths, then walks back from
//! the bottom-right corner: on equal bytes it takes the byte and moves diagonally; otherwise it
//! moves up (drops a byte of `a`) only when that keeps a strictly longer LCS, else left (drops a
//! byte of `b`). That tie-break picks which of several equally long LCS strings is returned, and
//! runs of consecutive diagonal moves are the IDX matches, reported from the ends of the strings
//! backwards. This module reproduces that walk exactly.
//!
//! The caller parses the options and encodes the reply: a missing key is an empty string, a
//! non-string value is "The specified keys must contain string values", `LEN` with `IDX` is
//! "If you want both the length and indexes, please just use IDX.", a negative `MINMATCHLEN`
//! counts as 0, and `WITHMATCHLEN` only adds [`LcsMatch::len`] to each reply entry.

/// What the `LCS` command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcsMode {
    /// The LCS string itself (no option).
    String,
    /// Its length only (`LEN`).
    Len,
    /// The matching ranges (`IDX`), keeping those at least `min_match_len` long.
    Idx {
        /// `MINMATCHLEN`; 0 (or negative, as Redis clamps it) keeps every match.
        min_match_len: i64,
    },
}

/// One run of bytes common to both strings; ranges are inclusive byte offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LcsMatch {
    /// First and last byte of the run in the first string.
    pub a: (usize, usize),
    /// First and last byte of the run in the second string.
    pub b: (usize, usize),
    /// Length of the run (the `WITHMATCHLEN` value).
    pub len: usize,
}

/// The result of [`lcs`], shaped after the mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LcsResult {
    /// The LCS string (bulk reply).
    String(Vec<u8>),
    /// The LCS length (integer reply).
    Len(usize),
    /// `matches` in Redis's order (from the end of the strings), and `len` of the whole LCS.
    Idx {
        /// The kept runs.
        matches: Vec<LcsMatch>,
        /// The LCS length.
        len: usize,
    },
}

/// Why [`lcs`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcsError {
    /// A string is `u32::MAX - 1` bytes or longer: "String too long for LCS".
    TooLong,
    /// The table (`(alen+1) * (blen+1) * 4` bytes) is larger than proto-max-bulk-len:
    /// "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len".
    TableTooBig,
    /// The table could not be allocated:
    /// "Insufficient memory, failed allocating transient memory for LCS".
    OutOfMemory,
}

/// Computes `LCS a b [LEN|IDX [MINMATCHLEN n]]` as Redis 7.0 does, refusing tables bigger than
/// `max_table_bytes` (pass proto-max-bulk-len). Time is O(alen * blen); `LEN` uses two rows of
/// memory instead of the table, but is refused by the same size check as Redis.
pub fn lcs(a: &[u8], b: &[u8], mode: LcsMode, max_table_bytes: u64) -> Result<LcsResult, LcsError> {
    let limit = (u32::MAX - 1) as usize;
    if a.len() >= limit || b.len() >= limit {
        return Err(LcsError::TooLong);
    }
    let rows = a.len() as u64 + 1;
    let cols = b.len() as u64 + 1;
    let cells = rows.checked_mul(cols).ok_or(LcsError::OutOfMemory)?;
    let table_bytes = cells.checked_mul(4).ok_or(LcsError::OutOfMemory)?;
    if table_bytes > max_table_bytes {
        return Err(LcsError::TableTooBig);
    }
    if mode == LcsMode::Len {
        return Ok(LcsResult::Len(lcs_len(a, b)));
    }
    let cells = usize::try_from(cells).map_err(|_| LcsError::OutOfMemory)?;
    let mut table: Vec<u32> = Vec::new();
    table
        .try_reserve_exact(cells)
        .map_err(|_| LcsError::OutOfMemory)?;
    table.resize(cells, 0);
    let width = b.len() + 1;
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let len = table[a.len() * width + b.len()] as usize;

    let want_string = mode == LcsMode::String;
    let min_match_len = match mode {
        LcsMode::Idx { min_match_len } => usize::try_from(min_match_len.max(0)).unwrap_or(0),
        _ => 0,
    };
    let mut string = Vec::new();
    let mut matches = Vec::new();
    // The run being extended backwards: (a_start, a_end, b_start, b_end).
    let mut run: Option<(usize, usize, usize, usize)> = None;
    let emit = |run: (usize, usize, usize, usize), matches: &mut Vec<LcsMatch>| {
        let run_len = run.1 - run.0 + 1;
        if run_len >= min_match_len {
            matches.push(LcsMatch {
                a: (run.0, run.1),
                b: (run.2, run.3),
                len: run_len,
            });
        }
    };
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            if want_string {
                string.push(a[i - 1]);
            }
            run = Some(match run {
                Some((_, a_end, _, b_end)) => (i - 1, a_end, j - 1, b_end),
                None => (i - 1, i - 1, j - 1, j - 1),
            });
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if let Some(r) = run.take() {
                emit(r, &mut matches);
            }
        }
    }
    if let Some(r) = run.take() {
        emit(r, &mut matches);
    }
    if want_string {
        string.reverse();
        Ok(LcsResult::String(string))
    } else {
        Ok(LcsResult::Idx { matches, len })
    }
}

/// The LCS length with two rows of memory.
fn lcs_len(a: &[u8], b: &[u8]) -> usize {
    let mut prev = vec![0u32; b.len() + 1];
    let mut cur = vec![0u32; b.len() + 1];
    for &x in a {
        for j in 1..=b.len() {
            cur[j] = if x == b[j - 1] {
                prev[j - 1] + 1
            } else {
                prev[j].max(cur[j - 1])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 512 * 1024 * 1024;

    /// Builds a match from its two ranges.
    fn m(a: (usize, usize), b: (usize, usize)) -> LcsMatch {
        LcsMatch {
            a,
            b,
            len: a.1 - a.0 + 1,
        }
    }

    #[test]
    fn redis_doc_example() {
        // Expectations from redis-server 7.0.15.
        let (a, b) = (b"ohmytext", b"mynewtext");
        assert_eq!(
            lcs(a, b, LcsMode::String, MAX),
            Ok(LcsResult::String(b"mytext".to_vec()))
        );
        assert_eq!(lcs(a, b, LcsMode::Len, MAX), Ok(LcsResult::Len(6)));
        assert_eq!(
            lcs(a, b, LcsMode::Idx { min_match_len: 0 }, MAX),
            Ok(LcsResult::Idx {
                matches: vec![m((4, 7), (5, 8)), m((2, 3), (0, 1))],
                len: 6
            })
        );
        assert_eq!(
            lcs(a, b, LcsMode::Idx { min_match_len: 4 }, MAX),
            Ok(LcsResult::Idx {
                matches: vec![m((4, 7), (5, 8))],
                len: 6
            })
        );
        assert_eq!(
            lcs(a, b, LcsMode::Idx { min_match_len: -5 }, MAX),
            Ok(LcsResult::Idx {
                matches: vec![m((4, 7), (5, 8)), m((2, 3), (0, 1))],
                len: 6
            })
        );
    }

    #[test]
    fn empty_and_ties() {
        assert_eq!(
            lcs(b"ohmytext", b"", LcsMode::String, MAX),
            Ok(LcsResult::String(Vec::new()))
        );
        assert_eq!(
            lcs(b"", b"", LcsMode::Idx { min_match_len: 0 }, MAX),
            Ok(LcsResult::Idx {
                matches: vec![],
                len: 0
            })
        );
        // Equal-length candidates "a" and "b": ties drop a byte of `b` first, so the answer is
        // the last byte of `a` that can match (redis-server 7.0.15).
        assert_eq!(
            lcs(b"ab", b"ba", LcsMode::String, MAX),
            Ok(LcsResult::String(b"b".to_vec()))
        );
        assert_eq!(
            lcs(b"ba", b"ab", LcsMode::String, MAX),
            Ok(LcsResult::String(b"a".to_vec()))
        );
    }

    #[test]
    fn size_limits() {
        // 601 * 601 * 4 bytes > 1 MiB: refused; 401 * 401 * 4 fits (redis-server 7.0.15).
        let x600 = vec![b'x'; 600];
        let x400 = vec![b'x'; 400];
        assert_eq!(
            lcs(&x600, &x600, LcsMode::Len, 1 << 20),
            Err(LcsError::TableTooBig)
        );
        assert_eq!(
            lcs(&x400, &x400, LcsMode::Len, 1 << 20),
            Ok(LcsResult::Len(400))
        );
        assert_eq!(
            lcs(&x400, &x400, LcsMode::String, 1 << 20),
            Ok(LcsResult::String(x400.clone()))
        );
    }
}
