//! Numbers to text and back, as Lua 5.1 does on glibc: `tostring` is C's `%.14g`, `tonumber`
//! is `strtod` (decimal, hexadecimal with an optional binary exponent, `inf`, `nan`) with
//! surrounding whitespace allowed.
//!
//! The `printf`-style float conversions used by `string.format` (`%e`, `%f`, `%g`) live here
//! too: Rust's own formatting gives correctly rounded digits (ties to even on exact halves, as
//! glibc), which are reshaped into C's layouts.

/// `tostring(n)`: C's `%.14g`.
pub fn format(n: f64) -> Vec<u8> {
    // Integers of up to 14 digits print as themselves (the common case, done quickly).
    if n.fract() == 0.0 && n.abs() < 1e14 && n != 0.0 {
        return (n as i64).to_string().into_bytes();
    }
    let (neg, body) = format_float(n, b'g', 14, false);
    let mut out = Vec::with_capacity(body.len() + 1);
    if neg {
        out.push(b'-');
    }
    out.extend_from_slice(body.as_bytes());
    out
}

/// C's `%.<precision>g` (`alt`: the `#` flag), sign included.
pub fn format_g(x: f64, precision: usize, alt: bool) -> String {
    let (neg, body) = format_float(x, b'g', precision, alt);
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// A float conversion of `printf` without sign, width or padding: returns whether the value
/// is negative (a minus sign is due; -0.0 and NaNs with their sign bit set count) and the text
/// of its magnitude. `conv` is one of `e E f F g G`; `precision` is the one given (6 when the
/// format has none); `alt` is the `#` flag.
pub fn format_float(x: f64, conv: u8, precision: usize, alt: bool) -> (bool, String) {
    let neg = x.is_sign_negative();
    let upper = conv.is_ascii_uppercase();
    let a = x.abs();
    let body = if a.is_nan() {
        "nan".to_string()
    } else if a.is_infinite() {
        "inf".to_string()
    } else {
        match conv.to_ascii_lowercase() {
            b'e' => fmt_e(a, precision, alt),
            b'f' => fmt_f(a, precision, alt),
            _ => fmt_g(a, precision, alt),
        }
    };
    let body = if upper {
        body.to_ascii_uppercase()
    } else {
        body
    };
    (neg, body)
}

/// The significant digits of `a` (finite, >= 0) rounded to `prec + 1` of them, and the
/// decimal exponent of the first one (after rounding).
fn sci_digits(a: f64, prec: usize) -> (Vec<u8>, i32) {
    let s = format!("{:.*e}", prec, a);
    let (mant, exp) = s.split_once('e').expect("exponent in {:e} output");
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    (digits, exp.parse().expect("exponent is an integer"))
}

fn push_exponent(out: &mut String, exp: i32) {
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
}

fn fmt_e(a: f64, prec: usize, alt: bool) -> String {
    let (digits, exp) = sci_digits(a, prec);
    let mut out = String::with_capacity(prec + 8);
    out.push(digits[0] as char);
    if prec > 0 || alt {
        out.push('.');
    }
    out.extend(digits[1..].iter().map(|&d| d as char));
    push_exponent(&mut out, exp);
    out
}

fn fmt_f(a: f64, prec: usize, alt: bool) -> String {
    let mut s = format!("{:.*}", prec, a);
    if prec == 0 && alt {
        s.push('.');
    }
    s
}

fn fmt_g(a: f64, prec: usize, alt: bool) -> String {
    let p = prec.max(1);
    let (digits, x) = if a == 0.0 {
        (vec![b'0'; p], 0)
    } else {
        sci_digits(a, p - 1)
    };
    let mut out = String::with_capacity(p + 8);
    if x < -4 || x >= p as i32 {
        // Scientific style, precision p - 1.
        out.push(digits[0] as char);
        let mut frac: &[u8] = &digits[1..];
        if !alt {
            while let [rest @ .., b'0'] = frac {
                frac = rest;
            }
        }
        if !frac.is_empty() || alt {
            out.push('.');
        }
        out.extend(frac.iter().map(|&d| d as char));
        push_exponent(&mut out, x);
    } else {
        // Fixed style, precision p - 1 - x: the same significant digits, placed.
        let (int_part, mut frac): (String, Vec<u8>) = if x >= 0 {
            let k = x as usize + 1;
            (
                digits[..k].iter().map(|&d| d as char).collect(),
                digits[k..].to_vec(),
            )
        } else {
            let mut f = vec![b'0'; (-x - 1) as usize];
            f.extend_from_slice(&digits);
            ("0".to_string(), f)
        };
        if !alt {
            while frac.last() == Some(&b'0') {
                frac.pop();
            }
        }
        out.push_str(&int_part);
        if !frac.is_empty() || alt {
            out.push('.');
        }
        out.extend(frac.iter().map(|&d| d as char));
    }
    out
}

/// C's `isspace` in the C locale.
pub fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `tonumber(s)`: what glibc's `strtod` reads (decimal with exponent, `0x` hexadecimal with
/// optional fraction and `p` exponent, `inf`, `infinity`, `nan`, `nan(...)`, any case, with
/// a sign), surrounded by optional whitespace; None when anything else is left. As in Lua 5.1,
/// which hands the string to C, the text ends at the first NUL byte.
pub fn parse(s: &[u8]) -> Option<f64> {
    let s = match s.iter().position(|&c| c == 0) {
        Some(i) => &s[..i],
        None => s,
    };
    let (v, used) = strtod(s)?;
    if s[used..].iter().all(|&c| is_space(c)) {
        Some(v)
    } else {
        None
    }
}

/// glibc's `strtod`: the value read and how many bytes it took, None when no number starts
/// `s` (after whitespace).
pub fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let rest = &s[i..];
    let (v, n) = if starts_with_ci(rest, b"0x") && hex_has_digits(&rest[2..]) {
        parse_hex(&rest[2..]).map(|(v, n)| (v, n + 2))?
    } else if starts_with_ci(rest, b"inf") {
        let n = if starts_with_ci(rest, b"infinity") {
            8
        } else {
            3
        };
        (f64::INFINITY, n)
    } else if starts_with_ci(rest, b"nan") {
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            let close = rest[4..]
                .iter()
                .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'));
            if let Some(k) = close {
                if rest[4 + k] == b')' {
                    n = 4 + k + 1;
                }
            }
        }
        (f64::NAN, n)
    } else {
        parse_dec(rest)?
    };
    Some((if neg { -v } else { v }, i + n))
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Whether hex digits follow `0x` (else strtod reads just the `0`).
fn hex_has_digits(s: &[u8]) -> bool {
    match s.first() {
        Some(c) if c.is_ascii_hexdigit() => true,
        Some(b'.') => s.get(1).is_some_and(u8::is_ascii_hexdigit),
        _ => false,
    }
}

/// Decimal digits with an optional fraction and exponent; at least one digit.
fn parse_dec(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let mut nd = digits(&mut i);
    if i < s.len() && s[i] == b'.' {
        i += 1;
        nd += digits(&mut i);
    }
    if nd == 0 {
        return None;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        if digits(&mut j) > 0 {
            i = j;
        }
    }
    let text = std::str::from_utf8(&s[..i]).ok()?;
    // Rust's parser wants something before or after the point: "5." and ".5" are fine.
    let v: f64 = text.parse().ok()?;
    Some((v, i))
}

/// Hexadecimal digits (after `0x`) with an optional fraction and `p` exponent, correctly
/// rounded.
fn parse_hex(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let mut m: u64 = 0;
    let mut exp2: i64 = 0;
    let mut sticky = false;
    let mut any = false;
    let mut seen_point = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_point {
            seen_point = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        any = true;
        if m >> 56 == 0 {
            m = (m << 4) | d as u64;
            if seen_point {
                exp2 -= 4;
            }
        } else {
            // Beyond 60 significant bits: only whether anything is nonzero matters.
            sticky |= d != 0;
            if !seen_point {
                exp2 += 4;
            }
        }
        i += 1;
    }
    if !any {
        return None;
    }
    if i < s.len() && (s[i] == b'p' || s[i] == b'P') {
        let mut j = i + 1;
        let mut eneg = false;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            eneg = s[j] == b'-';
            j += 1;
        }
        let start = j;
        let mut e: i64 = 0;
        while j < s.len() && s[j].is_ascii_digit() {
            e = (e * 10 + (s[j] - b'0') as i64).min(1 << 40);
            j += 1;
        }
        if j > start {
            exp2 += if eneg { -e } else { e };
            i = j;
        }
    }
    Some((make_float(m, exp2, sticky), i))
}

/// `m * 2^exp2` (plus a nonzero fraction below `m`'s last bit when `sticky`), rounded to the
/// nearest double, ties to even.
fn make_float(m: u64, exp2: i64, sticky: bool) -> f64 {
    if m == 0 {
        return 0.0;
    }
    let bl = 64 - m.leading_zeros() as i64;
    let e = bl - 1 + exp2; // the value is in [2^e, 2^(e+1))
    if e > 1023 {
        return f64::INFINITY;
    }
    let bits = if e >= -1022 { 53 } else { 53 - (-1022 - e) };
    if bits < 0 {
        return 0.0;
    }
    let drop = (bl - bits).max(0);
    let mut q = (m as u128 >> drop) as u64;
    if drop > 0 {
        let rem = m as u128 & ((1u128 << drop) - 1);
        let half = 1u128 << (drop - 1);
        if rem > half || (rem == half && (sticky || q & 1 == 1)) {
            q += 1;
        }
    }
    scale2(q as f64, exp2 + drop)
}

/// `x * 2^k` for an exactly representable result (or an overflow to inf).
fn scale2(mut x: f64, mut k: i64) -> f64 {
    while k > 1000 {
        x *= 2f64.powi(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= 2f64.powi(-1000);
        k += 1000;
    }
    x * 2f64.powi(k as i32)
}

#[cfg(test)]
#[allow(clippy::approx_constant)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(x: f64) -> String {
        String::from_utf8(format(x)).unwrap()
    }

    #[test]
    fn tostring_matches_lua() {
        let cases: &[(f64, &str)] = &[
            (1e15, "1e+15"),
            (1e14, "1e+14"),
            (100000000000000.0, "1e+14"),
            (123456789012345.0, "1.2345678901234e+14"),
            (12345678901234.0, "12345678901234"),
            (0.1, "0.1"),
            (2f64.powi(63), "9.2233720368548e+18"),
            (2f64.powi(53), "9.007199254741e+15"),
            (10.0 / 3.0, "3.3333333333333"),
            (1.0 / 3.0, "0.33333333333333"),
            (100.0, "100"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (-f64::NAN, "-nan"),
            (1e100, "1e+100"),
            (123456789012345678.0, "1.2345678901235e+17"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (0.00012345, "0.00012345"),
            (-1.5, "-1.5"),
            (3.14159, "3.14159"),
            (1e308, "1e+308"),
            (5e-324, "4.9406564584125e-324"),
            (f64::MAX, "1.7976931348623e+308"),
            (99999999999999.99, "1e+14"),
            (0.1 + 0.2, "0.3"),
            (42.0, "42"),
            (-7.0, "-7"),
            (2.5, "2.5"),
        ];
        for &(x, want) in cases {
            assert_eq!(f(x), want, "{x:e}");
        }
    }

    #[test]
    fn printf_float_conversions() {
        let c = |x: f64, conv: u8, p: usize, alt: bool| {
            let (neg, b) = format_float(x, conv, p, alt);
            format!("{}{}", if neg { "-" } else { "" }, b)
        };
        assert_eq!(c(12345.6789, b'e', 6, false), "1.234568e+04");
        assert_eq!(c(0.00012, b'E', 6, false), "1.200000E-04");
        assert_eq!(c(15.0, b'e', 0, false), "2e+01");
        assert_eq!(c(15.0, b'e', 0, true), "2.e+01");
        assert_eq!(c(0.0, b'e', 6, false), "0.000000e+00");
        assert_eq!(c(1e-300, b'e', 2, false), "1.00e-300");
        assert_eq!(c(3.14159, b'f', 6, false), "3.141590");
        assert_eq!(c(2.675, b'f', 2, false), "2.67");
        assert_eq!(c(-3.14159, b'f', 3, false), "-3.142");
        assert_eq!(c(2.25, b'f', 1, false), "2.2");
        assert_eq!(c(3.0, b'f', 0, true), "3.");
        assert_eq!(c(0.5, b'f', 0, false), "0");
        assert_eq!(c(1e300, b'f', 6, false), "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160.000000");
        assert_eq!(c(100000.0, b'g', 6, false), "100000");
        assert_eq!(c(1000000.0, b'g', 6, false), "1e+06");
        assert_eq!(c(1e-4, b'g', 6, false), "0.0001");
        assert_eq!(c(1e-5, b'g', 6, false), "1e-05");
        assert_eq!(c(1e-10, b'G', 6, false), "1E-10");
        assert_eq!(c(1.0, b'g', 6, true), "1.00000");
        assert_eq!(c(0.0001, b'g', 6, true), "0.000100000");
        assert_eq!(c(1234.5, b'g', 3, false), "1.23e+03");
        assert_eq!(c(0.5, b'g', 0, false), "0.5");
        assert_eq!(c(0.1, b'g', 20, false), "0.10000000000000000555");
        assert_eq!(c(0.0, b'g', 6, false), "0");
        assert_eq!(c(-0.0, b'g', 6, false), "-0");
        assert_eq!(c(1.0, b'g', 3, true), "1.00");
        assert_eq!(c(1.0, b'g', 1, true), "1.");
        assert_eq!(c(0.0, b'g', 3, true), "0.00");
        assert_eq!(c(123456789.0, b'g', 6, false), "1.23457e+08");
        assert_eq!(c(999999.5, b'g', 6, false), "1e+06");
        assert_eq!(c(f64::INFINITY, b'G', 6, false), "INF");
        assert_eq!(c(-f64::NAN, b'G', 6, false), "-NAN");
        assert_eq!(c(f64::NEG_INFINITY, b'f', 1, false), "-inf");
        assert_eq!(format_g(0.5, 14, false), "0.5");
    }

    #[test]
    fn parse_matches_strtod() {
        let some: &[(&[u8], f64)] = &[
            (b"42", 42.0),
            (b" 0x10 ", 16.0),
            (b"0X1F", 31.0),
            (b"-0x10", -16.0),
            (b"0x1p4", 16.0),
            (b"0x1P-2", 0.25),
            (b"0x.8", 0.5),
            (b"0x1.8", 1.5),
            (b"0xffffffffffffffffff", 4722366482869645213696.0),
            (b"1.", 1.0),
            (b".5", 0.5),
            (b"1e5 ", 100000.0),
            (b"1E+5", 100000.0),
            (b"\t5\n", 5.0),
            (b"\x0b\x0c\r 7", 7.0),
            (b"5\0abc", 5.0),
            (b"+3", 3.0),
            (b"1e400", f64::INFINITY),
            (b"1e-400", 0.0),
            (b"inf", f64::INFINITY),
            (b"-Infinity", f64::NEG_INFINITY),
            (b"0.1", 0.1),
            (b"123456789012345678901234567890", 1.2345678901234568e29),
        ];
        for &(s, want) in some {
            assert_eq!(parse(s), Some(want), "{:?}", String::from_utf8_lossy(s));
        }
        for s in [&b"nan"[..], b"NaN(123abc_)", b" -nan "] {
            assert!(parse(s).unwrap().is_nan());
        }
        assert!(parse(b"-nan").unwrap().is_sign_negative());
        let none: &[&[u8]] = &[
            b"", b"  ", b"1e", b"1e+", b"0x", b"0x.", b".", b"infin", b"nan(", b"0x1p", b"1e5 x",
            b"1_000", b"- 5", b"0x-1", b"abc", b"1 2", b"\0", b"--1",
        ];
        for &s in none {
            assert_eq!(parse(s), None, "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn hex_rounding() {
        // 2^53 + 1 rounds to even (down), 2^53 + 3 rounds up.
        assert_eq!(parse(b"0x20000000000001"), Some(9007199254740992.0));
        assert_eq!(parse(b"0x20000000000003"), Some(9007199254740996.0));
        // 2^81 + 2^28 + 1: a tie at 2^28 broken upward by a later nonzero digit.
        assert_eq!(
            parse(b"0x200000000000010000001"),
            Some(2f64.powi(81) + 2f64.powi(29))
        );
        assert_eq!(parse(b"0x1p-1074"), Some(5e-324));
        assert_eq!(parse(b"0x1p-1075"), Some(0.0));
        assert_eq!(parse(b"0x1.8p-1074"), Some(1e-323));
        assert_eq!(parse(b"0x1p1024"), Some(f64::INFINITY));
        assert_eq!(parse(b"0x1.fffffffffffff8p1023"), Some(f64::INFINITY));
        assert_eq!(parse(b"0x1.fffffffffffffp1023"), Some(f64::MAX));
    }

    /// An independent `%.14g`: the shortest digits from Rust's `{:e}` don't serve (they are
    /// not 14 digits), so build from `{:.13e}` differently: through the value's integer and
    /// fractional decimal expansions.
    fn reference_g14(x: f64) -> String {
        if x.is_nan() {
            return if x.is_sign_negative() { "-nan" } else { "nan" }.into();
        }
        if x.is_infinite() {
            return if x < 0.0 { "-inf" } else { "inf" }.into();
        }
        let s = format!("{:.13e}", x);
        let (m, e) = s.split_once('e').unwrap();
        let e: i32 = e.parse().unwrap();
        let neg = m.starts_with('-');
        let m = m.trim_start_matches('-');
        let body = if (-4..14).contains(&e) {
            let prec = (13 - e) as usize;
            let t = format!("{:.*}", prec, x.abs());
            let t = if t.contains('.') {
                t.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                t
            };
            t
        } else {
            let m = if m.contains('.') {
                m.trim_end_matches('0').trim_end_matches('.')
            } else {
                m
            };
            format!("{}e{}{:02}", m, if e < 0 { '-' } else { '+' }, e.abs())
        };
        format!("{}{}", if neg { "-" } else { "" }, body)
    }

    proptest! {
        #[test]
        fn format_roundtrips_and_matches_reference(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            let s = format(x);
            prop_assert_eq!(String::from_utf8(s.clone()).unwrap(), reference_g14(x));
            let back = parse(&s).unwrap();
            prop_assert_eq!(format(back), s);
        }

        #[test]
        fn format_of_ordinary_numbers(x in -1e20f64..1e20) {
            let s = format(x);
            prop_assert_eq!(String::from_utf8(s.clone()).unwrap(), reference_g14(x));
            prop_assert_eq!(format(parse(&s).unwrap()), s);
        }

        #[test]
        fn integers_print_plainly(n in -99999999999999i64..99999999999999) {
            prop_assert_eq!(format(n as f64), n.to_string().into_bytes());
            prop_assert_eq!(parse(n.to_string().as_bytes()), Some(n as f64));
        }

        #[test]
        fn parse_agrees_with_rust_on_decimals(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            let text = format!("{x:e}");
            prop_assert_eq!(parse(text.as_bytes()), Some(x));
            let hex = hex_of(x);
            prop_assert_eq!(parse(hex.as_bytes()), Some(x), "{}", hex);
        }
    }

    /// `%a`-like text of a finite double.
    fn hex_of(x: f64) -> String {
        let bits = x.to_bits();
        let sign = if bits >> 63 == 1 { "-" } else { "" };
        let exp = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        if exp == 0 {
            format!("{sign}0x0.{frac:013x}p-1022")
        } else {
            format!("{sign}0x1.{frac:013x}p{}", exp - 1023)
        }
    }
}
