//! Redis's text primitives, byte for byte: line splitting and quoting
//! (`sdssplitargs`, `sdscatrepr`), number parsing (`string2ll`, `memtoull`,
//! `strtoll`, `string2d`), glob matching (`stringmatchlen`) and the memory
//! notation of CONFIG REWRITE.

/// `sdstrim(line, " \t\r\n")`.
pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    const CUT: &[u8] = b" \t\r\n";
    while let [first, rest @ ..] = s {
        if !CUT.contains(first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !CUT.contains(last) {
            break;
        }
        s = rest;
    }
    s
}

/// C `isspace`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `sdssplitargs`: splits a line into arguments the way redis-cli and
/// redis.conf do. `"..."` supports `\n \r \t \b \a \xHH` and `\<any>`;
/// `'...'` supports `\'`. A closing quote must be followed by a space or the
/// end. `None` = unbalanced quotes. The line ends at a NUL byte, as in C.
pub(crate) fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = match line.iter().position(|&c| c == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let c = at(i);
            if in_double {
                if c == b'\\' && at(i + 1) == b'x' {
                    if let (Some(hi), Some(lo)) = (hex_value(at(i + 2)), hex_value(at(i + 3))) {
                        current.push(hi * 16 + lo);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(i + 1) != 0 {
                    i += 1;
                    current.push(match at(i) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(i + 1) != 0 && !is_space(at(i + 1)) {
                        return None;
                    }
                    i += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(i + 1) == b'\'' {
                    i += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(i + 1) != 0 && !is_space(at(i + 1)) {
                        return None;
                    }
                    i += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            i += 1;
                        }
                        break;
                    }
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => current.push(c),
                }
            }
            i += 1;
        }
        args.push(current);
    }
}

/// `sdssplitlen(value, " ")`: CONFIG SET's split of a multi-argument value.
/// Every single space separates (so "a  b" has an empty middle element); an
/// empty value gives no element at all.
pub(crate) fn split_spaces(value: &[u8]) -> Vec<&[u8]> {
    if value.is_empty() {
        return Vec::new();
    }
    value.split(|&c| c == b' ').collect()
}

/// `sdscatrepr`: a double-quoted, escaped representation that
/// [`split_args`] reads back as the same bytes.
pub(crate) fn repr(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'"');
    for &c in value {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// `string2ll`: a strict decimal `i64` (no `+`, no spaces, no leading zeros,
/// no `-0`, no overflow).
pub(crate) fn string2ll(s: &[u8]) -> Option<i64> {
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// `memtoull` of Redis 7.0: digits then an optional unit (`b`, `k`, `kb`,
/// `m`, `mb`, `g`, `gb`, any case). Like 7.0, the digits saturate at
/// `u64::MAX` and the unit multiplication wraps; an empty digit string is 0.
pub(crate) fn memtoull(s: &[u8]) -> Option<u64> {
    if s.first() == Some(&b'-') {
        return None;
    }
    let split = s
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let lower = unit.to_ascii_lowercase();
    let mul: u64 = match lower.as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.len() >= 128 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    Some(v.wrapping_mul(mul))
}

/// C `strtoll(s, &end, base)` that must consume the whole string: leading
/// spaces and a sign are allowed; an empty string is 0 (as in C, where `end`
/// then points at the terminating NUL). With `saturate`, overflow clamps like
/// C; without, overflow is an error (callers that check `errno`).
fn strtoll_full(s: &[u8], base: u32, saturate: bool) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let mut negative = false;
    if let Some(&sign @ (b'+' | b'-')) = s.get(i) {
        negative = sign == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() {
        return None;
    }
    let mut v: i128 = 0;
    for &c in digits {
        let d = (c as char).to_digit(base)?;
        v = (v * i128::from(base) + i128::from(d)).min(i128::from(u64::MAX) + 1);
    }
    if negative {
        v = -v;
    }
    match i64::try_from(v) {
        Ok(v) => Some(v),
        Err(_) if saturate => Some(if negative { i64::MIN } else { i64::MAX }),
        Err(_) => None,
    }
}

/// `strtoll(s, &end, 10)` with `*end == '\0'` (overflow saturates, as the
/// callers in Redis do not look at `errno`).
pub(crate) fn strtoll(s: &[u8]) -> Option<i64> {
    strtoll_full(s, 10, true)
}

/// `strtoll(s, &end, 8)` with `errno == 0 && *end == '\0'`.
pub(crate) fn strtoll_octal(s: &[u8]) -> Option<i64> {
    strtoll_full(s, 8, false)
}

/// `string2d`: a finite or infinite double, no leading space, no NaN.
pub(crate) fn string2d(s: &[u8]) -> Option<f64> {
    match s.first() {
        Some(&c) if !is_space(c) => {}
        _ => return None,
    }
    let text = std::str::from_utf8(s).ok()?;
    let v: f64 = match text.parse() {
        Ok(v) => v,
        Err(_) => hex_float(text)?,
    };
    (!v.is_nan()).then_some(v)
}

/// The hexadecimal floats `strtod` also reads: `[+-]0x<hex>[.<hex>][p[+-]<dec>]`.
fn hex_float(text: &str) -> Option<f64> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let rest = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0X"))?;
    let (mantissa, exponent) = match rest.find(['p', 'P']) {
        Some(at) => (&rest[..at], rest[at + 1..].parse::<i32>().ok()?),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut v = 0.0f64;
    for c in int_part.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exponent);
    Some(if negative { -v } else { v })
}

/// `%f` then Redis's `trimDoubleString` (drop trailing zeros and a trailing dot).
pub(crate) fn format_f64(v: f64) -> String {
    let mut s = format!("{v:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// CONFIG REWRITE's memory notation (`rewriteConfigFormatMemory`).
pub(crate) fn format_memory(bytes: i128) -> String {
    const KB: i128 = 1024;
    const MB: i128 = 1024 * 1024;
    const GB: i128 = 1024 * 1024 * 1024;
    if bytes != 0 && bytes % GB == 0 {
        format!("{}gb", bytes / GB)
    } else if bytes != 0 && bytes % MB == 0 {
        format!("{}mb", bytes / MB)
    } else if bytes != 0 && bytes % KB == 0 {
        format!("{}kb", bytes / KB)
    } else {
        bytes.to_string()
    }
}

/// `stringmatchlen`: glob-style matching with `*`, `?`, `[...]` (ranges,
/// `^` negation, `\` escapes) and `\x`.
pub(crate) fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    glob(pattern, string, nocase, &mut skip_longer)
}

fn glob(mut p: &[u8], mut s: &[u8], nocase: bool, skip_longer: &mut bool) -> bool {
    let fold = |c: u8| if nocase { c.to_ascii_lowercase() } else { c };
    while let (Some(&pc), Some(&sc)) = (p.first(), s.first()) {
        match pc {
            b'*' => {
                while p.get(1) == Some(&b'*') {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if glob(&p[1..], s, nocase, skip_longer) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                p = &p[1..];
                let negate = p.first() == Some(&b'^');
                if negate {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    match p {
                        [b'\\', escaped, ..] => {
                            p = &p[1..];
                            if *escaped == sc {
                                matched = true;
                            }
                        }
                        [b']', ..] | [] => break,
                        [start, b'-', end, ..] => {
                            let (mut lo, mut hi) = (*start, *end);
                            if lo > hi {
                                std::mem::swap(&mut lo, &mut hi);
                            }
                            let (lo, hi, c) = (fold(lo), fold(hi), fold(sc));
                            p = &p[2..];
                            if c >= lo && c <= hi {
                                matched = true;
                            }
                        }
                        [c, ..] => {
                            if fold(*c) == fold(sc) {
                                matched = true;
                            }
                        }
                    }
                    p = &p[1..];
                }
                if negate {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
            }
            _ => {
                if pc == b'\\' && p.len() >= 2 {
                    p = &p[1..];
                }
                if fold(p[0]) != fold(sc) {
                    return false;
                }
                s = &s[1..];
            }
        }
        if !p.is_empty() {
            p = &p[1..];
        }
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Option<Vec<String>> {
        split_args(line.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn split_args_like_sdssplitargs() {
        assert_eq!(
            args("  a  b\tc "),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            args(r#"x "a b" 'c d'"#),
            Some(vec!["x".into(), "a b".into(), "c d".into()])
        );
        assert_eq!(args(r#""\x41\n\"q""#), Some(vec!["A\n\"q".into()]));
        assert_eq!(args(r#"'it\'s'"#), Some(vec!["it's".into()]));
        assert_eq!(args(r#"ab"cd""#), Some(vec!["abcd".into()]));
        assert_eq!(args(r#""""#), Some(vec!["".into()]));
        assert_eq!(args(r#""abc"#), None);
        assert_eq!(args(r#""abc"x"#), None);
        assert_eq!(args("'abc'x"), None);
        assert_eq!(args(""), Some(vec![]));
    }

    #[test]
    fn repr_round_trips() {
        let raw: Vec<u8> = (0u8..=255).collect();
        let mut out = Vec::new();
        repr(&mut out, &raw);
        assert_eq!(split_args(&out), Some(vec![raw]));
        let mut out = Vec::new();
        repr(&mut out, b"new \"pw\"\\");
        assert_eq!(out, br#""new \"pw\"\\""#.to_vec());
        assert_eq!(split_args(&out), Some(vec![b"new \"pw\"\\".to_vec()]));
    }

    #[test]
    fn numbers() {
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(string2ll(b"9223372036854775808"), None);
        for bad in [&b""[..], b"+5", b" 5", b"05", b"-0", b"5x", b"-"] {
            assert_eq!(string2ll(bad), None, "{bad:?}");
        }
        assert_eq!(memtoull(b""), Some(0));
        assert_eq!(memtoull(b"k"), Some(0));
        assert_eq!(memtoull(b"5B"), Some(5));
        assert_eq!(memtoull(b"5Kb"), Some(5120));
        assert_eq!(memtoull(b"1g"), Some(1_000_000_000));
        assert_eq!(memtoull(b"2GB"), Some(2 << 30));
        assert_eq!(memtoull(b"007"), Some(7));
        assert_eq!(memtoull(b"18446744073709551616"), Some(u64::MAX));
        assert_eq!(
            memtoull(b"18446744073709551615k"),
            Some(18446744073709550616)
        );
        for bad in [&b"-0"[..], b"+5", b" 5", b"5 ", b"1.5mb", b"0x10", b"5t"] {
            assert_eq!(memtoull(bad), None, "{bad:?}");
        }
        assert_eq!(strtoll(b""), Some(0));
        assert_eq!(strtoll(b" +3"), Some(3));
        assert_eq!(strtoll(b"99999999999999999999"), Some(i64::MAX));
        assert_eq!(strtoll(b" "), None);
        assert_eq!(strtoll(b"3 "), None);
        assert_eq!(strtoll_octal(b"777"), Some(511));
        assert_eq!(strtoll_octal(b"778"), None);
        assert_eq!(string2d(b"1e2"), Some(100.0));
        assert_eq!(string2d(b" 1"), None);
        assert_eq!(string2d(b"nan"), None);
        assert_eq!(string2d(b"0x10"), Some(16.0));
        assert_eq!(string2d(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(string2d(b"0x"), None);
        assert_eq!(format_f64(99.9), "99.9");
        assert_eq!(format_f64(50.0), "50");
        assert_eq!(format_f64(99.123456789), "99.123457");
        assert_eq!(format_memory(2 << 30), "2gb");
        assert_eq!(format_memory(3 << 20), "3mb");
        assert_eq!(format_memory(2048), "2kb");
        assert_eq!(format_memory(3000), "3000");
        assert_eq!(format_memory(0), "0");
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"maxmemory", true));
        assert!(glob_match(b"MAX*", b"maxmemory", true));
        assert!(!glob_match(b"MAX*", b"maxmemory", false));
        assert!(glob_match(b"*-policy", b"maxmemory-policy", true));
        assert!(glob_match(b"po?t", b"port", true));
        assert!(glob_match(b"[op]ort", b"port", true));
        assert!(glob_match(b"[^a]ort", b"port", true));
        assert!(glob_match(b"[a-z]ort", b"port", true));
        assert!(!glob_match(b"[a-c]ort", b"port", true));
        assert!(glob_match(b"p\\ort", b"port", true));
        assert!(!glob_match(b"[", b"port", true));
        assert!(!glob_match(b"[p", b"port", true));
        assert!(!glob_match(b"port*x", b"port", true));
        assert!(glob_match(b"port**", b"port", true));
        assert!(!glob_match(b"", b"port", true));
    }
}
