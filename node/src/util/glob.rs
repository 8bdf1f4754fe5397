//! Glob-style pattern matching with the exact semantics of Redis 7.0 `stringmatchlen`.
//!
//! Used by `KEYS`, `SCAN MATCH`, `PSUBSCRIBE`, `CONFIG GET`, ACL key and channel patterns.
//!
//! Syntax: `*` any run of bytes, `?` one byte, `[...]` one byte from a class (`^` first negates,
//! `a-z` ranges in either order, `\x` an escaped byte), `\x` the byte `x`. Redis quirks kept on
//! purpose, each checked against redis-server 7.0.15:
//!
//! - an empty text never matches a non-empty pattern, not even `*` (`KEYS *` and `SCAN` skip the
//!   matcher for the exact pattern `*`, so callers should keep that shortcut);
//! - range bounds and the tested byte compare as C `signed char`, so `[a-\xff]` is the range
//!   `-1..=97` and matches `\x00` and `\xff` but not `b` or `\x80`;
//! - `[a-]` is an unterminated class holding the range `]..=a`; an unterminated class is closed
//!   by the end of the pattern (`[^` matches any one byte, a pattern ending in `[` never matches);
//! - an escaped byte inside a class is compared case-sensitively even when `nocase` is set, and
//!   with `nocase` range bounds are lowercased after being put in order;
//! - a trailing lone `\` is a literal backslash;
//! - Redis gives up (no match) when the match reaches the 1001st group of `*` in the pattern with
//!   text left and more pattern after it (its guard against deep recursion).
//!
//! The algorithm is iterative and keeps a single backtrack point (the last `*` reached), which
//! gives the same answers as Redis's recursive matcher with its "skip longer matches" cut: time
//! is O(pattern * text) in the worst case and the stack never grows.

/// Redis stops matching when the recursion through `*` groups would pass this depth.
const MAX_STAR_NESTING: usize = 1000;

/// Returns whether `text` matches the glob `pattern` exactly as Redis 7.0 `stringmatchlen` does.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let mut p = 0usize;
    let mut s = 0usize;
    // Where to resume after a failure: (pattern index just after the last `*` group, text index
    // that was tried last for it, number of `*` groups up to and including it).
    let mut backtrack: Option<(usize, usize, usize)> = None;
    let mut stars = 0usize;

    loop {
        // Try to match from (p, s) until the text or the pattern runs out.
        let matched = 'attempt: {
            while p < pattern.len() && s < text.len() {
                match pattern[p] {
                    b'*' => {
                        while pattern.get(p + 1) == Some(&b'*') {
                            p += 1;
                        }
                        if p + 1 == pattern.len() {
                            return true;
                        }
                        stars += 1;
                        if stars > MAX_STAR_NESTING {
                            return false;
                        }
                        p += 1;
                        backtrack = Some((p, s, stars));
                        continue;
                    }
                    b'?' => {}
                    b'[' => {
                        let (ok, close) = match_class(pattern, p + 1, text[s], nocase);
                        if !ok {
                            break 'attempt false;
                        }
                        p = close;
                    }
                    b'\\' if p + 1 < pattern.len() => {
                        p += 1;
                        if !byte_eq(pattern[p], text[s], nocase) {
                            break 'attempt false;
                        }
                    }
                    c => {
                        if !byte_eq(c, text[s], nocase) {
                            break 'attempt false;
                        }
                    }
                }
                p += 1;
                s += 1;
                if s == text.len() {
                    while pattern.get(p) == Some(&b'*') {
                        p += 1;
                    }
                    break;
                }
            }
            p == pattern.len() && s == text.len()
        };
        if matched {
            return true;
        }
        // Retry the pattern after the last `*` one byte further into the text.
        match backtrack {
            Some((bp, bs, bstars)) if bs + 1 < text.len() => {
                backtrack = Some((bp, bs + 1, bstars));
                p = bp;
                s = bs + 1;
                stars = bstars;
            }
            _ => return false,
        }
    }
}

/// Matches byte `c` against the class starting at `start` (just after `[`); returns the result
/// and the index of the class's last pattern byte (its `]`, or the pattern's last byte).
fn match_class(pattern: &[u8], start: usize, c: u8, nocase: bool) -> (bool, usize) {
    // Past the end the C code reads the string's NUL terminator; `at` does the same.
    let at = |i: usize| pattern.get(i).copied().unwrap_or(0);
    let len = pattern.len();
    let mut i = start;
    let negate = i < len && pattern[i] == b'^';
    if negate {
        i += 1;
    }
    let mut found = false;
    loop {
        let rem = len.saturating_sub(i);
        if at(i) == b'\\' && rem >= 2 {
            i += 1;
            if pattern[i] == c {
                found = true;
            }
        } else if rem == 0 {
            // Unterminated class: it ends on the pattern's last byte.
            i -= 1;
            break;
        } else if pattern[i] == b']' {
            break;
        } else if rem >= 3 && pattern[i + 1] == b'-' {
            let (mut lo, mut hi) = (signed(pattern[i]), signed(pattern[i + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let mut x = signed(c);
            if nocase {
                lo = lower_signed(lo);
                hi = lower_signed(hi);
                x = lower_signed(x);
            }
            i += 2;
            if lo <= x && x <= hi {
                found = true;
            }
        } else if byte_eq(pattern[i], c, nocase) {
            found = true;
        }
        i += 1;
    }
    (found != negate, i)
}

/// Compares two bytes, ASCII case-insensitively when `nocase` is set (C locale `tolower`).
fn byte_eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Reads a byte as C `signed char`, as Redis's range comparison does.
fn signed(b: u8) -> i16 {
    i16::from(b as i8)
}

/// C-locale `tolower` on a signed char value (only `A`..=`Z` change).
fn lower_signed(x: i16) -> i16 {
    if (i16::from(b'A')..=i16::from(b'Z')).contains(&x) {
        x + 32
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    /// Case-sensitive match.
    fn m(p: &[u8], s: &[u8]) -> bool {
        glob_match(p, s, false)
    }

    #[test]
    fn basics() {
        assert!(m(b"", b""));
        assert!(!m(b"", b"a"));
        assert!(m(b"abc", b"abc"));
        assert!(!m(b"abc", b"abd"));
        assert!(m(b"a*", b"a"));
        assert!(m(b"a*", b"abc"));
        assert!(m(b"*c", b"abc"));
        assert!(m(b"a*c", b"ac"));
        assert!(m(b"a*b*c", b"axxbyyc"));
        assert!(!m(b"a*b*c", b"axxbyy"));
        assert!(m(b"h?llo", b"hello"));
        assert!(!m(b"h?llo", b"hllo"));
        assert!(m(b"h[ae]llo", b"hallo"));
        assert!(!m(b"h[ae]llo", b"hillo"));
        assert!(m(b"h[^e]llo", b"hallo"));
        assert!(!m(b"h[^e]llo", b"hello"));
        assert!(m(b"h[a-b]llo", b"hbllo"));
        assert!(m(b"h[b-a]llo", b"hallo"));
        assert!(m(b"*a*a*a", b"aaaa"));
        assert!(!m(b"*a*a*a*", b"aa"));
    }

    #[test]
    fn empty_text_quirks() {
        // Checked with HSCAN ... MATCH against redis-server 7.0.15.
        assert!(!m(b"*", b""));
        assert!(!m(b"**", b""));
        assert!(!m(b"?", b""));
        assert!(m(b"a**", b"a"));
    }

    #[test]
    fn class_quirks() {
        // Unterminated `[a-]` is the range `]..=a`.
        assert!(m(b"[a-]", b"]"));
        assert!(m(b"[a-]", b"_"));
        assert!(!m(b"[a-]", b"b"));
        // `[^` at the end matches any byte; a trailing `[` never matches.
        assert!(m(b"[^", b"x"));
        assert!(!m(b"a[", b"a"));
        assert!(!m(b"a[", b"a["));
        // Empty class never matches, `[^]` matches anything.
        assert!(!m(b"[]a]", b"a]"));
        assert!(!m(b"[]a]", b"]"));
        assert!(!m(b"[]", b"a"));
        assert!(m(b"[^]", b"x"));
        // Signed char ranges.
        assert!(m(b"[a-\xff]", b"\xff"));
        assert!(!m(b"[a-\xff]", b"b"));
        assert!(m(b"[a-\xff]", b"\x00"));
        assert!(!m(b"[a-\xff]", b"\x80"));
        // Escapes inside a class.
        assert!(m(b"[\\]]", b"]"));
        assert!(m(b"[\\-]", b"-"));
        assert!(m(b"[\\", b"\\"));
    }

    #[test]
    fn escapes() {
        assert!(m(b"\\*", b"*"));
        assert!(!m(b"\\*", b"a"));
        assert!(m(b"a\\", b"a\\"));
        assert!(m(b"\\?x", b"?x"));
        assert!(!m(b"\\?x", b"ax"));
        assert!(!m(b"a\\*", b"a"));
    }

    #[test]
    fn nocase() {
        assert!(glob_match(b"HeLLo", b"hello", true));
        assert!(glob_match(b"h[A-Z]llo", b"hello", true));
        assert!(glob_match(b"h[E]llo", b"hello", true));
        assert!(!glob_match(b"h[\\E]llo", b"hello", true));
        assert!(!glob_match(b"h[A-Z]llo", b"hello", false));
        // Bounds are swapped before lowercasing: [Z-a] becomes z..=a, which is empty.
        assert!(!glob_match(b"[Z-a]", b"_", true));
        assert!(glob_match(b"[Z-a]", b"_", false));
    }

    #[test]
    fn nesting_limit() {
        // Checked with HSCAN ... MATCH against redis-server 7.0.15.
        for (n, want) in [(999, true), (1000, true), (1001, false), (1002, false)] {
            let p = b"*a".repeat(n);
            assert_eq!(m(&p, &b"a".repeat(n)), want, "*a x {n}");
            let mut p2 = p.clone();
            p2.push(b'*');
            assert_eq!(m(&p2, &b"a".repeat(n + 1)), want, "*a x {n} *");
        }
        assert!(m(&b"a*".repeat(1001), &b"a".repeat(1001)));
        assert!(!m(&b"a*".repeat(1002), &b"a".repeat(1002)));
    }

    #[test]
    fn no_blowup() {
        let p = b"*a".repeat(500);
        let mut p = p;
        p.push(b'b');
        let s = b"a".repeat(5000);
        assert!(!m(&p, &s));
        let p = b"a*".repeat(900);
        let s = b"a".repeat(20000);
        assert!(m(&p, &s));
    }
}
