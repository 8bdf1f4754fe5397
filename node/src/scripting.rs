//! Scripts (EVAL): the cache of compiled scripts by SHA1, their shebang flags, the running
//! script (for SCRIPT KILL and BUSY), and the Lua interpreter each worker thread keeps.
//!
//! The commands are in [`crate::cmd::script`]; the interpreter is the `ferrodis-lua` crate.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ferrodis_lua::{Chunk, Lua};
use parking_lot::Mutex;

/// The stack of the threads scripts run on (the tokio workers).
pub const STACK_SIZE: usize = 64 << 20;

/// How deep Lua calls may nest (Redis's Lua allows about 20,000 frames): about 2 KB of
/// [`STACK_SIZE`] each, with room to spare for natives and deep expressions between them.
const MAX_DEPTH: usize = 10_000;

/// A compiled script.
pub struct Script {
    /// Its SHA1, lowercase hex.
    pub sha: String,
    pub body: Bytes,
    pub chunk: Chunk,
    pub flags: Flags,
}

/// The flags of a script's `#!lua flags=...` line. A script without that line runs in
/// compatibility mode: it may write, and is checked command by command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// It had a shebang (flags are then declared, not assumed).
    pub shebang: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

/// Reads the shebang line of a script body: its flags, and the body to compile (the line
/// blanked, so line numbers stay the same). Err: Redis's error text.
pub fn shebang(body: &[u8]) -> Result<(Flags, std::borrow::Cow<'_, [u8]>), String> {
    if !body.starts_with(b"#!") {
        return Ok((Flags::default(), body.into()));
    }
    let Some(eol) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..eol]);
    let mut parts = line
        .split(|c: char| c.is_ascii_whitespace())
        .filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = Flags {
        shebang: true,
        ..Flags::default()
    };
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        for flag in list.split(',').filter(|_| !list.is_empty()) {
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" => flags.allow_stale = true,
                "no-cluster" => flags.no_cluster = true,
                "allow-cross-slot-keys" => flags.allow_cross_slot_keys = true,
                other => return Err(format!("ERR Unexpected flag in script shebang: {other}")),
            }
        }
    }
    let mut rest = Vec::with_capacity(body.len() - eol);
    rest.extend_from_slice(&body[eol..]);
    Ok((flags, rest.into()))
}

/// The script that is running, for SCRIPT KILL and the BUSY replies.
struct Running {
    client: u64,
    started: Instant,
    wrote: bool,
    /// A function (FCALL): its name and the command that called it (FUNCTION STATS).
    function: Option<(Bytes, Vec<Bytes>)>,
}

/// The script cache and the running script.
#[derive(Default)]
pub struct Scripts {
    /// By lowercase SHA1 hex.
    cache: Mutex<HashMap<String, Arc<Script>, foldhash::fast::RandomState>>,
    running: Mutex<Option<Running>>,
    /// `math.random`'s generator, shared by the threads' interpreters so scripts see one
    /// sequence (None: not seeded yet; the interpreter's own seed).
    rand: Mutex<Option<u64>>,
    /// `running.is_some()`, read on every command without the lock.
    is_running: AtomicBool,
    kill: AtomicBool,
}

/// A running script, ended when dropped (see [`Scripts::start`]).
pub struct RunningGuard<'a>(&'a Scripts);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// SCRIPT KILL's and FUNCTION KILL's answer.
pub enum Kill {
    NotBusy,
    Unkillable,
    /// The running script is of the other kind (a function for SCRIPT KILL, an EVAL script
    /// for FUNCTION KILL): the BUSY reply naming the right command.
    OtherKind,
    Killed,
}

/// Refusals while an EVAL script runs, and while a function runs.
pub const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

impl Scripts {
    /// The script named by `sha`, in either case (EVALSHA, SCRIPT EXISTS).
    pub fn get(&self, sha: &[u8]) -> Option<Arc<Script>> {
        if sha.len() != 40 {
            return None;
        }
        crate::util::with_ascii_lowercase(sha, |lower| {
            let key = std::str::from_utf8(lower).ok()?;
            self.cache.lock().get(key).cloned()
        })
    }

    /// Compiles `body` (or finds it compiled) and caches it; returns its SHA1 and the script.
    /// Err: the compile error as Redis words it.
    pub fn load(&self, body: &Bytes) -> Result<(String, Arc<Script>), String> {
        let sha = ferrodis_lua::redislib::sha1_hex(body);
        if let Some(s) = self.get(sha.as_bytes()) {
            return Ok((sha, s));
        }
        let (flags, source) = shebang(body)?;
        let chunk = Lua::compile(&source, "user_script")
            .map_err(|e| format!("ERR Error compiling script (new function): {e}"))?;
        let script = Arc::new(Script {
            sha: sha.clone(),
            body: body.clone(),
            chunk,
            flags,
        });
        self.cache.lock().insert(sha.clone(), script.clone());
        Ok((sha, script))
    }

    pub fn flush(&self) {
        self.cache.lock().clear();
    }

    pub fn len(&self) -> usize {
        self.cache.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the cached scripts' bodies (`used_memory_scripts_eval`).
    pub fn body_bytes(&self) -> usize {
        self.cache.lock().values().map(|s| s.body.len() + 40).sum()
    }

    /// A script runs (for another client's commands to wait on, see `busy_for`).
    pub fn is_running(&self) -> bool {
        self.is_running.load(Relaxed)
    }

    /// A script starts running for `client`; it has ended when the guard is dropped.
    #[must_use = "the script runs until the guard is dropped"]
    /// `function`: the function's name and the FCALL's arguments; None for EVAL.
    pub fn start(&self, client: u64, function: Option<(Bytes, Vec<Bytes>)>) -> RunningGuard<'_> {
        self.kill.store(false, Relaxed);
        self.is_running.store(true, Relaxed);
        *self.running.lock() = Some(Running {
            client,
            started: Instant::now(),
            wrote: false,
            function,
        });
        RunningGuard(self)
    }

    fn end(&self) {
        *self.running.lock() = None;
        self.is_running.store(false, Relaxed);
        self.kill.store(false, Relaxed);
    }

    /// The running script wrote (SCRIPT KILL can no longer stop it).
    pub fn wrote(&self) {
        if let Some(r) = self.running.lock().as_mut() {
            r.wrote = true;
        }
    }

    /// How long the running script has run, unless it belongs to `client`.
    pub fn busy_for(&self, client: u64) -> Option<std::time::Duration> {
        let r = self.running.lock();
        let r = r.as_ref()?;
        (r.client != client).then(|| r.started.elapsed())
    }

    /// SCRIPT KILL (`function` false) or FUNCTION KILL: each stops only its own kind.
    pub fn kill(&self, function: bool) -> Kill {
        let r = self.running.lock();
        match r.as_ref() {
            None => Kill::NotBusy,
            Some(r) if r.wrote => Kill::Unkillable,
            Some(r) if r.function.is_some() != function => Kill::OtherKind,
            Some(_) => {
                self.kill.store(true, Relaxed);
                Kill::Killed
            }
        }
    }

    /// The BUSY reply while a script runs: it names the command that can stop it.
    pub fn busy_reply(&self) -> &'static str {
        match self.running.lock().as_ref() {
            Some(r) if r.function.is_some() => BUSY_FUNCTION,
            _ => BUSY_SCRIPT,
        }
    }

    /// The running function: name, calling command, milliseconds so far (FUNCTION STATS).
    pub fn running_function(&self) -> Option<(Bytes, Vec<Bytes>, u128)> {
        let r = self.running.lock();
        let r = r.as_ref()?;
        let (name, args) = r.function.clone()?;
        Some((name, args, r.started.elapsed().as_millis()))
    }

    pub fn killed(&self) -> bool {
        self.kill.load(Relaxed)
    }

    /// Hands `lua` the shared `math.random` state before a run.
    pub fn lend_rand(&self, lua: &mut Lua) {
        if let Some(state) = *self.rand.lock() {
            lua.rand_state = state;
        }
    }

    /// Takes the `math.random` state back after a run.
    pub fn keep_rand(&self, lua: &Lua) {
        *self.rand.lock() = Some(lua.rand_state);
    }
}

thread_local! {
    /// Each worker thread's interpreter (Lua values are not shared between threads; scripts
    /// cannot create globals, so every thread's state is the same).
    static LUA: RefCell<Option<Lua>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's interpreter, made on first use.
pub fn with_lua<R>(f: impl FnOnce(&mut Lua) -> R) -> R {
    LUA.with(|cell| {
        let mut slot = cell.borrow_mut();
        let lua = slot.get_or_insert_with(new_lua);
        f(lua)
    })
}

/// An interpreter as scripts get it: Redis's libraries, call depth and version.
pub fn new_lua() -> Lua {
    let mut lua = Lua::new();
    lua.max_depth = MAX_DEPTH;
    ferrodis_lua::redislib::set_version(&mut lua, crate::REDIS_VERSION, version_num());
    lua
}

/// `7.0.15` as Redis's `0x00MMmmpp` number.
fn version_num() -> i64 {
    let mut n = 0;
    for part in crate::REDIS_VERSION.split('.') {
        n = n * 256 + part.parse::<i64>().unwrap_or(0);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_flags_and_errors() {
        let (f, body) = shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(f.shebang && f.no_writes && f.allow_oom && !f.allow_stale);
        assert_eq!(&body[..], b"\nreturn 1");
        assert!(shebang(b"#!lua flags=\nreturn 1").unwrap().0.shebang);
        assert!(shebang(b"#!lua\r\nreturn 1").unwrap().0.shebang);
        assert_eq!(
            shebang(b"#!lua flags=no-writes,\n").unwrap_err(),
            "ERR Unexpected flag in script shebang: "
        );
        assert_eq!(shebang(b"return 1").unwrap().0, Flags::default());
        assert_eq!(shebang(b"#!lua").unwrap_err(), "ERR Invalid script shebang");
        assert_eq!(
            shebang(b"#!python\n").unwrap_err(),
            "ERR Unexpected engine in script shebang: #!python"
        );
        assert_eq!(
            shebang(b"#!lua flags=bad\n").unwrap_err(),
            "ERR Unexpected flag in script shebang: bad"
        );
        assert_eq!(
            shebang(b"#!lua name=x\n").unwrap_err(),
            "ERR Unknown lua shebang option: name=x"
        );
    }

    #[test]
    fn version_number_is_redis_style() {
        assert_eq!(version_num(), 458767);
    }
}
