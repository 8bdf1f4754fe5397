//! `struct`: Roberto Ierusalimschy's binary packing library as Redis ships it: `pack`,
//! `unpack` and `size` over format strings of `< > ! x b B h H l L T i[n] I[n] s f d c[n]`.
//!
//! Native sizes are those of Redis's x86-64/aarch64 builds: `h` 2, `i` 4, `l`/`L`/`T` 8,
//! default alignment 8 for `!`. Numbers become integers as the C casts do there: negative
//! ones through a signed 64-bit cast, others through an unsigned one (both saturating to the
//! hardware's answer for out-of-range values, which is 0 or 2^63).

use crate::error::{check_str, opt_int, LuaError};
use crate::value::{FuncRef, Ret, Table, TableRef, Value};
use crate::State;

/// Widest integer `i[n]`/`I[n]` may ask for.
const MAX_INT_SIZE: usize = 32;
/// `!` without a number: the platform's strictest alignment.
const MAX_ALIGN: usize = 8;

/// Why a pack/unpack/size failed, before it becomes a Lua error.
#[derive(Debug, PartialEq)]
pub enum Fail {
    /// `bad argument #(i+1) to 'fname' (msg)`.
    Arg(usize, String),
    /// A plain positioned error (`luaL_error`).
    Msg(String),
}

impl Fail {
    fn into_lua(self, st: &State<'_>, fname: &str) -> LuaError {
        match self {
            Fail::Arg(i, m) => crate::error::arg_error(st, i, fname, &m),
            Fail::Msg(m) => st.error(m),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Endian {
    Little,
    Big,
}

struct Header {
    endian: Endian,
    align: usize,
}

/// One item of a format: its letter, its size (0 for `s` and `c0`).
struct Item {
    opt: u8,
    size: usize,
}

/// Reads a decimal number at `*i` (the default when there are no digits).
fn getnum(fmt: &[u8], i: &mut usize, default: usize) -> Result<usize, Fail> {
    if *i >= fmt.len() || !fmt[*i].is_ascii_digit() {
        return Ok(default);
    }
    let mut a: usize = 0;
    while *i < fmt.len() && fmt[*i].is_ascii_digit() {
        let d = (fmt[*i] - b'0') as usize;
        if a > (i32::MAX as usize) / 10 || a * 10 > (i32::MAX as usize) - d {
            return Err(Fail::Msg("integral size overflow".into()));
        }
        a = a * 10 + d;
        *i += 1;
    }
    Ok(a)
}

/// The next item of `fmt` at `*i`; control options (`< > ! space`) change `h` and give size 0.
fn next_item(fmt: &[u8], i: &mut usize, h: &mut Header) -> Result<Item, Fail> {
    let opt = fmt[*i];
    *i += 1;
    let size = match opt {
        b'B' | b'b' | b'x' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' => 8,
        b'f' => 4,
        b'd' => 8,
        b'c' => getnum(fmt, i, 1)?,
        b'i' | b'I' => {
            let sz = getnum(fmt, i, 4)?;
            if sz > MAX_INT_SIZE {
                return Err(Fail::Msg(format!(
                    "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                )));
            }
            sz
        }
        b's' | b' ' => 0,
        b'<' => {
            h.endian = Endian::Little;
            0
        }
        b'>' => {
            h.endian = Endian::Big;
            0
        }
        b'!' => {
            let a = getnum(fmt, i, MAX_ALIGN)?;
            if a == 0 || a & (a - 1) != 0 {
                return Err(Fail::Msg(format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
            0
        }
        _ => {
            return Err(Fail::Arg(
                0,
                format!("invalid format option '{}'", opt as char),
            ))
        }
    };
    Ok(Item { opt, size })
}

/// Padding before an item of `size` at offset `len` (struct.c's formula, kept as is for
/// sizes that are not powers of two).
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size <= 1 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & (size - 1))) & (size - 1)
}

/// A double to the 64 bits C's cast gives on x86-64: negatives through `(int64_t)`, others
/// through `(uint64_t)`.
fn to_bits64(n: f64) -> u64 {
    const P63: f64 = 9_223_372_036_854_775_808.0;
    let signed = |x: f64| -> u64 {
        if (-P63..P63).contains(&x) {
            x as i64 as u64
        } else {
            1u64 << 63
        }
    };
    if n < P63 {
        signed(n)
    } else {
        // gcc's unsigned conversion: subtract 2^63, convert signed, flip the top bit.
        signed(n - P63) ^ (1u64 << 63)
    }
}

fn new_header() -> Header {
    Header {
        endian: Endian::Little,
        align: 1,
    }
}

/// `struct.pack(fmt, ...)`; `args` are the values after the format.
pub fn pack(fmt: &[u8], args: &[Value]) -> Result<Vec<u8>, Fail> {
    let mut h = new_header();
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    // Argument numbers as Lua counts them (the format is #1).
    let mut arg = 1usize;
    let get = |a: usize| args.get(a - 1).cloned().unwrap_or(Value::Nil);
    let number = |a: usize| -> Result<f64, Fail> {
        let v = get(a);
        v.to_number()
            .ok_or_else(|| Fail::Arg(a, format!("number expected, got {}", v.type_name())))
    };
    while i < fmt.len() {
        let item = next_item(fmt, &mut i, &mut h)?;
        let pad = to_align(out.len(), &h, item.opt, item.size);
        out.resize(out.len() + pad, 0);
        match item.opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let mut value = to_bits64(number(arg)?);
                arg += 1;
                let mut buf = vec![0u8; item.size];
                for k in 0..item.size {
                    let at = if h.endian == Endian::Little {
                        k
                    } else {
                        item.size - 1 - k
                    };
                    buf[at] = value as u8;
                    value >>= 8;
                }
                out.extend_from_slice(&buf);
            }
            b'x' => out.push(0),
            b'f' => {
                let b = (number(arg)? as f32).to_bits().to_le_bytes();
                arg += 1;
                push_endian(&mut out, &b, h.endian);
            }
            b'd' => {
                let b = number(arg)?.to_bits().to_le_bytes();
                arg += 1;
                push_endian(&mut out, &b, h.endian);
            }
            b'c' | b's' => {
                let v = get(arg);
                let s = v.to_lstr().ok_or_else(|| {
                    Fail::Arg(arg, format!("string expected, got {}", v.type_name()))
                })?;
                let mut size = item.size;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(Fail::Arg(arg + 1, "string too short".into()));
                }
                out.extend_from_slice(&s[..size]);
                if item.opt == b's' {
                    out.push(0);
                }
                arg += 1;
            }
            _ => {}
        }
    }
    Ok(out)
}

fn push_endian(out: &mut Vec<u8>, le: &[u8], e: Endian) {
    if e == Endian::Little {
        out.extend_from_slice(le);
    } else {
        out.extend(le.iter().rev());
    }
}

fn read_endian<const N: usize>(b: &[u8], e: Endian) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    if e == Endian::Big {
        a.reverse();
    }
    a
}

/// `struct.unpack(fmt, data, pos)` (`pos` 1-based, as given): the values and the position
/// after them.
pub fn unpack(fmt: &[u8], data: &[u8], init: i64) -> Result<Vec<Value>, Fail> {
    let ld = data.len() as u64;
    // struct.c keeps the position in a size_t: a negative start wraps around.
    let first = init as u64;
    if first == 0 {
        return Err(Fail::Arg(2, "offset must be 1 or greater".into()));
    }
    let mut pos = first - 1;
    let mut h = new_header();
    let mut out: Vec<Value> = Vec::new();
    let mut i = 0;
    let too_short = || Fail::Arg(1, "data string too short".into());
    while i < fmt.len() {
        let item = next_item(fmt, &mut i, &mut h)?;
        let size = item.size as u64;
        pos = pos.wrapping_add(to_align(pos as usize, &h, item.opt, item.size) as u64);
        if pos > ld || size > ld - pos {
            return Err(too_short());
        }
        let p = pos as usize;
        match item.opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = item.opt.is_ascii_lowercase();
                let mut l: u64 = 0;
                for k in 0..item.size {
                    let at = if h.endian == Endian::Little {
                        item.size - 1 - k
                    } else {
                        k
                    };
                    l = (l << 8) | data[p + at] as u64;
                }
                let n = if signed {
                    if item.size > 0 {
                        let mask = (!0u64).wrapping_shl((item.size * 8 - 1) as u32);
                        if l & mask != 0 {
                            l |= mask;
                        }
                    }
                    l as i64 as f64
                } else {
                    l as f64
                };
                out.push(Value::Num(n));
            }
            b'x' => {}
            b'f' => {
                let b = read_endian::<4>(&data[p..], h.endian);
                out.push(Value::Num(f32::from_le_bytes(b) as f64));
            }
            b'd' => {
                let b = read_endian::<8>(&data[p..], h.endian);
                out.push(Value::Num(f64::from_le_bytes(b)));
            }
            b'c' => {
                let mut len = item.size as u64;
                if len == 0 {
                    let prev = out.pop().and_then(|v| v.to_number());
                    let Some(n) = prev else {
                        return Err(Fail::Msg("format 'c0' needs a previous size".into()));
                    };
                    len = to_bits64(n);
                    if len > ld - pos {
                        return Err(too_short());
                    }
                }
                let l = len as usize;
                out.push(Value::str(&data[p..p + l]));
                pos += len;
                continue;
            }
            b's' => {
                let Some(nul) = data[p..].iter().position(|&c| c == 0) else {
                    return Err(Fail::Msg("unfinished string in data".into()));
                };
                out.push(Value::str(&data[p..p + nul]));
                pos += nul as u64 + 1;
                continue;
            }
            _ => {}
        }
        pos += size;
    }
    out.push(Value::Num(pos.wrapping_add(1) as i64 as f64));
    Ok(out)
}

/// `struct.size(fmt)`.
pub fn size(fmt: &[u8]) -> Result<usize, Fail> {
    let mut h = new_header();
    let mut total = 0usize;
    let mut i = 0;
    while i < fmt.len() {
        let item = next_item(fmt, &mut i, &mut h)?;
        if item.opt == b's' || (item.opt == b'c' && item.size == 0) {
            let name = if item.opt == b's' { "s" } else { "c0" };
            return Err(Fail::Arg(0, format!("option '{name}' has no fixed size")));
        }
        total += to_align(total, &h, item.opt, item.size) + item.size;
    }
    Ok(total)
}

fn struct_pack(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let fmt = check_str(st, &args, 0, "pack")?;
    let out = pack(&fmt, &args[1..]).map_err(|e| e.into_lua(st, "pack"))?;
    Ok(vec![Value::str(&out)])
}

fn struct_unpack(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let fmt = check_str(st, &args, 0, "unpack")?;
    let data = check_str(st, &args, 1, "unpack")?;
    let init = opt_int(st, &args, 2, "unpack", 1)?;
    unpack(&fmt, &data, init).map_err(|e| e.into_lua(st, "unpack"))
}

fn struct_size(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let fmt = check_str(st, &args, 0, "size")?;
    let n = size(&fmt).map_err(|e| e.into_lua(st, "size"))?;
    Ok(vec![Value::Num(n as f64)])
}

/// Creates the global `struct`.
pub fn open(lua: &mut crate::Lua) {
    let mut t = Table::new();
    t.set_str("pack", Value::Func(FuncRef::native("pack", struct_pack)));
    t.set_str(
        "unpack",
        Value::Func(FuncRef::native("unpack", struct_unpack)),
    );
    t.set_str("size", Value::Func(FuncRef::native("size", struct_size)));
    lua.globals
        .0
        .borrow_mut()
        .set_str("struct", Value::Table(TableRef::new(t)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::n;

    fn s(x: &[u8]) -> Value {
        Value::str(x)
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    fn p(fmt: &str, args: &[Value]) -> String {
        match pack(fmt.as_bytes(), args) {
            Ok(b) => hex(&b),
            Err(Fail::Arg(i, m)) => format!("ARG#{}:{m}", i + 1),
            Err(Fail::Msg(m)) => format!("ERR:{m}"),
        }
    }

    fn u(fmt: &str, data: &[u8], init: i64) -> String {
        match unpack(fmt.as_bytes(), data, init) {
            Ok(vs) => vs
                .iter()
                .map(|v| match v {
                    Value::Num(x) => format!("{x}"),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join(" "),
            Err(Fail::Arg(i, m)) => format!("ARG#{}:{m}", i + 1),
            Err(Fail::Msg(m)) => format!("ERR:{m}"),
        }
    }

    #[test]
    fn pack_matches_redis() {
        let p2 = |e: i32| 2f64.powi(e);
        let cases: &[(&str, Vec<Value>, &str)] = &[
            (">i", vec![n(1.0)], "00000001"),
            ("<i", vec![n(1.0)], "01000000"),
            ("i", vec![n(-1.0)], "ffffffff"),
            ("b", vec![n(300.0)], "2c"),
            ("B", vec![n(-1.0)], "ff"),
            ("h", vec![n(70000.0)], "7011"),
            ("H", vec![n(1.7)], "0100"),
            ("l", vec![n(1.0)], "0100000000000000"),
            ("L", vec![n(p2(63))], "0000000000000080"),
            ("T", vec![n(5.0)], "0500000000000000"),
            ("i3", vec![n(65536.0)], "000001"),
            ("i16", vec![n(-2.0)], "feffffffffffffff0000000000000000"),
            ("i0", vec![n(1.0)], ""),
            ("I3", vec![n(-1.0)], "ffffff"),
            ("f", vec![n(1.5)], "0000c03f"),
            (">d", vec![n(1.5)], "3ff8000000000000"),
            ("s", vec![s(b"ab")], "616200"),
            ("c", vec![s(b"ab")], "61"),
            ("c3", vec![s(b"ab")], "ARG#3:string too short"),
            ("b c3", vec![n(1.0), s(b"ab")], "ARG#4:string too short"),
            ("c0", vec![s(b"ab")], "6162"),
            ("x", vec![], "00"),
            ("!4 b i", vec![], "ARG#2:number expected, got nil"),
            ("!4 b i", vec![n(1.0), n(2.0)], "0100000002000000"),
            ("!b i", vec![n(1.0), n(2.0)], "0100000002000000"),
            ("!2 b d", vec![n(1.0), n(2.0)], "01000000000000000040"),
            (
                "!8 b d",
                vec![n(1.0), n(2.0)],
                "01000000000000000000000000000040",
            ),
            (
                "!3 b i",
                vec![n(1.0), n(2.0)],
                "ERR:alignment 3 is not a power of 2",
            ),
            ("!16 b i", vec![n(1.0), n(2.0)], "0100000002000000"),
            ("b h", vec![n(1.0), n(2.0)], "010200"),
            ("b", vec![s(b"x")], "ARG#2:number expected, got string"),
            ("z", vec![n(1.0)], "ARG#1:invalid format option 'z'"),
            ("s", vec![n(1.0)], "3100"),
            ("i", vec![s(b"12")], "0c000000"),
            ("", vec![], ""),
            ("i", vec![n(p2(31))], "00000080"),
            ("i", vec![n(p2(40))], "00000000"),
            ("i", vec![n(-p2(63))], "00000000"),
            ("i", vec![n(p2(63))], "00000000"),
            ("i", vec![n(f64::INFINITY)], "00000000"),
            ("i", vec![n(f64::NAN)], "00000000"),
            ("L", vec![n(-1.0)], "ffffffffffffffff"),
            ("I8", vec![n(p2(64))], "0000000000000000"),
            ("l", vec![n(-1.5)], "ffffffffffffffff"),
            (">I3", vec![n(0x123456 as f64)], "123456"),
            ("c2", vec![n(12.0)], "3132"),
            ("s", vec![s(b"a\0b")], "61006200"),
            ("i99999999999", vec![n(1.0)], "ERR:integral size overflow"),
            ("!17", vec![n(1.0)], "ERR:alignment 17 is not a power of 2"),
            ("!0 b", vec![n(1.0)], "ERR:alignment 0 is not a power of 2"),
            (" <>! i", vec![n(1.0)], "00000001"),
            ("!", vec![n(1.0)], ""),
            ("!i3 b", vec![n(1.0), n(2.0)], "000001000002"),
            ("b !4 i3", vec![n(1.0), n(2.0)], "010000020000"),
            ("b !4 i6", vec![n(1.0), n(2.0)], "01000000020000000000"),
            (
                "i33",
                vec![n(1.0)],
                "ERR:integral size 33 is larger than limit of 32",
            ),
            ("b !4 x i", vec![n(1.0), n(2.0)], "0100000002000000"),
            ("b !4 f", vec![n(1.0), n(2.0)], "0100000000000040"),
            (
                "b ! d",
                vec![n(1.0), n(2.0)],
                "01000000000000000000000000000040",
            ),
            ("b ! c2", vec![n(1.0), s(b"ab")], "016162"),
            ("b ! s", vec![n(1.0), s(b"ab")], "01616200"),
            ("!4 b h", vec![n(1.0), n(2.0)], "01000200"),
            ("b !4 l", vec![n(1.0), n(2.0)], "010000000200000000000000"),
            ("i", vec![n(1.0), n(2.0), n(3.0)], "01000000"),
            ("=i", vec![n(1.0)], "ARG#1:invalid format option '='"),
            (
                "b !4 I3 ! I16",
                vec![n(1.0), n(2.0), n(3.0)],
                "010000020000000003000000000000000000000000000000",
            ),
            ("d", vec![s(b"1.5")], "000000000000f83f"),
            ("f", vec![n(0.1)], "cdcccc3d"),
            ("f", vec![n(1e300)], "0000807f"),
        ];
        for (fmt, args, want) in cases {
            assert_eq!(p(fmt, args), *want, "pack {fmt:?}");
        }
        assert_eq!(p("i32", &[n(1.0)]), format!("01{}", "00".repeat(31)));
    }

    #[test]
    fn size_matches_redis() {
        assert_eq!(size(b"i"), Ok(4));
        assert_eq!(size(b"!4 b i"), Ok(8));
        assert_eq!(size(b"c5 d"), Ok(13));
        assert_eq!(size(b"!8 b i16"), Ok(24));
        assert_eq!(size(b"!8 b i6"), Ok(12));
        assert_eq!(size(b"x x d"), Ok(10));
        assert_eq!(size(b"c"), Ok(1));
        assert_eq!(
            size(b"s"),
            Err(Fail::Arg(0, "option 's' has no fixed size".into()))
        );
        assert_eq!(
            size(b"c0"),
            Err(Fail::Arg(0, "option 'c0' has no fixed size".into()))
        );
    }

    #[test]
    fn unpack_matches_redis() {
        let h = |x: &str| unhex(x);
        assert_eq!(u("<i", &h("01000000"), 1), "1 5");
        assert_eq!(u(">i", &h("ffffffff"), 1), "-1 5");
        assert_eq!(u("I", &h("ffffffff"), 1), "4294967295 5");
        assert_eq!(u("i", &h("010000"), 1), "ARG#2:data string too short");
        assert_eq!(u("bBhH", &h("ffffffffffff"), 1), "-1 255 -1 65535 7");
        assert_eq!(u("l", &h("ffffffffffffffff"), 1), "-1 9");
        assert_eq!(u("L", &h("ffffffffffffffff"), 1), "18446744073709552000 9");
        assert_eq!(u("i16", &h("feffffffffffffffffffffffffffffff"), 1), "-2 17");
        assert_eq!(u("i16", &h("feffffffffffffff0000000000000000"), 1), "-2 17");
        assert_eq!(
            u("I16", &h("feffffffffffffff0100000000000000"), 1),
            "18446744073709552000 17"
        );
        assert_eq!(u("i9", &h("ffffffffffffffffff"), 1), "-1 10");
        assert_eq!(u("i3", &h("ffffff"), 1), "-1 4");
        assert_eq!(u("I3", &h("ffffff"), 1), "16777215 4");
        assert_eq!(u("f d", &h("0000c03f000000000000f83f"), 1), "1.5 1.5 13");
        assert_eq!(u("s", b"ab\0cd", 1), "\"ab\" 4");
        assert_eq!(u("s", b"abcd", 1), "ERR:unfinished string in data");
        assert_eq!(u("c2", b"abcd", 1), "\"ab\" 3");
        assert_eq!(u("c5", b"abcd", 1), "ARG#2:data string too short");
        assert_eq!(u("b c0", b"\x03abcdef", 1), "\"abc\" 5");
        assert_eq!(
            u("c0", b"abcdef", 1),
            "ERR:format 'c0' needs a previous size"
        );
        assert_eq!(u("b", b"\x01\x02", 2), "2 3");
        assert_eq!(u("b", b"\x01\x02", 3), "ARG#2:data string too short");
        assert_eq!(u("b", b"\x01\x02", 0), "ARG#3:offset must be 1 or greater");
        assert_eq!(u("b", b"\x01\x02", -1), "ARG#2:data string too short");
        assert_eq!(u("x b", b"\x01\x02", 1), "2 3");
        assert_eq!(u("!4 b i", &h("0100000002000000"), 1), "1 2 9");
        assert_eq!(u("", b"abc", 1), "1");
        assert_eq!(u("i", b"1234", 1), "875770417 5");
        assert_eq!(u("z", b"abcd", 1), "ARG#1:invalid format option 'z'");
        assert_eq!(u("b", b"", 1), "ARG#2:data string too short");
        assert_eq!(u("x", b"", 1), "ARG#2:data string too short");
        assert_eq!(u("b c0", b"\x05ab", 1), "ARG#2:data string too short");
        assert_eq!(u("b c0", b"\x00ab", 1), "\"\" 2");
        assert_eq!(
            u("c0 c0", b"ab", 1),
            "ERR:format 'c0' needs a previous size"
        );
        let mut d = h("000000000000f83f");
        d.extend_from_slice(b"ab");
        assert_eq!(u("d c0", &d, 1), "\"a\" 10");
        assert_eq!(u("s c0", b"2\0abc", 1), "\"ab\" 5");
        assert_eq!(u("b c0", b"\xffabc", 1), "ARG#2:data string too short");
        assert_eq!(u("", b"abc", -1), "-1");
        assert_eq!(u("", b"abc", 10), "10");
        assert_eq!(u("s", b"abc", 10), "ARG#2:data string too short");
        assert_eq!(u("c0", b"abc", 10), "ARG#2:data string too short");
        assert_eq!(
            u("!4 b i", &h("01000000020000"), 1),
            "ARG#2:data string too short"
        );
        assert_eq!(u("c", b"", 1), "ARG#2:data string too short");
        assert_eq!(u("i0", b"", 1), "0 1");
        assert_eq!(u("I3 I0", b"abc", 1), "6513249 0 4");
        assert_eq!(u("s", b"", 1), "ERR:unfinished string in data");
    }

    #[test]
    fn round_trip() {
        let fmt = b">!4 b i3 h s d c0 f I8";
        let args = [
            n(-5.0),
            n(-70000.0),
            n(1234.0),
            s(b"hi"),
            n(0.1),
            s(b"xyz"),
            n(2.5),
            n(1e15),
        ];
        let b = pack(fmt, &args).unwrap();
        let back = unpack(b">!4 b i3 h s d c3 f I8", &b, 1).unwrap();
        for (a, b) in args.iter().zip(&back) {
            assert!(a.raw_eq(b), "{a:?} != {b:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn unpack_never_panics(fmt in "[<>!0-9 xbBhHlLTiIsfdc]{0,12}",
                               data in proptest::collection::vec(proptest::num::u8::ANY, 0..48),
                               init in -3i64..60) {
            let _ = unpack(fmt.as_bytes(), &data, init);
            let _ = size(fmt.as_bytes());
            let _ = pack(fmt.as_bytes(), &[Value::Num(1.0), Value::str(b"abc"), Value::Num(-2.5)]);
        }

        #[test]
        fn unpack_random_format_never_panics(fmt in proptest::collection::vec(proptest::num::u8::ANY, 0..16),
                                             data in proptest::collection::vec(proptest::num::u8::ANY, 0..48)) {
            let _ = unpack(&fmt, &data, 1);
        }
    }
}
