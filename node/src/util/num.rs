//! Number parsing and formatting with Redis 7.0's exact rules.
//!
//! - [`parse_i64`]: Redis `string2ll` (every "value is not an integer or out of range" check).
//! - [`parse_f64`]: Redis `string2d`, used by `getDoubleFromObject` (ZADD/ZINCRBY scores,
//!   "value is not a valid float"): glibc `strtod` syntax, whole input, no NaN, no overflow to
//!   infinity and no underflow to zero (but `inf`, `-inf`, `infinity` are accepted).
//! - [`fmt_double_17g`]: C `printf("%.17g")`, the format of `addReplyDouble` in both RESP2
//!   (bulk string) and RESP3 (`,` double): 7.0 has no separate RESP3 formatting.
//! - [`LongDouble`] and [`incrbyfloat`]: INCRBYFLOAT / HINCRBYFLOAT, which Redis computes in x87
//!   80-bit `long double` (`strtold`, `+`, then `%.17Lf` with trailing zeros removed). The
//!   arithmetic is done in software with `rustc_apfloat`'s `X87DoubleExtended` (correctly
//!   rounded parsing and addition, as glibc and the x87 FPU do); the decimal output is exact.

use std::fmt::Write as _;

use rustc_apfloat::ieee::{Double, X87DoubleExtended};
use rustc_apfloat::{Float, Round};

/// Redis `LONG_STR_SIZE`: `string2ll` rejects inputs this long or longer.
const LONG_STR_SIZE: usize = 21;

/// Redis `MAX_LONG_DOUBLE_CHARS`: `string2ld` rejects inputs this long or longer.
pub const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Parses a decimal `i64` exactly as Redis `string2ll`: optional `-`, no `+`, no spaces, no
/// leading zeros (except `"0"` itself; `"-0"` is rejected), at most 20 bytes, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(v)
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses a double exactly as Redis 7.0 `string2d` (ZADD scores and the like): the whole input
/// must be a C `strtod` number (decimal, `0x` hexadecimal with optional `p` exponent, `inf` or
/// `infinity` in any case, optional sign), with no leading or trailing space or NUL, and it must
/// not be NaN, overflow to infinity or underflow to zero. Subnormal results are accepted.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    match scan_float(s)? {
        Scanned::Inf { negative } => Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        Scanned::Dec(num) => {
            // The grammar already matches what `str::parse::<f64>` accepts; it is ASCII.
            let v: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
            check_range(v.is_infinite(), v == 0.0, &num).then_some(v)
        }
        Scanned::Hex(num) => {
            let text = hex_canonical(&num)?;
            let v = Double::from_str_r(&text, Round::NearestTiesToEven)
                .ok()?
                .value;
            let bits = u64::try_from(v.to_bits()).ok()?;
            let v = f64::from_bits(bits);
            check_range(v.is_infinite(), v == 0.0, &num).then_some(v)
        }
    }
}

/// Parses a double as a bare C `strtod` call that must consume the rest of the C string (the
/// score ranges of ZRANGEBYSCORE, ZCOUNT...): the argument ends at its first NUL byte, leading
/// whitespace is skipped, an empty argument is 0 (nothing to convert, nothing left over), but
/// whitespace alone is not (strtod then converts nothing and leaves it all); overflow gives
/// +-inf and underflow 0; NaN fails.
pub fn parse_strtod(s: &[u8]) -> Option<f64> {
    let s = super::cstr(s);
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|&c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let s = &s[start..];
    match scan_float(s)? {
        Scanned::Inf { negative } => Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        Scanned::Dec(_) => std::str::from_utf8(s).ok()?.parse().ok(),
        Scanned::Hex(num) => {
            let text = hex_canonical(&num)?;
            let v = Double::from_str_r(&text, Round::NearestTiesToEven)
                .ok()?
                .value;
            Some(f64::from_bits(u64::try_from(v.to_bits()).ok()?))
        }
    }
}

/// Appends `v` formatted as C `printf("%.17g")` (glibc), which Redis 7.0 `addReplyDouble` uses
/// for RESP2 and RESP3 alike: `inf`, `-inf`, `nan`, `-nan`, `-0`, `1e+17`, `1.0000000000000001e-05`.
pub fn fmt_double_17g(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(if v.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if v.is_sign_negative() {
        out.push(b'-');
    }
    if v.is_infinite() {
        out.extend_from_slice(b"inf");
        return;
    }
    if v == 0.0 {
        out.push(b'0');
        return;
    }
    // 17 significant digits, correctly rounded (ties to even, like glibc), as d.ddd...e<exp>.
    let mut buf = StackBuf::default();
    if write!(buf, "{:.16e}", v.abs()).is_err() {
        return;
    }
    let text = buf.as_bytes();
    let Some(e_pos) = text.iter().position(|&c| c == b'e') else {
        return;
    };
    let exp: i32 = std::str::from_utf8(&text[e_pos + 1..])
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 17];
    let mut n = 0;
    for &c in &text[..e_pos] {
        if c.is_ascii_digit() && n < digits.len() {
            digits[n] = c;
            n += 1;
        }
    }
    // `%g` drops trailing zeros (no `#` flag).
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    let digits = &digits[..n];
    if !(-4..17).contains(&exp) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let abs = exp.unsigned_abs();
        if abs < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa_buf(u64::from(abs)).as_bytes());
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        for i in 0..int_len {
            out.push(digits.get(i).copied().unwrap_or(b'0'));
        }
        if digits.len() > int_len {
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..]);
        }
    } else {
        out.extend_from_slice(b"0.");
        for _ in 0..(-exp - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    }
}

/// Why [`incrbyfloat`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncrFloatError {
    /// The stored value is not a float: "value is not a valid float" for INCRBYFLOAT,
    /// "hash value is not a float" for HINCRBYFLOAT.
    InvalidCurrent,
    /// The increment is not a float: "value is not a valid float".
    InvalidIncrement,
    /// The sum is NaN or infinite: "increment would produce NaN or Infinity".
    NanOrInfinity,
}

/// Computes INCRBYFLOAT byte for byte as Redis 7.0: both operands parsed as x87 `long double`
/// (`string2ld`), added, the result formatted as `%.17Lf` without trailing zeros.
///
/// Pass `b"0"` as `current` for a missing key. The stored value is checked before the increment
/// (the order of INCRBYFLOAT; HINCRBYFLOAT checks the increment first, so it should use
/// [`LongDouble`] directly). The result is at most 4952 bytes long and always parses back.
pub fn incrbyfloat(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    let value = LongDouble::parse(current).ok_or(IncrFloatError::InvalidCurrent)?;
    let incr = LongDouble::parse(incr).ok_or(IncrFloatError::InvalidIncrement)?;
    let sum = value + incr;
    if !sum.is_finite() {
        return Err(IncrFloatError::NanOrInfinity);
    }
    let mut out = Vec::new();
    sum.fmt_human(&mut out);
    Ok(out)
}

/// An x87 80-bit extended precision value (C `long double` on x86-64 Linux).
#[derive(Debug, Clone, Copy)]
pub struct LongDouble(X87DoubleExtended);

impl LongDouble {
    /// Parses as Redis 7.0 `string2ld`: like [`parse_f64`] but into extended precision, and
    /// inputs of [`MAX_LONG_DOUBLE_CHARS`] bytes or more are rejected.
    pub fn parse(s: &[u8]) -> Option<Self> {
        if s.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        let (text, num) = match scan_float(s)? {
            Scanned::Inf { negative } => {
                let inf = X87DoubleExtended::INFINITY;
                return Some(LongDouble(if negative { -inf } else { inf }));
            }
            Scanned::Dec(num) => (dec_canonical(&num), num),
            Scanned::Hex(num) => (hex_canonical(&num)?, num),
        };
        let v = X87DoubleExtended::from_str_r(&text, Round::NearestTiesToEven)
            .ok()?
            .value;
        check_range(v.is_infinite(), v.is_zero(), &num).then_some(LongDouble(v))
    }

    /// Returns whether the value is neither infinite nor NaN.
    pub fn is_finite(self) -> bool {
        self.0.is_finite()
    }

    /// `(long long)(v * k)` as C computes it on x86-64 (Redis turns blocking timeouts in
    /// seconds into milliseconds this way): truncated toward zero; NaN and values out of the
    /// `i64` range give `i64::MIN`, the x87 "integer indefinite".
    pub fn mul_to_i64(self, k: i64) -> i64 {
        let prod = (self.0 * X87DoubleExtended::from_i128(i128::from(k)).value).value;
        let r = prod.to_i128(64);
        if r.status != rustc_apfloat::Status::OK && r.status != rustc_apfloat::Status::INEXACT {
            return i64::MIN;
        }
        i64::try_from(r.value).unwrap_or(i64::MIN)
    }

    /// Appends the value as Redis `ld2string(..., LD_STR_HUMAN)`: `%.17Lf` (exact, ties to even),
    /// then trailing zeros and a trailing dot removed, `-0` written `0`, infinities `inf`/`-inf`.
    pub fn fmt_human(self, out: &mut Vec<u8>) {
        let v = self.0;
        if v.is_nan() {
            out.extend_from_slice(if v.is_negative() { b"-nan" } else { b"nan" });
            return;
        }
        if v.is_infinite() {
            out.extend_from_slice(if v.is_negative() { b"-inf" } else { b"inf" });
            return;
        }
        let bits = v.to_bits();
        let mantissa = bits as u64;
        let biased = ((bits >> 64) & 0x7fff) as i32;
        // value = mantissa * 2^exp2 (the integer bit is explicit).
        let exp2 = if biased == 0 {
            -16445
        } else {
            biased - 16383 - 63
        };
        let start = out.len();
        if v.is_negative() {
            out.push(b'-');
        }
        const FRAC_DIGITS: usize = 17;
        const SCALE: u128 = 100_000_000_000_000_000; // 10^17
        if exp2 >= 0 {
            write_big_shifted(mantissa, exp2 as u32, out);
        } else {
            // mantissa * 10^17 < 2^121: round (mantissa * 10^17) / 2^-exp2 to an integer.
            let n = u128::from(mantissa) * SCALE;
            let shift = exp2.unsigned_abs();
            let q = if shift >= 128 {
                0
            } else {
                let q = n >> shift;
                let rem = n & ((1u128 << shift) - 1);
                let half = 1u128 << (shift - 1);
                if rem > half || (rem == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            };
            let int_part = (q / SCALE) as u64;
            let frac_part = q % SCALE;
            out.extend_from_slice(itoa_buf(int_part).as_bytes());
            let mut frac = [b'0'; FRAC_DIGITS];
            let mut f = frac_part;
            for slot in frac.iter_mut().rev() {
                *slot = b'0' + (f % 10) as u8;
                f /= 10;
            }
            let keep = frac.iter().rposition(|&c| c != b'0').map_or(0, |i| i + 1);
            if keep > 0 {
                out.push(b'.');
                out.extend_from_slice(&frac[..keep]);
            }
        }
        if &out[start..] == b"-0" {
            out.truncate(start);
            out.push(b'0');
        }
    }
}

impl std::ops::Add for LongDouble {
    type Output = LongDouble;

    /// Returns the sum rounded to nearest-even in extended precision (the x87 `fadd`).
    fn add(self, other: Self) -> Self {
        LongDouble(self.0.add_r(other.0, Round::NearestTiesToEven).value)
    }
}

/// Applies the ERANGE rules of `string2d`/`string2ld`: overflow to infinity and underflow to
/// zero of a non-zero input are errors; returns whether the value is acceptable.
fn check_range(is_inf: bool, is_zero: bool, num: &Number<'_>) -> bool {
    if is_inf {
        return false;
    }
    !(is_zero && num.has_nonzero_digit())
}

/// A number split by [`scan_float`]; digits are ASCII (hex digits for `Hex`).
struct Number<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
    /// The decimal (`e`) or binary (`p`) exponent, clamped to +-10^15.
    exp: i64,
}

impl Number<'_> {
    /// Returns whether any significand digit is non-zero.
    fn has_nonzero_digit(&self) -> bool {
        self.int.iter().chain(self.frac).any(|&c| c != b'0')
    }
}

/// The result of [`scan_float`].
enum Scanned<'a> {
    Inf { negative: bool },
    Dec(Number<'a>),
    Hex(Number<'a>),
}

/// Recognises a whole C `strtod` number (NaN excluded); `None` if any byte is left over.
fn scan_float(s: &[u8]) -> Option<Scanned<'_>> {
    let (negative, rest) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(Scanned::Inf { negative });
    }
    let hex = rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x';
    let body = if hex { &rest[2..] } else { rest };
    let is_digit = |c: &u8| {
        if hex {
            c.is_ascii_hexdigit()
        } else {
            c.is_ascii_digit()
        }
    };
    let int_len = body.iter().take_while(|c| is_digit(c)).count();
    let int = &body[..int_len];
    let mut i = int_len;
    let mut frac: &[u8] = &[];
    if body.get(i) == Some(&b'.') {
        let frac_len = body[i + 1..].iter().take_while(|c| is_digit(c)).count();
        frac = &body[i + 1..i + 1 + frac_len];
        i += 1 + frac_len;
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp = 0i64;
    if i < body.len() {
        let marker = if hex { b'p' } else { b'e' };
        if body[i] | 0x20 != marker {
            return None;
        }
        i += 1;
        let exp_negative = match body.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let digits = &body[i..];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        const EXP_CLAMP: i64 = 1_000_000_000_000_000;
        for &c in digits {
            exp = (exp * 10 + i64::from(c - b'0')).min(EXP_CLAMP);
        }
        if exp_negative {
            exp = -exp;
        }
    }
    let num = Number {
        negative,
        int,
        frac,
        exp,
    };
    Some(if hex {
        Scanned::Hex(num)
    } else {
        Scanned::Dec(num)
    })
}

/// Largest exponent magnitude passed on: far past overflow/underflow for any accepted input.
const CANONICAL_EXP_LIMIT: i64 = 200_000;

/// Writes a decimal number as `[-]DIGITSeEXP` (integer significand) for `from_str_r`.
fn dec_canonical(num: &Number<'_>) -> String {
    let mut digits: Vec<u8> = num.int.iter().chain(num.frac).copied().collect();
    let mut exp = num.exp - num.frac.len() as i64;
    let lead = digits.iter().take_while(|&&c| c == b'0').count();
    digits.drain(..lead);
    while digits.last() == Some(&b'0') {
        digits.pop();
        exp += 1;
    }
    let mut text = String::with_capacity(digits.len() + 16);
    if num.negative {
        text.push('-');
    }
    if digits.is_empty() {
        text.push('0');
        return text;
    }
    text.extend(digits.iter().map(|&c| char::from(c)));
    let exp = exp.clamp(-CANONICAL_EXP_LIMIT, CANONICAL_EXP_LIMIT);
    let _ = write!(text, "e{exp}");
    text
}

/// Writes a hex number as `[-]0xHEXpEXP` (integer significand, at most 41 digits with a sticky
/// last digit standing for any dropped non-zero digits) for `from_str_r`.
fn hex_canonical(num: &Number<'_>) -> Option<String> {
    const KEEP: usize = 40;
    let all = num.int.iter().chain(num.frac).copied();
    let mut digits: Vec<u8> = Vec::with_capacity(KEEP + 1);
    let mut exp = num
        .exp
        .checked_sub(4i64.checked_mul(num.frac.len() as i64)?)?;
    let mut sticky = false;
    for c in all {
        if digits.is_empty() && c == b'0' {
            continue;
        }
        if digits.len() < KEEP {
            digits.push(c);
        } else {
            exp += 4;
            sticky |= c != b'0';
        }
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
        exp += 4;
    }
    if sticky {
        digits.push(b'1');
        exp -= 4;
    }
    let mut text = String::with_capacity(digits.len() + 16);
    if num.negative {
        text.push('-');
    }
    if digits.is_empty() {
        text.push_str("0x0p0");
        return Some(text);
    }
    text.push_str("0x");
    text.extend(digits.iter().map(|&c| char::from(c)));
    let exp = exp.clamp(-CANONICAL_EXP_LIMIT, CANONICAL_EXP_LIMIT);
    let _ = write!(text, "p{exp}");
    Some(text)
}

/// Appends the decimal digits of `mantissa * 2^shift` (exact, any size).
fn write_big_shifted(mantissa: u64, shift: u32, out: &mut Vec<u8>) {
    // Little-endian base 2^32 limbs.
    let word = (shift / 32) as usize;
    let bit = shift % 32;
    let mut limbs = vec![0u32; word + 3];
    let wide = u128::from(mantissa) << bit;
    limbs[word] = wide as u32;
    limbs[word + 1] = (wide >> 32) as u32;
    limbs[word + 2] = (wide >> 64) as u32;
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    // Repeated division by 10^9 gives base 10^9 chunks, least significant first.
    const CHUNK: u64 = 1_000_000_000;
    let mut chunks: Vec<u32> = Vec::new();
    while !limbs.is_empty() {
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / CHUNK) as u32;
            rem = cur % CHUNK;
        }
        chunks.push(rem as u32);
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let Some((first, rest)) = chunks.split_last() else {
        out.push(b'0');
        return;
    };
    out.extend_from_slice(itoa_buf(u64::from(*first)).as_bytes());
    for &chunk in rest.iter().rev() {
        let mut d = [b'0'; 9];
        let mut c = chunk;
        for slot in d.iter_mut().rev() {
            *slot = b'0' + (c % 10) as u8;
            c /= 10;
        }
        out.extend_from_slice(&d);
    }
}

/// Formats an unsigned integer into a small stack buffer.
fn itoa_buf(v: u64) -> StackBuf {
    let mut buf = StackBuf::default();
    let _ = write!(buf, "{v}");
    buf
}

/// A fixed-size `fmt::Write` target, enough for any number printed here.
struct StackBuf {
    bytes: [u8; 40],
    len: usize,
}

impl Default for StackBuf {
    /// Returns an empty buffer.
    fn default() -> Self {
        StackBuf {
            bytes: [0; 40],
            len: 0,
        }
    }
}

impl StackBuf {
    /// Returns the written bytes.
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Write for StackBuf {
    /// Appends `s`, failing if the buffer is full.
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bounds_parse_as_strtod() {
        // Empty: 0 (nothing left over); whitespace alone: nothing converted, all left over.
        assert_eq!(parse_strtod(b""), Some(0.0));
        assert_eq!(parse_strtod(b"\0junk"), Some(0.0));
        assert_eq!(parse_strtod(b"\r\n"), None);
        assert_eq!(parse_strtod(b"\t"), None);
        assert_eq!(parse_strtod(b" 1.5"), Some(1.5));
        assert_eq!(parse_strtod(b"1.5 "), None);
        assert_eq!(parse_strtod(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_strtod(b"nan"), None);
    }

    /// Formats with `%.17g` into a String.
    fn g(v: f64) -> String {
        let mut out = Vec::new();
        fmt_double_17g(v, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Runs INCRBYFLOAT on text operands.
    fn incr(cur: &str, by: &str) -> Result<String, IncrFloatError> {
        incrbyfloat(cur.as_bytes(), by.as_bytes()).map(|v| String::from_utf8(v).unwrap_or_default())
    }

    #[test]
    fn i64_strictness() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"123"), Some(123));
        assert_eq!(parse_i64(b"-123"), Some(-123));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"1.0",
            b"--1",
            b"0x10",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn f64_accepts_like_redis() {
        // Expectations from ZADD/ZSCORE against redis-server 7.0.15.
        let ok: &[(&str, f64)] = &[
            ("1", 1.0),
            ("1.5", 1.5),
            ("+1", 1.0),
            ("-0", -0.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("1e5", 1e5),
            ("1e+5", 1e5),
            ("00012", 12.0),
            ("0x10", 16.0),
            ("0x1p3", 8.0),
            ("0x1.8", 1.5),
            ("0X.8p1", 1.0),
            ("4.9e-324", 4.9e-324),
            ("1e-320", 1e-320),
            ("0e-999999", 0.0),
            ("0e99999", 0.0),
            ("inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("Infinity", f64::INFINITY),
            ("INF", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
        ];
        for &(s, want) in ok {
            let got = parse_f64(s.as_bytes());
            assert_eq!(got.map(f64::to_bits), Some(want.to_bits()), "{s:?}");
        }
    }

    #[test]
    fn f64_rejects_like_redis() {
        for bad in [
            "",
            "nan",
            "NaN",
            "-nan",
            "nan(1)",
            "0x",
            "1e",
            "1e+",
            ".",
            " 1",
            "1 ",
            "-",
            "+",
            "1e400",
            "1e-400",
            "2e-324",
            "0x1p-1080",
            "0x1p1024",
            "1\0a",
            "1_0",
            "infin",
            "0x1p",
            "0xp3",
            "0x.p3",
            "++1",
            "1e5.0",
        ] {
            assert_eq!(parse_f64(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn f64_hex_rounding() {
        assert_eq!(parse_f64(b"0x1.00000000000008p0"), Some(1.0)); // tie to even
        assert_eq!(
            parse_f64(b"0x1.000000000000081p0"),
            Some(1.0 + f64::EPSILON)
        );
        assert_eq!(
            parse_f64(b"0x1.0000000000000800000000000000000000000000000001p0"),
            Some(1.0 + f64::EPSILON)
        );
        assert_eq!(
            parse_f64(b"0x0.0000000000000000000000000001p112"),
            Some(1.0)
        );
        assert_eq!(parse_f64(b"0x1p-1074"), Some(f64::from_bits(1)));
    }

    #[test]
    fn fmt_17g() {
        // Expectations from ZSCORE against redis-server 7.0.15 (and glibc printf).
        let cases: &[(f64, &str)] = &[
            (0.1, "0.10000000000000001"),
            (1e300, "1.0000000000000001e+300"),
            (-1e-300, "-1e-300"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (1e21, "1e+21"),
            (3.0000000000000004, "3.0000000000000004"),
            (2.5e-310, "2.5000000000000171e-310"),
            (1e-320, "9.9998886718268301e-321"),
            (f64::from_bits(1), "4.9406564584124654e-324"),
            (-0.0, "-0"),
            (0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (100000.0, "100000"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (f64::MAX, "1.7976931348623157e+308"),
            // 2^-25 = 2.98023223876953125e-08 is a tie at the 17th digit: to even.
            (2f64.powi(-25), "2.9802322387695312e-08"),
        ];
        for &(v, want) in cases {
            assert_eq!(g(v), want, "{v:e}");
        }
    }

    #[test]
    fn incrbyfloat_like_redis() {
        // Expectations from INCRBYFLOAT against redis-server 7.0.15.
        let cases: &[(&str, &str, &str)] = &[
            ("0.2", "0.1", "0.3"),
            ("10.5", "0.1", "10.6"),
            ("0", "-1e-20", "0"),
            ("0", "1e-4950", "0"),
            ("0", "0x1p-16445", "0"),
            ("0", "3.6e-4951", "0"),
            ("0", "0x10", "16"),
            ("0", "1.", "1"),
            ("0", "-0", "0"),
            ("0", "5e-18", "0"),
            ("0", "4e-18", "0"),
            ("0", "6e-18", "0.00000000000000001"),
            ("0", "0.000000000000000005", "0"),
            (
                "0",
                "1.23456789012345678901234567890",
                "1.23456789012345679",
            ),
            ("5.0e3", "2.0e2", "5200"),
            ("0", "1e20", "100000000000000000000"),
            (
                "0",
                "123456789012345678901234567890",
                "123456789012345678899921813504",
            ),
            ("1", "-1", "0"),
            ("0", "1e-17", "0.00000000000000001"),
            ("0", "1.5e-17", "0.00000000000000002"),
            ("0", "2.5e-17", "0.00000000000000002"),
            ("0", "0.1", "0.1"),
            ("0", "+1", "1"),
            ("0", "00.1", "0.1"),
            ("0", "1e+5", "100000"),
            ("0", "0x1P3", "8"),
        ];
        for &(cur, by, want) in cases {
            assert_eq!(incr(cur, by).as_deref(), Ok(want), "{cur} + {by}");
        }
    }

    #[test]
    fn incrbyfloat_huge() {
        let r = incr("0", "1e300").unwrap_or_default();
        assert_eq!(r.len(), 301);
        assert!(r.starts_with("1000000000000000000008997324079559193870"));
        assert!(r.ends_with("187386105690089424915104006144"));
        let r = incr("0", "0x1.fffffffffffffffep16383").unwrap_or_default();
        assert_eq!(r.len(), 4933);
        assert!(r.starts_with("1189731495357231765021263853030970205169"));
        assert!(r.ends_with("444156604419552086811989770240"));
        // The longest possible result parses back.
        assert!(incr(&r, "0").is_ok());
        assert!(incr("0", "1.1e4932").is_ok());
    }

    #[test]
    fn incrbyfloat_errors() {
        use IncrFloatError::*;
        assert_eq!(incr("abc", "1"), Err(InvalidCurrent));
        assert_eq!(incr("", "1"), Err(InvalidCurrent));
        assert_eq!(incr("1\0a", "1"), Err(InvalidCurrent));
        assert_eq!(incr("abc", "x"), Err(InvalidCurrent));
        for bad in [
            "1\0a",
            "1.2e4932",
            "nan",
            "1e-5000",
            "0x1p-16446",
            "1e-4951",
            " 1",
            "1 ",
            ".",
            "",
            "0xp3",
            "0x.p3",
            "0x1p",
            "0x1p+",
        ] {
            assert_eq!(incr("0", bad), Err(InvalidIncrement), "{bad:?}");
        }
        assert_eq!(incr("inf", "1"), Err(NanOrInfinity));
        assert_eq!(incr("0", "inf"), Err(NanOrInfinity));
        assert_eq!(incr("0", "INFINITY"), Err(NanOrInfinity));
        assert_eq!(incr("inf", "-inf"), Err(NanOrInfinity));
        let long = format!("{}1", "0".repeat(5118));
        assert_eq!(incr("0", &long).as_deref(), Ok("1"));
        let too_long = format!("{}1", "0".repeat(5119));
        assert_eq!(incr("0", &too_long), Err(InvalidIncrement));
    }
}
