//! `cmsgpack`: MessagePack as lua-cmsgpack (the version Redis ships) writes and reads it.
//!
//! Packing picks the smallest encoding: integers (numbers with an integer value in the
//! 64-bit range) as fixint/uint8..64/int8..64, other numbers as float32 when that is exact and
//! float64 otherwise, strings as fixstr/str8/str16/str32, tables as arrays when their keys are
//! exactly 1..n and as maps otherwise, nil (and functions, and cjson.null) as nil. Tables
//! nested deeper than 16 levels are packed as nil. Map entries follow `next` order (Lua 5.1's
//! table layout, as in Redis).
//!
//! Unpacking reads everything lua-cmsgpack reads (no bin or ext types: those are "Bad data
//! format in input."); a uint64 reads as its int64 bit pattern, as in Redis.

use crate::error::{check_int, check_str, opt_int, LuaError};
use crate::value::{FuncRef, Ret, Table, TableRef, Value};
use crate::State;

/// Tables nested deeper than this are packed as nil.
pub const MAX_NESTING: usize = 16;
/// Deepest array/map nesting unpacked before Lua's stack would overflow in Redis.
const MAX_DECODE_DEPTH: usize = 3999;
/// Most values one unpack returns before Lua's stack would overflow in Redis.
const MAX_RESULTS: usize = 7999;

/// Why unpacking failed.
#[derive(Debug, PartialEq)]
pub enum Fail {
    /// A positioned error (`luaL_error`).
    Msg(String),
    /// An error raised by the VM itself, without position ("table index is nil").
    Raw(&'static str),
}

const EOF: &str = "Missing bytes in input.";
const BADFMT: &str = "Bad data format in input.";

/// Whether `n` is an integer lua-cmsgpack packs as one: `(int64_t)n == n` on x86-64.
fn is_int(n: f64) -> bool {
    n.trunc() == n && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n)
}

fn pack_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        let u = n as u64;
        if u <= 127 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_num(out: &mut Vec<u8>, n: f64) {
    if is_int(n) {
        pack_int(out, n as i64);
    } else if (n as f32) as f64 == n || n.is_infinite() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_bits().to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_bits().to_be_bytes());
    }
}

fn pack_str(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn pack_header(out: &mut Vec<u8>, n: usize, fix: u8, b16: u8, b32: u8) {
    if n < 16 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// The length of `t` as an array when its keys are exactly 1..n, else None.
fn array_len(t: &Table) -> Option<usize> {
    let mut count = 0usize;
    let mut max = 0f64;
    for (k, _) in t.entries() {
        match k {
            Value::Num(n) if n >= 1.0 && is_int(n) => {
                count += 1;
                if n > max {
                    max = n;
                }
            }
            _ => return None,
        }
    }
    (max == count as f64).then_some(count)
}

/// Packs one value at nesting `level` (0 for an argument of `pack`). `null` is cjson's null
/// sentinel, packed as nil.
pub fn pack_value(out: &mut Vec<u8>, v: &Value, level: usize, null: Option<&TableRef>) {
    match v {
        Value::Nil | Value::Func(_) => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Num(n) => pack_num(out, *n),
        Value::Str(s) => pack_str(out, s),
        Value::Table(t) => {
            if null.is_some_and(|z| std::rc::Rc::ptr_eq(&z.0, &t.0)) || level >= MAX_NESTING {
                out.push(0xc0);
                return;
            }
            let t = t.0.borrow();
            if let Some(n) = array_len(&t) {
                pack_header(out, n, 0x90, 0xdc, 0xdd);
                for i in 1..=n {
                    pack_value(out, &t.get_int(i as i64), level + 1, null);
                }
            } else {
                let entries: Vec<(Value, Value)> = t.entries().collect();
                drop(t);
                pack_header(out, entries.len(), 0x80, 0xde, 0xdf);
                for (k, v) in &entries {
                    pack_value(out, k, level + 1, null);
                    pack_value(out, v, level + 1, null);
                }
            }
        }
    }
}

/// `cmsgpack.pack(...)` over its arguments.
pub fn pack(args: &[Value], null: Option<&TableRef>) -> Vec<u8> {
    let mut out = Vec::new();
    for v in args {
        pack_value(&mut out, v, 0, null);
    }
    out
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Fail> {
        if self.data.len() - self.pos < n {
            return Err(Fail::Msg(EOF.into()));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Fail> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }

    fn len(&mut self, n: usize) -> Result<usize, Fail> {
        Ok(self.be(n)? as usize)
    }

    /// One item: a whole scalar, or the header of an array or map.
    fn item(&mut self) -> Result<Item, Fail> {
        let t = self.take(1)?[0];
        let v = match t {
            0x00..=0x7f => Value::Num(t as f64),
            0x80..=0x8f => return Ok(Item::Map((t & 0x0f) as usize)),
            0x90..=0x9f => return Ok(Item::Array((t & 0x0f) as usize)),
            0xa0..=0xbf => Value::str(self.take((t & 0x1f) as usize)?),
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xca => Value::Num(f32::from_bits(self.be(4)? as u32) as f64),
            0xcb => Value::Num(f64::from_bits(self.be(8)?)),
            0xcc => Value::Num(self.be(1)? as f64),
            0xcd => Value::Num(self.be(2)? as f64),
            0xce => Value::Num(self.be(4)? as f64),
            0xcf => Value::Num(self.be(8)? as i64 as f64),
            0xd0 => Value::Num(self.be(1)? as u8 as i8 as f64),
            0xd1 => Value::Num(self.be(2)? as u16 as i16 as f64),
            0xd2 => Value::Num(self.be(4)? as u32 as i32 as f64),
            0xd3 => Value::Num(self.be(8)? as i64 as f64),
            0xd9..=0xdb => {
                let n = self.len(1 << (t - 0xd9))?;
                Value::str(self.take(n)?)
            }
            0xdc => return Ok(Item::Array(self.len(2)?)),
            0xdd => return Ok(Item::Array(self.len(4)?)),
            0xde => return Ok(Item::Map(self.len(2)?)),
            0xdf => return Ok(Item::Map(self.len(4)?)),
            0xe0..=0xff => Value::Num(t as i8 as f64),
            _ => return Err(Fail::Msg(BADFMT.into())),
        };
        Ok(Item::Value(v))
    }

    /// One whole value, containers included (without recursion: nesting is only bounded by
    /// MAX_DECODE_DEPTH).
    fn value(&mut self) -> Result<Value, Fail> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let mut v = match self.item()? {
                Item::Value(v) => v,
                Item::Array(_) if stack.len() >= MAX_DECODE_DEPTH => {
                    return Err(Fail::Msg(
                        "stack overflow (in function mp_decode_to_lua_array)".into(),
                    ));
                }
                Item::Map(_) if stack.len() >= MAX_DECODE_DEPTH => {
                    return Err(Fail::Msg(too_many().into()));
                }
                Item::Array(0) | Item::Map(0) => Value::Table(TableRef::default()),
                Item::Array(n) => {
                    stack.push(Frame::Arr(Table::new(), n, 0));
                    continue;
                }
                Item::Map(n) => {
                    stack.push(Frame::Map(Table::new(), n, 0, None));
                    continue;
                }
            };
            // Hand `v` to the open containers, closing the ones it completes.
            loop {
                let done = match stack.last_mut() {
                    None => return Ok(v),
                    Some(Frame::Arr(t, n, i)) => {
                        *i += 1;
                        set(t, Value::Num(*i as f64), v)?;
                        *i == *n
                    }
                    Some(Frame::Map(t, n, i, key)) => match key.take() {
                        None => {
                            *key = Some(v);
                            false
                        }
                        Some(k) => {
                            set(t, k, v)?;
                            *i += 1;
                            *i == *n
                        }
                    },
                };
                if !done {
                    break;
                }
                v = match stack.pop() {
                    Some(Frame::Arr(t, ..) | Frame::Map(t, ..)) => Value::Table(TableRef::new(t)),
                    None => unreachable!("a frame was open"),
                };
            }
        }
    }
}

enum Item {
    Value(Value),
    Array(usize),
    Map(usize),
}

/// A container being filled: its table, its length, the entries read, a map's pending key.
enum Frame {
    Arr(Table, usize, usize),
    Map(Table, usize, usize, Option<Value>),
}

fn too_many() -> &'static str {
    "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"
}

fn set(t: &mut Table, k: Value, v: Value) -> Result<(), Fail> {
    t.set(k, v).map_err(Fail::Raw)
}

/// lua-cmsgpack's `unpack` family: decodes up to `limit` values (0: all) from `offset`
/// (0-based). With a limit, the first result is the offset after the values decoded (-1 at
/// the end of the input).
pub fn unpack(data: &[u8], limit: i64, offset: i64) -> Result<Vec<Value>, Fail> {
    let len = data.len();
    if offset < 0 || limit < 0 {
        return Err(Fail::Msg(format!(
            "Invalid request to unpack with offset of {offset} and limit of {len}."
        )));
    }
    if offset as u64 > len as u64 {
        return Err(Fail::Msg(format!(
            "Start offset {offset} greater than input length {len}."
        )));
    }
    let mut c = Cursor {
        data,
        pos: offset as usize,
    };
    let mut out = Vec::new();
    if limit > 0 {
        out.push(Value::Nil);
    }
    let mut count = 0i64;
    while c.pos < len && (limit == 0 || count < limit) {
        if out.len() >= MAX_RESULTS {
            return Err(Fail::Msg(too_many().into()));
        }
        out.push(c.value()?);
        count += 1;
    }
    if limit > 0 {
        out[0] = Value::Num(if c.pos >= len { -1.0 } else { c.pos as f64 });
    }
    Ok(out)
}

fn into_lua(st: &State<'_>, f: Fail) -> LuaError {
    match f {
        Fail::Msg(m) => st.error(m),
        Fail::Raw(m) => LuaError::msg(m),
    }
}

fn mp_pack(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    if args.is_empty() {
        return Err(st.error("bad argument #0 to 'pack' (MessagePack pack needs input.)"));
    }
    let null = crate::cjson::null_of(st.lua);
    Ok(vec![Value::str(&pack(&args, null.as_ref()))])
}

fn mp_unpack(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let s = check_str(st, &args, 0, "unpack")?;
    unpack(&s, 0, 0).map_err(|f| into_lua(st, f))
}

fn mp_unpack_one(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let s = check_str(st, &args, 0, "unpack_one")?;
    let offset = opt_int(st, &args, 1, "unpack_one", 0)?;
    unpack(&s, 1, offset).map_err(|f| into_lua(st, f))
}

fn mp_unpack_limit(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let s = check_str(st, &args, 0, "unpack_limit")?;
    let limit = check_int(st, &args, 1, "unpack_limit")?;
    let offset = opt_int(st, &args, 2, "unpack_limit", 0)?;
    unpack(&s, limit, offset).map_err(|f| into_lua(st, f))
}

/// Creates the global `cmsgpack`.
pub fn open(lua: &mut crate::Lua) {
    let mut t = Table::new();
    t.set_str("pack", Value::Func(FuncRef::native("pack", mp_pack)));
    t.set_str("unpack", Value::Func(FuncRef::native("unpack", mp_unpack)));
    t.set_str(
        "unpack_one",
        Value::Func(FuncRef::native("unpack_one", mp_unpack_one)),
    );
    t.set_str(
        "unpack_limit",
        Value::Func(FuncRef::native("unpack_limit", mp_unpack_limit)),
    );
    t.set_str("_NAME", Value::str(b"cmsgpack"));
    t.set_str("_VERSION", Value::str(b"lua-cmsgpack 0.4.0"));
    t.set_str(
        "_COPYRIGHT",
        Value::str(b"Copyright (C) 2012, Salvatore Sanfilippo"),
    );
    t.set_str(
        "_DESCRIPTION",
        Value::str(b"MessagePack C implementation for Lua"),
    );
    lua.globals
        .0
        .borrow_mut()
        .set_str("cmsgpack", Value::Table(TableRef::new(t)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{arr, n, table};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    fn p(v: Value) -> String {
        hex(&pack(&[v], None))
    }

    #[test]
    fn pack_matches_redis() {
        let p2 = |e: i32| 2f64.powi(e);
        let nums: &[(f64, &str)] = &[
            (0.0, "00"),
            (1.0, "01"),
            (127.0, "7f"),
            (128.0, "cc80"),
            (255.0, "ccff"),
            (256.0, "cd0100"),
            (65535.0, "cdffff"),
            (65536.0, "ce00010000"),
            (p2(32) - 1.0, "ceffffffff"),
            (p2(32), "cf0000000100000000"),
            (p2(53), "cf0020000000000000"),
            (p2(63), "ca5f000000"),
            (p2(64), "ca5f800000"),
            (-1.0, "ff"),
            (-32.0, "e0"),
            (-33.0, "d0df"),
            (-128.0, "d080"),
            (-129.0, "d1ff7f"),
            (-32768.0, "d18000"),
            (-32769.0, "d2ffff7fff"),
            (-p2(31), "d280000000"),
            (-p2(31) - 1.0, "d3ffffffff7fffffff"),
            (-p2(63), "d38000000000000000"),
            (-p2(64), "cadf800000"),
            (1.5, "ca3fc00000"),
            (0.1, "cb3fb999999999999a"),
            (-0.0, "00"),
            (f64::INFINITY, "ca7f800000"),
            (1e300, "cb7e37e43c8800759c"),
            (3.4028234663852886e38, "ca7f7fffff"),
            (p2(31), "ce80000000"),
            (-p2(31) + 0.5, "cbc1dfffffffe00000"),
            (4294967295.5, "cb41effffffff00000"),
        ];
        for (x, want) in nums {
            assert_eq!(p(n(*x)), *want, "pack({x})");
        }
        assert_eq!(p(n(-f64::NAN)), "cbfff8000000000000");
        assert_eq!(p(Value::Nil), "c0");
        assert_eq!(p(Value::Bool(true)), "c3");
        assert_eq!(p(Value::Bool(false)), "c2");
        assert_eq!(p(Value::str(b"")), "a0");
        assert_eq!(p(Value::str(b"abc")), "a3616263");
        assert_eq!(&p(Value::str(&[b'a'; 31]))[..2], "bf");
        assert_eq!(&p(Value::str(&[b'a'; 32]))[..4], "d920");
        assert_eq!(&p(Value::str(&[b'x'; 256]))[..6], "da0100");
        assert_eq!(&p(Value::str(&[b'x'; 65536]))[..10], "db00010000");
        assert_eq!(p(table(vec![])), "90");
        assert_eq!(p(arr(vec![n(1.0), n(2.0), n(3.0)])), "93010203");
        let a = Value::str(b"a");
        assert_eq!(p(table(vec![(a.clone(), n(1.0))])), "81a16101");
        assert_eq!(
            p(table(vec![
                (n(1.0), n(1.0)),
                (n(2.0), n(2.0)),
                (a.clone(), n(1.0))
            ])),
            "8301010202a16101"
        );
        assert_eq!(p(table(vec![(n(2.0), n(1.0))])), "810201");
        assert_eq!(p(table(vec![(n(1.5), n(1.0))])), "81ca3fc0000001");
        assert_eq!(p(table(vec![(n(0.0), n(1.0))])), "810001");
        assert_eq!(p(table(vec![(Value::Bool(true), n(1.0))])), "81c301");
        let f = Value::Func(FuncRef::native("f", mp_pack));
        assert_eq!(p(f.clone()), "c0");
        assert_eq!(p(table(vec![(Value::str(b"f"), f)])), "81a166c0");
        let multi = pack(
            &[arr(vec![n(1.0), n(2.0), n(3.0)]), Value::str(b"x"), n(1.5)],
            None,
        );
        assert_eq!(hex(&multi), "93010203a178ca3fc00000");
        // 20 nested tables: 16 packed, the rest nil.
        let mut v = arr(vec![n(1.0)]);
        for _ in 0..19 {
            v = arr(vec![v]);
        }
        assert_eq!(p(v), format!("{}c0", "91".repeat(16)));
        let null = TableRef::default();
        assert_eq!(hex(&pack(&[Value::Table(null.clone())], Some(&null))), "c0");
    }

    fn show(v: &Value) -> String {
        match v {
            Value::Table(t) => {
                let mut parts: Vec<String> =
                    t.0.borrow()
                        .entries()
                        .map(|(k, v)| format!("{}={}", show(&k), show(&v)))
                        .collect();
                parts.sort();
                format!("{{{}}}", parts.join(","))
            }
            Value::Num(x) => format!("{x}"),
            other => format!("{other:?}"),
        }
    }

    fn u(h: &str, limit: i64, offset: i64) -> String {
        match unpack(&unhex(h), limit, offset) {
            Ok(vs) => vs.iter().map(show).collect::<Vec<_>>().join(" "),
            Err(Fail::Msg(m)) => format!("ERR:{m}"),
            Err(Fail::Raw(m)) => format!("RAW:{m}"),
        }
    }

    #[test]
    fn unpack_matches_redis() {
        assert_eq!(u("93010203a178ca3fc00000", 0, 0), "{1=1,2=2,3=3} \"x\" 1.5");
        assert_eq!(u("", 0, 0), "");
        assert_eq!(u("93", 0, 0), "ERR:Missing bytes in input.");
        assert_eq!(u("9301", 0, 0), "ERR:Missing bytes in input.");
        for bad in ["c1", "c7", "c70100", "d40100", "c40161", "c401", "81c1c1"] {
            assert_eq!(u(bad, 0, 0), "ERR:Bad data format in input.", "{bad}");
        }
        assert_eq!(u("cd01", 0, 0), "ERR:Missing bytes in input.");
        assert_eq!(u("d9", 0, 0), "ERR:Missing bytes in input.");
        assert_eq!(u("0193", 0, 0), "ERR:Missing bytes in input.");
        assert_eq!(u("cfffffffffffffffff", 0, 0), "-1");
        assert_eq!(u("d3ffffffffffffffff", 0, 0), "-1");
        assert_eq!(u("92c0c0", 0, 0), "{}");
        assert_eq!(u("82c001a10102", 0, 0), "RAW:table index is nil");
        assert_eq!(u("81ca7fc0000001", 0, 0), "RAW:table index is NaN");
        assert_eq!(u("01020304", 0, 0), "1 2 3 4");
        assert_eq!(u("01020304", 1, 0), "1 1");
        assert_eq!(u("01020304", 1, 2), "3 3");
        assert_eq!(u("01020304", 1, 4), "-1");
        assert_eq!(
            u("01020304", 1, 5),
            "ERR:Start offset 5 greater than input length 4."
        );
        assert_eq!(
            u("01020304", 1, -1),
            "ERR:Invalid request to unpack with offset of -1 and limit of 4."
        );
        assert_eq!(u("01020304", 2, 0), "2 1 2");
        assert_eq!(u("01020304", 2, 3), "-1 4");
        assert_eq!(
            u("01020304", -1, 0),
            "ERR:Invalid request to unpack with offset of 0 and limit of 4."
        );
        assert_eq!(u("01020304", 10, 4), "-1");
        assert_eq!(u("", 1, 0), "-1");
        assert_eq!(u("c0", 1, 0), "-1 nil");
        assert_eq!(u("c0c0", 0, 0), "nil nil");
        assert_eq!(u("dc000101", 0, 0), "{1=1}");
        assert_eq!(u("de000101a0", 0, 0), "{1=\"\"}");
        assert_eq!(u("dd0000000101", 0, 0), "{1=1}");
        assert_eq!(u("ce80000000", 0, 0), "2147483648");
        assert_eq!(u("d2ffffffff", 0, 0), "-1");
        assert_eq!(u("ca3dcccccd", 0, 0), format!("{}", 0.1f32 as f64));
        assert_eq!(u("e0", 0, 0), "-32");
        assert_eq!(u("da0001ff", 0, 0), "\"\u{fffd}\"");
    }

    #[test]
    fn unpack_limits() {
        // Dropping 4000 nested tables recurses: give the test room.
        std::thread::Builder::new()
            .stack_size(32 << 20)
            .spawn(|| {
                let deep = |k: usize, unit: &str| unhex(&format!("{}01", unit.repeat(k)));
                let ok = |b: Vec<u8>| matches!(unpack(&b, 0, 0).as_deref(), Ok([Value::Table(_)]));
                let err = |b: Vec<u8>| match unpack(&b, 0, 0) {
                    Err(Fail::Msg(m)) => m,
                    _ => String::new(),
                };
                assert!(ok(deep(3999, "91")));
                assert_eq!(
                    err(deep(4000, "91")),
                    "stack overflow (in function mp_decode_to_lua_array)"
                );
                assert!(ok(deep(3999, "8101")));
                assert!(err(deep(4000, "8101")).starts_with("stack overflow (too many"));
                assert_eq!(unpack(&[1u8; 7999], 0, 0).unwrap().len(), 7999);
                assert!(unpack(&[1u8; 8000], 0, 0).is_err());
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn round_trip() {
        let v = table(vec![
            (
                Value::str(b"k"),
                arr(vec![n(1.0), n(-1e10), n(0.25), Value::str(&[7u8; 300])]),
            ),
            (n(3.5), Value::Bool(true)),
        ]);
        let b = pack(std::slice::from_ref(&v), None);
        let back = unpack(&b, 0, 0).unwrap();
        assert_eq!(show(&back[0]), show(&v));
        assert_eq!(pack(&back, None), b);
    }

    proptest::proptest! {
        #[test]
        fn unpack_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
                               limit in -2i64..4, offset in -2i64..70) {
            let _ = unpack(&bytes, 0, 0);
            let _ = unpack(&bytes, limit, offset);
        }
    }
}
