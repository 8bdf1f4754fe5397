//! The `redis` table a script sees (`redis.call`, `redis.pcall`, `redis.error_reply`...), and
//! the conversions between replies and Lua values in both directions, as Redis 7.0 makes
//! them.
//!
//! Also Redis's `pcall`: an error raised as a table with an `err` field (what `redis.call`
//! raises) is caught as its `err` string.

use std::rc::Rc;

use sha1::{Digest, Sha1};

use crate::error::{arg, LuaError};
use crate::host::Reply;
use crate::interp::State;
use crate::value::{FuncRef, Ret, Table, TableRef, Value};
use crate::Lua;

/// Nested tables deeper than this are not converted to a reply (a self-referencing table
/// would recurse forever).
const MAX_REPLY_DEPTH: usize = 200;

pub fn open(lua: &mut Lua) {
    let mut t = Table::new();
    let natives: &[(&'static str, crate::value::NativeFn)] = &[
        ("call", call),
        ("pcall", pcall),
        ("log", log),
        ("error_reply", error_reply),
        ("status_reply", status_reply),
        ("sha1hex", sha1hex),
        ("setresp", setresp),
        ("set_repl", set_repl),
        ("replicate_commands", replicate_commands),
        ("breakpoint", breakpoint),
        ("debug", debug),
        ("acl_check_cmd", acl_check_cmd),
    ];
    for (name, f) in natives {
        t.set_str(name, Value::Func(FuncRef::native(name, *f)));
    }
    for (name, n) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        t.set_str(name, Value::Num(n as f64));
    }
    let mut g = lua.globals.0.borrow_mut();
    g.set_str("redis", Value::Table(TableRef::new(t)));
    g.set_str("pcall", Value::Func(FuncRef::native("pcall", redis_pcall)));
    g.set_str(
        "__redis__err__handler",
        Value::Func(FuncRef::native("__redis__err__handler", err_handler)),
    );
}

/// Sets `redis.REDIS_VERSION` and `redis.REDIS_VERSION_NUM` (the server's version).
pub fn set_version(lua: &mut Lua, version: &str, num: i64) {
    let redis = lua.globals.0.borrow().get_str("redis");
    if let Value::Table(t) = redis {
        let mut t = t.0.borrow_mut();
        t.set_str("REDIS_VERSION", Value::str(version.as_bytes()));
        t.set_str("REDIS_VERSION_NUM", Value::Num(num as f64));
    }
}

/// The protocol `redis.call` replies are converted from (2 unless `redis.setresp(3)`).
pub fn resp(lua: &Lua) -> u8 {
    lua.resp
}

/// Back to RESP2 before a run.
pub fn reset_resp(lua: &mut Lua) {
    lua.resp = 2;
}

fn err_text(text: &str) -> LuaError {
    LuaError::Raise(error_table(text.as_bytes()))
}

/// `{err = text}`, as Redis raises and returns errors.
fn error_table(text: &[u8]) -> Value {
    let mut t = Table::new();
    t.set_str("err", Value::str(text));
    Value::Table(TableRef::new(t))
}

/// The field of an error table saying the server has counted the error already, so the
/// script's reply does not count it again.
pub const COUNTED: &str = "ignore_error_stats_update";

/// The error table of a command's error reply, which the server counted when the command
/// (or the script's check of it) failed: `{ignore_error_stats_update = true, err = text}`,
/// in Redis's order.
fn counted_error_table(text: &[u8]) -> Value {
    let mut t = Table::new();
    t.set_str(COUNTED, Value::Bool(true));
    t.set_str("err", Value::str(text));
    Value::Table(TableRef::new(t))
}

/// True for an error table the server has counted already (see [`COUNTED`]).
pub fn is_counted(t: &Table) -> bool {
    t.get_str(COUNTED).truthy()
}

/// The arguments of `redis.call`/`pcall`/`acl_check_cmd` as command arguments: strings, and
/// numbers written as `%.17g`.
fn command_args(args: &[Value]) -> Result<Vec<Vec<u8>>, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    args.iter()
        .map(|a| match a {
            Value::Str(s) => Ok(s.to_vec()),
            Value::Num(n) => Ok(g17(*n)),
            _ => Err("Lua redis lib command arguments must be strings or integers"),
        })
        .collect()
}

/// C's `%.17g`: how Redis writes a number given to `redis.call`.
fn g17(n: f64) -> Vec<u8> {
    crate::number::format_g(n, 17, false).into_bytes()
}

fn run_command(st: &mut State<'_>, args: Vec<Value>, raise: bool) -> Ret {
    let argv = match command_args(&args) {
        Ok(argv) => argv,
        // Not a command's error: counted when the script's reply carries it.
        Err(e) if raise => return Err(LuaError::Raise(error_table(format!("ERR {e}").as_bytes()))),
        Err(e) => return Ok(vec![error_table(format!("ERR {e}").as_bytes())]),
    };
    let resp = resp(st.lua);
    match st.host.call(argv, resp) {
        Reply::Error(e) if raise => Err(LuaError::Raise(counted_error_table(&e))),
        r => Ok(vec![reply_to_value(&r)]),
    }
}

fn call(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    run_command(st, args, true)
}

fn pcall(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    run_command(st, args, false)
}

/// A command's reply as the Lua value a script gets (Redis's conversion rules).
pub fn reply_to_value(r: &Reply) -> Value {
    let field = |name: &str, v: Value| {
        let mut t = Table::new();
        t.set_str(name, v);
        Value::Table(TableRef::new(t))
    };
    match r {
        Reply::Status(s) => field("ok", Value::str(s)),
        Reply::Error(e) | Reply::CountedError(e) => counted_error_table(e),
        Reply::Int(n) => Value::Num(*n as f64),
        Reply::Bulk(b) => Value::str(b),
        Reply::NilBulk | Reply::NilArray => Value::Bool(false),
        Reply::Null => Value::Nil,
        Reply::Bool(b) => Value::Bool(*b),
        Reply::Array(items) => Value::Table(TableRef::new(Table::from_array(
            items.iter().map(reply_to_value).collect(),
        ))),
        Reply::Map(pairs) => {
            let mut t = Table::new();
            for (k, v) in pairs {
                let _ = t.set(reply_to_value(k), reply_to_value(v));
            }
            field("map", Value::Table(TableRef::new(t)))
        }
        Reply::Set(items) => {
            let mut t = Table::new();
            for k in items {
                let _ = t.set(reply_to_value(k), Value::Bool(true));
            }
            field("set", Value::Table(TableRef::new(t)))
        }
        Reply::Double(d) => field("double", Value::Num(*d)),
        Reply::BigNumber(b) => field("big_number", Value::str(b)),
        Reply::Verbatim(format, text) => {
            // In Redis's order: the text, then the format (the table's layout follows it).
            let mut t = Table::new();
            t.set_str("string", Value::str(text));
            t.set_str("format", Value::str(format));
            field("verbatim_string", Value::Table(TableRef::new(t)))
        }
    }
}

/// A Lua number as the integer reply Redis sends: C's `(long long)` cast on x86-64, which
/// gives the smallest integer for NaN and values out of range.
pub fn lua_integer(n: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if (-LIMIT..LIMIT).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// Status and error texts have their CR and LF replaced by spaces, as Redis does.
fn one_line(s: &[u8]) -> Vec<u8> {
    s.iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect()
}

/// What a script returned, as the reply its client gets (`resp`: the script's
/// `redis.setresp`, which decides how booleans go).
pub fn value_to_reply(v: &Value, resp: u8) -> Reply {
    to_reply(v, resp, 0)
}

fn to_reply(v: &Value, resp: u8, depth: usize) -> Reply {
    if depth > MAX_REPLY_DEPTH {
        return Reply::Error(b"ERR reached lua stack limit".to_vec());
    }
    match v {
        Value::Str(s) => Reply::Bulk(s.to_vec()),
        Value::Bool(b) if resp == 3 => Reply::Bool(*b),
        Value::Bool(true) => Reply::Int(1),
        Value::Bool(false) | Value::Nil | Value::Func(_) => Reply::Null,
        Value::Num(n) => Reply::Int(lua_integer(*n)),
        Value::Table(t) => {
            let t = t.0.borrow();
            let text = |name: &str| match t.get_str(name) {
                Value::Str(s) => Some(s),
                _ => None,
            };
            if let Some(e) = text("err") {
                return if is_counted(&t) {
                    Reply::CountedError(one_line(&e))
                } else {
                    Reply::Error(one_line(&e))
                };
            }
            if let Some(s) = text("ok") {
                return Reply::Status(one_line(&s));
            }
            if let Value::Num(d) = t.get_str("double") {
                return Reply::Double(d);
            }
            if let Some(s) = text("big_number") {
                return Reply::BigNumber(one_line(&s));
            }
            if let Value::Table(m) = t.get_str("map") {
                let m = m.0.borrow();
                let pairs = m
                    .entries()
                    .map(|(k, v)| (to_reply(&k, resp, depth + 1), to_reply(&v, resp, depth + 1)))
                    .collect();
                return Reply::Map(pairs);
            }
            if let Value::Table(s) = t.get_str("set") {
                let s = s.0.borrow();
                let items = s
                    .entries()
                    .map(|(k, _)| to_reply(&k, resp, depth + 1))
                    .collect();
                return Reply::Set(items);
            }
            if let Value::Table(vs) = t.get_str("verbatim_string") {
                let vs = vs.0.borrow();
                if let (Value::Str(f), Value::Str(s)) = (vs.get_str("format"), vs.get_str("string"))
                {
                    return Reply::Verbatim(f.to_vec(), s.to_vec());
                }
            }
            let mut items = Vec::new();
            let mut i = 1;
            loop {
                let v = t.get_int(i);
                if v.is_nil() {
                    break;
                }
                items.push(to_reply(&v, resp, depth + 1));
                i += 1;
            }
            Reply::Array(items)
        }
    }
}

/// What error_reply and status_reply give for bad arguments: an error returned, not raised.
fn wrong_args() -> Ret {
    Ok(vec![error_table(b"ERR wrong number or type of arguments")])
}

fn error_reply(_st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let [Value::Str(s)] = args.as_slice() else {
        return wrong_args();
    };
    Ok(vec![error_table(&error_code_text(s))])
}

/// An error text as Redis keeps it: without a leading `-`, and with the `ERR` code added
/// when it has no code (no space: the whole text would read as one).
fn error_code_text(s: &[u8]) -> Vec<u8> {
    let s = s.strip_prefix(b"-").unwrap_or(s);
    if s.contains(&b' ') {
        s.to_vec()
    } else {
        [&b"ERR "[..], s].concat()
    }
}

/// An error raised as `{err = "ERR <text>"}` (what Redis's lib functions raise).
/// An error table `{err = "ERR <text>"}` raised.
pub(crate) fn err_text_plain(text: &str) -> LuaError {
    err_text(&format!("ERR {text}"))
}

fn status_reply(_st: &mut State<'_>, args: Vec<Value>) -> Ret {
    match args.as_slice() {
        [Value::Str(s)] => {
            let mut t = Table::new();
            t.set_str("ok", Value::Str(s.clone()));
            Ok(vec![Value::Table(TableRef::new(t))])
        }
        _ => wrong_args(),
    }
}

fn sha1hex(_st: &mut State<'_>, args: Vec<Value>) -> Ret {
    if args.len() != 1 {
        return Err(err_text_plain("wrong number of arguments"));
    }
    // Anything but a string or number hashes as the empty string (lua_tolstring gives NULL).
    let data = arg(&args, 0)
        .to_lstr()
        .unwrap_or_else(|| Rc::from(&b""[..]));
    Ok(vec![Value::str(sha1_hex(&data).as_bytes())])
}

/// The SHA1 of `data` in lowercase hex (scripts are named by it).
pub fn sha1_hex(data: &[u8]) -> String {
    let digest = Sha1::digest(data);
    let mut s = String::with_capacity(40);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn setresp(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    if args.len() != 1 {
        return Err(err_text_plain("redis.setresp() requires one argument."));
    }
    let v = arg(&args, 0).to_number().map(|n| n as i64);
    match v {
        Some(n @ (2 | 3)) => {
            st.lua.resp = n as u8;
            Ok(vec![])
        }
        _ => Err(err_text_plain("RESP version must be 2 or 3.")),
    }
}

fn set_repl(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    if args.len() != 1 {
        return Err(err_text_plain("redis.set_repl() requires two arguments."));
    }
    let flags = arg(&args, 0).to_number().map(|n| n as i64).unwrap_or(0);
    if !(0..=3).contains(&flags) {
        return Err(err_text_plain(
            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        ));
    }
    st.host.set_repl(flags);
    Ok(vec![])
}

fn log(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    if args.len() < 2 {
        return Err(err_text_plain(
            "redis.log() requires two arguments or more.",
        ));
    }
    // A number, or a string that reads as one (lua_isnumber).
    let Some(level) = arg(&args, 0).to_number() else {
        return Err(err_text_plain(
            "First argument must be a number (log level).",
        ));
    };
    let level = level as i64;
    if !(0..=3).contains(&level) {
        return Err(err_text_plain("Invalid debug level."));
    }
    // The message is the other arguments (strings or numbers) separated by spaces.
    let mut msg = Vec::new();
    for (i, a) in args[1..].iter().enumerate() {
        if i > 0 {
            msg.push(b' ');
        }
        if let Some(s) = a.to_lstr() {
            msg.extend_from_slice(&s);
        }
    }
    st.host.log(level, &msg);
    Ok(vec![])
}

fn replicate_commands(_st: &mut State<'_>, _args: Vec<Value>) -> Ret {
    Ok(vec![Value::Bool(true)])
}

fn breakpoint(_st: &mut State<'_>, _args: Vec<Value>) -> Ret {
    Ok(vec![Value::Bool(false)])
}

fn debug(_st: &mut State<'_>, _args: Vec<Value>) -> Ret {
    Ok(vec![])
}

fn acl_check_cmd(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let argv = command_args(&args).map_err(err_text_plain)?;
    match st.host.acl_check(argv) {
        Ok(allowed) => Ok(vec![Value::Bool(allowed)]),
        Err(e) => Err(err_text_plain(&e)),
    }
}

/// Redis's `pcall`: as Lua's, but an error raised as a table with an `err` string is caught
/// as that string.
fn redis_pcall(st: &mut State<'_>, mut args: Vec<Value>) -> Ret {
    if args.is_empty() {
        return Err(st.error("bad argument #1 to 'pcall' (value expected)"));
    }
    let f = args.remove(0);
    match st.call(&f, args) {
        Ok(mut rets) => {
            rets.insert(0, Value::Bool(true));
            Ok(rets)
        }
        Err(LuaError::Raise(e)) => {
            st.clear_error_line();
            let e = match &e {
                Value::Table(t) => match t.0.borrow().get_str("err") {
                    s @ Value::Str(_) => s,
                    _ => e.clone(),
                },
                _ => e,
            };
            Ok(vec![Value::Bool(false), e])
        }
        Err(kill) => Err(kill),
    }
}

/// Present in Redis's globals (its error handler); here it returns its argument.
fn err_handler(_st: &mut State<'_>, args: Vec<Value>) -> Ret {
    Ok(vec![arg(&args, 0).clone()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_integers_as_c_casts_them() {
        assert_eq!(lua_integer(2.9), 2);
        assert_eq!(lua_integer(-2.9), -2);
        assert_eq!(lua_integer(1e30), i64::MIN);
        assert_eq!(lua_integer(f64::NAN), i64::MIN);
        assert_eq!(lua_integer(f64::INFINITY), i64::MIN);
    }

    #[test]
    fn replies_round_trip_through_values() {
        let r = Reply::Array(vec![
            Reply::Int(1),
            Reply::Bulk(b"x".to_vec()),
            Reply::Status(b"OK".to_vec()),
        ]);
        let v = reply_to_value(&r);
        assert_eq!(value_to_reply(&v, 2), r);
        // A nil bulk becomes false, which goes back as a null.
        let v = reply_to_value(&Reply::NilBulk);
        assert_eq!(value_to_reply(&v, 2), Reply::Null);
        assert_eq!(value_to_reply(&Value::Bool(true), 2), Reply::Int(1));
        assert_eq!(value_to_reply(&Value::Bool(true), 3), Reply::Bool(true));
        let e = value_to_reply(&error_table(b"ERR a\r\nb"), 2);
        assert_eq!(e, Reply::Error(b"ERR a  b".to_vec()));
    }

    #[test]
    fn self_referencing_tables_stop() {
        let t = TableRef::new(Table::new());
        t.0.borrow_mut()
            .set(Value::Num(1.0), Value::Table(t.clone()))
            .unwrap();
        let r = value_to_reply(&Value::Table(t.clone()), 2);
        let mut depth = 0;
        let mut cur = &r;
        while let Reply::Array(items) = cur {
            depth += 1;
            cur = &items[0];
        }
        assert!(depth > 100);
        assert!(matches!(cur, Reply::Error(_)));
        // Break the cycle so the table is freed.
        t.0.borrow_mut().set(Value::Num(1.0), Value::Nil).unwrap();
    }

    #[test]
    fn numbers_given_to_commands_are_17g() {
        for (n, want) in [
            (0.1, "0.10000000000000001"),
            (1.0 / 3.0, "0.33333333333333331"),
            (100.0, "100"),
            (1.5, "1.5"),
            (1e20, "1e+20"),
            (2f64.powi(53), "9007199254740992"),
            (2f64.powi(63), "9.2233720368547758e+18"),
            (12345678901234567890.0, "1.2345678901234567e+19"),
            (-0.5, "-0.5"),
            (-0.0, "-0"),
            (1e-5, "1.0000000000000001e-05"),
            (0.0001, "0.0001"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(String::from_utf8(g17(n)).unwrap(), want, "{n}");
        }
    }

    #[test]
    fn sha1_of_empty_and_abc() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
