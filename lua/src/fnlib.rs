//! Redis 7.0 functions: what a library's code sees while FUNCTION LOAD runs it, and
//! `redis.register_function`, which records the library's functions.
//!
//! The code of a library runs once, with a global table of its own holding only a small
//! `redis` table (`register_function`, `log`, the log levels and the version): anything else
//! it reads is Redis's "nonexistent global variable" error. The callbacks it registers run
//! later, at FCALL, with the usual globals (the whole `redis` table, the libraries), which
//! they reach because globals are looked up in the interpreter's global table of the moment.

use crate::error::LuaError;
use crate::host::Host;
use crate::interp::{global_missing, Chunk, State};
use crate::redislib::err_text_plain as err;
use crate::value::{FuncRef, Ret, Table, TableRef, Value};
use crate::Lua;

/// The flags a function may declare, in the order Redis lists them.
pub const FLAGS: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// One function a library registered.
pub struct Registered {
    pub name: Vec<u8>,
    pub callback: Value,
    /// Bits of [`FLAGS`] (bit i: `FLAGS[i]`).
    pub flags: u8,
    pub description: Option<Vec<u8>>,
}

/// Runs a library's code in the load environment; returns the functions it registered, in
/// the order it registered them. The interpreter's own globals are back in place after,
/// whatever happened.
pub fn load_library(
    lua: &mut Lua,
    chunk: &Chunk,
    host: &mut dyn Host,
) -> Result<Vec<Registered>, LuaError> {
    let env = load_env(lua);
    let saved = std::mem::replace(&mut lua.globals, env);
    lua.registering = Some(Vec::new());
    let r = lua.run(chunk, host);
    let registered = lua.registering.take().unwrap_or_default();
    lua.globals = saved;
    r.map(|_| registered)
}

/// A read-only table whose missing fields are Redis's global-variable error.
fn strict(t: Table) -> TableRef {
    let mut t = t;
    let mut mt = Table::new();
    mt.set_str(
        "__index",
        Value::Func(FuncRef::native("__index", global_missing)),
    );
    mt.readonly = true;
    t.meta = Some(TableRef::new(mt));
    t.readonly = true;
    TableRef::new(t)
}

/// The globals of a load: `redis` with what Redis 7.0 offers there, nothing else.
fn load_env(lua: &Lua) -> TableRef {
    let mut redis = Table::new();
    if let Value::Table(full) = lua.globals.0.borrow().get_str("redis") {
        let full = full.0.borrow();
        for name in [
            "log",
            "LOG_DEBUG",
            "LOG_VERBOSE",
            "LOG_NOTICE",
            "LOG_WARNING",
            "REDIS_VERSION",
            "REDIS_VERSION_NUM",
        ] {
            redis.set_str(name, full.get_str(name));
        }
    }
    redis.set_str(
        "register_function",
        Value::Func(FuncRef::native("register_function", register_function)),
    );
    let mut g = Table::new();
    g.set_str("redis", Value::Table(strict(redis)));
    strict(g)
}

/// A string argument as Lua's `lua_isstring` takes it (numbers are written as text).
fn string_of(v: &Value) -> Option<Vec<u8>> {
    v.to_lstr().map(|s| s.to_vec())
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
/// callback=..., flags={...}, description=...}`.
fn register_function(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    if st.lua.registering.is_none() {
        return Err(err(
            "redis.register_function can only be called on FUNCTION LOAD command",
        ));
    }
    let f = match args.as_slice() {
        [Value::Table(t)] => named(&t.0.borrow())?,
        [_] => {
            return Err(err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."))
        }
        [name, callback] => {
            let name = string_of(name)
                .ok_or_else(|| err("first argument to redis.register_function must be a string"))?;
            if !matches!(callback, Value::Func(_)) {
                return Err(err(
                    "second argument to redis.register_function must be a function",
                ));
            }
            Registered {
                name,
                callback: callback.clone(),
                flags: 0,
                description: None,
            }
        }
        _ => return Err(err("wrong number of arguments to redis.register_function")),
    };
    if !valid_name(&f.name) {
        // Redis's text for a bad function name names libraries.
        return Err(err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    let registered = st.lua.registering.as_mut().expect("checked above");
    // FCALL finds functions whatever their case: `a` and `A` are one name.
    if registered
        .iter()
        .any(|r| r.name.eq_ignore_ascii_case(&f.name))
    {
        return Err(err("Function already exists in the library"));
    }
    registered.push(f);
    Ok(vec![])
}

fn named(t: &Table) -> Result<Registered, LuaError> {
    let mut name = None;
    let mut callback = None;
    let mut flags = 0u8;
    let mut description = None;
    for (k, v) in t.entries() {
        let key = match &k {
            Value::Str(s) => &s[..],
            _ => b"",
        };
        match key {
            b"function_name" => {
                name = Some(string_of(&v).ok_or_else(|| {
                    err("function_name argument given to redis.register_function must be a string")
                })?);
            }
            b"description" => {
                description = Some(string_of(&v).ok_or_else(|| {
                    err("description argument given to redis.register_function must be a string")
                })?);
            }
            b"callback" => {
                if !matches!(v, Value::Func(_)) {
                    return Err(err(
                        "callback argument given to redis.register_function must be a function",
                    ));
                }
                callback = Some(v);
            }
            b"flags" => {
                let Value::Table(list) = &v else {
                    return Err(err("flags argument to redis.register_function must be a table representing function flags"));
                };
                for (_, flag) in list.0.borrow().entries() {
                    let bit = string_of(&flag)
                        .and_then(|s| {
                            FLAGS
                                .iter()
                                .position(|f| f.as_bytes().eq_ignore_ascii_case(&s))
                        })
                        .ok_or_else(|| err("unknown flag given"))?;
                    flags |= 1 << bit;
                }
            }
            _ => return Err(err("unknown argument given to redis.register_function")),
        }
    }
    let name =
        name.ok_or_else(|| err("redis.register_function must get a function name argument"))?;
    let callback =
        callback.ok_or_else(|| err("redis.register_function must get a callback argument"))?;
    Ok(Registered {
        name,
        callback,
        flags,
        description,
    })
}

/// Library and function names: letters, digits and underscores, at least one.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::QuietHost;

    fn load(src: &str) -> Result<Vec<Registered>, String> {
        let mut lua = Lua::new();
        let chunk = Lua::compile(src.as_bytes(), "user_function").map_err(|e| e.to_string())?;
        load_library(&mut lua, &chunk, &mut QuietHost).map_err(|e| match e {
            LuaError::Raise(Value::Table(t)) => match t.0.borrow().get_str("err") {
                Value::Str(s) => String::from_utf8_lossy(&s).into_owned(),
                _ => "?".into(),
            },
            LuaError::Raise(Value::Str(s)) => String::from_utf8_lossy(&s).into_owned(),
            _ => "other".into(),
        })
    }

    #[test]
    fn registers_both_forms_and_checks_arguments() {
        let r = load(
            "redis.register_function('a', function(k, a) return 1 end)\n\
             redis.register_function{function_name='b', callback=function() end, \
             flags={'no-writes', 'allow-oom', 'no-writes'}, description='d'}",
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].name, b"a");
        assert_eq!(
            (r[1].flags, r[1].description.as_deref()),
            (3, Some(&b"d"[..]))
        );
        for (src, want) in [
            ("redis.register_function('a b', function() end)", "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
            ("redis.register_function('a')", "ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."),
            ("redis.register_function('a', 1)", "ERR second argument to redis.register_function must be a function"),
            ("redis.register_function{function_name='a', callback=function() end, flags={'x'}}", "ERR unknown flag given"),
            ("redis.register_function{function_name='a'}", "ERR redis.register_function must get a callback argument"),
            ("redis.register_function{callback=function() end, other=1}", "ERR unknown argument given to redis.register_function"),
            ("redis.register_function('a', function() end) redis.register_function('a', function() end)", "ERR Function already exists in the library"),
            // FCALL finds functions without case: one name (stock Redis 7.0.15 crashes here).
            ("redis.register_function('a', function() end) redis.register_function('A', function() end)", "ERR Function already exists in the library"),
            ("redis.register_function{function_name='a', callback=function() end, flags={'NO-WRITES'}}", "ok"),
            ("redis.call('ping')", "user_function:1: Script attempted to access nonexistent global variable 'call'"),
            ("local s = string.rep", "user_function:1: Script attempted to access nonexistent global variable 'string'"),
            ("x = 1", "user_function:1: Attempt to modify a readonly table"),
        ] {
            let got = load(src).map(|_| "ok".to_string());
            assert_eq!(got.unwrap_or_else(|e| e), want, "{src}");
        }
    }

    #[test]
    fn callbacks_run_later_with_the_full_globals() {
        let mut lua = Lua::new();
        let chunk = Lua::compile(
            b"local up = 2\nredis.register_function('f', function(keys, args) \
              return string.rep(keys[1], up) .. type(redis.register_function) end)",
            "user_function",
        )
        .unwrap();
        let r = load_library(&mut lua, &chunk, &mut QuietHost).unwrap();
        let keys = Value::Table(TableRef::new(Table::from_array(vec![Value::str(b"k")])));
        let args = Value::Table(TableRef::new(Table::new()));
        let out = lua
            .call_function(&r[0].callback, vec![keys, args], &mut QuietHost)
            .unwrap();
        assert!(matches!(&out[0], Value::Str(s) if &s[..] == b"kknil"));
        // Called outside a load, register_function refuses.
        assert!(lua.registering.is_none());
    }
}
