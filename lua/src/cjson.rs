//! `cjson`: JSON as lua-cjson 2.1.0 (the version Redis 7.0 ships) encodes and decodes it,
//! with its options and error texts.
//!
//! Differences from Redis, by design:
//! - `cjson.null` is a table here, not a lightuserdata: an empty read-only table made once per
//!   interpreter, recognised by identity. `cjson.decode('null') == cjson.null` holds,
//!   `cjson.encode(cjson.null)` is `null` and cmsgpack packs it as nil, but `type(cjson.null)`
//!   is `table` (Redis: `userdata`).
//! - Object members are written in `next` order: Lua 5.1's table layout, as in Redis.
//! - `cjson.new()` returns a new module table whose functions share the interpreter's
//!   options (lua-cjson gives each instance its own).
//!
//! Options set by a script (`cjson.encode_max_depth(5)` and friends) last for the interpreter,
//! as in Redis, where they last until the Lua state is recreated.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use crate::error::{arg, arg_error, check_str, type_error, LuaError};
use crate::value::{FuncRef, NativeFn, Ret, Table, TableRef, Value};
use crate::State;

/// lua-cjson's options.
#[derive(Clone, Debug)]
pub struct Config {
    pub encode_sparse_convert: bool,
    pub encode_sparse_ratio: i64,
    pub encode_sparse_safe: i64,
    pub encode_max_depth: i64,
    pub decode_max_depth: i64,
    /// 0: off (error), 1: on (`inf`, `nan`), 2: `null`.
    pub encode_invalid_numbers: u8,
    pub decode_invalid_numbers: bool,
    pub encode_keep_buffer: bool,
    pub encode_number_precision: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            encode_sparse_convert: false,
            encode_sparse_ratio: 2,
            encode_sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            encode_keep_buffer: true,
            encode_number_precision: 14,
        }
    }
}

/// One interpreter's cjson state: its options and its null.
struct PerState {
    globals: Weak<RefCell<Table>>,
    cfg: Config,
    null: TableRef,
}

thread_local! {
    static STATES: RefCell<Vec<PerState>> = const { RefCell::new(Vec::new()) };
}

fn new_null() -> TableRef {
    let mut t = Table::new();
    t.readonly = true;
    TableRef::new(t)
}

/// Runs `f` on the state of the interpreter whose globals are `globals`, made on first use.
fn with_state<R>(globals: &TableRef, f: impl FnOnce(&mut PerState) -> R) -> R {
    STATES.with(|s| {
        let mut s = s.borrow_mut();
        let at = s
            .iter()
            .position(|p| std::ptr::eq(p.globals.as_ptr(), Rc::as_ptr(&globals.0)));
        let i = match at {
            Some(i) => i,
            None => {
                s.retain(|p| p.globals.strong_count() > 0);
                s.push(PerState {
                    globals: Rc::downgrade(&globals.0),
                    cfg: Config::default(),
                    null: new_null(),
                });
                s.len() - 1
            }
        };
        f(&mut s[i])
    })
}

/// The `cjson.null` of `lua`, if cjson was opened there.
pub fn null_of(lua: &crate::Lua) -> Option<TableRef> {
    STATES.with(|s| {
        s.borrow()
            .iter()
            .find(|p| std::ptr::eq(p.globals.as_ptr(), Rc::as_ptr(&lua.globals.0)))
            .map(|p| p.null.clone())
    })
}

// ---------------------------------------------------------------------------------------
// Numbers

/// C's `%.{prec}g`.
pub fn fmt_g(n: f64, prec: usize) -> String {
    // lua-cjson prints every NaN as `nan`, whatever its sign bit (C's printf says `-nan`).
    if n.is_nan() {
        return "nan".into();
    }
    crate::number::format_g(n, prec.max(1), false)
}

// ---------------------------------------------------------------------------------------
// Encoding

fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

struct Encoder<'a> {
    cfg: &'a Config,
    null: Option<&'a TableRef>,
    out: Vec<u8>,
    arrays: usize,
    objects: usize,
}

/// How lua-cjson sees a table: an array of this length, or an object.
enum Shape {
    Array(usize),
    Object,
}

impl Encoder<'_> {
    fn number(&mut self, n: f64) -> Result<(), String> {
        if !n.is_finite() {
            match self.cfg.encode_invalid_numbers {
                0 => return Err("Cannot serialise number: must not be NaN or Inf".into()),
                2 => {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
                _ => {}
            }
        }
        let s = fmt_g(n, self.cfg.encode_number_precision);
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    /// lua-cjson's array test, down to its `int` arithmetic: a key above `INT_MAX` makes
    /// the running maximum `INT_MIN` on x86-64, which turns the table into an object.
    fn shape(&self, t: &Table) -> Result<Shape, String> {
        let mut max: i32 = 0;
        let mut items: i64 = 0;
        for (k, _) in t.entries() {
            match k {
                Value::Num(k) if k.floor() == k && k >= 1.0 => {
                    if k > max as f64 {
                        max = if k < 2_147_483_648.0 {
                            k as i32
                        } else {
                            i32::MIN
                        };
                    }
                    items += 1;
                }
                _ => return Ok(Shape::Object),
            }
        }
        let ratio = self.cfg.encode_sparse_ratio;
        let max64 = max as i64;
        if ratio > 0 && max64 > items * ratio && max64 > self.cfg.encode_sparse_safe {
            if !self.cfg.encode_sparse_convert {
                return Err("Cannot serialise table: excessively sparse array".into());
            }
            return Ok(Shape::Object);
        }
        Ok(if max > 0 {
            Shape::Array(max as usize)
        } else {
            Shape::Object
        })
    }

    fn value(&mut self, v: &Value, depth: usize) -> Result<(), String> {
        match v {
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::Bool(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Num(n) => self.number(*n)?,
            Value::Str(s) => escape_into(&mut self.out, s),
            Value::Func(_) => return Err("Cannot serialise function: type not supported".into()),
            Value::Table(t) => {
                if self.null.is_some_and(|z| Rc::ptr_eq(&z.0, &t.0)) {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
                let depth = depth + 1;
                let shape = self.shape(&t.0.borrow())?;
                let (a, o) = match shape {
                    Shape::Array(_) => (self.arrays + 1, self.objects),
                    Shape::Object => (self.arrays, self.objects + 1),
                };
                // Past the configured depth, or past what Lua's C stack allowed in Redis.
                if depth as i64 > self.cfg.encode_max_depth
                    || a + 2 * o > 7998
                    || (o == 0 && a > 7997)
                {
                    return Err(format!("Cannot serialise, excessive nesting ({depth})"));
                }
                (self.arrays, self.objects) = (a, o);
                let r = match shape {
                    Shape::Array(n) => self.array(t, n, depth),
                    Shape::Object => self.object(t, depth),
                };
                (self.arrays, self.objects) = match shape {
                    Shape::Array(_) => (a - 1, o),
                    Shape::Object => (a, o - 1),
                };
                r?;
            }
        }
        Ok(())
    }

    fn array(&mut self, t: &TableRef, n: usize, depth: usize) -> Result<(), String> {
        self.out.push(b'[');
        for i in 1..=n {
            if i > 1 {
                self.out.push(b',');
            }
            let v = t.0.borrow().get_int(i as i64);
            self.value(&v, depth)?;
        }
        self.out.push(b']');
        Ok(())
    }

    fn object(&mut self, t: &TableRef, depth: usize) -> Result<(), String> {
        let entries: Vec<(Value, Value)> = t.0.borrow().entries().collect();
        self.out.push(b'{');
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            match k {
                Value::Str(s) => escape_into(&mut self.out, s),
                Value::Num(n) => {
                    self.out.push(b'"');
                    self.number(*n)?;
                    self.out.push(b'"');
                }
                other => {
                    return Err(format!(
                        "Cannot serialise {}: table key must be a number or string",
                        other.type_name()
                    ))
                }
            }
            self.out.push(b':');
            self.value(v, depth)?;
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// `cjson.encode(v)`; `null` is the interpreter's `cjson.null`. Errors are lua-cjson's texts.
pub fn encode(v: &Value, cfg: &Config, null: Option<&TableRef>) -> Result<Vec<u8>, String> {
    let mut e = Encoder {
        cfg,
        null,
        out: Vec::new(),
        arrays: 0,
        objects: 0,
    };
    e.value(v, 0)?;
    Ok(e.out)
}

// ---------------------------------------------------------------------------------------
// Decoding

enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Tok {
    fn name(&self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str(_) => "T_STRING",
            Tok::Num(_) => "T_NUMBER",
            Tok::Bool(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(e) => e,
        }
    }
}

/// lua-cjson's test for numbers JSON does not allow (`+1`, `0x1`, `01`, `inf`, `nan`).
fn is_invalid_number(p: &[u8]) -> bool {
    let at = |i: usize| p.get(i).copied().unwrap_or(0);
    if at(0) == b'+' {
        return true;
    }
    let i = usize::from(at(0) == b'-');
    if at(i) == b'0' {
        let n = at(i + 1);
        return n.is_ascii_digit() || n == b'x' || n == b'X';
    }
    if at(i) <= b'9' {
        return false;
    }
    let rest = &p[i..];
    rest.len() >= 3
        && (rest[..3].eq_ignore_ascii_case(b"inf") || rest[..3].eq_ignore_ascii_case(b"nan"))
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
    invalid_numbers: bool,
}

impl Lexer<'_> {
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    /// The next token and the (0-based) index errors report for it.
    fn next(&mut self) -> (Tok, usize) {
        while matches!(self.at(self.i), b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
        let start = self.i;
        let c = self.at(start);
        let single = match c {
            0 => return (Tok::End, start),
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b':' => Some(Tok::Colon),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = single {
            self.i += 1;
            return (t, start);
        }
        if c == b'"' {
            return self.string(start);
        }
        let rest = &self.s[start..];
        if c == b'-' || c.is_ascii_digit() {
            if !self.invalid_numbers && is_invalid_number(rest) {
                return (Tok::Error("invalid number"), start);
            }
            return self.number(start);
        }
        if self.invalid_numbers && is_invalid_number(rest) {
            return self.number(start);
        }
        for (word, tok) in [
            (&b"true"[..], Tok::Bool(true)),
            (b"false", Tok::Bool(false)),
            (b"null", Tok::Null),
        ] {
            if rest.starts_with(word) {
                self.i += word.len();
                return (tok, start);
            }
        }
        (Tok::Error("invalid token"), start)
    }

    fn number(&mut self, start: usize) -> (Tok, usize) {
        let end = self.s[start..]
            .iter()
            .position(|&b| b == 0)
            .map_or(self.s.len(), |p| start + p);
        // C's strtod, as lua-cjson reads numbers (whitespace is already skipped here).
        let (v, n) = crate::number::strtod(&self.s[start..end]).unwrap_or((0.0, 0));
        if n == 0 {
            return (Tok::Error("invalid number"), start);
        }
        self.i = start + n;
        (Tok::Num(v), start)
    }

    fn hex4(&self, i: usize) -> Option<u32> {
        let mut v = 0;
        for k in 0..4 {
            v = (v << 4) | (self.at(i + k) as char).to_digit(16)?;
        }
        Some(v)
    }

    /// A `\uXXXX` escape (and its low surrogate) at `i`: the code point and its length.
    fn unicode(&self, i: usize) -> Option<(u32, usize)> {
        let hi = self.hex4(i + 2)?;
        if (0xdc00..0xe000).contains(&hi) {
            return None;
        }
        if !(0xd800..0xdc00).contains(&hi) {
            return Some((hi, 6));
        }
        if self.at(i + 6) != b'\\' || self.at(i + 7) != b'u' {
            return None;
        }
        let lo = self.hex4(i + 8)?;
        if !(0xdc00..0xe000).contains(&lo) {
            return None;
        }
        Some((0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00), 12))
    }

    fn string(&mut self, start: usize) -> (Tok, usize) {
        let mut out = Vec::new();
        let mut i = start + 1;
        loop {
            let c = self.at(i);
            match c {
                0 => return (Tok::Error("unexpected end of string"), i),
                b'"' => break,
                b'\\' => {
                    let esc = match self.at(i + 1) {
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'u' => {
                            let Some((cp, len)) = self.unicode(i) else {
                                return (Tok::Error("invalid unicode escape code"), i);
                            };
                            let ch = char::from_u32(cp).expect("no surrogates left");
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            i += len;
                            continue;
                        }
                        _ => return (Tok::Error("invalid escape code"), i),
                    };
                    out.push(esc);
                    i += 2;
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        self.i = i + 1;
        (Tok::Str(out), start)
    }
}

fn expected(what: &str, tok: &Tok, at: usize) -> String {
    format!(
        "Expected {what} but found {} at character {}",
        tok.name(),
        at + 1
    )
}

/// A container being filled.
enum Frame {
    Arr(Table, usize),
    Obj(Table, Value),
}

/// `cjson.decode(s)`; `null` is what JSON's null becomes. Errors are lua-cjson's texts.
pub fn decode(s: &[u8], cfg: &Config, null: &Value) -> Result<Value, String> {
    if s.len() >= 2 && (s[0] == 0 || s[1] == 0) {
        return Err("JSON parser does not support UTF-16 or UTF-32".into());
    }
    let mut lx = Lexer {
        s,
        i: 0,
        invalid_numbers: cfg.decode_invalid_numbers,
    };
    let mut stack: Vec<Frame> = Vec::new();
    let (mut arrays, mut objects) = (0usize, 0usize);
    let (mut tok, mut at) = lx.next();
    'value: loop {
        // Parse one value starting at `tok`.
        let mut v = match tok {
            Tok::Str(b) => Value::str(&b),
            Tok::Num(n) => Value::Num(n),
            Tok::Bool(b) => Value::Bool(b),
            Tok::Null => null.clone(),
            Tok::ObjBegin | Tok::ArrBegin => {
                let is_arr = matches!(tok, Tok::ArrBegin);
                let depth = stack.len() + 1;
                let (a, o) = if is_arr {
                    (arrays + 1, objects)
                } else {
                    (arrays, objects + 1)
                };
                if depth as i64 > cfg.decode_max_depth || a + 2 * o > 7998 {
                    return Err(format!(
                        "Found too many nested data structures ({depth}) at character {}",
                        at + 1
                    ));
                }
                (tok, at) = lx.next();
                if is_arr {
                    if matches!(tok, Tok::ArrEnd) {
                        Value::Table(TableRef::default())
                    } else {
                        arrays += 1;
                        stack.push(Frame::Arr(Table::new(), 1));
                        continue 'value;
                    }
                } else {
                    match tok {
                        Tok::ObjEnd => Value::Table(TableRef::default()),
                        Tok::Str(key) => {
                            (tok, at) = lx.next();
                            if !matches!(tok, Tok::Colon) {
                                return Err(expected("colon", &tok, at));
                            }
                            objects += 1;
                            stack.push(Frame::Obj(Table::new(), Value::str(&key)));
                            (tok, at) = lx.next();
                            continue 'value;
                        }
                        _ => return Err(expected("object key string", &tok, at)),
                    }
                }
            }
            _ => return Err(expected("value", &tok, at)),
        };
        // Hand `v` to the container it belongs to, closing containers as they end.
        loop {
            match stack.last_mut() {
                None => {
                    (tok, at) = lx.next();
                    if !matches!(tok, Tok::End) {
                        return Err(expected("the end", &tok, at));
                    }
                    return Ok(v);
                }
                Some(Frame::Arr(t, i)) => {
                    let _ = t.set(Value::Num(*i as f64), v);
                    *i += 1;
                    (tok, at) = lx.next();
                    match tok {
                        Tok::ArrEnd => {
                            let Some(Frame::Arr(t, _)) = stack.pop() else {
                                unreachable!()
                            };
                            arrays -= 1;
                            v = Value::Table(TableRef::new(t));
                        }
                        Tok::Comma => {
                            (tok, at) = lx.next();
                            continue 'value;
                        }
                        _ => return Err(expected("comma or array end", &tok, at)),
                    }
                }
                Some(Frame::Obj(t, key)) => {
                    let _ = t.set(std::mem::take(key), v);
                    (tok, at) = lx.next();
                    match tok {
                        Tok::ObjEnd => {
                            let Some(Frame::Obj(t, _)) = stack.pop() else {
                                unreachable!()
                            };
                            objects -= 1;
                            v = Value::Table(TableRef::new(t));
                        }
                        Tok::Comma => {
                            (tok, at) = lx.next();
                            let Tok::Str(k) = tok else {
                                return Err(expected("object key string", &tok, at));
                            };
                            *key = Value::str(&k);
                            (tok, at) = lx.next();
                            if !matches!(tok, Tok::Colon) {
                                return Err(expected("colon", &tok, at));
                            }
                            (tok, at) = lx.next();
                            continue 'value;
                        }
                        _ => return Err(expected("comma or object end", &tok, at)),
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The Lua functions

fn state_cfg(st: &State<'_>) -> (Config, TableRef) {
    with_state(&st.lua.globals, |p| (p.cfg.clone(), p.null.clone()))
}

fn update_cfg(st: &State<'_>, f: impl FnOnce(&mut Config)) {
    with_state(&st.lua.globals, |p| f(&mut p.cfg));
}

fn one_arg(st: &State<'_>, args: &[Value], name: &str) -> Result<(), LuaError> {
    if args.len() != 1 {
        return Err(arg_error(st, 0, name, "expected 1 argument"));
    }
    Ok(())
}

fn cj_encode(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    one_arg(st, &args, "encode")?;
    let (cfg, null) = state_cfg(st);
    match encode(&args[0], &cfg, Some(&null)) {
        Ok(s) => Ok(vec![Value::str(&s)]),
        Err(m) => Err(st.error(m)),
    }
}

fn cj_decode(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    one_arg(st, &args, "decode")?;
    let s = check_str(st, &args, 0, "decode")?;
    let (cfg, null) = state_cfg(st);
    match decode(&s, &cfg, &Value::Table(null)) {
        Ok(v) => Ok(vec![v]),
        Err(m) => Err(st.error(m)),
    }
}

fn too_many_args(st: &State<'_>, args: &[Value], max: usize, name: &str) -> Result<(), LuaError> {
    if args.len() > max {
        return Err(arg_error(st, max, name, "found too many arguments"));
    }
    Ok(())
}

/// An enum option (lua-cjson's `json_enum_option`): None when nil/absent, else the index in
/// `options`; booleans map to 0/`bool_true` when `bool_true` is given.
fn enum_option(
    st: &State<'_>,
    args: &[Value],
    i: usize,
    name: &str,
    options: &[&str],
    bool_true: Option<u8>,
) -> Result<Option<u8>, LuaError> {
    match arg(args, i) {
        Value::Nil => Ok(None),
        Value::Bool(b) if bool_true.is_some() => {
            Ok(Some(if *b { bool_true.unwrap_or(1) } else { 0 }))
        }
        v => {
            let Some(s) = v.to_lstr() else {
                return Err(type_error(st, args, i, name, "string"));
            };
            match options.iter().position(|o| o.as_bytes() == &s[..]) {
                Some(k) => Ok(Some(k as u8)),
                None => Err(arg_error(
                    st,
                    i,
                    name,
                    &format!("invalid option '{}'", String::from_utf8_lossy(&s)),
                )),
            }
        }
    }
}

/// What an enum option reads back as: true/false for on/off, else the option's name.
fn enum_value(options: &[&str], v: u8, bool_true: u8) -> Value {
    if v == bool_true {
        Value::Bool(true)
    } else if v == 0 {
        Value::Bool(false)
    } else {
        Value::str(options[v as usize].as_bytes())
    }
}

/// An integer option in `min..=max` (errors name argument #1, as lua-cjson's do).
fn int_option(
    st: &State<'_>,
    args: &[Value],
    i: usize,
    name: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, LuaError> {
    match arg(args, i) {
        Value::Nil => Ok(None),
        v => {
            let Some(n) = v.to_number() else {
                return Err(type_error(st, args, i, name, "number"));
            };
            let n = n as i64;
            if n < min || n > max {
                return Err(arg_error(
                    st,
                    0,
                    name,
                    &format!("expected integer between {min} and {max}"),
                ));
            }
            Ok(Some(n))
        }
    }
}

const BOOL_OPTS: [&str; 2] = ["off", "on"];
const INT_MAX: i64 = i32::MAX as i64;

fn cj_encode_sparse_array(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let name = "encode_sparse_array";
    too_many_args(st, &args, 3, name)?;
    let convert = enum_option(st, &args, 0, name, &BOOL_OPTS, Some(1))?;
    let ratio = int_option(st, &args, 1, name, 0, INT_MAX)?;
    let safe = int_option(st, &args, 2, name, 0, INT_MAX)?;
    let mut out = Config::default();
    update_cfg(st, |c| {
        if let Some(v) = convert {
            c.encode_sparse_convert = v == 1;
        }
        if let Some(v) = ratio {
            c.encode_sparse_ratio = v;
        }
        if let Some(v) = safe {
            c.encode_sparse_safe = v;
        }
        out = c.clone();
    });
    Ok(vec![
        Value::Bool(out.encode_sparse_convert),
        Value::Num(out.encode_sparse_ratio as f64),
        Value::Num(out.encode_sparse_safe as f64),
    ])
}

fn int_setting(
    st: &State<'_>,
    args: &[Value],
    name: &str,
    max: i64,
    field: fn(&mut Config) -> &mut i64,
) -> Ret {
    too_many_args(st, args, 1, name)?;
    let v = int_option(st, args, 0, name, 1, max)?;
    let mut now = 0;
    update_cfg(st, |c| {
        let f = field(c);
        if let Some(v) = v {
            *f = v;
        }
        now = *f;
    });
    Ok(vec![Value::Num(now as f64)])
}

fn cj_encode_max_depth(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    int_setting(st, &args, "encode_max_depth", INT_MAX, |c| {
        &mut c.encode_max_depth
    })
}

fn cj_decode_max_depth(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    int_setting(st, &args, "decode_max_depth", INT_MAX, |c| {
        &mut c.decode_max_depth
    })
}

fn cj_encode_number_precision(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let name = "encode_number_precision";
    too_many_args(st, &args, 1, name)?;
    let v = int_option(st, &args, 0, name, 1, 14)?;
    let mut now = 0;
    update_cfg(st, |c| {
        if let Some(v) = v {
            c.encode_number_precision = v as usize;
        }
        now = c.encode_number_precision;
    });
    Ok(vec![Value::Num(now as f64)])
}

fn bool_setting(
    st: &State<'_>,
    args: &[Value],
    name: &str,
    options: &[&str],
    field: fn(&mut Config) -> &mut u8,
) -> Ret {
    too_many_args(st, args, 1, name)?;
    let v = enum_option(st, args, 0, name, options, Some(1))?;
    let mut now = 0;
    update_cfg(st, |c| {
        let f = field(c);
        if let Some(v) = v {
            *f = v;
        }
        now = *f;
    });
    Ok(vec![enum_value(options, now, 1)])
}

fn cj_encode_invalid_numbers(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    bool_setting(
        st,
        &args,
        "encode_invalid_numbers",
        &["off", "on", "null"],
        |c| &mut c.encode_invalid_numbers,
    )
}

/// Options kept as bool in [`Config`] go through a u8 copy.
fn bool_field(
    st: &State<'_>,
    args: &[Value],
    name: &str,
    get: fn(&mut Config) -> &mut bool,
) -> Ret {
    too_many_args(st, args, 1, name)?;
    let v = enum_option(st, args, 0, name, &BOOL_OPTS, Some(1))?;
    let mut now = false;
    update_cfg(st, |c| {
        let f = get(c);
        if let Some(v) = v {
            *f = v == 1;
        }
        now = *f;
    });
    Ok(vec![Value::Bool(now)])
}

fn cj_decode_invalid_numbers(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    bool_field(st, &args, "decode_invalid_numbers", |c| {
        &mut c.decode_invalid_numbers
    })
}

fn cj_encode_keep_buffer(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    bool_field(st, &args, "encode_keep_buffer", |c| {
        &mut c.encode_keep_buffer
    })
}

fn cj_new(st: &mut State<'_>, _args: Vec<Value>) -> Ret {
    let null = with_state(&st.lua.globals, |p| p.null.clone());
    Ok(vec![Value::Table(module_table(null))])
}

const FUNCS: [(&str, NativeFn); 10] = [
    ("encode", cj_encode),
    ("decode", cj_decode),
    ("encode_sparse_array", cj_encode_sparse_array),
    ("encode_max_depth", cj_encode_max_depth),
    ("decode_max_depth", cj_decode_max_depth),
    ("encode_number_precision", cj_encode_number_precision),
    ("encode_keep_buffer", cj_encode_keep_buffer),
    ("encode_invalid_numbers", cj_encode_invalid_numbers),
    ("decode_invalid_numbers", cj_decode_invalid_numbers),
    ("new", cj_new),
];

fn module_table(null: TableRef) -> TableRef {
    let mut t = Table::new();
    for (name, f) in FUNCS {
        t.set_str(name, Value::Func(FuncRef::native(name, f)));
    }
    t.set_str("null", Value::Table(null));
    t.set_str("_NAME", Value::str(b"cjson"));
    t.set_str("_VERSION", Value::str(b"2.1.0"));
    TableRef::new(t)
}

/// Creates the global `cjson` (with fresh options and a fresh `cjson.null`).
pub fn open(lua: &mut crate::Lua) {
    let null = new_null();
    let globals = lua.globals.clone();
    with_state(&globals, |p| {
        p.cfg = Config::default();
        p.null = null.clone();
    });
    let t = module_table(null);
    lua.globals.0.borrow_mut().set_str("cjson", Value::Table(t));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{arr, n, s, table};

    fn enc_cfg(v: &Value, cfg: &Config) -> String {
        match encode(v, cfg, None) {
            Ok(b) => String::from_utf8(b).unwrap(),
            Err(e) => format!("ERR:{e}"),
        }
    }

    fn enc(v: &Value) -> String {
        enc_cfg(v, &Config::default())
    }

    /// What the Redis test script printed: `T:<json>` for tables, `type:tostring` otherwise.
    fn dec_cfg(j: &[u8], cfg: &Config) -> String {
        let null = new_null();
        match decode(j, cfg, &Value::Table(null.clone())) {
            Err(e) => format!("ERR:{e}"),
            Ok(Value::Table(t)) if Rc::ptr_eq(&t.0, &null.0) => "null".into(),
            Ok(v @ Value::Table(_)) => {
                format!(
                    "T:{}",
                    String::from_utf8(encode(&v, cfg, Some(&null)).unwrap()).unwrap()
                )
            }
            Ok(Value::Num(x)) => format!("number:{}", fmt_g(x, 14)),
            Ok(Value::Str(b)) => format!("string:{}", String::from_utf8_lossy(&b)),
            Ok(Value::Bool(b)) => format!("boolean:{b}"),
            Ok(v) => format!("{v:?}"),
        }
    }

    fn dec(j: &str) -> String {
        dec_cfg(j.as_bytes(), &Config::default())
    }

    #[test]
    fn percent_g() {
        let cases: [(f64, &str); 16] = [
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e100, "1e+100"),
            (-0.0, "-0"),
            (2f64.powi(53), "9.007199254741e+15"),
            (123456789012345678.0, "1.2345678901235e+17"),
            (-1.5e-7, "-1.5e-07"),
            (1e15, "1e+15"),
            (1e14, "1e+14"),
            (123456789012345.0, "1.2345678901234e+14"),
            (0.1 + 0.2, "0.3"),
            (1e-5, "1e-05"),
            (123e-7, "1.23e-05"),
            (5e-324, "4.9406564584125e-324"),
            (f64::MAX, "1.7976931348623e+308"),
            (100000.0, "100000"),
        ];
        for (x, want) in cases {
            assert_eq!(fmt_g(x, 14), want, "{x}");
        }
        assert_eq!(fmt_g(1.23456, 3), "1.23");
        assert_eq!(fmt_g(1234567.0, 3), "1.23e+06");
        assert_eq!(fmt_g(0.0001234, 3), "0.000123");
    }

    #[test]
    fn encode_matches_redis() {
        let inner = table(vec![(s("a"), n(1.0))]);
        assert_eq!(enc(&arr(vec![n(1.0), n(2.0), inner])), r#"[1,2,{"a":1}]"#);
        assert_eq!(
            enc(&table(vec![
                (n(1.0), n(1.0)),
                (n(2.0), n(2.0)),
                (n(4.0), n(4.0))
            ])),
            "[1,2,null,4]"
        );
        assert_eq!(
            enc(&table(vec![
                (n(1.0), n(1.0)),
                (n(2.0), n(2.0)),
                (n(40.0), n(4.0))
            ])),
            "ERR:Cannot serialise table: excessively sparse array"
        );
        assert_eq!(
            enc(&table(vec![(Value::Bool(true), n(1.0))])),
            "ERR:Cannot serialise boolean: table key must be a number or string"
        );
        assert_eq!(
            enc(&table(vec![(table(vec![]), n(1.0))])),
            "ERR:Cannot serialise table: table key must be a number or string"
        );
        assert_eq!(
            encode(
                &table(vec![(
                    s("a"),
                    Value::str(b"/\"\\\x08\x0c\n\r\t\x01\x7f\x80")
                )]),
                &Config::default(),
                None
            )
            .unwrap(),
            b"{\"a\":\"\\/\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u007f\x80\"}"
        );
        assert_eq!(
            encode(
                &Value::str(b"\x1f\x7f\x80\xff\x00"),
                &Config::default(),
                None
            )
            .unwrap(),
            b"\"\\u001f\\u007f\x80\xff\\u0000\""
        );
        assert_eq!(
            enc(&arr(vec![
                n(1.5),
                n(0.1),
                n(1e100),
                n(-0.0),
                n(2f64.powi(53)),
                n(123456789012345678.0)
            ])),
            "[1.5,0.1,1e+100,-0,9.007199254741e+15,1.2345678901235e+17]"
        );
        assert_eq!(
            enc(&n(f64::NAN)),
            "ERR:Cannot serialise number: must not be NaN or Inf"
        );
        assert_eq!(enc(&table(vec![])), "{}");
        assert_eq!(enc(&Value::Nil), "null");
        assert_eq!(enc(&s("x")), "\"x\"");
        assert_eq!(enc(&Value::Bool(false)), "false");
        assert_eq!(
            enc(&table(vec![
                (n(1.0), n(1.0)),
                (n(2.0), n(2.0)),
                (s("a"), n(1.0))
            ])),
            r#"{"1":1,"2":2,"a":1}"#
        );
        assert_eq!(enc(&table(vec![(n(1.5), s("a"))])), r#"{"1.5":"a"}"#);
        assert_eq!(enc(&table(vec![(n(0.0), n(1.0))])), r#"{"0":1}"#);
        assert_eq!(enc(&table(vec![(n(-1.0), n(1.0))])), r#"{"-1":1}"#);
        assert_eq!(
            enc(&table(vec![(n(f64::INFINITY), n(1.0))])),
            "ERR:Cannot serialise number: must not be NaN or Inf"
        );
        assert_eq!(
            enc(&table(vec![(n(11.0), n(1.0))])),
            "ERR:Cannot serialise table: excessively sparse array"
        );
        assert_eq!(
            enc(&table(vec![(n(10.0), n(1.0))])),
            "[null,null,null,null,null,null,null,null,null,1]"
        );
        let mut six: Vec<(Value, Value)> = (1..=5).map(|i| (n(i as f64), n(i as f64))).collect();
        six.push((n(12.0), n(1.0)));
        assert_eq!(
            enc(&table(six)),
            "[1,2,3,4,5,null,null,null,null,null,null,1]"
        );
        assert_eq!(
            enc(&arr(vec![table(vec![]), arr(vec![table(vec![])])])),
            "[{},[{}]]"
        );
        assert_eq!(
            enc(&table(vec![(n(2f64.powi(53)), n(1.0))])),
            r#"{"9.007199254741e+15":1}"#
        );
        assert_eq!(
            enc(&table(vec![(n(2147483647.0), n(1.0))])),
            "ERR:Cannot serialise table: excessively sparse array"
        );
        assert_eq!(
            enc(&table(vec![(n(2147483648.0), n(1.0))])),
            r#"{"2147483648":1}"#
        );
        assert_eq!(
            enc(&table(vec![
                (n(1.0), n(1.0)),
                (n(2.0), n(2.0)),
                (n(2147483648.0), n(1.0))
            ])),
            r#"{"1":1,"2":2,"2147483648":1}"#
        );
        assert_eq!(enc(&n(2f64.powi(63))), "9.2233720368548e+18");
        let f = Value::Func(FuncRef::native("f", cj_new));
        assert_eq!(enc(&f), "ERR:Cannot serialise function: type not supported");
        let null = new_null();
        assert_eq!(
            encode(
                &arr(vec![Value::Table(null.clone())]),
                &Config::default(),
                Some(&null)
            )
            .unwrap(),
            b"[null]"
        );
    }

    #[test]
    fn encode_options() {
        let mut cfg = Config {
            encode_invalid_numbers: 2,
            ..Config::default()
        };
        let bad = arr(vec![n(f64::INFINITY), n(f64::NEG_INFINITY), n(f64::NAN)]);
        assert_eq!(enc_cfg(&bad, &cfg), "[null,null,null]");
        cfg.encode_invalid_numbers = 1;
        assert_eq!(enc_cfg(&bad, &cfg), "[inf,-inf,nan]");
        cfg.encode_number_precision = 3;
        assert_eq!(
            enc_cfg(&arr(vec![n(1.23456), n(1234567.0), n(0.0001234)]), &cfg),
            "[1.23,1.23e+06,0.000123]"
        );
        let sparse = table(vec![(n(40.0), n(1.0)), (n(1.0), n(2.0))]);
        cfg.encode_sparse_convert = true;
        assert_eq!(enc_cfg(&sparse, &cfg), r#"{"1":2,"40":1}"#);
        cfg.encode_sparse_ratio = 0;
        cfg.encode_sparse_convert = false;
        assert_eq!(enc_cfg(&table(vec![(n(1000.0), n(1.0))]), &cfg).len(), 4998);
        cfg.encode_max_depth = 2;
        assert_eq!(
            enc_cfg(&arr(vec![arr(vec![arr(vec![n(1.0)])])]), &cfg),
            "ERR:Cannot serialise, excessive nesting (3)"
        );
    }

    #[test]
    fn encode_depth_limits() {
        let t = TableRef::default();
        t.0.borrow_mut()
            .set(n(1.0), Value::Table(t.clone()))
            .unwrap();
        let v = Value::Table(t.clone());
        assert_eq!(enc(&v), "ERR:Cannot serialise, excessive nesting (1001)");
        let cfg = Config {
            encode_max_depth: 100_000,
            ..Config::default()
        };
        let deep = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                let t = TableRef::default();
                t.0.borrow_mut()
                    .set(n(1.0), Value::Table(t.clone()))
                    .unwrap();
                let a = enc_cfg(&Value::Table(t.clone()), &cfg);
                t.0.borrow_mut().set(n(1.0), Value::Nil).unwrap();
                let o = TableRef::default();
                o.0.borrow_mut().set_str("a", Value::Table(o.clone()));
                let b = enc_cfg(&Value::Table(o.clone()), &cfg);
                o.0.borrow_mut().set_str("a", Value::Nil);
                (a, b)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(deep.0, "ERR:Cannot serialise, excessive nesting (7998)");
        assert_eq!(deep.1, "ERR:Cannot serialise, excessive nesting (4000)");
        t.0.borrow_mut().set(n(1.0), Value::Nil).unwrap();
    }

    #[test]
    fn decode_matches_redis() {
        let cases: &[(&str, &str)] = &[
            ("[1,", "ERR:Expected value but found T_END at character 4"),
            ("", "ERR:Expected value but found T_END at character 1"),
            (" ", "ERR:Expected value but found T_END at character 2"),
            (
                "x",
                "ERR:Expected value but found invalid token at character 1",
            ),
            (
                "{1:2}",
                "ERR:Expected object key string but found T_NUMBER at character 2",
            ),
            (
                "{\"a\" 1}",
                "ERR:Expected colon but found T_NUMBER at character 6",
            ),
            (
                "{\"a\":1,}",
                "ERR:Expected object key string but found T_OBJ_END at character 8",
            ),
            (
                "[1 2]",
                "ERR:Expected comma or array end but found T_NUMBER at character 4",
            ),
            (
                "[1,]",
                "ERR:Expected value but found T_ARR_END at character 4",
            ),
            (
                "\"abc",
                "ERR:Expected value but found unexpected end of string at character 5",
            ),
            (
                "1e",
                "ERR:Expected the end but found invalid token at character 2",
            ),
            (
                "-",
                "ERR:Expected value but found invalid number at character 1",
            ),
            ("01", "number:1"),
            ("0x10", "number:16"),
            ("1.5e3", "number:1500"),
            ("-0", "number:-0"),
            ("nan", "number:nan"),
            ("inf", "number:inf"),
            ("-inf", "number:-inf"),
            ("NaN", "number:nan"),
            ("Infinity", "number:inf"),
            ("true", "boolean:true"),
            (
                "tru",
                "ERR:Expected value but found invalid token at character 1",
            ),
            ("null", "null"),
            ("[null]", "T:[null]"),
            ("{\"a\":null}", "T:{\"a\":null}"),
            (
                "1 2",
                "ERR:Expected the end but found T_NUMBER at character 3",
            ),
            (
                "[1]x",
                "ERR:Expected the end but found invalid token at character 4",
            ),
            ("\"a\\tb\"", "string:a\tb"),
            ("\"\\/\\b\\f\"", "string:/\x08\x0c"),
            ("{\"1\":2}", "T:{\"1\":2}"),
            ("[[[]]]", "T:[[{}]]"),
            ("{}", "T:{}"),
            ("[]", "T:{}"),
            ("  [ 1 , 2 ]  ", "T:[1,2]"),
            ("1.7976931348623157e309", "number:inf"),
            (
                "123456789012345678901234567890",
                "number:1.2345678901235e+29",
            ),
            ("\"é\"", "string:é"),
            ("0.1e-2", "number:0.001"),
            (
                ".5",
                "ERR:Expected value but found invalid token at character 1",
            ),
            ("5.", "number:5"),
            ("+1", "number:1"),
            (
                "\"\\x\"",
                "ERR:Expected value but found invalid escape code at character 2",
            ),
            (
                "\"\\u12\"",
                "ERR:Expected value but found invalid unicode escape code at character 2",
            ),
            (
                "\"\\ud800\"",
                "ERR:Expected value but found invalid unicode escape code at character 2",
            ),
            (
                "\"\\ud800\\u0041\"",
                "ERR:Expected value but found invalid unicode escape code at character 2",
            ),
            ("\"\\ud83d\\ude00\"", "string:\u{1f600}"),
            ("\"\\u00e9\\u0000z\"", "string:é\0z"),
            (
                "\"\\uDFFF\"",
                "ERR:Expected value but found invalid unicode escape code at character 2",
            ),
            (
                "\"\\u0041\\ud800x\"",
                "ERR:Expected value but found invalid unicode escape code at character 8",
            ),
            (
                "\"\\U0041\"",
                "ERR:Expected value but found invalid escape code at character 2",
            ),
            (
                "\"a",
                "ERR:Expected value but found unexpected end of string at character 3",
            ),
            (
                "\"\\",
                "ERR:Expected value but found invalid escape code at character 2",
            ),
            (
                "\"\\u",
                "ERR:Expected value but found invalid unicode escape code at character 2",
            ),
            (
                "n",
                "ERR:Expected value but found invalid token at character 1",
            ),
            (
                "nulll",
                "ERR:Expected the end but found invalid token at character 5",
            ),
            (
                "I",
                "ERR:Expected value but found invalid token at character 1",
            ),
            (
                "-x",
                "ERR:Expected value but found invalid number at character 1",
            ),
            (
                "-i",
                "ERR:Expected value but found invalid number at character 1",
            ),
            (
                "+",
                "ERR:Expected value but found invalid number at character 1",
            ),
            (
                "1e+",
                "ERR:Expected the end but found invalid token at character 2",
            ),
            ("1e+2", "number:100"),
            (
                "0x",
                "ERR:Expected the end but found invalid token at character 2",
            ),
            ("0x1p3", "number:8"),
            ("infinity", "number:inf"),
            ("nan(123)", "number:nan"),
            (
                "Infinityx",
                "ERR:Expected the end but found invalid token at character 9",
            ),
            (
                "truex",
                "ERR:Expected the end but found invalid token at character 5",
            ),
            (
                "true1",
                "ERR:Expected the end but found T_NUMBER at character 5",
            ),
            ("[true,false]", "T:[true,false]"),
            ("{\"a\":1,\"a\":2}", "T:{\"a\":2}"),
            ("\"a\x01b\"", "string:a\x01b"),
            (
                "\u{feff}1",
                "ERR:Expected value but found invalid token at character 1",
            ),
            ("1e-400", "number:0"),
            ("-1e-400", "number:-0"),
            ("00.5", "number:0.5"),
            (
                "[-]",
                "ERR:Expected value but found invalid number at character 2",
            ),
            (
                "[\"a\"",
                "ERR:Expected comma or array end but found T_END at character 5",
            ),
            (
                "{\"a\"",
                "ERR:Expected colon but found T_END at character 5",
            ),
            (
                "{\"a\":",
                "ERR:Expected value but found T_END at character 6",
            ),
            (
                "{",
                "ERR:Expected object key string but found T_END at character 2",
            ),
            ("]", "ERR:Expected value but found T_ARR_END at character 1"),
            ("}", "ERR:Expected value but found T_OBJ_END at character 1"),
            (":", "ERR:Expected value but found T_COLON at character 1"),
            (",", "ERR:Expected value but found T_COMMA at character 1"),
            (
                "{\"a\":1 \"b\":2}",
                "ERR:Expected comma or object end but found T_STRING at character 8",
            ),
            (" \t\r\n1", "number:1"),
            (
                "\x0c1",
                "ERR:Expected value but found invalid token at character 1",
            ),
            (
                "\x0b1",
                "ERR:Expected value but found invalid token at character 1",
            ),
            (
                "{\"a\":1 {",
                "ERR:Expected comma or object end but found T_OBJ_BEGIN at character 8",
            ),
            (
                "[1 true]",
                "ERR:Expected comma or array end but found T_BOOLEAN at character 4",
            ),
            (
                "[1 null]",
                "ERR:Expected comma or array end but found T_NULL at character 4",
            ),
            (
                "[1 [",
                "ERR:Expected comma or array end but found T_ARR_BEGIN at character 4",
            ),
            ("[1 ]", "T:[1]"),
            (
                "{\"a\":1 ]",
                "ERR:Expected comma or object end but found T_ARR_END at character 8",
            ),
            (
                "[1 ,,",
                "ERR:Expected value but found T_COMMA at character 5",
            ),
            (
                "1\0xyz",
                "ERR:JSON parser does not support UTF-16 or UTF-32",
            ),
            (
                "\"a\0b\"",
                "ERR:Expected value but found unexpected end of string at character 3",
            ),
            (
                "[1,\0]",
                "ERR:Expected value but found T_END at character 4",
            ),
            ("12", "number:12"),
        ];
        for (j, want) in cases {
            assert_eq!(dec(j), *want, "decode {j:?}");
        }
    }

    #[test]
    fn decode_strict_numbers() {
        let cfg = Config {
            decode_invalid_numbers: false,
            ..Config::default()
        };
        let cases: &[(&str, &str)] = &[
            (
                "01",
                "ERR:Expected value but found invalid number at character 1",
            ),
            (
                "-01",
                "ERR:Expected value but found invalid number at character 1",
            ),
            (
                "0x10",
                "ERR:Expected value but found invalid number at character 1",
            ),
            (
                "nan",
                "ERR:Expected value but found invalid token at character 1",
            ),
            (
                "inf",
                "ERR:Expected value but found invalid token at character 1",
            ),
            (
                "-inf",
                "ERR:Expected value but found invalid number at character 1",
            ),
            (
                "+1",
                "ERR:Expected value but found invalid token at character 1",
            ),
            (
                "+",
                "ERR:Expected value but found invalid token at character 1",
            ),
            (
                "Infinity",
                "ERR:Expected value but found invalid token at character 1",
            ),
            ("1.", "number:1"),
            ("-0", "number:-0"),
            ("0", "number:0"),
            ("0.5", "number:0.5"),
            ("1e5", "number:100000"),
            (
                "-nan",
                "ERR:Expected value but found invalid number at character 1",
            ),
            (
                "00",
                "ERR:Expected value but found invalid number at character 1",
            ),
        ];
        for (j, want) in cases {
            assert_eq!(dec_cfg(j.as_bytes(), &cfg), *want, "decode {j:?}");
        }
    }

    #[test]
    fn decode_nesting() {
        let deep = |open: &str, k: usize| open.repeat(k);
        assert_eq!(
            dec(&(deep("[", 1001) + &deep("]", 1001))),
            "ERR:Found too many nested data structures (1001) at character 1001"
        );
        assert!(dec(&(deep("[", 1000) + &deep("]", 1000))).starts_with("T:"));
        assert_eq!(
            dec(&(deep("[", 1000) + "{" + &deep("]", 1000))),
            "ERR:Found too many nested data structures (1001) at character 1001"
        );
        assert_eq!(
            dec(&format!("  {}", deep("{\"a\":", 1001))),
            "ERR:Found too many nested data structures (1001) at character 5003"
        );
        let cfg = Config {
            decode_max_depth: 100_000,
            ..Config::default()
        };
        assert_eq!(
            dec_cfg(deep("[", 20000).as_bytes(), &cfg),
            "ERR:Found too many nested data structures (7999) at character 7999"
        );
        assert_eq!(
            dec_cfg(deep("{\"a\":", 20000).as_bytes(), &cfg),
            "ERR:Found too many nested data structures (4000) at character 19996"
        );
    }

    #[test]
    fn round_trips() {
        for j in [
            r#"{"a":[1,2,3,{"b":null}],"c":"x\/y","d":true,"e":-1.5e-07}"#,
            "[[],[[]],[1,[2,[3]]]]",
            r#"["\u0001\u001f\"\\"]"#,
        ] {
            let null = new_null();
            let v = decode(
                j.as_bytes(),
                &Config::default(),
                &Value::Table(null.clone()),
            )
            .unwrap();
            let back = encode(&v, &Config::default(), Some(&null)).unwrap();
            let again = decode(&back, &Config::default(), &Value::Table(null.clone())).unwrap();
            assert_eq!(
                encode(&again, &Config::default(), Some(&null)).unwrap(),
                back
            );
        }
        assert_eq!(
            dec(r#"{"a":[1,2,3,{"b":null}],"c":"x\/y"}"#),
            r#"T:{"a":[1,2,3,{"b":null}],"c":"x\/y"}"#
        );
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = decode(&bytes, &Config::default(), &Value::Nil);
            let strict = Config { decode_invalid_numbers: false, ..Config::default() };
            let _ = decode(&bytes, &strict, &Value::Nil);
        }

        #[test]
        fn json_like_never_panics(s in "[\\[\\]{}:,\"\\\\u0-9a-fA-FeE.+\\- tnrl]{0,40}") {
            let _ = decode(s.as_bytes(), &Config::default(), &Value::Nil);
        }
    }
}

/// Scripts run end to end, with the answers stock Redis 7.0.15 gives.
#[cfg(test)]
mod e2e {
    use crate::test_util::QuietHost;
    use crate::{Lua, LuaError, Value};

    /// The script's first result as text, or its error's text.
    fn run_on(lua: &mut Lua, src: &str) -> String {
        let chunk = Lua::compile(src.as_bytes(), "user_script").expect("compiles");
        match lua.run(&chunk, &mut QuietHost) {
            Ok(vs) => match vs.first() {
                Some(Value::Str(s)) => String::from_utf8_lossy(s).into_owned(),
                Some(Value::Num(n)) => super::fmt_g(*n, 14),
                Some(v) => format!("{v:?}"),
                None => "(none)".into(),
            },
            Err(LuaError::Raise(Value::Str(s))) => format!("ERR {}", String::from_utf8_lossy(&s)),
            Err(e) => format!("ERR {e:?}"),
        }
    }

    #[test]
    fn libraries_answer_as_redis() {
        let mut lua = Lua::new();
        let cases: &[(&str, &str)] = &[
            ("return cjson.encode({1,2,{a=1}})", "[1,2,{\"a\":1}]"),
            (
                "return cjson.encode(function() end)",
                "ERR user_script:1: Cannot serialise function: type not supported",
            ),
            (
                "return cjson.decode('[1,')",
                "ERR user_script:1: Expected value but found T_END at character 4",
            ),
            (
                "local ok, e = pcall(cjson.decode, '[1,') return e",
                "Expected value but found T_END at character 4",
            ),
            (
                "return cjson.encode()",
                "ERR user_script:1: bad argument #1 to 'encode' (expected 1 argument)",
            ),
            ("return cjson.decode('null') == cjson.null and 'y' or 'n'", "y"),
            ("return cjson.encode({cjson.null, cjson.decode('[null]')[1]})", "[null,null]"),
            ("return cjson.encode(cjson.decode('{\"a\":[1,2.5,\"x\"]}'))", "{\"a\":[1,2.5,\"x\"]}"),
            ("return cjson._NAME .. ' ' .. cjson._VERSION", "cjson 2.1.0"),
            ("return cjson.decode(12)", "12"),
            (
                "return cjson.encode_max_depth(0)",
                "ERR user_script:1: bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)",
            ),
            (
                "return cjson.encode_sparse_array('xx')",
                "ERR user_script:1: bad argument #1 to 'encode_sparse_array' (invalid option 'xx')",
            ),
            (
                "return tostring(cjson.encode_invalid_numbers('null'))",
                "null",
            ),
            ("return cjson.encode({1/0})", "[null]"),
            ("return tostring(cjson.encode_invalid_numbers(false))", "false"),
            ("return cjson.encode_max_depth(2)", "2"),
            (
                "return cjson.encode({{{1}}})",
                "ERR user_script:1: Cannot serialise, excessive nesting (3)",
            ),
            ("return cjson.encode_max_depth(1000)", "1000"),
            (
                "return (cmsgpack.pack({1,2,3}, 'x', 1.5):gsub('.', function(c) return string.format('%02x', c:byte()) end))",
                "93010203a178ca3fc00000",
            ),
            (
                "return cmsgpack.pack()",
                "ERR user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)",
            ),
            (
                "return cmsgpack.unpack('\\147')",
                "ERR user_script:1: Missing bytes in input.",
            ),
            (
                "return select('#', cmsgpack.unpack(cmsgpack.pack(1, nil, 'a')))",
                "3",
            ),
            ("return cmsgpack.unpack_one('\\1\\2\\3\\4', 2)", "3"),
            ("return select(2, cmsgpack.unpack_limit('\\1\\2\\3\\4', 2))", "1"),
            ("return string.byte(cmsgpack.pack(cjson.null))", "192"),
            ("return bit.tohex(-1)", "ffffffff"),
            ("return bit.tohex(255, -4)", "00FF"),
            ("return bit.band(0xff, 0x0f, 0x3)", "3"),
            ("return bit.lshift(1, 31)", "-2147483648"),
            ("return bit.tobit(2^32 + 5)", "5"),
            (
                "return bit.band(1, 'x')",
                "ERR user_script:1: bad argument #2 to 'band' (number expected, got string)",
            ),
            ("return struct.size('!4 b i')", "8"),
            ("return struct.unpack('<i', struct.pack('<i', -7))", "-7"),
            ("return select(2, struct.unpack('s', 'ab\\0cd'))", "4"),
            (
                "return struct.pack('z')",
                "ERR user_script:1: bad argument #1 to 'pack' (invalid format option 'z')",
            ),
            (
                "return struct.unpack('c0', 'abc')",
                "ERR user_script:1: format 'c0' needs a previous size",
            ),
            (
                "return struct.unpack('b', '', 0)",
                "ERR user_script:1: bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(run_on(&mut lua, src), *want, "{src}");
        }
    }
}
