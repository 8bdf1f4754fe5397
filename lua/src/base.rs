//! The base library as a Redis 7.0 script sees it: no `print`, `dofile`, `load`, `require`,
//! `setfenv`... (reading those is Redis's nonexistent-global error).

use std::rc::Rc;

use crate::error::{arg, arg_error, check_any, check_int, check_str, check_table, opt_int};
use crate::interp::{Mm, State};
use crate::value::{FuncRef, NativeFn, Ret, Value};
use crate::{Lua, LuaError};

pub fn open(lua: &mut Lua) {
    let fns: &[(&'static str, NativeFn)] = &[
        ("assert", assert),
        ("error", error),
        ("pcall", pcall),
        ("xpcall", xpcall),
        ("ipairs", ipairs),
        ("pairs", pairs),
        ("next", next),
        ("select", select),
        ("tonumber", tonumber),
        ("tostring", tostring),
        ("type", type_),
        ("unpack", unpack),
        ("rawget", rawget),
        ("rawset", rawset),
        ("rawequal", rawequal),
        ("setmetatable", setmetatable),
        ("getmetatable", getmetatable),
        ("loadstring", loadstring),
        ("gcinfo", gcinfo),
        ("collectgarbage", collectgarbage),
    ];
    let g = lua.globals.clone();
    let mut t = g.0.borrow_mut();
    for (name, f) in fns {
        t.set_str(name, Value::Func(FuncRef::native(name, *f)));
    }
    t.set_str("_VERSION", Value::str(b"Lua 5.1"));
    t.set_str("_G", Value::Table(g.clone()));
}

fn assert(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    check_any(st, &args, 0, "assert")?;
    if args[0].truthy() {
        return Ok(args);
    }
    let msg = match args.get(1) {
        None | Some(Value::Nil) => Rc::from(&b"assertion failed!"[..]),
        Some(_) => check_str(st, &args, 1, "assert")?,
    };
    Err(st.error(msg))
}

fn error(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let level = match arg(&args, 1) {
        Value::Nil => 1,
        _ => check_int(st, &args, 1, "error")?,
    };
    let v = arg(&args, 0).clone();
    // Numbers count as strings here (they get the position, and become strings).
    let text = match &v {
        Value::Str(_) | Value::Num(_) => v.to_lstr(),
        _ => None,
    };
    if let (Some(s), true) = (text, level > 0) {
        if let Some((chunk, line)) = st.caller_where(level as usize) {
            let mut m = format!("{chunk}:{line}: ").into_bytes();
            m.extend_from_slice(&s);
            return Err(LuaError::Raise(Value::str(&m)));
        }
    }
    Err(LuaError::Raise(v))
}

fn pcall(st: &mut State<'_>, mut args: Vec<Value>) -> Ret {
    check_any(st, &args, 0, "pcall")?;
    let f = args.remove(0);
    match st.call(&f, args) {
        Ok(mut v) => {
            v.insert(0, Value::Bool(true));
            Ok(v)
        }
        Err(LuaError::Raise(e)) => {
            st.clear_error_line();
            Ok(vec![Value::Bool(false), e])
        }
        Err(k) => Err(k),
    }
}

fn xpcall(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    check_any(st, &args, 1, "xpcall")?;
    let f = args[0].clone();
    let h = args[1].clone();
    match st.call(&f, Vec::new()) {
        Ok(mut v) => {
            v.insert(0, Value::Bool(true));
            Ok(v)
        }
        Err(LuaError::Raise(e)) => {
            st.clear_error_line();
            let r = st.call(&h, vec![e]);
            let mut out = vec![Value::Bool(false)];
            match r {
                Ok(v) => out.extend(v.into_iter().take(1)),
                Err(LuaError::Raise(e)) => out.push(e),
                Err(k) => return Err(k),
            }
            Ok(out)
        }
        Err(k) => Err(k),
    }
}

fn ipairs_aux(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "ipairs")?;
    let i = check_int(st, &args, 1, "ipairs")? + 1;
    let v = t.0.borrow().get_int(i);
    if v.is_nil() {
        Ok(Vec::new())
    } else {
        Ok(vec![Value::Num(i as f64), v])
    }
}

fn ipairs(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "ipairs")?;
    Ok(vec![
        Value::Func(FuncRef::native("ipairs_aux", ipairs_aux)),
        Value::Table(t),
        Value::Num(0.0),
    ])
}

fn pairs(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "pairs")?;
    let next = match st.lua.globals.0.borrow().get_str("next") {
        f @ Value::Func(_) => f,
        _ => Value::Func(FuncRef::native("next", next)),
    };
    Ok(vec![next, Value::Table(t), Value::Nil])
}

fn next(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "next")?;
    let r = t.0.borrow().next(arg(&args, 1));
    match r {
        Ok(Some((k, v))) => Ok(vec![k, v]),
        Ok(None) => Ok(vec![Value::Nil]),
        Err(()) => Err(st.runtime_error("invalid key to 'next'")),
    }
}

fn select(st: &mut State<'_>, mut args: Vec<Value>) -> Ret {
    let n = args.len() as i64;
    if let Value::Str(s) = arg(&args, 0) {
        if &s[..] == b"#" {
            return Ok(vec![Value::Num((n - 1) as f64)]);
        }
    }
    let mut i = check_int(st, &args, 0, "select")?;
    if i < 0 {
        i += n;
    } else if i > n {
        i = n;
    }
    if i < 1 {
        return Err(arg_error(st, 0, "select", "index out of range"));
    }
    Ok(args.split_off(i as usize))
}

/// `strtoul` in base `base`, surrounded by optional whitespace.
fn parse_base(s: &[u8], base: u32) -> Option<f64> {
    let is_space = |c: &u8| c.is_ascii_whitespace() || *c == 0x0b;
    let start = s.iter().position(|c| !is_space(c))?;
    let mut rest = &s[start..];
    let neg = match rest.first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    let mut v: u64 = 0;
    let mut digits = 0;
    while let Some(d) = rest.first().and_then(|c| (*c as char).to_digit(base)) {
        v = v.wrapping_mul(u64::from(base)).wrapping_add(u64::from(d));
        rest = &rest[1..];
        digits += 1;
    }
    if digits == 0 || !rest.iter().all(is_space) {
        return None;
    }
    Some(if neg {
        v.wrapping_neg() as f64
    } else {
        v as f64
    })
}

fn tonumber(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let base = match arg(&args, 1) {
        Value::Nil => 10,
        _ => check_int(st, &args, 1, "tonumber")?,
    };
    if base == 10 {
        check_any(st, &args, 0, "tonumber")?;
        return Ok(vec![match args[0].to_number() {
            Some(n) => Value::Num(n),
            None => Value::Nil,
        }]);
    }
    let s = check_str(st, &args, 0, "tonumber")?;
    if !(2..=36).contains(&base) {
        return Err(arg_error(st, 1, "tonumber", "base out of range"));
    }
    Ok(vec![match parse_base(&s, base as u32) {
        Some(n) => Value::Num(n),
        None => Value::Nil,
    }])
}

fn tostring(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    check_any(st, &args, 0, "tostring")?;
    let h = st.metamethod(&args[0], Mm::ToString);
    if !h.is_nil() {
        let r = st.call(&h, vec![args[0].clone()])?;
        return Ok(vec![r.into_iter().next().unwrap_or_default()]);
    }
    Ok(vec![Value::Str(State::plain_tostring(&args[0]))])
}

fn type_(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    check_any(st, &args, 0, "type")?;
    Ok(vec![Value::str(args[0].type_name().as_bytes())])
}

fn unpack(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "unpack")?;
    let i = match arg(&args, 1) {
        Value::Nil => 1,
        _ => check_int(st, &args, 1, "unpack")?,
    };
    let j = match arg(&args, 2) {
        Value::Nil => t.0.borrow().len() as i64,
        _ => check_int(st, &args, 2, "unpack")?,
    };
    if i > j {
        return Ok(Vec::new());
    }
    let n = (j as i128) - (i as i128) + 1;
    if n >= 8000 {
        return Err(st.error("too many results to unpack"));
    }
    let t = t.0.borrow();
    Ok((i..=j).map(|k| t.get_int(k)).collect())
}

fn rawget(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "rawget")?;
    check_any(st, &args, 1, "rawget")?;
    let v = t.0.borrow().get(&args[1]);
    Ok(vec![v])
}

fn rawset(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "rawset")?;
    check_any(st, &args, 1, "rawset")?;
    check_any(st, &args, 2, "rawset")?;
    let mut tb = t.0.borrow_mut();
    if tb.readonly {
        return Err(LuaError::msg("Attempt to modify a readonly table"));
    }
    tb.set(args[1].clone(), args[2].clone())
        .map_err(LuaError::msg)?;
    drop(tb);
    Ok(vec![args[0].clone()])
}

fn rawequal(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    check_any(st, &args, 0, "rawequal")?;
    check_any(st, &args, 1, "rawequal")?;
    Ok(vec![Value::Bool(args[0].raw_eq(&args[1]))])
}

fn setmetatable(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let t = check_table(st, &args, 0, "setmetatable")?;
    let mt = match arg(&args, 1) {
        Value::Nil => None,
        Value::Table(m) => Some(m.clone()),
        _ => return Err(arg_error(st, 1, "setmetatable", "nil or table expected")),
    };
    if let Some(old) = &t.0.borrow().meta {
        if !old.0.borrow().get_str("__metatable").is_nil() {
            return Err(st.error("cannot change a protected metatable"));
        }
    }
    let mut tb = t.0.borrow_mut();
    if tb.readonly {
        return Err(LuaError::msg("Attempt to modify a readonly table"));
    }
    tb.meta = mt;
    drop(tb);
    Ok(vec![Value::Table(t)])
}

fn getmetatable(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    check_any(st, &args, 0, "getmetatable")?;
    let Some(mt) = st.metatable(&args[0]) else {
        return Ok(vec![Value::Nil]);
    };
    let protected = mt.0.borrow().get_str("__metatable");
    if !protected.is_nil() {
        return Ok(vec![protected]);
    }
    Ok(vec![Value::Table(mt)])
}

/// The name Lua 5.1 gives a chunk (`[string "first line..."]`; `=name` as is, `@file` as a
/// file name), cut to Redis's build limit (`LUA_IDSIZE` 80).
pub fn chunk_id(name: &[u8]) -> String {
    const IDSIZE: usize = 80;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match name.first() {
        Some(b'=') => text(&name[1..name.len().min(IDSIZE)]),
        Some(b'@') => {
            let f = &name[1..];
            let max = IDSIZE - 4;
            if f.len() > max {
                format!("...{}", text(&f[f.len() - max..]))
            } else {
                text(f)
            }
        }
        _ => {
            let line_end = name
                .iter()
                .position(|&c| c == b'\n' || c == b'\r')
                .unwrap_or(name.len());
            let len = line_end.min(IDSIZE - 17);
            if len < name.len() {
                format!("[string \"{}...\"]", text(&name[..len]))
            } else {
                format!("[string \"{}\"]", text(name))
            }
        }
    }
}

fn loadstring(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let src = check_str(st, &args, 0, "loadstring")?;
    let name = match arg(&args, 1) {
        Value::Nil => src.clone(),
        _ => check_str(st, &args, 1, "loadstring")?,
    };
    match st.load(&src, &chunk_id(&name)) {
        Ok(f) => Ok(vec![f]),
        Err(msg) => Ok(vec![Value::Nil, Value::str(msg.as_bytes())]),
    }
}

/// The kilobytes `collectgarbage('count')` and `gcinfo` report: an estimate (no collector
/// counts here), the libraries' share as Lua 5.1 has it plus what the run made.
fn gc_count_kb() -> f64 {
    const LIBRARIES_KB: f64 = 24.0;
    LIBRARIES_KB + crate::value::arena_bytes() as f64 / 1024.0
}

fn gcinfo(_st: &mut State<'_>, _args: Vec<Value>) -> Ret {
    Ok(vec![Value::Num(gc_count_kb().floor())])
}

fn collectgarbage(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let opt = match arg(&args, 0) {
        Value::Nil => Rc::from(&b"collect"[..]),
        _ => check_str(st, &args, 0, "collectgarbage")?,
    };
    const OPTS: [&[u8]; 7] = [
        b"stop",
        b"restart",
        b"collect",
        b"count",
        b"step",
        b"setpause",
        b"setstepmul",
    ];
    if !OPTS.contains(&&opt[..]) {
        let msg = format!("invalid option '{}'", String::from_utf8_lossy(&opt));
        return Err(arg_error(st, 0, "collectgarbage", &msg));
    }
    // `setpause` and `setstepmul` answer the setting they replace (Lua's default 200).
    let new = opt_int(st, &args, 1, "collectgarbage", 0)?;
    let setting = match &opt[..] {
        b"step" => return Ok(vec![Value::Bool(false)]),
        b"count" => return Ok(vec![Value::Num(gc_count_kb())]),
        b"setpause" => &mut st.lua.gc_pause,
        b"setstepmul" => &mut st.lua.gc_stepmul,
        _ => return Ok(vec![Value::Num(0.0)]),
    };
    let old = std::mem::replace(setting, new);
    Ok(vec![Value::Num(old as f64)])
}

#[cfg(test)]
mod tests {
    use super::chunk_id;

    #[test]
    fn chunk_ids() {
        assert_eq!(chunk_id(b"return 1"), "[string \"return 1\"]");
        assert_eq!(chunk_id(b"a\nb"), "[string \"a...\"]");
        assert_eq!(chunk_id(b"=name"), "name");
        assert_eq!(chunk_id(b"@f.lua"), "f.lua");
        let long = "x".repeat(100);
        assert_eq!(
            chunk_id(long.as_bytes()),
            format!("[string \"{}...\"]", "x".repeat(63))
        );
    }
}
