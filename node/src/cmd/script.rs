//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.
//!
//! A script runs on a view of its own ([`crate::db::Keyspace::script_view`]): it holds the
//! script gate (one script at a time), the shards of its declared keys from the start, and
//! every other shard it reaches (a script may touch keys it did not declare, as in Redis)
//! from then until it ends. Each `redis.call` goes through [`crate::dispatch::script_call`]
//! on that same view, so the whole script is atomic. Inside a transaction the script runs on
//! the transaction's view, which holds every shard. Its
//! writes are propagated as they ran, wrapped in MULTI/EXEC when there are several (Redis
//! 7.0's effects replication); EVAL itself never reaches the AOF or replicas.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferrodis_lua::host::{Host, Reply};
use ferrodis_lua::{redislib, LuaError, Value};

use super::{acl, flags as f, kflags, BeginSearch, CmdResult, Command, FindKeys, KeySpec};
use crate::db::{Db, ViewCtx};
use crate::dispatch::{Client, Ctx, ScriptRights};
use crate::error::CmdError;
use crate::resp::{Protocol, ReplyWriter};
use crate::server::{Server, Settings};

/// EVAL's and FCALL's flags, and their read-only variants'.
pub(crate) const EVAL_FLAGS: u32 =
    f::NOSCRIPT | f::SKIP_MONITOR | f::MAY_REPLICATE | f::NO_MANDATORY_KEYS | f::STALE;
pub(crate) const EVAL_RO_FLAGS: u32 =
    f::NOSCRIPT | f::SKIP_MONITOR | f::NO_MANDATORY_KEYS | f::STALE | f::READONLY;
/// How a script locks: the shards it reaches, as it goes; all of them in a transaction.
pub(crate) const SCRIPT_SHARDS: u32 = f::SCRIPT_LOCKS | f::ALL_SHARDS;
const COMPLEXITY: &str = "Depends on the script that is executed.";

const fn script_keys(flags: u16) -> KeySpec {
    KeySpec {
        notes: "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE",
        flags,
        begin: BeginSearch::Index(2),
        find: FindKeys::Keynum {
            keynumidx: 0,
            firstkey: 1,
            step: 1,
        },
    }
}
/// EVAL's and FCALL's keys.
pub(crate) const RW_KEYS: KeySpec = script_keys(kflags::RW | kflags::ACCESS | kflags::UPDATE);
/// EVAL_RO's and FCALL_RO's keys (Redis gives EVALSHA_RO's no note).
pub(crate) const RO_KEYS: KeySpec = KeySpec {
    notes: "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS",
    ..script_keys(kflags::RO | kflags::ACCESS)
};
/// EVALSHA's keys (Redis gives them no note either).
const RW_KEYS_NO_NOTE: KeySpec = KeySpec {
    notes: "",
    ..RW_KEYS
};
const RO_KEYS_NO_NOTE: KeySpec = KeySpec {
    notes: "",
    ..RO_KEYS
};

macro_rules! eval_row {
    ($name:literal, $flags:expr, $keys:expr, $handler:ident, $since:literal, $summary:literal) => {
        Command {
            name: $name,
            arity: -3,
            // Scripts may touch keys they did not declare: they lock what they reach.
            flags: $flags | SCRIPT_SHARDS,
            acl: acl::SCRIPTING,
            key_specs: &[$keys],
            handler: Some($handler),
            group: "scripting",
            since: $since,
            complexity: COMPLEXITY,
            summary: $summary,
            ..Command::DEFAULT
        }
    };
}

pub static COMMANDS: &[Command] = &[
    eval_row!(
        "eval",
        EVAL_FLAGS,
        RW_KEYS,
        eval,
        "2.6.0",
        "Runs a Lua script on the server."
    ),
    eval_row!(
        "eval_ro",
        EVAL_RO_FLAGS,
        RO_KEYS,
        eval_ro,
        "7.0.0",
        "Runs a read-only Lua script on the server."
    ),
    eval_row!(
        "evalsha",
        EVAL_FLAGS,
        RW_KEYS_NO_NOTE,
        evalsha,
        "2.6.0",
        "Runs a cached Lua script, named by the SHA1 of its body."
    ),
    eval_row!(
        "evalsha_ro",
        EVAL_RO_FLAGS,
        RO_KEYS_NO_NOTE,
        evalsha_ro,
        "7.0.0",
        "Runs a cached read-only Lua script, named by the SHA1 of its body."
    ),
    Command {
        name: "script",
        arity: -2,
        subcommands: SCRIPT,
        group: "scripting",
        since: "2.6.0",
        complexity: "Depends on subcommand.",
        summary: "Manages the server's cache of Lua scripts.",
        ..Command::DEFAULT
    },
];

static SCRIPT: &[Command] = &[
    Command {
        name: "debug",
        arity: 3,
        flags: f::NOSCRIPT,
        acl: acl::SCRIPTING,
        handler: Some(script_debug),
        group: "scripting",
        since: "3.2.0",
        complexity: "O(1)",
        summary: "Sets the debug mode of later scripts (only NO here).",
        ..Command::DEFAULT
    },
    Command {
        name: "exists",
        arity: -3,
        flags: f::NOSCRIPT,
        acl: acl::SCRIPTING,
        tips: &["request_policy:all_shards", "response_policy:agg_logical_and"],
        handler: Some(script_exists),
        group: "scripting",
        since: "2.6.0",
        complexity: "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).",
        summary: "Tells which scripts are in the cache.",
        ..Command::DEFAULT
    },
    Command {
        name: "flush",
        arity: -2,
        flags: f::NOSCRIPT,
        acl: acl::SCRIPTING,
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        handler: Some(script_flush),
        group: "scripting",
        since: "2.6.0",
        complexity: "O(N) with N being the number of scripts in cache",
        summary: "Empties the script cache.",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: f::LOADING | f::STALE,
        acl: acl::SCRIPTING,
        handler: Some(script_help),
        group: "scripting",
        since: "5.0.0",
        summary: "Describes the SCRIPT subcommands.",
        ..Command::DEFAULT
    },
    Command {
        name: "kill",
        arity: 2,
        flags: f::NOSCRIPT | f::ALLOW_BUSY,
        acl: acl::SCRIPTING,
        tips: &["request_policy:all_shards", "response_policy:one_succeeded"],
        handler: Some(script_kill),
        group: "scripting",
        since: "2.6.0",
        summary: "Stops the running script if it has not written yet.",
        ..Command::DEFAULT
    },
    Command {
        name: "load",
        arity: 3,
        flags: f::NOSCRIPT | f::STALE,
        acl: acl::SCRIPTING,
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        handler: Some(script_load),
        group: "scripting",
        since: "2.6.0",
        complexity: "O(N) with N being the length in bytes of the script body.",
        summary: "Compiles a script and caches it without running it.",
        ..Command::DEFAULT
    },
];

fn eval(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    eval_generic(ctx, false, false)
}

fn eval_ro(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    eval_generic(ctx, false, true)
}

fn evalsha(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    eval_generic(ctx, true, false)
}

fn evalsha_ro(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    eval_generic(ctx, true, true)
}

/// The script's number of keys: Redis's checks, in its order.
pub(crate) fn numkeys(ctx: &Ctx<'_, '_>) -> Result<usize, CmdError> {
    let n = ctx.int_arg(2)?;
    if n > (ctx.args.len() - 3) as i64 {
        return Err(CmdError::raw(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(CmdError::raw("ERR Number of keys can't be negative"));
    }
    Ok(n as usize)
}

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

fn eval_generic(ctx: &mut Ctx<'_, '_>, by_sha: bool, read_only: bool) -> CmdResult {
    // A SHA1 of the wrong length matches nothing: Redis says so before anything else.
    if by_sha && ctx.args[1].len() != 40 {
        return Err(CmdError::raw(NOSCRIPT));
    }
    let nkeys = numkeys(ctx)?;
    let script = if by_sha {
        match ctx.server.scripts.get(ctx.arg(1)) {
            Some(s) => s,
            None => return Err(CmdError::raw(NOSCRIPT)),
        }
    } else {
        let body = ctx.args[1].clone();
        ctx.server
            .scripts
            .load(&body)
            .map_err(|e| CmdError::Msg(e.into()))?
            .1
    };
    run(
        ctx,
        Run {
            body: Body::Script(&script.chunk),
            name: &script.sha,
            chunk_name: "user_script",
            flags: script.flags,
            read_only,
            nkeys,
        },
    )
}

/// What a run executes: an EVAL script's chunk, or a function of a library (FCALL).
pub(crate) enum Body<'a> {
    Script(&'a ferrodis_lua::Chunk),
    Function(&'a std::sync::Arc<crate::functions::Library>, usize),
}

/// One run of a script or function.
pub(crate) struct Run<'a> {
    pub body: Body<'a>,
    /// The script's SHA1 or the function's name, for error replies.
    pub name: &'a str,
    /// `user_script` or `user_function`.
    pub chunk_name: &'static str,
    pub flags: crate::scripting::Flags,
    /// Called as EVAL_RO, EVALSHA_RO or FCALL_RO.
    pub read_only: bool,
    /// Keys among the arguments after the numkeys argument.
    pub nkeys: usize,
}

/// The checks Redis makes before running a script that declares its flags (a shebang
/// script or a function), in its order.
fn refuse_by_flags(ctx: &Ctx<'_, '_>, run: &Run<'_>) -> Result<(), CmdError> {
    let f = run.flags;
    if !f.shebang {
        return Ok(());
    }
    if f.no_cluster && ctx.settings.cluster_enabled {
        return Err(CmdError::raw(
            "ERR Can not run script on cluster, 'no-cluster' flag is set.",
        ));
    }
    if !f.no_writes && !f.allow_oom && ctx.client.script_oom {
        return Err(CmdError::Oom);
    }
    if !f.no_writes {
        if !ctx.client.obey && ctx.settings.replica_read_only && ctx.server.repl.link.is_replica() {
            return Err(CmdError::raw(
                "READONLY You can't write against a read only replica.",
            ));
        }
        if run.read_only {
            return Err(CmdError::raw(
                "ERR Can not execute a script with write flag using *_ro command.",
            ));
        }
        if crate::dispatch::too_few_replicas(ctx.server, ctx.settings, ctx.client) {
            return Err(CmdError::raw(crate::dispatch::NOREPLICAS));
        }
    }
    Ok(())
}

thread_local! {
    /// A script's reply and argument buffers, kept from run to run on each thread.
    static SPARE_BUFFERS: std::cell::RefCell<(BytesMut, Vec<Bytes>)> = Default::default();
}

/// The largest reply buffer kept for the next run.
const SPARE_BUFFER_MAX: usize = 64 << 10;

/// Runs a script or function on the command's view (see the module's doc) and writes its
/// reply.
pub(crate) fn run(ctx: &mut Ctx<'_, '_>, run: Run<'_>) -> CmdResult {
    refuse_by_flags(ctx, &run)?;
    let (keys, argv) = ctx.args[3..].split_at(run.nkeys);

    // EVAL skips the usual feed (it runs after the command): monitors see it before the
    // commands it calls, as in Redis.
    if ctx
        .server
        .has_monitors
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        crate::dispatch::feed_monitors(ctx.server, ctx.client, ctx.args);
    }
    // `ctx.db` is the script's own view (see the module's doc), made by dispatch
    // (`lock_keys`) with the gate and the declared keys' shards.
    // The view goes to the script's commands and comes back after.
    let placeholder = ctx.server.keyspace.unlocked(ViewCtx {
        db: ctx.client.db,
        now: ctx.db.now,
        mode: ctx.settings.access,
    });
    let db = std::mem::replace(&mut ctx.db, placeholder);
    let saved_db = ctx.client.db;
    let saved_deny = std::mem::replace(&mut ctx.client.deny_blocking, true);
    let saved_in_script = std::mem::replace(&mut ctx.client.in_script, true);
    let (scratch, args) = SPARE_BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let mut host = ScriptHost {
        server: ctx.server,
        settings: ctx.settings,
        client: &mut *ctx.client,
        db: Some(db),
        rights: ScriptRights {
            read_only: run.read_only || run.flags.no_writes,
            allow_oom: run.flags.allow_oom,
            oom: false,
            wrote: false,
            no_propagation: false,
        },
        scratch,
        args,
        started: Instant::now(),
        next_handoff: HANDOFF_AFTER,
    };
    host.rights.oom = host.client.script_oom;
    // Ends the running state however the run ends (an interpreter panic included: other
    // clients would otherwise wait on a script that is gone).
    let function = match &run.body {
        Body::Function(..) => Some((
            Bytes::copy_from_slice(run.name.as_bytes()),
            ctx.args.to_vec(),
        )),
        Body::Script(_) => None,
    };
    let running = ctx.server.scripts.start(host.client.info.id, function);
    let reply = match run.body {
        Body::Script(chunk) => crate::scripting::with_lua(|lua| {
            execute(lua, &mut host, &run, &[], |lua, host| {
                lua.set_script_args(keys, argv);
                let r = lua.run(chunk, host);
                lua.script_args_done();
                r
            })
        }),
        Body::Function(lib, index) => crate::functions::with_state(|st| {
            let callbacks = st.callbacks(lib).unwrap_or_default();
            let f = callbacks.get(index).cloned().unwrap_or_default();
            // What the library's functions can still reach (its locals) outlives the call.
            let stash = &mut st.arg_tables;
            execute(&mut st.lua, &mut host, &run, &callbacks, |lua, host| {
                // A function gets its keys and arguments as parameters.
                let [k, a] = crate::functions::arg_tables(stash, keys, argv);
                let r = lua.call_function(&f, vec![Value::Table(k), Value::Table(a)], host);
                for t in stash.iter().flatten() {
                    t.track_if_shared(1);
                }
                r
            })
        }),
    };
    drop(running);
    if host.scratch.capacity() <= SPARE_BUFFER_MAX {
        host.scratch.clear();
        let buffers = (
            std::mem::take(&mut host.scratch),
            std::mem::take(&mut host.args),
        );
        SPARE_BUFFERS.with(|b| *b.borrow_mut() = buffers);
    }
    let mut db = host.db.take().expect("the view comes back after each call");
    ctx.client.db = saved_db;
    // A SELECT the script ran ends with it (CLIENT INFO shows the client's own database).
    ctx.client
        .info
        .db
        .store(saved_db, std::sync::atomic::Ordering::Relaxed);
    ctx.client.deny_blocking = saved_deny;
    ctx.client.in_script = saved_in_script;
    // The script's commands propagated themselves and counted their own changes.
    db.rewrote = true;
    db.dirty = 0;
    db.expired = 0;
    ctx.db = db;

    write_reply(&mut ctx.out, &reply, &ctx.server.stats);
    Ok(())
}

/// One run in `lua`: what it makes is recorded and, once the reply is read, freed, except
/// what `keep` (a library's callbacks) can still reach; the reply in the script's protocol
/// or its error as Redis words it.
fn execute(
    lua: &mut ferrodis_lua::Lua,
    host: &mut ScriptHost<'_, '_>,
    run: &Run<'_>,
    keep: &[Value],
    body: impl FnOnce(&mut ferrodis_lua::Lua, &mut ScriptHost<'_, '_>) -> Result<Vec<Value>, LuaError>,
) -> Reply {
    ferrodis_lua::value::arena_start();
    redislib::reset_resp(lua);
    host.server.scripts.lend_rand(lua);
    let result = body(lua, host);
    host.server.scripts.keep_rand(lua);
    let reply = match result {
        Ok(values) => {
            let resp = redislib::resp(lua);
            redislib::value_to_reply(values.first().unwrap_or(&Value::Nil), resp)
        }
        Err(e) => {
            let text = error_text(&e, run.name, run.chunk_name, lua.error_line);
            // A command's error raised by redis.call was counted when the command failed.
            match &e {
                LuaError::Raise(Value::Table(t)) if redislib::is_counted(&t.0.borrow()) => {
                    Reply::CountedError(text)
                }
                _ => Reply::Error(text),
            }
        }
    };
    ferrodis_lua::value::arena_collect_keeping(keep);
    reply
}

/// The error reply of a script that failed: the error's text (an error table's `err`, or
/// `ERR` and the message), then where it was raised, as Redis 7.0 words it.
fn error_text(e: &LuaError, name: &str, chunk_name: &str, line: Option<u32>) -> Vec<u8> {
    let mut text = crate::functions::error_message(e);
    let line = line.map_or_else(|| "?".to_string(), |l| l.to_string());
    text.extend_from_slice(format!(" script: {name}, on @{chunk_name}:{line}.").as_bytes());
    text
}

/// Writes a script's reply in the client's protocol, counting its errors (nested ones too)
/// in `stats` unless they were counted when a command of the script failed.
pub fn write_reply(out: &mut ReplyWriter<'_>, r: &Reply, stats: &crate::server::Stats) {
    let write_reply = |out: &mut ReplyWriter<'_>, r: &Reply| write_reply(out, r, stats);
    match r {
        Reply::Status(s) => out.status_bytes(s),
        Reply::Error(e) => {
            stats.count_error(&String::from_utf8_lossy(e));
            out.error_bytes(e)
        }
        Reply::CountedError(e) => out.error_bytes(e),
        Reply::Int(n) => out.int(*n),
        Reply::Bulk(b) => out.bulk(b),
        Reply::NilBulk | Reply::Null => out.null(),
        Reply::NilArray => out.null_array(),
        Reply::Array(items) => {
            out.array(items.len());
            for i in items {
                write_reply(out, i);
            }
        }
        Reply::Map(pairs) => {
            out.map(pairs.len());
            for (k, v) in pairs {
                write_reply(out, k);
                write_reply(out, v);
            }
        }
        Reply::Set(items) => {
            out.set(items.len());
            for i in items {
                write_reply(out, i);
            }
        }
        Reply::Double(d) => out.double(*d),
        Reply::Bool(b) => out.boolean(*b),
        Reply::BigNumber(n) => out.big_number(n),
        Reply::Verbatim(format, text) => {
            let mut fmt = *b"txt";
            if format.len() == 3 {
                fmt.copy_from_slice(format);
            }
            out.verbatim_as(&fmt, text)
        }
    }
}

/// `redis.log`: one line in the server's log at the script's level.
pub(crate) fn log_line(level: i64, msg: &[u8]) {
    let msg = String::from_utf8_lossy(msg);
    match level {
        0 => tracing::debug!("{msg}"),
        1 => tracing::info!(verbose = true, "{msg}"),
        2 => tracing::info!("{msg}"),
        _ => tracing::warn!("{msg}"),
    }
}

/// How long a script runs before its thread gives its tokio worker to another thread (and
/// again after as long, should that not have happened).
const HANDOFF_AFTER: Duration = Duration::from_millis(20);

/// Lets the runtime go on without this thread: a long script keeps its thread, and a new
/// worker takes over the thread's queue and the I/O driver, so other connections are read
/// (to be answered BUSY, or SCRIPT KILL) instead of waiting unpolled for the script.
/// `block_in_place` takes the worker back when it returns unless another thread has picked
/// it up, which the short wait gives it time to do.
fn hand_off_worker() {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
        tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(1)));
    }
}

/// The server side of a running script.
struct ScriptHost<'h, 's> {
    server: &'s Server,
    settings: &'h Settings,
    client: &'h mut Client,
    /// The script's view, lent to each command it calls.
    db: Option<Db<'s>>,
    rights: ScriptRights,
    /// Where each command's reply is written, then read back.
    scratch: BytesMut,
    /// Each command's arguments (the buffer kept from call to call).
    args: Vec<Bytes>,
    started: Instant,
    /// When (since `started`) to hand the worker off next (see [`hand_off_worker`]).
    next_handoff: Duration,
}

impl Host for ScriptHost<'_, '_> {
    fn call(&mut self, argv: Vec<Vec<u8>>, resp: u8) -> Reply {
        let mut args = std::mem::take(&mut self.args);
        args.extend(argv.into_iter().map(Bytes::from));
        let proto = std::mem::replace(
            &mut self.client.proto,
            if resp == 3 {
                Protocol::Resp3
            } else {
                Protocol::Resp2
            },
        );
        self.scratch.clear();
        let db = self.db.take().expect("the view comes back after each call");
        let wrote = self.rights.wrote;
        let db = crate::dispatch::script_call(
            self.server,
            self.settings,
            &mut *self.client,
            &args,
            &mut self.scratch,
            db,
            &mut self.rights,
        );
        self.db = Some(db);
        args.clear();
        self.args = args;
        self.client.proto = proto;
        if self.rights.wrote && !wrote {
            self.server.scripts.wrote();
        }
        match crate::resp::read_reply(&self.scratch) {
            Some((reply, _)) => reply,
            None => Reply::Error(b"ERR the command wrote no reply".to_vec()),
        }
    }

    fn log(&mut self, level: i64, msg: &[u8]) {
        log_line(level, msg);
    }

    fn interrupted(&mut self) -> Option<String> {
        if self.started.elapsed() >= self.next_handoff {
            self.next_handoff += HANDOFF_AFTER;
            hand_off_worker();
        }
        if self
            .server
            .shutting_down
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Some("ERR Script killed by a server shutdown".to_string());
        }
        if self.server.scripts.killed() {
            tracing::warn!("Lua script killed by user with SCRIPT KILL.");
            return Some("ERR Script killed by user with SCRIPT KILL...".to_string());
        }
        None
    }

    fn set_repl(&mut self, flags: i64) {
        self.rights.no_propagation = flags == 0;
    }

    fn acl_check(&mut self, argv: Vec<Vec<u8>>) -> Result<bool, String> {
        let args: Vec<Bytes> = argv.into_iter().map(Bytes::from).collect();
        let Some(top) = super::lookup(&args[0]) else {
            return Err("Invalid command passed to redis.acl_check_cmd()".into());
        };
        let (cmd, is_sub) = match top.subcommands.is_empty() {
            true => (top, false),
            false => match args.get(1).and_then(|a| top.subcommand(a)) {
                Some(sub) => (sub, true),
                None => return Err("Invalid command passed to redis.acl_check_cmd()".into()),
            },
        };
        if !cmd.arity_ok(args.len()) {
            return Err("Invalid number of arguments passed to redis.acl_check_cmd()".into());
        }
        Ok(self.client.user.is_open()
            || crate::acl::check(&self.client.user.rules(), cmd, is_sub, &args).is_ok())
    }
}

fn script_load(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let body = ctx.args[2].clone();
    let (sha, _) = ctx
        .server
        .scripts
        .load(&body)
        .map_err(|e| CmdError::Msg(e.into()))?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let n = ctx.args.len() - 2;
    ctx.out.array(n);
    for i in 2..ctx.args.len() {
        let found = ctx.server.scripts.get(ctx.arg(i)).is_some();
        ctx.out.int(found as i64);
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    if !super::flush_mode_ok(&ctx.args[2..]) {
        return Err(CmdError::raw(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    ctx.server.scripts.flush();
    ctx.out.ok();
    Ok(())
}

fn script_kill(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    kill(ctx, false)
}

/// SCRIPT KILL (`function` false) and FUNCTION KILL.
pub(crate) fn kill(ctx: &mut Ctx<'_, '_>, function: bool) -> CmdResult {
    use crate::scripting::{Kill, BUSY_FUNCTION, BUSY_SCRIPT};
    match ctx.server.scripts.kill(function) {
        Kill::NotBusy => Err(CmdError::raw("NOTBUSY No scripts in execution right now.")),
        Kill::Unkillable => Err(CmdError::raw("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")),
        Kill::OtherKind if function => Err(CmdError::raw(BUSY_SCRIPT)),
        Kill::OtherKind => Err(CmdError::raw(BUSY_FUNCTION)),
        Kill::Killed => {
            ctx.out.ok();
            Ok(())
        }
    }
}

fn script_debug(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    if ctx.arg(2).eq_ignore_ascii_case(b"no") {
        ctx.out.ok();
        return Ok(());
    }
    if ctx.arg(2).eq_ignore_ascii_case(b"yes") || ctx.arg(2).eq_ignore_ascii_case(b"sync") {
        return Err(CmdError::raw(
            "ERR The Lua debugger is not available in this server",
        ));
    }
    Err(CmdError::raw("ERR Use SCRIPT DEBUG YES/SYNC/NO"))
}

fn script_help(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    super::connection::help(
        ctx,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode of later scripts (only NO: no debugger here).",
            "EXISTS <sha1> [<sha1> ...]",
            "    For each SHA1, answer 1 if a script with it is cached, else 0.",
            "FLUSH [ASYNC|SYNC]",
            "    Empty the script cache.",
            "KILL",
            "    Stop the running script, if it has not written anything yet.",
            "LOAD <script>",
            "    Compile and cache a script; answer its SHA1 for EVALSHA.",
        ],
    );
    Ok(())
}
