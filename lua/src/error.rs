//! Errors raised while a script runs, and the argument checks of native functions, with Lua
//! 5.1's messages (`bad argument #1 to 'rep' (string expected, got no value)`).

use crate::interp::State;
use crate::value::{LStr, TableRef, Value};

/// An error travelling up the Lua stack.
#[derive(Clone, Debug)]
pub enum LuaError {
    /// A value raised by `error()` or by a failed operation (then a string that already has
    /// its `chunk:line:` prefix). `pcall` catches it.
    Raise(Value),
    /// The script is stopped (SCRIPT KILL, shutdown, an interpreter limit): not catchable by
    /// `pcall`, unwinds to the top.
    Kill(String),
}

impl LuaError {
    /// A raise of a plain string, without position.
    pub fn msg(text: impl AsRef<[u8]>) -> LuaError {
        LuaError::Raise(Value::str(text.as_ref()))
    }
}

/// Argument `i` (0-based) of a native call, nil when absent.
pub fn arg(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&Value::Nil)
}

/// `bad argument #n to 'fname' (msg)`, positioned at the calling Lua line.
pub fn arg_error(st: &State<'_>, i: usize, fname: &str, msg: &str) -> LuaError {
    st.error(format!("bad argument #{} to '{}' ({})", i + 1, fname, msg))
}

/// `bad argument #n to 'fname' (T expected, got U)` (`no value` when the argument is absent).
pub fn type_error(
    st: &State<'_>,
    args: &[Value],
    i: usize,
    fname: &str,
    expected: &str,
) -> LuaError {
    let got = match args.get(i) {
        None => "no value",
        Some(v) => v.type_name(),
    };
    arg_error(st, i, fname, &format!("{expected} expected, got {got}"))
}

/// A string argument; numbers are converted as Lua does.
pub fn check_str(st: &State<'_>, args: &[Value], i: usize, fname: &str) -> Result<LStr, LuaError> {
    arg(args, i)
        .to_lstr()
        .ok_or_else(|| type_error(st, args, i, fname, "string"))
}

/// An optional string argument: `None` when nil or absent.
pub fn opt_str(
    st: &State<'_>,
    args: &[Value],
    i: usize,
    fname: &str,
) -> Result<Option<LStr>, LuaError> {
    match arg(args, i) {
        Value::Nil => Ok(None),
        _ => check_str(st, args, i, fname).map(Some),
    }
}

/// A number argument; strings that read as numbers are converted as Lua does.
pub fn check_num(st: &State<'_>, args: &[Value], i: usize, fname: &str) -> Result<f64, LuaError> {
    arg(args, i)
        .to_number()
        .ok_or_else(|| type_error(st, args, i, fname, "number"))
}

/// An integer argument (a number truncated toward zero, as luaL_checkinteger).
pub fn check_int(st: &State<'_>, args: &[Value], i: usize, fname: &str) -> Result<i64, LuaError> {
    check_num(st, args, i, fname).map(|n| n as i64)
}

/// An optional integer argument: `default` when nil or absent.
pub fn opt_int(
    st: &State<'_>,
    args: &[Value],
    i: usize,
    fname: &str,
    default: i64,
) -> Result<i64, LuaError> {
    match arg(args, i) {
        Value::Nil => Ok(default),
        _ => check_int(st, args, i, fname),
    }
}

/// A table argument.
pub fn check_table(
    st: &State<'_>,
    args: &[Value],
    i: usize,
    fname: &str,
) -> Result<TableRef, LuaError> {
    match arg(args, i) {
        Value::Table(t) => Ok(t.clone()),
        _ => Err(type_error(st, args, i, fname, "table")),
    }
}

/// Any argument, present (nil included) or `bad argument #n to 'f' (value expected)`.
pub fn check_any<'a>(
    st: &State<'_>,
    args: &'a [Value],
    i: usize,
    fname: &str,
) -> Result<&'a Value, LuaError> {
    args.get(i)
        .ok_or_else(|| arg_error(st, i, fname, "value expected"))
}
