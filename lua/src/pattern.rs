//! Lua 5.1 patterns over bytes: the matcher behind `string.find`, `match`, `gmatch` and
//! `gsub`.
//!
//! Classes are those of the C locale (ASCII). As in Lua 5.1, which hands patterns to C as
//! NUL-terminated strings, a pattern ends at its first NUL byte (`%z` matches a NUL in the
//! subject). Errors are raised lazily, when the matcher reaches the faulty part, with Lua's
//! texts.
//!
//! Unlike the C matcher, this one bounds its work: recursion deeper than [`MAX_DEPTH`] and
//! more than a budget of steps (proportional to the subject's length) fail with `pattern too
//! complex`, so a hostile pattern can neither overflow the stack nor run for ever.

use crate::number;

/// Lua's limit on captures in one pattern.
pub const MAX_CAPTURES: usize = 32;
/// How deep the matcher may recurse (one level per quantifier or capture being matched).
pub const MAX_DEPTH: usize = 200;
/// Steps every match operation may take, plus [`STEPS_PER_BYTE`] per byte of the subject:
/// enough for the quadratic searches C Lua finishes in a fraction of a second (`a*b` over
/// 10,000 `a`s is 50 million steps), bounded so a hostile pattern stops within seconds.
pub const BASE_STEPS: u64 = 200_000_000;
pub const STEPS_PER_BYTE: u64 = 64;

/// The characters that make `string.find` match a pattern rather than plain text.
const SPECIALS: &[u8] = b"^$*+?.([%-";

/// A pattern error: Lua's message, without position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatError(pub &'static str);

type Res<T> = Result<T, PatError>;

const TOO_COMPLEX: PatError = PatError("pattern too complex");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CapLen {
    Unfinished,
    Position,
    Len(usize),
}

/// One capture's value: a slice of the subject (byte offsets) or a position (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    Str(usize, usize),
    Pos(usize),
}

/// A pattern being matched against a subject.
pub struct Matcher<'a> {
    pub src: &'a [u8],
    pat: &'a [u8],
    level: usize,
    caps: [(usize, CapLen); MAX_CAPTURES],
    depth: usize,
    steps: u64,
    budget: u64,
}

/// The part of a pattern Lua 5.1 sees: up to its first NUL.
fn c_string(p: &[u8]) -> &[u8] {
    match p.iter().position(|&c| c == 0) {
        Some(i) => &p[..i],
        None => p,
    }
}

/// Whether `string.find` must treat `pat` as a pattern (it has a special character before
/// any NUL).
pub fn has_specials(pat: &[u8]) -> bool {
    c_string(pat).iter().any(|c| SPECIALS.contains(c))
}

/// Lua's `%a`, `%d`... for class letter `cl` (upper case: the complement); any other
/// character stands for itself.
fn match_class(c: u8, cl: u8) -> bool {
    let res = match cl.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => number::is_space(c),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        b'z' => c == 0,
        _ => return cl == c,
    };
    if cl.is_ascii_uppercase() {
        !res
    } else {
        res
    }
}

impl<'a> Matcher<'a> {
    pub fn new(src: &'a [u8], pat: &'a [u8]) -> Matcher<'a> {
        Matcher {
            src,
            pat: c_string(pat),
            level: 0,
            caps: [(0, CapLen::Unfinished); MAX_CAPTURES],
            depth: 0,
            steps: 0,
            budget: BASE_STEPS.saturating_add(STEPS_PER_BYTE.saturating_mul(src.len() as u64)),
        }
    }

    /// The pattern without its leading `^` and whether it had one.
    pub fn anchored(&self) -> bool {
        self.pat.first() == Some(&b'^')
    }

    /// Matches the pattern from pattern offset `p` at subject offset `s`: the end of the
    /// match, or None. Captures are reset first.
    pub fn match_at(&mut self, s: usize, p: usize) -> Res<Option<usize>> {
        self.level = 0;
        self.depth = 0;
        self.do_match(s, p)
    }

    /// How many captures the last successful match made.
    pub fn level(&self) -> usize {
        self.level
    }

    /// Capture `i` (0-based) of the match `s..e`; with no captures, capture 0 is the whole
    /// match.
    pub fn capture(&self, i: usize, s: usize, e: usize) -> Res<Capture> {
        if i >= self.level {
            if i == 0 {
                Ok(Capture::Str(s, e))
            } else {
                Err(PatError("invalid capture index"))
            }
        } else {
            let (start, len) = self.caps[i];
            match len {
                CapLen::Unfinished => Err(PatError("unfinished capture")),
                CapLen::Position => Ok(Capture::Pos(start + 1)),
                CapLen::Len(l) => Ok(Capture::Str(start, start + l)),
            }
        }
    }

    /// The captures of the match `s..e` as `match` returns them (the whole match when the
    /// pattern has none and `whole` is given).
    pub fn captures(&self, whole: Option<(usize, usize)>) -> Res<Vec<Capture>> {
        let n = if self.level == 0 && whole.is_some() {
            1
        } else {
            self.level
        };
        let (s, e) = whole.unwrap_or((0, 0));
        (0..n).map(|i| self.capture(i, s, e)).collect()
    }

    /// The bytes a capture stands for, as a string value would have them (positions as
    /// numbers written by `tostring`).
    pub fn capture_bytes(&self, c: Capture) -> Vec<u8> {
        match c {
            Capture::Str(a, b) => self.src[a..b].to_vec(),
            Capture::Pos(p) => number::format(p as f64),
        }
    }

    fn tick(&mut self, n: u64) -> Res<()> {
        self.steps += n;
        if self.steps > self.budget {
            Err(TOO_COMPLEX)
        } else {
            Ok(())
        }
    }

    fn do_match(&mut self, s: usize, p: usize) -> Res<Option<usize>> {
        if self.depth >= MAX_DEPTH {
            return Err(TOO_COMPLEX);
        }
        self.depth += 1;
        let r = self.match_inner(s, p);
        self.depth -= 1;
        r
    }

    fn match_inner(&mut self, mut s: usize, mut p: usize) -> Res<Option<usize>> {
        let pat = self.pat;
        loop {
            self.tick(1)?;
            if p == pat.len() {
                return Ok(Some(s));
            }
            match pat[p] {
                b'(' => {
                    return if pat.get(p + 1) == Some(&b')') {
                        self.start_capture(s, p + 2, CapLen::Position)
                    } else {
                        self.start_capture(s, p + 1, CapLen::Unfinished)
                    };
                }
                b')' => return self.end_capture(s, p + 1),
                b'$' if p + 1 == pat.len() => {
                    return Ok((s == self.src.len()).then_some(s));
                }
                b'%' if pat.get(p + 1) == Some(&b'b') => match self.match_balance(s, p + 2)? {
                    Some(e) => {
                        s = e;
                        p += 4;
                        continue;
                    }
                    None => return Ok(None),
                },
                b'%' if pat.get(p + 1) == Some(&b'f') => {
                    p += 2;
                    if pat.get(p) != Some(&b'[') {
                        return Err(PatError("missing '[' after '%f' in pattern"));
                    }
                    let ep = self.class_end(p)?;
                    let prev = if s == 0 { 0 } else { self.src[s - 1] };
                    let cur = self.src.get(s).copied().unwrap_or(0);
                    if !self.match_bracket(prev, p, ep - 1) && self.match_bracket(cur, p, ep - 1) {
                        p = ep;
                        continue;
                    }
                    return Ok(None);
                }
                b'%' if pat.get(p + 1).is_some_and(u8::is_ascii_digit) => {
                    match self.match_capture(s, pat[p + 1])? {
                        Some(e) => {
                            s = e;
                            p += 2;
                            continue;
                        }
                        None => return Ok(None),
                    }
                }
                _ => {}
            }
            // A single-character class, maybe quantified.
            let ep = self.class_end(p)?;
            let m = s < self.src.len() && self.single_match(self.src[s], p, ep);
            match pat.get(ep) {
                Some(b'?') => {
                    if m {
                        if let Some(e) = self.do_match(s + 1, ep + 1)? {
                            return Ok(Some(e));
                        }
                    }
                    p = ep + 1;
                }
                Some(b'*') => return self.max_expand(s, p, ep),
                Some(b'+') => {
                    return if m {
                        self.max_expand(s + 1, p, ep)
                    } else {
                        Ok(None)
                    };
                }
                Some(b'-') => return self.min_expand(s, p, ep),
                _ => {
                    if !m {
                        return Ok(None);
                    }
                    s += 1;
                    p = ep;
                }
            }
        }
    }

    /// The end of the single-character class starting at `p`.
    fn class_end(&self, p: usize) -> Res<usize> {
        let pat = self.pat;
        match pat[p] {
            b'%' => {
                if p + 1 >= pat.len() {
                    Err(PatError("malformed pattern (ends with '%')"))
                } else {
                    Ok(p + 2)
                }
            }
            b'[' => {
                let mut q = p + 1;
                if pat.get(q) == Some(&b'^') {
                    q += 1;
                }
                // The first character is part of the set even when it is `]`.
                loop {
                    if q >= pat.len() {
                        return Err(PatError("malformed pattern (missing ']')"));
                    }
                    let c = pat[q];
                    q += 1;
                    if c == b'%' && q < pat.len() {
                        q += 1;
                    }
                    if pat.get(q) == Some(&b']') {
                        return Ok(q + 1);
                    }
                }
            }
            _ => Ok(p + 1),
        }
    }

    fn single_match(&self, c: u8, p: usize, ep: usize) -> bool {
        match self.pat[p] {
            b'.' => true,
            b'%' => match_class(c, self.pat[p + 1]),
            b'[' => self.match_bracket(c, p, ep - 1),
            x => x == c,
        }
    }

    /// Whether `c` is in the set `[...]` spanning `p..=ec` (`ec` at its `]`).
    fn match_bracket(&self, c: u8, mut p: usize, ec: usize) -> bool {
        let pat = self.pat;
        let mut found = true;
        if pat[p + 1] == b'^' {
            found = false;
            p += 1;
        }
        p += 1;
        while p < ec {
            if pat[p] == b'%' {
                p += 1;
                if match_class(c, pat[p]) {
                    return found;
                }
            } else if pat[p + 1] == b'-' && p + 2 < ec {
                if pat[p] <= c && c <= pat[p + 2] {
                    return found;
                }
                p += 2;
            } else if pat[p] == c {
                return found;
            }
            p += 1;
        }
        !found
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> Res<Option<usize>> {
        let mut i = 0;
        while s + i < self.src.len() && self.single_match(self.src[s + i], p, ep) {
            i += 1;
        }
        self.tick(i as u64)?;
        loop {
            if let Some(e) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(e));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> Res<Option<usize>> {
        loop {
            if let Some(e) = self.do_match(s, ep + 1)? {
                return Ok(Some(e));
            }
            if s < self.src.len() && self.single_match(self.src[s], p, ep) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: CapLen) -> Res<Option<usize>> {
        if self.level >= MAX_CAPTURES {
            return Err(PatError("too many captures"));
        }
        self.caps[self.level] = (s, what);
        self.level += 1;
        let r = self.do_match(s, p)?;
        if r.is_none() {
            self.level -= 1;
        }
        Ok(r)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> Res<Option<usize>> {
        let l = (0..self.level)
            .rev()
            .find(|&i| self.caps[i].1 == CapLen::Unfinished)
            .ok_or(PatError("invalid pattern capture"))?;
        self.caps[l].1 = CapLen::Len(s - self.caps[l].0);
        let r = self.do_match(s, p)?;
        if r.is_none() {
            self.caps[l].1 = CapLen::Unfinished;
        }
        Ok(r)
    }

    fn match_balance(&mut self, s: usize, p: usize) -> Res<Option<usize>> {
        if p + 1 >= self.pat.len() {
            return Err(PatError("unbalanced pattern"));
        }
        let (open, close) = (self.pat[p], self.pat[p + 1]);
        if self.src.get(s) != Some(&open) {
            return Ok(None);
        }
        let mut depth = 1;
        for (i, &c) in self.src.iter().enumerate().skip(s + 1) {
            if c == close {
                depth -= 1;
                if depth == 0 {
                    self.tick((i - s) as u64)?;
                    return Ok(Some(i + 1));
                }
            } else if c == open {
                depth += 1;
            }
        }
        self.tick((self.src.len() - s) as u64)?;
        Ok(None)
    }

    /// A back-reference `%1`..`%9` at `s`.
    fn match_capture(&mut self, s: usize, digit: u8) -> Res<Option<usize>> {
        let l = (digit as usize).wrapping_sub(b'1' as usize);
        if l >= self.level || self.caps[l].1 == CapLen::Unfinished {
            return Err(PatError("invalid capture index"));
        }
        let (start, len) = self.caps[l];
        let CapLen::Len(len) = len else {
            // A position capture never matches as text.
            return Ok(None);
        };
        self.tick(len as u64)?;
        if self.src.len() - s >= len && self.src[start..start + len] == self.src[s..s + len] {
            Ok(Some(s + len))
        } else {
            Ok(None)
        }
    }
}

/// Lua 5.1's relative string position: negatives count from the end; below the start is 0.
pub fn posrelat(pos: i64, len: usize) -> i64 {
    let pos = if pos < 0 {
        pos.saturating_add(len as i64 + 1)
    } else {
        pos
    };
    pos.max(0)
}

/// What `string.find` (`find`) or `string.match` found: the match's offsets and captures.
#[derive(Debug, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub caps: Vec<Capture>,
}

/// `string.find(s, p, init, plain)` (`find`) and `string.match(s, p, init)`: the first match
/// from `init` (1-based, negative from the end). For `find`, captures are only the pattern's
/// own; for `match`, the whole match when it has none.
pub fn find(src: &[u8], pat: &[u8], init: i64, plain: bool, find: bool) -> Res<Option<Found>> {
    let init = (posrelat(init, src.len()) - 1).clamp(0, src.len() as i64) as usize;
    if find && (plain || !has_specials(pat)) {
        let start = if pat.is_empty() {
            Some(init)
        } else {
            src[init..]
                .windows(pat.len())
                .position(|w| w == pat)
                .map(|i| i + init)
        };
        return Ok(start.map(|start| Found {
            start,
            end: start + pat.len(),
            caps: Vec::new(),
        }));
    }
    let mut m = Matcher::new(src, pat);
    let anchor = m.anchored();
    let p = anchor as usize;
    let mut s = init;
    loop {
        if let Some(e) = m.match_at(s, p)? {
            let caps = m.captures(if find { None } else { Some((s, e)) })?;
            return Ok(Some(Found {
                start: s,
                end: e,
                caps,
            }));
        }
        s += 1;
        if anchor || s > src.len() {
            return Ok(None);
        }
    }
}

/// One step of `string.gmatch`: the captures of the next match at or after `*pos` (which is
/// moved past it), or None at the end. `^` is not an anchor here, as in Lua 5.1.
pub fn gmatch_next(src: &[u8], pat: &[u8], pos: &mut usize) -> Res<Option<Vec<Capture>>> {
    let mut m = Matcher::new(src, pat);
    let mut s = *pos;
    while s <= src.len() {
        if let Some(e) = m.match_at(s, 0)? {
            *pos = if e == s { e + 1 } else { e };
            return Ok(Some(m.captures(Some((s, e)))?));
        }
        s += 1;
    }
    *pos = src.len() + 1;
    Ok(None)
}

/// An error of [`gsub`]: the pattern's, or the replacement's.
#[derive(Debug)]
pub enum GsubError<E> {
    Pat(PatError),
    Repl(E),
}

impl<E> From<PatError> for GsubError<E> {
    fn from(e: PatError) -> Self {
        GsubError::Pat(e)
    }
}

/// `string.gsub`'s loop: `repl` is called for each match (`s..e`) and appends its
/// replacement to the output. At most `max_n` replacements. Returns the result and the
/// number of matches.
pub fn gsub<E>(
    src: &[u8],
    pat: &[u8],
    max_n: i64,
    mut repl: impl FnMut(&Matcher<'_>, usize, usize, &mut Vec<u8>) -> Result<(), E>,
) -> Result<(Vec<u8>, usize), GsubError<E>> {
    let mut m = Matcher::new(src, pat);
    let anchor = m.anchored();
    let p = anchor as usize;
    let mut out = Vec::with_capacity(src.len());
    let mut s = 0;
    let mut n: usize = 0;
    while (n as i64) < max_n {
        let e = m.match_at(s, p)?;
        if let Some(e) = e {
            n += 1;
            repl(&m, s, e, &mut out).map_err(GsubError::Repl)?;
        }
        match e {
            Some(e) if e > s => s = e,
            _ if s < src.len() => {
                out.push(src[s]);
                s += 1;
            }
            _ => break,
        }
        if anchor {
            break;
        }
    }
    out.extend_from_slice(&src[s..]);
    Ok((out, n))
}

/// Appends `gsub`'s string replacement for the match `s..e`: `%0`-`%9` are captures, `%`
/// and any other character is that character (a `%` at the very end stands for a NUL, as in
/// Lua 5.1 which reads the string's terminator).
pub fn expand_repl(m: &Matcher<'_>, s: usize, e: usize, repl: &[u8], out: &mut Vec<u8>) -> Res<()> {
    let mut i = 0;
    while i < repl.len() {
        let c = repl[i];
        i += 1;
        if c != b'%' {
            out.push(c);
            continue;
        }
        let d = repl.get(i).copied().unwrap_or(0);
        i += 1;
        if !d.is_ascii_digit() {
            out.push(d);
        } else if d == b'0' {
            out.extend_from_slice(&m.src[s..e]);
        } else {
            let cap = m.capture((d - b'1') as usize, s, e)?;
            out.extend_from_slice(&m.capture_bytes(cap));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap_str(src: &[u8], c: &Capture) -> String {
        match *c {
            Capture::Str(a, b) => String::from_utf8_lossy(&src[a..b]).into_owned(),
            Capture::Pos(p) => format!("#{p}"),
        }
    }

    /// `string.match(s, p)`: captures as text (positions as `#n`), or the error.
    fn mat(s: &str, p: &str) -> Result<Option<Vec<String>>, &'static str> {
        mat_init(s, p, 1)
    }

    fn mat_init(s: &str, p: &str, init: i64) -> Result<Option<Vec<String>>, &'static str> {
        find(s.as_bytes(), p.as_bytes(), init, false, false)
            .map(|f| f.map(|f| f.caps.iter().map(|c| cap_str(s.as_bytes(), c)).collect()))
            .map_err(|e| e.0)
    }

    fn one(s: &str, p: &str) -> Option<String> {
        mat(s, p).unwrap().map(|v| v.join(","))
    }

    /// `string.find`: 1-based start and end, and captures.
    fn fnd(s: &str, p: &str, init: i64, plain: bool) -> Option<(usize, usize, Vec<String>)> {
        find(s.as_bytes(), p.as_bytes(), init, plain, true)
            .unwrap()
            .map(|f| {
                let caps = f.caps.iter().map(|c| cap_str(s.as_bytes(), c)).collect();
                (f.start + 1, f.end, caps)
            })
    }

    fn gm(s: &str, p: &str) -> Vec<String> {
        let mut pos = 0;
        let mut out = Vec::new();
        while let Some(caps) = gmatch_next(s.as_bytes(), p.as_bytes(), &mut pos).unwrap() {
            out.push(
                caps.iter()
                    .map(|c| cap_str(s.as_bytes(), c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        out
    }

    fn gs(s: &str, p: &str, r: &str, max_n: i64) -> Result<(String, usize), &'static str> {
        gsub::<PatError>(s.as_bytes(), p.as_bytes(), max_n, |m, a, b, out| {
            expand_repl(m, a, b, r.as_bytes(), out)
        })
        .map(|(o, n)| (String::from_utf8_lossy(&o).into_owned(), n))
        .map_err(|e| match e {
            GsubError::Pat(e) | GsubError::Repl(e) => e.0,
        })
    }

    fn g(s: &str, p: &str, r: &str) -> (String, usize) {
        gs(s, p, r, i64::MAX).unwrap()
    }

    #[test]
    fn find_like_lua() {
        let v = Vec::<String>::new;
        assert_eq!(fnd("hello world", "o w", 1, false), Some((5, 7, v())));
        assert_eq!(fnd("hello", "l+", 1, false), Some((3, 4, v())));
        assert_eq!(fnd("hello", "xyz", 1, false), None);
        assert_eq!(fnd("hello", "", 1, false), Some((1, 0, v())));
        assert_eq!(fnd("hello", "", 10, false), Some((6, 5, v())));
        assert_eq!(fnd("hello", "", 6, false), Some((6, 5, v())));
        assert_eq!(fnd("hello", "", 5, false), Some((5, 4, v())));
        assert_eq!(fnd("hello", "l", -2, false), Some((4, 4, v())));
        assert_eq!(fnd("hello", "l", -100, false), Some((3, 3, v())));
        assert_eq!(fnd("hello", "h", 0, false), Some((1, 1, v())));
        assert_eq!(fnd("a.b", ".", 1, true), Some((2, 2, v())));
        assert_eq!(fnd("a+b", "+", 1, true), Some((2, 2, v())));
        assert_eq!(fnd("a+b", "a+", 1, true), Some((1, 2, v())));
        assert_eq!(
            fnd("hello", "(l)(l)", 1, false),
            Some((3, 4, vec!["l".into(), "l".into()]))
        );
        assert_eq!(
            fnd("hello", "()ll()", 1, false),
            Some((3, 4, vec!["#3".into(), "#5".into()]))
        );
        assert_eq!(fnd("", "", 1, false), Some((1, 0, v())));
        assert_eq!(fnd("", "", 2, false), Some((1, 0, v())));
        assert_eq!(fnd("abc", "", 4, false), Some((4, 3, v())));
        assert_eq!(fnd("abc", "", 5, false), Some((4, 3, v())));
        assert_eq!(fnd("abc", "c", 10, true), None);
        assert_eq!(fnd("abc", "", 10, true), Some((4, 3, v())));
        // Plain search because there are no specials; NUL bytes are fine there.
        assert_eq!(fnd("a\0b", "\0", 1, false), Some((2, 2, v())));
        assert_eq!(fnd("abcabc", "bc", 3, false), Some((5, 6, v())));
    }

    #[test]
    fn match_like_lua() {
        assert_eq!(
            mat("key:123", "(%a+):(%d+)").unwrap().unwrap(),
            ["key", "123"]
        );
        assert_eq!(one("hello", "^h").as_deref(), Some("h"));
        assert_eq!(one("hello", "^e"), None);
        assert_eq!(one("hello", "o$").as_deref(), Some("o"));
        assert_eq!(one("a$b", "$b").as_deref(), Some("$b"));
        assert_eq!(one("a^b", "a^b").as_deref(), Some("a^b"));
        assert_eq!(one("  trim  ", "^%s*(.-)%s*$").as_deref(), Some("trim"));
        assert_eq!(
            one("THE (quick) fox", "%((%a+)%)").as_deref(),
            Some("quick")
        );
        assert_eq!(one("f(a(b)c)d", "%b()").as_deref(), Some("(a(b)c)"));
        assert_eq!(one("say \"hi\" x", "%b\"\"").as_deref(), Some("\"hi\""));
        assert_eq!(one("THE (quick) fox", "%f[%a]%a+").as_deref(), Some("THE"));
        assert_eq!(one("hello world", "%f[%w]%w+$").as_deref(), Some("world"));
        assert_eq!(
            one("THE (quick) fox", "%f[%l]%a+").as_deref(),
            Some("quick")
        );
        assert_eq!(one("abc", "%f[%z]").as_deref(), Some(""));
        assert_eq!(one("abcabc", "(abc)%1").as_deref(), Some("abc"));
        assert_eq!(one("abab", "(a)(b)%2"), None);
        assert_eq!(one("xyyx", "(.)(.)%2%1").as_deref(), Some("x,y"));
        assert_eq!(one("x=1, y=2", "(%w+)=(%w+)").as_deref(), Some("x,1"));
        assert_eq!(one("[test]", "[[]").as_deref(), Some("["));
        assert_eq!(one("a]b", "[]]").as_deref(), Some("]"));
        assert_eq!(one("a]b", "[^]]+").as_deref(), Some("a"));
        assert_eq!(one("a-b", "[a-]+").as_deref(), Some("a-"));
        assert_eq!(one("a^b", "[%^b]+").as_deref(), Some("^b"));
        assert_eq!(one("abc", "[^a]+").as_deref(), Some("bc"));
        assert_eq!(mat_init("0x1F", "%x+", 3).unwrap().unwrap().join(","), "1F");
        assert_eq!(one("hello", ".-").as_deref(), Some(""));
        assert_eq!(one("hello", ".-$").as_deref(), Some("hello"));
        assert_eq!(one("hello", "l*").as_deref(), Some(""));
        assert_eq!(one("hello", "he?l").as_deref(), Some("hel"));
        assert_eq!(one("hello", "hx?e").as_deref(), Some("he"));
        assert_eq!(one("hello", "()").as_deref(), Some("#1"));
        assert_eq!(mat_init("hello", "()", 3).unwrap().unwrap().join(","), "#3");
        assert_eq!(one("\0a\0", "%z").as_deref(), Some("\0"));
        assert_eq!(one("a\0b", "[%z]b").as_deref(), Some("\0b"));
        assert_eq!(one("A1_", "%W").as_deref(), Some("_"));
        assert_eq!(one("AbC", "%u%l%u").as_deref(), Some("AbC"));
        assert_eq!(one("tab\there", "%c").as_deref(), Some("\t"));
        assert_eq!(one("x!y", "%p").as_deref(), Some("!"));
        assert_eq!(one("a b\tc", "%S+$").as_deref(), Some("c"));
        assert_eq!(one("hello", "%g"), None);
        assert_eq!(one("a.b", "%.").as_deref(), Some("."));
        assert_eq!(one("hello", "[%a-z]+").as_deref(), Some("hello"));
        assert_eq!(one("hello", "[z-a]"), None);
        assert_eq!(one("a-z", "[a%-z]+").as_deref(), Some("a-z"));
        assert_eq!(
            one("2024-01-05", "(%d+)-(%d+)-(%d+)").as_deref(),
            Some("2024,01,05")
        );
        assert_eq!(one("aaa", "a-b"), None);
        assert_eq!(one("aaab", "a-b").as_deref(), Some("aaab"));
        assert_eq!(one("  x", "^%s*$"), None);
        assert_eq!(one("", "^$").as_deref(), Some(""));
        // The pattern ends at a NUL, as in C.
        assert_eq!(one("xyz", "x\0q").as_deref(), Some("x"));
        // Unmatched patterns raise no error when the faulty part is never reached.
        assert_eq!(one("hello", "x("), None);
        assert_eq!(one("xyz", "a["), None);
        assert_eq!(one("xyz", "a)"), None);
        // Back-reference to a position capture never matches.
        assert_eq!(one("aa", "()a%1"), None);
    }

    #[test]
    fn pattern_errors() {
        let cases = [
            ("%", "malformed pattern (ends with '%')"),
            ("[a", "malformed pattern (missing ']')"),
            ("[a%", "malformed pattern (missing ']')"),
            ("[]", "malformed pattern (missing ']')"),
            ("[^]", "malformed pattern (missing ']')"),
            ("(()", "unfinished capture"),
            ("(h(e)", "unfinished capture"),
            ("%1", "invalid capture index"),
            ("%0", "invalid capture index"),
            ("(h)%2", "invalid capture index"),
            ("(h%1)", "invalid capture index"),
            ("h)", "invalid pattern capture"),
            ("%f", "missing '[' after '%f' in pattern"),
            ("%fa", "missing '[' after '%f' in pattern"),
            ("%b", "unbalanced pattern"),
            ("%bx", "unbalanced pattern"),
        ];
        for (p, msg) in cases {
            assert_eq!(mat("hello", p), Err(msg), "{p}");
        }
        let many = "(h)(e)(l)(l)(o)".to_string() + &"(x?)".repeat(28);
        assert_eq!(mat("hello", &many), Err("too many captures"));
        let ok = "(h)(e)(l)(l)(o)".to_string() + &"(x?)".repeat(27);
        assert_eq!(mat("hello", &ok).unwrap().unwrap().len(), 32);
    }

    #[test]
    fn gmatch_like_lua() {
        assert_eq!(gm("one two  three", "%a+"), ["one", "two", "three"]);
        assert_eq!(gm("abc", ""), ["", "", "", ""]);
        assert_eq!(gm("abc", ".-"), ["", "", "", ""]);
        assert_eq!(gm("k1=v1, k2=v2", "(%w+)=(%w+)"), ["k1,v1", "k2,v2"]);
        assert!(gm("hello", "^h").is_empty());
        assert_eq!(gm("a^b", "^b"), ["^b"]);
        assert_eq!(gm("aaa", "a*"), ["aaa", ""]);
        assert_eq!(gm("abc", "()"), ["#1", "#2", "#3", "#4"]);
        assert_eq!(gm("a,b,,c", "([^,]*)"), ["a", "", "b", "", "", "c", ""]);
        assert!(gm("", "x").is_empty());
        assert_eq!(gm("", ""), [""]);
    }

    #[test]
    fn gsub_like_lua() {
        assert_eq!(g("hello world", "o", "0"), ("hell0 w0rld".into(), 2));
        assert_eq!(
            gs("hello world", "o", "0", 1).unwrap(),
            ("hell0 world".into(), 1)
        );
        assert_eq!(g("hello", "", "-"), ("-h-e-l-l-o-".into(), 6));
        assert_eq!(g("hello", "l*", "X"), ("XhXeXXoX".into(), 5));
        assert_eq!(
            g("hello world", "(%w+)", "<%1>"),
            ("<hello> <world>".into(), 2)
        );
        assert_eq!(g("hello", "%w", "%0%0"), ("hheelllloo".into(), 5));
        assert_eq!(g("hello", "l", "%%"), ("he%%o".into(), 2));
        assert_eq!(gs("hello", "l", "%2", 99), Err("invalid capture index"));
        assert_eq!(gs("hello", "(l)", "%2", 99), Err("invalid capture index"));
        assert_eq!(g("hello", "l", "%x"), ("hexxo".into(), 2));
        assert_eq!(g("hello", "^h", "H"), ("Hello".into(), 1));
        assert_eq!(g("hhh", "^h", "H"), ("Hhh".into(), 1));
        assert_eq!(g("abc", "^", "!"), ("!abc".into(), 1));
        assert_eq!(g("abc", "$", "!"), ("abc!".into(), 1));
        assert_eq!(g("abc", "()", "%1"), ("1a2b3c4".into(), 4));
        assert_eq!(g("abc", "b", "%1"), ("abc".into(), 1));
        assert_eq!(gs("abc", "b", "x", 0).unwrap(), ("abc".into(), 0));
        assert_eq!(gs("abc", "b", "x", -1).unwrap(), ("abc".into(), 0));
        assert_eq!(gs("abc", "", "x", 2).unwrap(), ("xaxbc".into(), 2));
        assert_eq!(g("abc", "b", "%"), ("a\0c".into(), 1));
        assert_eq!(g("a b", "%s", "%%%"), ("a%\0b".into(), 1));
        assert_eq!(g("abc", "(a)(b)", "%2%1"), ("bac".into(), 1));
        assert_eq!(g("", "", "x"), ("x".into(), 1));
        assert_eq!(g("a.b.c", "%.", "/"), ("a/b/c".into(), 2));
        // An unfinished capture only matters once it is read.
        assert_eq!(gs("abc", "(", "x", 9).unwrap(), ("xaxbxcx".into(), 4));
        assert_eq!(gs("abc", "(", "%1", 9), Err("unfinished capture"));
    }

    proptest::proptest! {
        /// A pattern made of escaped literal bytes finds what a plain search finds.
        #[test]
        fn escaped_pattern_is_plain_search(
            s in proptest::collection::vec(proptest::sample::select(b"ab.%()[]^$*+-?x\0".to_vec()), 0..24),
            p in proptest::collection::vec(proptest::sample::select(b"ab.%()[]^$*+-?x".to_vec()), 1..4),
            init in -30i64..30,
        ) {
            let mut esc = Vec::new();
            for &c in &p {
                if !c.is_ascii_alphanumeric() {
                    esc.push(b'%');
                }
                esc.push(c);
            }
            let plain = find(&s, &p, init, true, true).unwrap();
            let pat = find(&s, &esc, init, false, true).unwrap();
            proptest::prop_assert_eq!(plain, pat);
        }

        /// Replacing every match by itself changes nothing, and counts the matches gmatch sees.
        #[test]
        fn gsub_identity(
            s in proptest::collection::vec(proptest::sample::select(b"ab ,1".to_vec()), 0..30),
            p in proptest::sample::select(vec!["a", "%a+", "[^,]*", "", "b-", "(a)(b?)", "%d?", ".-,", "()"]),
        ) {
            let (out, n) = gsub::<PatError>(&s, p.as_bytes(), i64::MAX, |m, a, b, out| {
                expand_repl(m, a, b, b"%0", out)
            }).unwrap();
            proptest::prop_assert_eq!(&out, &s);
            let mut pos = 0;
            let mut k = 0;
            while gmatch_next(&s, p.as_bytes(), &mut pos).unwrap().is_some() {
                k += 1;
            }
            proptest::prop_assert_eq!(k, n);
        }
    }

    #[test]
    fn hostile_patterns_are_bounded() {
        let s = "a".repeat(200) + "b";
        let p = "a?".repeat(200) + &"a".repeat(200) + "b";
        assert_eq!(mat(&s, &p), Err("pattern too complex"));
        // Exponential backtracking within the depth limit stops on the step budget.
        let s = "a".repeat(60);
        let p = "a?".repeat(60) + &"a".repeat(60) + "b";
        let t = std::time::Instant::now();
        assert_eq!(mat(&s, &p), Err("pattern too complex"));
        assert!(t.elapsed().as_secs() < 10);
        // Deep nesting of captures.
        let p = "(".repeat(250) + "x" + &")".repeat(250);
        assert_eq!(mat("x", &p), Err("too many captures"));
        // Quadratic scans stay fine on moderate subjects.
        let s = "a".repeat(2000);
        assert_eq!(mat(&s, ".-b"), Ok(None));
        assert_eq!(one(&s, "(.-)$").map(|x| x.len()), Some(2000));
        // Long subjects with simple patterns are not limited.
        let s = "ab ".repeat(1_000_000);
        assert_eq!(gs(&s, "%s", "", i64::MAX).unwrap().1, 1_000_000);
        // A long chain of quantifiers below the depth limit works.
        let p = "%s*".repeat(150) + "x";
        assert_eq!(one("   x", &p).as_deref(), Some("   x"));
    }
}
