//! Redis 7.0 functions: the libraries FUNCTION LOAD installs, the functions FCALL finds in
//! them, and their payloads for FUNCTION DUMP/RESTORE and the RDB file.
//!
//! A library is its source (`#!lua name=<lib>` and code that calls
//! `redis.register_function`), compiled and run once, in the one interpreter all functions
//! share (as Redis has one Lua state for them): what a library keeps in its locals (a cache,
//! a counter) is seen by every later call, whichever thread runs it. That interpreter is
//! behind a lock; a function runs holding every shard anyway, so only one runs at a time.
//! (EVAL scripts keep an interpreter per worker thread: they cannot keep anything.)
//!
//! The commands are in [`crate::cmd::function`].

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrodis_lua::fnlib;
use ferrodis_lua::host::{Host, Reply};
use ferrodis_lua::{Lua, LuaError, TableRef, Value};
use indexmap::IndexMap;
use parking_lot::RwLock;

use crate::scripting::Flags;

/// How long a library's code may run at load (Redis: 500 ms).
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// One function of a library.
pub struct Function {
    pub name: Bytes,
    /// Bits of [`fnlib::FLAGS`].
    pub flag_bits: u8,
    pub description: Option<Bytes>,
}

impl Function {
    /// The flags as a script's shebang flags (functions always declare theirs).
    pub fn flags(&self) -> Flags {
        let has = |i: usize| self.flag_bits & (1 << i) != 0;
        Flags {
            shebang: true,
            no_writes: has(0),
            allow_oom: has(1),
            allow_stale: has(2),
            no_cluster: has(3),
            allow_cross_slot_keys: has(4),
        }
    }

    /// The flag names, in Redis's order.
    pub fn flag_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        fnlib::FLAGS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.flag_bits & (1 << i) != 0)
            .map(|(_, n)| *n)
    }
}

/// A loaded library.
pub struct Library {
    pub name: Bytes,
    pub code: Bytes,
    pub functions: Vec<Function>,
}

/// How FUNCTION RESTORE treats libraries already there.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Flush,
    Append,
    Replace,
}

#[derive(Default, Clone)]
struct Registry {
    /// By name, in load order.
    libs: IndexMap<Bytes, Arc<Library>>,
    /// By lowercase function name (FCALL finds functions whatever their case, as Redis):
    /// the library and the function's index in it.
    funcs: HashMap<Vec<u8>, (Arc<Library>, usize), foldhash::fast::RandomState>,
}

impl Registry {
    /// Adds `lib`, replacing a library of the same name only if `replace`. Err: Redis's
    /// error, and nothing changed. (Redis quotes the library's name when FUNCTION LOAD
    /// refuses it, not when FUNCTION RESTORE does: `quote`.)
    fn add(&mut self, lib: Arc<Library>, replace: bool, quote: bool) -> Result<(), String> {
        let old = self.libs.get(&lib.name).cloned();
        if old.is_some() && !replace {
            let name = String::from_utf8_lossy(&lib.name);
            return Err(match quote {
                true => format!("ERR Library '{name}' already exists"),
                false => format!("ERR Library {name} already exists"),
            });
        }
        for f in &lib.functions {
            if let Some((other, _)) = self.funcs.get(&f.name.to_ascii_lowercase()) {
                if other.name != lib.name {
                    return Err(format!(
                        "ERR Function {} already exists",
                        String::from_utf8_lossy(&f.name)
                    ));
                }
            }
        }
        if let Some(old) = old {
            self.remove(&old.name);
        }
        for (i, f) in lib.functions.iter().enumerate() {
            self.funcs
                .insert(f.name.to_ascii_lowercase(), (lib.clone(), i));
        }
        self.libs.insert(lib.name.clone(), lib);
        Ok(())
    }

    fn remove(&mut self, name: &[u8]) -> Option<Arc<Library>> {
        let lib = self.libs.shift_remove(name)?;
        for f in &lib.functions {
            self.funcs.remove(&f.name.to_ascii_lowercase());
        }
        Some(lib)
    }
}

/// The server's function libraries.
#[derive(Default)]
pub struct Functions {
    reg: RwLock<Registry>,
}

impl Functions {
    /// FUNCTION LOAD: compiles and runs `code` (within the load timeout), then installs it.
    /// Returns the library's name.
    pub fn load(&self, code: &Bytes, replace: bool) -> Result<Bytes, String> {
        self.install(code, replace, Some(LOAD_TIMEOUT))
    }

    fn install(
        &self,
        code: &Bytes,
        replace: bool,
        timeout: Option<Duration>,
    ) -> Result<Bytes, String> {
        with_state(|st| {
            // A library already there is refused before its code runs, as in Redis.
            let meta = metadata(code)?;
            if !replace && self.reg.read().libs.contains_key(&meta.0) {
                return Err(format!(
                    "ERR Library '{}' already exists",
                    String::from_utf8_lossy(&meta.0)
                ));
            }
            let (lib, callbacks) = compile(st, code, meta, timeout)?;
            let lib = Arc::new(lib);
            let name = lib.name.clone();
            self.reg.write().add(lib.clone(), replace, true)?;
            st.keep(&lib, callbacks);
            Ok(name)
        })
    }

    /// FUNCTION DELETE. False: no such library.
    pub fn delete(&self, name: &[u8]) -> bool {
        let Some(lib) = self.reg.write().remove(name) else {
            return false;
        };
        // The library's callbacks (and what its locals hold) go with it.
        with_state(|st| st.forget(lib));
        true
    }

    /// FUNCTION FLUSH.
    pub fn flush(&self) {
        let old = std::mem::take(&mut *self.reg.write());
        drop(old);
        with_state(|st| st.prune());
    }

    /// The function FCALL names: its library and index there.
    pub fn find(&self, name: &[u8]) -> Option<(Arc<Library>, usize)> {
        let reg = self.reg.read();
        crate::util::with_ascii_lowercase(name, |lower| reg.funcs.get(lower).cloned())
    }

    /// Every library, in load order.
    pub fn libraries(&self) -> Vec<Arc<Library>> {
        self.reg.read().libs.values().cloned().collect()
    }

    /// Libraries and functions (FUNCTION STATS, INFO).
    pub fn counts(&self) -> (usize, usize) {
        let r = self.reg.read();
        (r.libs.len(), r.funcs.len())
    }

    /// Bytes of library code held (INFO memory).
    pub fn code_bytes(&self) -> usize {
        self.reg.read().libs.values().map(|l| l.code.len()).sum()
    }

    /// The libraries' sources, for an RDB file or an AOF base.
    pub fn codes(&self) -> Vec<Bytes> {
        self.reg
            .read()
            .libs
            .values()
            .map(|l| l.code.clone())
            .collect()
    }

    /// FUNCTION DUMP: each library as the RDB function record, then the RDB version and the
    /// CRC-64, as a key's DUMP payload ends.
    pub fn dump(&self, compress: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for code in self.codes() {
            write_record(&mut out, &code, compress);
        }
        out.extend_from_slice(&crate::rdb::RDB_VERSION.to_le_bytes());
        let crc = crate::rdb::crc64(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// FUNCTION RESTORE: installs every library of a DUMP payload under `policy`, all or
    /// nothing.
    pub fn restore(&self, payload: &[u8], policy: Policy) -> Result<(), String> {
        let codes = read_payload(payload)?;
        with_state(|st| {
            let mut libs = Vec::with_capacity(codes.len());
            for code in &codes {
                let (lib, callbacks) = compile(st, code, metadata(code)?, None)?;
                libs.push((Arc::new(lib), callbacks));
            }
            let mut reg = self.reg.write();
            let mut next = match policy {
                Policy::Flush => Registry::default(),
                _ => reg.clone(),
            };
            let mut seen = std::collections::HashSet::new();
            for (lib, _) in &libs {
                if !seen.insert(lib.name.clone()) {
                    return Err(format!(
                        "ERR Library '{}' already exists",
                        String::from_utf8_lossy(&lib.name)
                    ));
                }
                next.add(lib.clone(), policy == Policy::Replace, false)?;
            }
            *reg = next;
            drop(reg);
            for (lib, callbacks) in libs {
                st.keep(&lib, callbacks);
            }
            Ok(())
        })
    }

    /// Installs the libraries an RDB file holds, each replacing one of the same name when
    /// `replace` (else such a library is an error, the ones before it staying installed).
    pub fn load_all(&self, codes: &[Bytes], replace: bool) -> Result<(), String> {
        for code in codes {
            self.install(code, replace, None)?;
        }
        Ok(())
    }
}

/// Appends one library as RDB stores it: the function opcode and the code as a string.
pub fn write_record(out: &mut Vec<u8>, code: &[u8], compress: bool) {
    out.push(crate::rdb::opcode::FUNCTION2);
    crate::rdb::write_string(out, code, compress);
}

/// The library sources of a FUNCTION DUMP payload, its footer checked.
fn read_payload(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    let wrong = || "ERR DUMP payload version or checksum are wrong".to_string();
    if payload.len() < 10 {
        return Err(wrong());
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().map_err(|_| wrong())?);
    if version > crate::rdb::RDB_VERSION || crate::rdb::crc64(&payload[..payload.len() - 8]) != crc
    {
        return Err(wrong());
    }
    let mut r = crate::rdb::Reader::new(body);
    let mut codes = Vec::new();
    while !r.is_empty() {
        let op = r.u8().map_err(|_| wrong())?;
        if op != crate::rdb::opcode::FUNCTION2 {
            return Err("ERR given type is not a function".into());
        }
        let code = r
            .string()
            .map_err(|_| "ERR Failed loading library payload".to_string())?;
        codes.push(Bytes::from(code));
    }
    Ok(codes)
}

/// The library's name from its first line (`#!lua name=<lib>`), as Redis reads it; the code
/// to compile is returned with that line blanked, so line numbers stay.
fn metadata(code: &[u8]) -> Result<(Bytes, Vec<u8>), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(eol) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    // The line is split whole: `#! lua` has an empty engine name and `lua` as metadata.
    let Some(parts) = crate::config::parse::split_args(&code[..eol]) else {
        return Err("ERR Invalid library metadata".into());
    };
    let engine = parts
        .first()
        .map(|p| p.get(2..).unwrap_or_default().to_vec())
        .unwrap_or_default();
    let mut name: Option<Vec<u8>> = None;
    for part in parts.iter().skip(1) {
        let value =
            (part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=")).then(|| &part[5..]);
        match value {
            Some(n) if name.is_none() => name = Some(n.to_vec()),
            Some(_) => {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                )
            }
            None => {
                return Err(format!(
                    "ERR Invalid metadata value given: {}",
                    String::from_utf8_lossy(part)
                ))
            }
        }
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    // Redis's order: the name, then the engine.
    if !fnlib::valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!(
            "ERR Engine '{}' not found",
            String::from_utf8_lossy(&engine)
        ));
    }
    let mut source = Vec::with_capacity(code.len() - eol);
    source.extend_from_slice(&code[eol..]);
    Ok((Bytes::from(name), source))
}

/// Compiles a library and runs its code in the functions' interpreter: the library and its
/// callbacks (`(name, source)`: the code's [`metadata`]; `timeout`: FUNCTION LOAD's).
fn compile(
    st: &mut FnState,
    code: &Bytes,
    (name, source): (Bytes, Vec<u8>),
    timeout: Option<Duration>,
) -> Result<(Library, Vec<Value>), String> {
    let chunk = Lua::compile(&source, "user_function")
        .map_err(|e| format!("ERR Error compiling function: {e}"))?;
    let mut host = LoadHost {
        started: Instant::now(),
        timeout,
    };
    let registered = fnlib::load_library(&mut st.lua, &chunk, &mut host).map_err(|e| {
        let msg = error_message(&e);
        format!(
            "ERR Error registering functions: {}",
            String::from_utf8_lossy(&msg)
        )
    })?;
    if registered.is_empty() {
        return Err("ERR No functions registered".into());
    }
    let functions = registered
        .iter()
        .map(|r| Function {
            name: Bytes::copy_from_slice(&r.name),
            flag_bits: r.flags,
            description: r.description.as_deref().map(Bytes::copy_from_slice),
        })
        .collect();
    let callbacks = registered.into_iter().map(|r| r.callback).collect();
    Ok((
        Library {
            name,
            code: code.clone(),
            functions,
        },
        callbacks,
    ))
}

/// A Lua error as the text of an error reply (an error table's `err`, else `ERR` and the
/// message), without the position Redis adds for a failed script. Bytes, as the script made
/// them (not necessarily UTF-8).
pub fn error_message(e: &LuaError) -> Vec<u8> {
    let prefixed = |text: &[u8]| [&b"ERR "[..], text].concat();
    match e {
        LuaError::Kill(reason) => reason.clone().into_bytes(),
        LuaError::Raise(v) => match v {
            // `err` may be a number too (Lua's string coercion).
            Value::Table(t) => match t.0.borrow().get_str("err").to_lstr() {
                Some(s) => s.to_vec(),
                None => b"ERR unknown error".to_vec(),
            },
            Value::Str(s) => prefixed(s),
            Value::Num(n) => prefixed(&ferrodis_lua::number::format(*n)),
            Value::Nil => b"ERR nil".to_vec(),
            Value::Bool(b) => prefixed(b.to_string().as_bytes()),
            Value::Func(_) => b"ERR unknown error".to_vec(),
        },
    }
}

/// What a library's code reaches while it loads: the log (`redis.log`) and, for FUNCTION
/// LOAD only, the load timeout (a library from an RDB file or a RESTORE payload runs to its
/// end, as in Redis).
struct LoadHost {
    started: Instant,
    timeout: Option<Duration>,
}

impl Host for LoadHost {
    fn call(&mut self, _args: Vec<Vec<u8>>, _resp: u8) -> Reply {
        Reply::Error(b"ERR redis.call is not available while a library loads".to_vec())
    }

    fn log(&mut self, level: i64, msg: &[u8]) {
        crate::cmd::script::log_line(level, msg);
    }

    fn interrupted(&mut self) -> Option<String> {
        let t = self.timeout?;
        (self.started.elapsed() >= t).then(|| "ERR FUNCTION LOAD timeout".to_string())
    }
}

/// The functions' interpreter and the callbacks of each library loaded in it.
pub struct FnState {
    pub lua: Lua,
    /// By the library's address while it lives.
    callbacks: HashMap<usize, Kept, foldhash::fast::RandomState>,
    /// The keys and arguments tables of the last call (see [`arg_tables`]).
    pub arg_tables: [Option<TableRef>; 2],
}

/// A function call's keys and arguments tables: the last call's refilled when nothing else
/// holds them any more (see [`TableRef::refill_strings`]), else new ones, kept for the next.
pub fn arg_tables(
    stash: &mut [Option<TableRef>; 2],
    keys: &[Bytes],
    argv: &[Bytes],
) -> [TableRef; 2] {
    [0, 1].map(|i| {
        let items = [keys, argv][i];
        match &stash[i] {
            // Held by the stash only.
            Some(t) if t.refill_strings(1, items) => t.clone(),
            _ => stash[i].insert(TableRef::strings(items)).clone(),
        }
    })
}

impl FnState {
    fn keep(&mut self, lib: &Arc<Library>, callbacks: Vec<Value>) {
        self.prune();
        self.callbacks.insert(
            Arc::as_ptr(lib) as usize,
            (Arc::downgrade(lib), Rc::new(callbacks)),
        );
    }

    /// Forgets the callbacks of libraries no longer loaded (deleted, flushed, replaced).
    fn prune(&mut self) {
        self.callbacks.retain(|_, (l, _)| l.strong_count() > 0);
    }

    /// Forgets a library just removed (its last reference is `lib`, dropped here).
    fn forget(&mut self, lib: Arc<Library>) {
        self.callbacks.remove(&(Arc::as_ptr(&lib) as usize));
    }

    /// The callbacks of `lib`'s functions, in the library's order.
    pub fn callbacks(&self, lib: &Arc<Library>) -> Option<Rc<Vec<Value>>> {
        self.callbacks
            .get(&(Arc::as_ptr(lib) as usize))
            .filter(|(l, _)| l.upgrade().is_some_and(|l| Arc::ptr_eq(&l, lib)))
            .map(|(_, cb)| cb.clone())
    }
}

/// A library (while it lives) and its functions' callbacks.
type Kept = (Weak<Library>, Rc<Vec<Value>>);

/// [`FnState`] made movable between threads: it is only ever reached through [`STATE`]'s
/// lock, by one thread at a time, and nothing in it leaves [`with_state`] (whose result must
/// be `Send`, so no Lua value can).
struct Confined(Option<FnState>);

// SAFETY: the interpreter's values count references without atomics (`Rc`), so they must
// never be touched by two threads at once. Every access goes through `with_state`, which
// holds `STATE`'s mutex for its whole duration (the lock orders the accesses of successive
// threads), and its closure's result is `Send`, so no `Rc` escapes the locked region. The
// interpreter's thread-local arena is started and collected within one locked region, on
// the one thread running it.
#[allow(unsafe_code)]
unsafe impl Send for Confined {}

static STATE: parking_lot::Mutex<Confined> = parking_lot::Mutex::new(Confined(None));

/// Runs `f` with the functions' interpreter, made on first use.
pub fn with_state<R: Send>(f: impl FnOnce(&mut FnState) -> R) -> R {
    let mut guard = STATE.lock();
    let st = guard.0.get_or_insert_with(|| FnState {
        lua: crate::scripting::new_lua(),
        callbacks: HashMap::default(),
        arg_tables: [None, None],
    });
    f(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib(code: &str) -> Result<Library, String> {
        let code = Bytes::copy_from_slice(code.as_bytes());
        with_state(|st| compile(st, &code, metadata(&code)?, Some(LOAD_TIMEOUT)).map(|(l, _)| l))
    }

    #[test]
    fn delete_and_flush_free_the_callbacks() {
        let f = Functions::default();
        let code = Bytes::from_static(b"#!lua name=gone\nlocal big = {} redis.register_function('gone_f', function() return #big end)");
        f.load(&code, false).unwrap();
        let (lib, _) = f.find(b"gone_f").unwrap();
        assert!(with_state(|st| st.callbacks(&lib).is_some()));
        assert!(f.delete(b"gone"));
        assert!(!f.delete(b"gone"));
        assert!(with_state(|st| st.callbacks(&lib).is_none()));
        f.load(&code, false).unwrap();
        let key = f
            .find(b"gone_f")
            .map(|(l, _)| Arc::as_ptr(&l) as usize)
            .unwrap();
        f.flush();
        assert!(with_state(|st| !st.callbacks.contains_key(&key)));
    }

    #[test]
    fn metadata_errors_are_redis_texts() {
        for (code, want) in [
            ("return 1", "ERR Missing library metadata"),
            ("#!lua name=x", "ERR Invalid library metadata"),
            ("#!lua\n", "ERR Library name was not given"),
            ("#!lua name=x foo=bar\n", "ERR Invalid metadata value given: foo=bar"),
            ("#!lua name=x name=y\n", "ERR Invalid metadata value, name argument was given multiple times"),
            ("#!python name=x\n", "ERR Engine 'python' not found"),
            ("#!lua name=x-y\n", "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
            ("#!lua name=x\n", "ERR No functions registered"),
            ("#!lua name=x\nlocal x =", "ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'"),
            ("#!lua name=x\nwhile true do end", "ERR Error registering functions: ERR FUNCTION LOAD timeout"),
        ] {
            assert_eq!(lib(code).err().as_deref(), Some(want), "{code}");
        }
        let l = lib("#!LUA  name=\"ok\"\nredis.register_function('f', function() end)").unwrap();
        assert_eq!((&l.name[..], l.functions.len()), (&b"ok"[..], 1));
    }

    #[test]
    fn registry_names_and_payloads() {
        let f = Functions::default();
        let code = Bytes::from_static(
            b"#!lua name=a\nredis.register_function('F1', function() return 1 end)",
        );
        assert_eq!(&f.load(&code, false).unwrap()[..], b"a");
        assert_eq!(
            f.load(&code, false).unwrap_err(),
            "ERR Library 'a' already exists"
        );
        let clash =
            Bytes::from_static(b"#!lua name=b\nredis.register_function('f1', function() end)");
        assert_eq!(
            f.load(&clash, false).unwrap_err(),
            "ERR Function f1 already exists"
        );
        assert!(f.find(b"f1").is_some() && f.find(b"F1").is_some());
        let payload = f.dump(true);
        f.flush();
        assert!(f.find(b"f1").is_none());
        f.restore(&payload, Policy::Append).unwrap();
        assert_eq!(f.counts(), (1, 1));
        assert_eq!(
            f.restore(&payload, Policy::Append).unwrap_err(),
            "ERR Library a already exists"
        );
        f.restore(&payload, Policy::Replace).unwrap();
        let mut bad = payload.clone();
        bad[3] ^= 1;
        assert_eq!(
            f.restore(&bad, Policy::Flush).unwrap_err(),
            "ERR DUMP payload version or checksum are wrong"
        );
        assert_eq!(f.counts(), (1, 1));
        let (lib, i) = f.find(b"f1").unwrap();
        let is_function =
            with_state(|st| matches!(st.callbacks(&lib).unwrap().get(i), Some(Value::Func(_))));
        assert!(is_function);
    }
}
