//! The `string` library of Lua 5.1 as Redis 7.0 scripts see it: `byte char dump find format
//! gfind gmatch gsub len lower match rep reverse sub upper`, and the string metatable
//! (`("x"):rep(3)`).
//!
//! Conversions that Lua 5.1 does with C casts (`%d` of a fractional or huge number,
//! `string.char`, `string.rep`'s count) reproduce what those casts give on x86-64, and
//! `string.format` pieces made by C's `sprintf` end at a NUL byte as they do there.

use std::rc::Rc;

use crate::error::{arg, arg_error, check_num, check_str, opt_int, type_error};
use crate::interp::State;
use crate::number;
use crate::pattern::{self, Capture, GsubError, Matcher};
use crate::value::{FuncRef, NativeFn, Ret, Table, TableRef, Value};
use crate::{Lua, LuaError};

/// The longest string the library builds (Redis's `proto-max-bulk-len`); beyond it, the
/// allocation failure Lua would report.
pub const MAX_STRING: usize = 512 * 1024 * 1024;

pub fn open(lua: &mut Lua) {
    let fns: &[(&'static str, NativeFn)] = &[
        ("byte", byte),
        ("char", char),
        ("dump", dump),
        ("find", find),
        ("format", format),
        ("gfind", gfind),
        ("gmatch", gmatch),
        ("gsub", gsub),
        ("len", len),
        ("lower", lower),
        ("match", match_),
        ("rep", rep),
        ("reverse", reverse),
        ("sub", sub),
        ("upper", upper),
    ];
    let mut t = Table::new();
    for (name, f) in fns {
        t.set_str(name, Value::Func(FuncRef::native(name, *f)));
    }
    let t = TableRef::new(t);
    lua.globals
        .0
        .borrow_mut()
        .set_str("string", Value::Table(t.clone()));
    let mut meta = Table::new();
    meta.set_str("__index", Value::Table(t));
    lua.string_meta = Some(TableRef::new(meta));
}

pub(crate) fn no_memory() -> LuaError {
    LuaError::msg("not enough memory")
}

/// C's `(long)x` on x86-64 (`cvttsd2si`): out of range and NaN give `LONG_MIN`.
pub fn c_long(x: f64) -> i64 {
    if x.is_nan() || !(-9223372036854775808.0..9223372036854775808.0).contains(&x) {
        i64::MIN
    } else {
        x as i64
    }
}

/// C's `(unsigned long)x` as gcc compiles it on x86-64.
pub fn c_ulong(x: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    if x.is_nan() || x < TWO63 {
        c_long(x) as u64
    } else {
        (c_long(x - TWO63) as u64) ^ (1 << 63)
    }
}

/// C's `(int)x` on x86-64: out of range and NaN give `INT_MIN`.
pub fn c_int(x: f64) -> i32 {
    if x.is_nan() || !(-2147483648.0..2147483648.0).contains(&x) {
        i32::MIN
    } else {
        x as i32
    }
}

/// `luaL_checkint`: a number through `(int)(long)`.
fn check_cint(st: &State<'_>, args: &[Value], i: usize, fname: &str) -> Result<i64, LuaError> {
    Ok(c_long(check_num(st, args, i, fname)?) as i32 as i64)
}

fn opt_cint(
    st: &State<'_>,
    args: &[Value],
    i: usize,
    fname: &str,
    default: i64,
) -> Result<i64, LuaError> {
    match arg(args, i) {
        Value::Nil => Ok(default),
        _ => check_cint(st, args, i, fname),
    }
}

fn str_value(bytes: Vec<u8>) -> Value {
    Value::Str(Rc::from(bytes))
}

fn len(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let s = check_str(st, &args, 0, "len")?;
    Ok(vec![Value::Num(s.len() as f64)])
}

fn sub(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let s = check_str(st, &args, 0, "sub")?;
    let l = s.len() as i64;
    let start = pattern::posrelat(check_num(st, &args, 1, "sub").map(c_long)?, s.len()).max(1);
    let end = pattern::posrelat(opt_int(st, &args, 2, "sub", -1)?, s.len()).min(l);
    Ok(vec![if start <= end {
        Value::str(&s[start as usize - 1..end as usize])
    } else {
        Value::str(b"")
    }])
}

fn upper(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let s = check_str(st, &args, 0, "upper")?;
    Ok(vec![str_value(s.to_ascii_uppercase())])
}

fn lower(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let s = check_str(st, &args, 0, "lower")?;
    Ok(vec![str_value(s.to_ascii_lowercase())])
}

fn reverse(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let s = check_str(st, &args, 0, "reverse")?;
    Ok(vec![str_value(s.iter().rev().copied().collect())])
}

fn rep(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let s = check_str(st, &args, 0, "rep")?;
    let n = check_cint(st, &args, 1, "rep")?;
    if n <= 0 || s.is_empty() {
        return Ok(vec![Value::str(b"")]);
    }
    let total = s.len().checked_mul(n as usize).ok_or_else(no_memory)?;
    if total > MAX_STRING {
        return Err(no_memory());
    }
    Ok(vec![str_value(s.repeat(n as usize))])
}

fn byte(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let s = check_str(st, &args, 0, "byte")?;
    let l = s.len();
    let posi = pattern::posrelat(opt_int(st, &args, 1, "byte", 1)?, l);
    let pose = pattern::posrelat(opt_int(st, &args, 2, "byte", posi)?, l).min(l as i64);
    let posi = posi.max(1);
    if posi > pose {
        return Ok(Vec::new());
    }
    Ok(s[posi as usize - 1..pose as usize]
        .iter()
        .map(|&b| Value::Num(b as f64))
        .collect())
}

fn char(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let mut out = Vec::with_capacity(args.len());
    for i in 0..args.len() {
        let c = check_cint(st, &args, i, "char")?;
        if !(0..=255).contains(&c) {
            return Err(arg_error(st, i, "char", "invalid value"));
        }
        out.push(c as u8);
    }
    Ok(vec![str_value(out)])
}

fn dump(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    match arg(&args, 0) {
        Value::Func(_) => Err(st.error("unable to dump given function")),
        _ => Err(type_error(st, &args, 0, "dump", "function")),
    }
}

fn capture_value(src: &[u8], c: Capture) -> Value {
    match c {
        Capture::Str(a, b) => Value::str(&src[a..b]),
        Capture::Pos(p) => Value::Num(p as f64),
    }
}

fn find_aux(st: &mut State<'_>, args: Vec<Value>, find: bool) -> Ret {
    let fname = if find { "find" } else { "match" };
    let s = check_str(st, &args, 0, fname)?;
    let p = check_str(st, &args, 1, fname)?;
    let init = opt_int(st, &args, 2, fname, 1)?;
    let plain = find && arg(&args, 3).truthy();
    let found = pattern::find(&s, &p, init, plain, find).map_err(|e| st.error(e.0))?;
    let Some(f) = found else {
        return Ok(vec![Value::Nil]);
    };
    let mut out = Vec::with_capacity(f.caps.len() + 2);
    if find {
        out.push(Value::Num((f.start + 1) as f64));
        out.push(Value::Num(f.end as f64));
    }
    out.extend(f.caps.into_iter().map(|c| capture_value(&s, c)));
    Ok(out)
}

fn find(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    find_aux(st, args, true)
}

fn match_(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    find_aux(st, args, false)
}

fn gmatch_with(st: &mut State<'_>, args: Vec<Value>, fname: &'static str) -> Ret {
    let s = check_str(st, &args, 0, fname)?;
    let p = check_str(st, &args, 1, fname)?;
    let state = Table::from_array(vec![Value::Str(s), Value::Str(p), Value::Num(0.0)]);
    let state = Value::Table(TableRef::new(state));
    Ok(vec![Value::Func(FuncRef::native_with(
        fname,
        gmatch_step,
        state,
    ))])
}

fn gmatch(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    gmatch_with(st, args, "gmatch")
}

fn gfind(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    gmatch_with(st, args, "gfind")
}

/// The iterator `gmatch` returns: its data is `{subject, pattern, position}`.
fn gmatch_step(st: &mut State<'_>, data: &Value, _args: Vec<Value>) -> Ret {
    let Value::Table(t) = data else {
        return Ok(Vec::new());
    };
    let (s, p, mut pos) = {
        let t = t.0.borrow();
        match (t.get_int(1), t.get_int(2), t.get_int(3)) {
            (Value::Str(s), Value::Str(p), Value::Num(pos)) => (s, p, pos as usize),
            _ => return Ok(Vec::new()),
        }
    };
    let caps = pattern::gmatch_next(&s, &p, &mut pos).map_err(|e| st.error(e.0))?;
    let _ =
        t.0.borrow_mut()
            .set(Value::Num(3.0), Value::Num(pos as f64));
    Ok(match caps {
        Some(caps) => caps.into_iter().map(|c| capture_value(&s, c)).collect(),
        None => Vec::new(),
    })
}

fn gsub(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let src = check_str(st, &args, 0, "gsub")?;
    let p = check_str(st, &args, 1, "gsub")?;
    let max_n = opt_cint(st, &args, 3, "gsub", src.len() as i64 + 1)?;
    let repl = arg(&args, 2).clone();
    let repl_str = match &repl {
        Value::Str(_) | Value::Num(_) => repl.to_lstr(),
        Value::Table(_) | Value::Func(_) => None,
        _ => return Err(arg_error(st, 2, "gsub", "string/function/table expected")),
    };
    let r = pattern::gsub(
        &src,
        &p,
        max_n,
        |m: &Matcher<'_>, s, e, out: &mut Vec<u8>| {
            match &repl_str {
                Some(r) => pattern::expand_repl(m, s, e, r, out).map_err(|e| st.error(e.0))?,
                None => {
                    let v = if let Value::Table(_) = &repl {
                        let key = m.capture(0, s, e).map_err(|e| st.error(e.0))?;
                        st.index(&repl, &capture_value(&src, key))?
                    } else {
                        let caps = m.captures(Some((s, e))).map_err(|e| st.error(e.0))?;
                        let caps = caps.into_iter().map(|c| capture_value(&src, c)).collect();
                        st.call(&repl, caps)?.into_iter().next().unwrap_or_default()
                    };
                    match &v {
                        Value::Nil | Value::Bool(false) => out.extend_from_slice(&src[s..e]),
                        Value::Str(_) | Value::Num(_) => {
                            out.extend_from_slice(&v.to_lstr().expect("string or number"))
                        }
                        _ => {
                            return Err(st
                                .error(format!("invalid replacement value (a {})", v.type_name())))
                        }
                    }
                }
            }
            if out.len() > MAX_STRING {
                return Err(no_memory());
            }
            Ok(())
        },
    );
    match r {
        Ok((out, n)) => {
            if out.len() > MAX_STRING {
                return Err(no_memory());
            }
            Ok(vec![str_value(out), Value::Num(n as f64)])
        }
        Err(GsubError::Pat(e)) => Err(st.error(e.0)),
        Err(GsubError::Repl(e)) => Err(e),
    }
}

// ---- string.format ----

/// A conversion's flags, width and precision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    pub minus: bool,
    pub plus: bool,
    pub space: bool,
    pub alt: bool,
    pub zero: bool,
    pub width: usize,
    pub precision: Option<usize>,
}

/// Reads a conversion spec after `%` at `fmt[*i..]` as Lua 5.1 allows it (at most 5 flag
/// characters, 2 width digits, 2 precision digits); leaves `*i` at the conversion letter.
pub fn scan_spec(fmt: &[u8], i: &mut usize) -> Result<Spec, &'static str> {
    let mut spec = Spec::default();
    let at = |i: usize| fmt.get(i).copied().unwrap_or(0);
    let start = *i;
    while let c @ (b'-' | b'+' | b' ' | b'#' | b'0') = at(*i) {
        match c {
            b'-' => spec.minus = true,
            b'+' => spec.plus = true,
            b' ' => spec.space = true,
            b'#' => spec.alt = true,
            _ => spec.zero = true,
        }
        *i += 1;
    }
    if *i - start >= 6 {
        return Err("invalid format (repeated flags)");
    }
    let digits = |i: &mut usize| {
        let mut n = 0;
        for _ in 0..2 {
            if at(*i).is_ascii_digit() {
                n = n * 10 + (at(*i) - b'0') as usize;
                *i += 1;
            }
        }
        n
    };
    spec.width = digits(i);
    if at(*i) == b'.' {
        *i += 1;
        spec.precision = Some(digits(i));
    }
    if at(*i).is_ascii_digit() {
        return Err("invalid format (width or precision too long)");
    }
    Ok(spec)
}

/// Appends `prefix` (sign, `0x`) and `body` padded to the spec's width: spaces on the left
/// (on the right with `-`), or zeros between prefix and body when `zeros`.
fn pad(out: &mut Vec<u8>, spec: &Spec, prefix: &[u8], body: &[u8], zeros: bool) {
    let n = prefix.len() + body.len();
    let fill = spec.width.saturating_sub(n);
    if spec.minus {
        out.extend_from_slice(prefix);
        out.extend_from_slice(body);
        out.extend(std::iter::repeat_n(b' ', fill));
    } else if zeros {
        out.extend_from_slice(prefix);
        out.extend(std::iter::repeat_n(b'0', fill));
        out.extend_from_slice(body);
    } else {
        out.extend(std::iter::repeat_n(b' ', fill));
        out.extend_from_slice(prefix);
        out.extend_from_slice(body);
    }
}

fn sign_prefix(spec: &Spec, negative: bool) -> &'static [u8] {
    if negative {
        b"-"
    } else if spec.plus {
        b"+"
    } else if spec.space {
        b" "
    } else {
        b""
    }
}

/// Digits with C's integer precision: at least `precision` of them; none for a zero with
/// precision 0.
fn int_digits(digits: String, spec: &Spec) -> Vec<u8> {
    match spec.precision {
        Some(0) if digits == "0" => Vec::new(),
        Some(p) if p > digits.len() => {
            let mut v = vec![b'0'; p - digits.len()];
            v.extend_from_slice(digits.as_bytes());
            v
        }
        _ => digits.into_bytes(),
    }
}

/// `%d`/`%i` of a C long.
pub fn fmt_signed(out: &mut Vec<u8>, spec: &Spec, v: i64) {
    let digits = int_digits(v.unsigned_abs().to_string(), spec);
    let prefix = sign_prefix(spec, v < 0);
    pad(
        out,
        spec,
        prefix,
        &digits,
        spec.zero && spec.precision.is_none(),
    );
}

/// `%u`, `%o`, `%x`, `%X` of a C unsigned long.
pub fn fmt_unsigned(out: &mut Vec<u8>, spec: &Spec, v: u64, conv: u8) {
    let text = match conv {
        b'o' => format!("{v:o}"),
        b'x' => format!("{v:x}"),
        b'X' => format!("{v:X}"),
        _ => v.to_string(),
    };
    let mut digits = int_digits(text, spec);
    let mut prefix: &[u8] = b"";
    if spec.alt {
        match conv {
            b'o' if digits.first() != Some(&b'0') => digits.insert(0, b'0'),
            b'x' if v != 0 => prefix = b"0x",
            b'X' if v != 0 => prefix = b"0X",
            _ => {}
        }
    }
    pad(
        out,
        spec,
        prefix,
        &digits,
        spec.zero && spec.precision.is_none(),
    );
}

/// `%e %E %f %g %G` of a double.
pub fn fmt_float(out: &mut Vec<u8>, spec: &Spec, v: f64, conv: u8) {
    let (neg, body) = number::format_float(v, conv, spec.precision.unwrap_or(6), spec.alt);
    let prefix = sign_prefix(spec, neg);
    pad(
        out,
        spec,
        prefix,
        body.as_bytes(),
        spec.zero && v.is_finite(),
    );
}

/// `%q`: a string as a Lua 5.1 literal.
pub fn fmt_quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' | b'\\' | b'\n' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\000"),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// The part of `piece` C's `strlen` sees.
fn until_nul(piece: &[u8]) -> &[u8] {
    match piece.iter().position(|&c| c == 0) {
        Some(i) => &piece[..i],
        None => piece,
    }
}

fn format(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let fmt = check_str(st, &args, 0, "format")?;
    let mut out = Vec::with_capacity(fmt.len() + 16);
    let mut argi = 0;
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'%' {
            out.push(c);
            continue;
        }
        if fmt.get(i) == Some(&b'%') {
            out.push(b'%');
            i += 1;
            continue;
        }
        argi += 1;
        if argi >= args.len() {
            return Err(arg_error(st, argi, "format", "no value"));
        }
        let spec = scan_spec(&fmt, &mut i).map_err(|e| st.error(e))?;
        let conv = fmt.get(i).copied().unwrap_or(0);
        i += 1;
        let mut piece = Vec::new();
        match conv {
            b'c' => {
                let n = check_num(st, &args, argi, "format")?;
                pad(&mut piece, &spec, b"", &[c_int(n) as u8], false);
            }
            b'd' | b'i' => {
                let n = check_num(st, &args, argi, "format")?;
                fmt_signed(&mut piece, &spec, c_long(n));
            }
            b'o' | b'u' | b'x' | b'X' => {
                let n = check_num(st, &args, argi, "format")?;
                fmt_unsigned(&mut piece, &spec, c_ulong(n), conv);
            }
            b'e' | b'E' | b'f' | b'g' | b'G' => {
                let n = check_num(st, &args, argi, "format")?;
                fmt_float(&mut piece, &spec, n, conv);
            }
            b'q' => {
                let s = check_str(st, &args, argi, "format")?;
                fmt_quoted(&mut out, &s);
                continue;
            }
            b's' => {
                let s = check_str(st, &args, argi, "format")?;
                if spec.precision.is_none() && s.len() >= 100 {
                    // Lua keeps a long string whole, width or not.
                    out.extend_from_slice(&s);
                    continue;
                }
                let mut s = until_nul(&s);
                if let Some(p) = spec.precision {
                    s = &s[..s.len().min(p)];
                }
                pad(&mut piece, &spec, b"", s, false);
            }
            _ => {
                let shown = if conv == 0 {
                    String::new()
                } else {
                    (conv as char).to_string()
                };
                // Non-ASCII bytes are shown as themselves.
                let mut msg = b"invalid option '%".to_vec();
                if conv >= 0x80 {
                    msg.push(conv);
                } else {
                    msg.extend_from_slice(shown.as_bytes());
                }
                msg.extend_from_slice(b"' to 'format'");
                return Err(st.error(msg));
            }
        }
        out.extend_from_slice(until_nul(&piece));
        if out.len() > MAX_STRING {
            return Err(no_memory());
        }
    }
    Ok(vec![str_value(out)])
}

#[cfg(test)]
#[allow(clippy::approx_constant)]
mod tests {
    use super::*;

    fn spec(s: &str) -> (Spec, u8) {
        let b = s.as_bytes();
        let mut i = 0;
        let sp = scan_spec(b, &mut i).unwrap();
        (sp, b[i])
    }

    /// One conversion with a number, without a State.
    fn fnum(f: &str, x: f64) -> String {
        let (sp, conv) = spec(f);
        let mut out = Vec::new();
        match conv {
            b'd' | b'i' => fmt_signed(&mut out, &sp, c_long(x)),
            b'o' | b'u' | b'x' | b'X' => fmt_unsigned(&mut out, &sp, c_ulong(x), conv),
            b'c' => pad(&mut out, &sp, b"", &[c_int(x) as u8], false),
            _ => fmt_float(&mut out, &sp, x, conv),
        }
        String::from_utf8(until_nul(&out).to_vec()).unwrap()
    }

    #[test]
    fn numeric_conversions_match_redis() {
        // (spec without the '%', value, what stock Redis 7.0 gives)
        let inf = f64::INFINITY;
        let cases: &[(&str, f64, &str)] = &[
            ("d", 42.0, "42"),
            ("d", -3.7, "-3"),
            ("d", 3.7, "3"),
            ("d", 1e20, "-9223372036854775808"),
            ("d", -1e20, "-9223372036854775808"),
            ("d", f64::NAN, "-9223372036854775808"),
            ("d", 2f64.powi(63), "-9223372036854775808"),
            ("d", inf, "-9223372036854775808"),
            ("5d", 42.0, "   42"),
            ("-5d", 42.0, "42   "),
            ("05d", -42.0, "-0042"),
            ("+d", 5.0, "+5"),
            (" d", 5.0, " 5"),
            (".3d", 7.0, "007"),
            ("i", 9.0, "9"),
            (" +d", 1.0, "+1"),
            ("+ d", 1.0, "+1"),
            ("-05d", 1.0, "1    "),
            ("-----5d", 1.0, "1    "),
            ("+.3d", 1.0, "+001"),
            (" 05d", 1.0, " 0001"),
            (".0d", 0.0, ""),
            ("99d", 1.0, &format!("{:>99}", 1)),
            ("u", -1.0, "18446744073709551615"),
            ("u", -2f64.powi(63) - 4096.0, "9223372036854775808"),
            ("x", 255.0, "ff"),
            ("X", 255.0, "FF"),
            ("#x", 255.0, "0xff"),
            ("#o", 8.0, "010"),
            ("o", 8.0, "10"),
            ("o", -1.0, "1777777777777777777777"),
            ("x", -1.0, "ffffffffffffffff"),
            ("x", 3.9, "3"),
            ("x", 2f64.powi(64), "0"),
            ("x", f64::NAN, "8000000000000000"),
            ("x", 1e19, "8ac7230489e80000"),
            ("x", 1e30, "0"),
            ("x", -1e30, "8000000000000000"),
            ("x", inf, "0"),
            ("x", -inf, "8000000000000000"),
            ("#x", 0.0, "0"),
            ("#o", 0.0, "0"),
            ("#06x", 255.0, "0x00ff"),
            ("#.3x", 1.0, "0x001"),
            ("#5o", 8.0, "  010"),
            ("-#8x", 255.0, "0xff    "),
            ("+x", 255.0, "ff"),
            (" x", 255.0, "ff"),
            (".0x", 0.0, ""),
            ("#.0o", 0.0, "0"),
            ("c", 65.0, "A"),
            ("c", 321.0, "A"),
            ("c", -191.0, "A"),
            ("c", 2f64.powi(31) + 65.0, ""),
            ("c", 0.0, ""),
            ("5c", 0.0, "    "),
            ("-5c", 0.0, ""),
            ("5c", 65.0, "    A"),
            ("05c", 65.0, "    A"),
            ("e", 12345.6789, "1.234568e+04"),
            ("E", 0.00012, "1.200000E-04"),
            (".0e", 15.0, "2e+01"),
            ("#.0e", 15.0, "2.e+01"),
            (".0e", 0.0, "0e+00"),
            ("f", 3.14159, "3.141590"),
            (".2f", 2.675, "2.67"),
            ("10.3f", -3.14159, "    -3.142"),
            ("-10.1f", 2.25, "2.2       "),
            ("+.1f", 2.25, "+2.2"),
            ("#.0f", 3.0, "3."),
            (".0f", 0.5, "0"),
            ("f", inf, "inf"),
            ("f", -inf, "-inf"),
            ("f", -f64::NAN, "-nan"),
            ("5.1f", inf, "  inf"),
            ("05.1f", -inf, " -inf"),
            ("e", 0.0, "0.000000e+00"),
            ("g", 100000.0, "100000"),
            ("g", 1000000.0, "1e+06"),
            ("g", 1e-4, "0.0001"),
            ("g", 1e-5, "1e-05"),
            ("G", 1e-10, "1E-10"),
            ("#g", 1.0, "1.00000"),
            ("#g", 0.0001, "0.000100000"),
            ("#g", 0.0, "0.00000"),
            (".3g", 1234.5, "1.23e+03"),
            (".0g", 0.5, "0.5"),
            (".20g", 0.1, "0.10000000000000000555"),
            ("g", -0.0, "-0"),
            ("+g", 1.0, "+1"),
            ("G", inf, "INF"),
            ("G", -f64::NAN, "-NAN"),
            ("010g", 1.5, "00000001.5"),
            ("-10g", 1.5, "1.5       "),
            (".14g", 2f64.powi(53), "9.007199254741e+15"),
            ("g", 123456789.0, "1.23457e+08"),
            ("#.3g", 1.0, "1.00"),
        ];
        for &(f, x, want) in cases {
            assert_eq!(fnum(f, x), want, "%{f} of {x}");
        }
    }

    #[test]
    fn spec_errors() {
        let err = |s: &str| scan_spec(s.as_bytes(), &mut 0).unwrap_err();
        assert_eq!(err("------5d"), "invalid format (repeated flags)");
        assert_eq!(err("123d"), "invalid format (width or precision too long)");
        assert_eq!(err(".123d"), "invalid format (width or precision too long)");
        assert!(scan_spec(b"-----5d", &mut 0).is_ok());
        assert!(scan_spec(b"99.99f", &mut 0).is_ok());
    }

    #[test]
    fn quoting() {
        let mut out = Vec::new();
        fmt_quoted(&mut out, b"a\nb\"c\\d\re\0f\x01g");
        assert_eq!(out, b"\"a\\\nb\\\"c\\\\d\\re\\000f\x01g\"");
    }

    #[test]
    fn c_casts() {
        assert_eq!(c_long(-3.7), -3);
        assert_eq!(c_long(1e300), i64::MIN);
        assert_eq!(c_ulong(1e19), 10000000000000000000);
        assert_eq!(c_int(2f64.powi(31)), i32::MIN);
        assert_eq!(c_int(-2147483648.5), -2147483648);
    }

    // ---- end to end, through the interpreter ----

    /// Runs a script; its results as text (strings as they are, others through tostring),
    /// or the error message.
    fn run(src: &str) -> Result<Vec<String>, String> {
        let chunk = Lua::compile(src.as_bytes(), "user_script").expect("compiles");
        match Lua::new().run(&chunk, &mut crate::test_util::QuietHost) {
            Ok(vals) => Ok(vals
                .iter()
                .map(|v| match v {
                    Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
                    Value::Num(n) => String::from_utf8(number::format(*n)).unwrap(),
                    Value::Nil => "nil".into(),
                    Value::Bool(b) => b.to_string(),
                    other => other.type_name().into(),
                })
                .collect()),
            Err(LuaError::Raise(Value::Str(s))) => Err(String::from_utf8_lossy(&s).into_owned()),
            Err(e) => Err(format!("{e:?}")),
        }
    }

    fn ok(src: &str) -> String {
        run(src).unwrap_or_else(|e| panic!("{src}: {e}")).join("|")
    }

    fn err(src: &str) -> String {
        run(src).expect_err(src)
    }

    #[test]
    fn script_basics() {
        assert_eq!(
            ok("return string.len('abc'), ('x'):rep(3), #('abc'):upper()"),
            "3|xxx|3"
        );
        assert_eq!(
            ok(
                "return string.sub('hello', 0), string.sub('hello', -100, 2), \
                string.sub('hello', 4, 100), string.sub('hello', 3, 2), ('hello'):sub(-3)"
            ),
            "hello|he|lo||llo"
        );
        assert_eq!(ok("return string.byte('hello', -3, -1)"), "108|108|111");
        assert_eq!(ok("return string.byte('A')"), "65");
        assert_eq!(ok("return select('#', string.byte('', 1))"), "0");
        assert_eq!(ok("return string.char(65.7, 2^32 + 66, 104, 105)"), "ABhi");
        assert_eq!(ok("return string.char()"), "");
        assert_eq!(
            err("return string.char(256)"),
            "user_script:1: bad argument #1 to 'char' (invalid value)"
        );
        assert_eq!(
            ok("return string.rep('ab', 3, ','), string.rep('x', 0), string.rep('x', 2^40)"),
            "ababab||"
        );
        assert_eq!(err("return string.rep('x', 2^31 - 1)"), "not enough memory");
        assert_eq!(
            ok("return string.reverse('abc'), string.lower('AbC'), string.upper('a1b')"),
            "cba|abc|A1B"
        );
        assert_eq!(ok("return string.len(123), string.upper(1.5)"), "3|1.5");
        assert_eq!(
            err("return string.rep()"),
            "user_script:1: bad argument #1 to 'rep' (string expected, got no value)"
        );
        assert_eq!(
            err("return string.dump()"),
            "user_script:1: bad argument #1 to 'dump' (function expected, got no value)"
        );
        assert_eq!(
            err("return string.dump(function() end)"),
            "user_script:1: unable to dump given function"
        );
        assert_eq!(
            ok(
                "local t = {} for k in pairs(string) do t[#t+1] = k end table.sort(t) \
                return table.concat(t, ' ')"
            ),
            "byte char dump find format gfind gmatch gsub len lower match rep reverse sub upper"
        );
    }

    #[test]
    fn script_find_match() {
        assert_eq!(ok("return string.find('hello world', 'o w')"), "5|7");
        assert_eq!(ok("return string.find('hello', 'l', -2)"), "4|4");
        assert_eq!(ok("return string.find('hello', '', 10)"), "6|5");
        assert_eq!(ok("return string.find('a+b', '+', 1, true)"), "2|2");
        assert_eq!(ok("return string.find('hello', '()ll()')"), "3|4|3|5");
        assert_eq!(ok("return string.find('hello', 'xyz')"), "nil");
        assert_eq!(ok("return ('key:123'):match('(%a+):(%d+)')"), "key|123");
        assert_eq!(
            ok("return string.match('  trim  ', '^%s*(.-)%s*$')"),
            "trim"
        );
        assert_eq!(ok("return string.match('hello', '()', 3)"), "3");
        assert_eq!(
            err("return string.match('hello', '%')"),
            "user_script:1: malformed pattern (ends with '%')"
        );
        assert_eq!(
            err("return string.find('abc', 'b', 'x')"),
            "user_script:1: bad argument #3 to 'find' (number expected, got string)"
        );
        assert_eq!(
            err("return string.find('abc', '(')"),
            "user_script:1: unfinished capture"
        );
    }

    #[test]
    fn script_gmatch() {
        assert_eq!(
            ok(
                "local t = {} for a, b in string.gmatch('k1=v1, k2=v2', '(%w+)=(%w+)') do \
                t[#t+1] = a .. ':' .. b end return table.concat(t, ',')"
            ),
            "k1:v1,k2:v2"
        );
        assert_eq!(
            ok("local t = {} for w in ('a,b,,c'):gmatch('([^,]*)') do t[#t+1] = '<' .. w .. '>' end \
                return table.concat(t)"),
            "<a><><b><><><c><>"
        );
        assert_eq!(
            ok("local it = string.gmatch('one two', '%a+') return it(), it(), it(), type(it)"),
            "one|two|nil|function"
        );
        assert_eq!(
            ok("local n = 0 for p in string.gfind('abc', '()') do n = n + p end return n"),
            "10"
        );
        assert_eq!(
            err("for x in string.gmatch('abc', '[a') do end"),
            "user_script:1: malformed pattern (missing ']')"
        );
    }

    #[test]
    fn script_gsub() {
        assert_eq!(
            ok("return string.gsub('hello world', 'o', '0')"),
            "hell0 w0rld|2"
        );
        assert_eq!(
            ok("return string.gsub('hello world', 'o', '0', 1)"),
            "hell0 world|1"
        );
        assert_eq!(ok("return string.gsub('abc', 'b', 'x', 1.9)"), "axc|1");
        assert_eq!(ok("return string.gsub('hello', '', '-')"), "-h-e-l-l-o-|6");
        assert_eq!(
            ok("return string.gsub('hello world', '(%w+)', '<%1>')"),
            "<hello> <world>|2"
        );
        assert_eq!(ok("return string.gsub('abc', 'b', 1.5)"), "a1.5c|1");
        assert_eq!(
            ok("return string.gsub('abc', '.', {a = 1, c = 'C'})"),
            "1bC|3"
        );
        assert_eq!(
            err("return string.gsub('abc', '.', {a = 1, b = true})"),
            "user_script:1: invalid replacement value (a boolean)"
        );
        assert_eq!(ok("return string.gsub('abc', '.', {a = false})"), "abc|3");
        assert_eq!(
            ok(
                "local t = setmetatable({}, {__index = function(_, k) return k:upper() end}) \
                return string.gsub('abc', '%w', t)"
            ),
            "ABC|3"
        );
        assert_eq!(
            ok("return string.gsub('abc', '%w', function(c) return c:upper() .. '.' end)"),
            "A.B.C.|3"
        );
        assert_eq!(
            ok("return string.gsub('abc', '%w', function() end)"),
            "abc|3"
        );
        assert_eq!(
            ok("return string.gsub('abc', '(a)(b)', function(x, y) return y .. x end)"),
            "bac|1"
        );
        assert_eq!(ok("return string.gsub('abc', '()', '%1')"), "1a2b3c4|4");
        assert_eq!(
            err("return string.gsub('abc', '.', {a = {}})"),
            "user_script:1: invalid replacement value (a table)"
        );
        assert_eq!(
            err("return string.gsub('abc', '%w', function() return true end)"),
            "user_script:1: invalid replacement value (a boolean)"
        );
        assert_eq!(
            err("return string.gsub('hello', '(l)', '%2')"),
            "user_script:1: invalid capture index"
        );
        assert_eq!(
            err("return string.gsub('abc', 'b', true)"),
            "user_script:1: bad argument #3 to 'gsub' (string/function/table expected)"
        );
        assert_eq!(
            err("return string.gsub('abc', 'b', 'x', 'y')"),
            "user_script:1: bad argument #4 to 'gsub' (number expected, got string)"
        );
        assert_eq!(
            err("return string.gsub('abc', '%w', function() error('boom') end)"),
            "user_script:1: boom"
        );
    }

    #[test]
    fn script_format() {
        assert_eq!(
            ok("return string.format('%5.2f|%d|%q', 3.14159, 42, 'a\\n')"),
            " 3.14|42|\"a\\\n\""
        );
        assert_eq!(
            ok("return string.format('%s %s %s', 12, 1.5, 'x')"),
            "12 1.5 x"
        );
        assert_eq!(
            ok("return string.format('%5s|%-5s|%.2s', 'ab', 'ab', 'abcdef')"),
            "   ab|ab   |ab"
        );
        assert_eq!(ok("return string.format('%5.1s|', 'abc')"), "    a|");
        assert_eq!(
            ok("return #string.format('%s', string.rep('a', 100) .. '\\0b')"),
            "102"
        );
        assert_eq!(
            ok("return #string.format('%10s', string.rep('a', 120) .. '\\0b')"),
            "122"
        );
        assert_eq!(ok("return string.format('x%sy', 'a\\0b')"), "xay");
        assert_eq!(ok("return string.format('a\\0b%d', 1)"), "a\0b1");
        assert_eq!(
            ok("return string.format('%q', 1/3)"),
            "\"0.33333333333333\""
        );
        assert_eq!(ok("return string.format('%10q', 'x')"), "\"x\"");
        assert_eq!(ok("return string.format('%%|%c%c', 72, 105)"), "%|Hi");
        assert_eq!(ok("return string.format('%d', '12')"), "12");
        assert_eq!(ok("return string.format(12)"), "12");
        assert_eq!(
            err("return string.format('%d')"),
            "user_script:1: bad argument #2 to 'format' (no value)"
        );
        assert_eq!(
            err("return string.format('%')"),
            "user_script:1: bad argument #2 to 'format' (no value)"
        );
        assert_eq!(
            err("return string.format('%', 1)"),
            "user_script:1: invalid option '%' to 'format'"
        );
        assert_eq!(
            err("return string.format('%y', 1)"),
            "user_script:1: invalid option '%y' to 'format'"
        );
        assert_eq!(
            err("return string.format('%ld', 1)"),
            "user_script:1: invalid option '%l' to 'format'"
        );
        assert_eq!(
            err("return string.format('%------5d', 1)"),
            "user_script:1: invalid format (repeated flags)"
        );
        assert_eq!(
            err("return string.format('%123d', 1)"),
            "user_script:1: invalid format (width or precision too long)"
        );
        assert_eq!(
            err("return string.format('%d %d', 1)"),
            "user_script:1: bad argument #3 to 'format' (no value)"
        );
        assert_eq!(
            err("return string.format('%d', nil)"),
            "user_script:1: bad argument #2 to 'format' (number expected, got nil)"
        );
        assert_eq!(
            err("return string.format('%d', 'x')"),
            "user_script:1: bad argument #2 to 'format' (number expected, got string)"
        );
        assert_eq!(
            err("return string.format('%s', {})"),
            "user_script:1: bad argument #2 to 'format' (string expected, got table)"
        );
        assert_eq!(
            err("return string.format()"),
            "user_script:1: bad argument #1 to 'format' (string expected, got no value)"
        );
        assert_eq!(
            err("return string.format('%s', setmetatable({}, {__tostring = function() return 'T' end}))"),
            "user_script:1: bad argument #2 to 'format' (string expected, got table)"
        );
    }

    #[test]
    fn script_pattern_limits() {
        assert_eq!(
            err("return string.match(string.rep('a', 200) .. 'b', \
                 string.rep('a?', 200) .. string.rep('a', 200) .. 'b')"),
            "user_script:1: pattern too complex"
        );
        assert_eq!(
            err("return string.gsub(string.rep('a', 40), string.rep('a?', 40) .. string.rep('a', 40) .. 'b', '')"),
            "user_script:1: pattern too complex"
        );
    }
}
