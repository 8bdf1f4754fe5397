//! Dispatch: the checks every command goes through, in Redis's order, then the handler.
//!
//! lookup -> subcommand -> arity -> authentication -> pause -> out-of-memory -> lock the
//! key shards -> handler -> side effects (stats, dirty counter, MONITOR, SLOWLOG).
//! Handlers write their reply into `ctx.out`; an error rolls that back and sends the error.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::cmd::{self, flags, Command};
use crate::db::{key_slot, Db, ViewCtx};
use crate::error::{self, CmdError};
use crate::resp::{Protocol, ReplyWriter};
use crate::server::{unix_ms, Server, Settings, SlowEntry};

/// `CLIENT REPLY` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
    /// Set by SKIP, consumed by the following command.
    SkipThis,
}

/// Something a handler asks the connection to do after the reply is queued.
#[derive(Debug)]
pub enum Action {
    /// Close after flushing (QUIT).
    Close,
    /// Wait before running the next command (DEBUG SLEEP).
    Sleep(Duration),
    /// Start streaming MONITOR output.
    Monitor,
}

/// Per-connection state that commands read and change.
pub struct Client {
    pub info: Arc<crate::server::ClientInfo>,
    pub db: usize,
    pub proto: Protocol,
    pub authenticated: bool,
    pub reply_mode: ReplyMode,
    pub action: Option<Action>,
    pub user: String,
    /// Set by a blocking command that found nothing to serve (see [`crate::blocking`]).
    pub blocked: Option<crate::blocking::Blocked>,
    /// Blocking commands must answer at once (Redis `CLIENT_DENY_BLOCKING`): MULTI and
    /// scripts will set it. Read it through [`Client::may_block`].
    pub deny_blocking: bool,
    /// Cluster: ASKING was sent; the next command may touch an importing slot.
    pub asking: bool,
    /// Cluster: READONLY (reads allowed on a replica of the slot's owner).
    pub readonly: bool,
}

impl Client {
    pub fn new(info: Arc<crate::server::ClientInfo>, settings: &Settings) -> Client {
        Client {
            info,
            db: 0,
            proto: Protocol::Resp2,
            authenticated: settings.requirepass.is_none(),
            reply_mode: ReplyMode::On,
            action: None,
            user: "default".to_string(),
            blocked: None,
            deny_blocking: false,
            asking: false,
            readonly: false,
        }
    }

    /// False inside MULTI and scripts, where a blocking command answers as if it timed out.
    pub fn may_block(&self) -> bool {
        !self.deny_blocking
    }
}

/// Everything a handler can see.
pub struct Ctx<'a> {
    /// The arguments, `args[0]` being the command name.
    pub args: &'a [Bytes],
    pub out: ReplyWriter<'a>,
    pub db: Db<'a>,
    pub client: &'a mut Client,
    pub server: &'a Server,
    pub settings: &'a Settings,
    pub cmd: &'static Command,
    /// Keyspace hits and misses of this command.
    pub hits: u64,
    pub misses: u64,
    /// When a blocked client's command is re-run because this key became ready: the only key
    /// it may serve from (Redis 7.0 serves a blocked client from the key that was signalled).
    pub serving: Option<&'a [u8]>,
}

impl Ctx<'_> {
    /// Argument `i` (the caller has checked arity).
    pub fn arg(&self, i: usize) -> &[u8] {
        &self.args[i]
    }

    /// Argument `i` as an integer, or `ERR value is not an integer or out of range`.
    pub fn int_arg(&self, i: usize) -> Result<i64, CmdError> {
        crate::util::num::parse_i64(&self.args[i]).ok_or(CmdError::NotInteger)
    }

    /// Argument `i` upper-cased, for option keywords.
    pub fn upper(&self, i: usize) -> Vec<u8> {
        self.args[i].to_ascii_uppercase()
    }

    /// Records a keyspace hit or miss.
    pub fn hit(&mut self, found: bool) {
        if found {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
    }
}

/// What the connection should do with a command.
pub enum Outcome {
    /// Executed (the reply, if any, is in the output buffer).
    Done,
    /// `CLIENT PAUSE` holds the command back: wait this long and retry.
    Paused(Duration),
    /// The client is blocked: `client.blocked` says what to wait for (see [`crate::blocking`]).
    Blocked,
}

/// Full name for messages: `config|get` for subcommands.
fn full_name(parent: Option<&Command>, cmd: &Command) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, cmd.name),
        None => cmd.name.to_string(),
    }
}

/// Resolves the row for `args`: the command, or its subcommand for containers.
fn resolve(args: &[Bytes]) -> Result<(Option<&'static Command>, &'static Command), CmdError> {
    let Some(top) = cmd::lookup(&args[0]) else {
        return Err(CmdError::Msg(error::unknown_command(args).into()));
    };
    if top.subcommands.is_empty() {
        return Ok((None, top));
    }
    if args.len() < 2 {
        // A container may also run on its own (COMMAND); otherwise it needs a subcommand.
        if top.handler.is_some() {
            return Ok((None, top));
        }
        return Err(CmdError::WrongArity(top.name.to_string()));
    }
    match top.subcommand(&args[1]) {
        Some(sub) => Ok((Some(top), sub)),
        None => Err(CmdError::UnknownSubcommand(
            error::lossy(&args[1], 128),
            top.name.to_ascii_uppercase(),
        )),
    }
}

/// Runs one command, then applies `CLIENT REPLY`: the reply is dropped when the mode after the
/// command says so (so `CLIENT REPLY ON` is answered even when replies were off).
pub fn execute(
    server: &Server,
    settings: &Settings,
    client: &mut Client,
    args: &[Bytes],
    out: &mut bytes::BytesMut,
) -> Outcome {
    let mark = out.len();
    let outcome = run(server, settings, client, args, out);
    if matches!(outcome, Outcome::Paused(_) | Outcome::Blocked) {
        return outcome;
    }
    apply_reply_mode(client, out, mark);
    outcome
}

/// Drops the reply written after `mark` if `CLIENT REPLY` says so (also used for the reply a
/// blocked command receives later).
pub fn apply_reply_mode(client: &mut Client, out: &mut bytes::BytesMut, mark: usize) {
    match client.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => out.truncate(mark),
        ReplyMode::Skip => {
            out.truncate(mark);
            client.reply_mode = ReplyMode::SkipThis;
        }
        ReplyMode::SkipThis => {
            out.truncate(mark);
            client.reply_mode = ReplyMode::On;
        }
    }
}

fn run(
    server: &Server,
    settings: &Settings,
    client: &mut Client,
    args: &[Bytes],
    out: &mut bytes::BytesMut,
) -> Outcome {
    let mark = out.len();
    let proto = client.proto;
    let started = Instant::now();
    let (parent, cmd) = match resolve(args) {
        Ok(r) => r,
        Err(e) => {
            reply_error(server, out, proto, &e);
            return Outcome::Done;
        }
    };
    *client.info.last_cmd.lock() = (parent.map_or("", |p| p.name), cmd.name);
    if !cmd.arity_ok(args.len()) {
        let e = CmdError::WrongArity(full_name(parent, cmd));
        reply_error(server, out, proto, &e);
        return Outcome::Done;
    }
    if !client.authenticated && cmd.flags & flags::NO_AUTH == 0 {
        reply_error(server, out, proto, &CmdError::NoAuth);
        return Outcome::Done;
    }
    // Cluster redirection (MOVED/ASK/CROSSSLOT/TRYAGAIN/CLUSTERDOWN), as in processCommand.
    if settings.cluster_enabled {
        let redirect = crate::cluster::route(server, settings, client, cmd, args);
        if cmd.name != "asking" {
            client.asking = false;
        }
        if let Some(e) = redirect {
            reply_error(server, out, proto, &e);
            return Outcome::Done;
        }
    }
    let is_write = cmd.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0;
    if let Some(wait) = server.paused_for(is_write) {
        return Outcome::Paused(wait);
    }
    let now = unix_ms();
    if cmd.flags & flags::DENYOOM != 0
        && settings.maxmemory > 0
        && !server.free_memory_if_needed(settings, now)
    {
        reply_error(server, out, proto, &CmdError::Oom);
        return Outcome::Done;
    }

    let view = ViewCtx {
        db: client.db,
        now,
        mode: settings.access,
    };
    let db = lock_keys(server, cmd, args, view);
    let mut ctx = Ctx {
        args,
        out: ReplyWriter::new(out, proto),
        db,
        client,
        server,
        settings,
        cmd,
        hits: 0,
        misses: 0,
        serving: None,
    };
    let handler = cmd.handler.unwrap_or(no_handler);
    let result = handler(&mut ctx);
    let (dirty, expired, hits, misses) = (ctx.db.dirty, ctx.db.expired, ctx.hits, ctx.misses);
    let created = std::mem::take(&mut ctx.db.created);
    drop(ctx);
    if let Err(e) = result {
        out.truncate(mark);
        reply_error(server, out, proto, &e);
    }
    server.stats.commands_processed.fetch_add(1, Relaxed);
    add_stats(server, dirty, expired, hits, misses);
    if server.has_monitors.load(Relaxed) && cmd.flags & flags::SKIP_MONITOR == 0 {
        feed_monitors(server, client, args);
    }
    let micros = started.elapsed().as_micros() as u64;
    if settings.slowlog_slower_than >= 0
        && micros >= settings.slowlog_slower_than as u64
        && cmd.flags & flags::SKIP_SLOWLOG == 0
    {
        record_slow(server, settings, client, args, micros);
    }
    // Clients blocked on keys this command created are served now, the locks released.
    if !created.is_empty() {
        crate::blocking::serve_ready(server, settings, created);
    }
    if client.blocked.is_some() {
        return Outcome::Blocked;
    }
    Outcome::Done
}

/// Locks the shards of the command's keys (all of them for whole-keyspace commands).
fn lock_keys<'s>(server: &'s Server, cmd: &Command, args: &[Bytes], view: ViewCtx) -> Db<'s> {
    if cmd.flags & flags::ALL_SHARDS != 0 {
        server.keyspace.lock_all(view)
    } else if cmd.key_specs.is_empty() {
        server.keyspace.unlocked(view)
    } else if let Some(i) = cmd.single_key(args.len()) {
        let slot = key_slot(&args[i]);
        let mut db = server.keyspace.lock_slots(&[slot], view);
        db.set_slot_hint(&args[i], slot);
        db
    } else {
        let mut idx = Vec::new();
        cmd.key_indices(args, &mut idx);
        match idx.as_slice() {
            [] => server.keyspace.unlocked(view),
            [i] => server.keyspace.lock_slots(&[key_slot(&args[*i])], view),
            many => {
                let slots: Vec<u16> = many.iter().map(|&i| key_slot(&args[i])).collect();
                server.keyspace.lock_slots(&slots, view)
            }
        }
    }
}

/// Adds a command's changes, expired keys and keyspace hits/misses to the server's counters.
fn add_stats(server: &Server, dirty: u64, expired: u64, hits: u64, misses: u64) {
    let stats = &server.stats;
    if dirty > 0 {
        server.dirty.fetch_add(dirty, Relaxed);
    }
    if expired > 0 {
        stats.expired_keys.fetch_add(expired, Relaxed);
    }
    if hits > 0 {
        stats.keyspace_hits.fetch_add(hits, Relaxed);
    }
    if misses > 0 {
        stats.keyspace_misses.fetch_add(misses, Relaxed);
    }
}

/// Re-runs a blocked client's command because `key` became ready, restricted to that key
/// (called by [`crate::blocking::serve_ready`], which holds no keyspace lock). None if it
/// still finds nothing to serve; otherwise its reply and the keys it created.
pub fn run_blocked(
    server: &Server,
    settings: &Settings,
    call: &crate::blocking::BlockedCall,
    key: &[u8],
) -> Option<(Bytes, Vec<crate::blocking::ReadyKey>)> {
    let cmd = cmd::lookup(&call.args[0])?;
    let mut client = Client::new(call.info.clone(), settings);
    client.db = call.db;
    client.proto = call.proto;
    client.authenticated = true;
    client.user = call.user.clone();
    let view = ViewCtx {
        db: call.db,
        now: unix_ms(),
        mode: settings.access,
    };
    let db = lock_keys(server, cmd, &call.args, view);
    let mut out = bytes::BytesMut::new();
    let mut ctx = Ctx {
        args: &call.args,
        out: ReplyWriter::new(&mut out, call.proto),
        db,
        client: &mut client,
        server,
        settings,
        cmd,
        hits: 0,
        misses: 0,
        serving: Some(key),
    };
    let handler = cmd.handler.unwrap_or(no_handler);
    let result = handler(&mut ctx);
    let (dirty, expired, hits, misses) = (ctx.db.dirty, ctx.db.expired, ctx.hits, ctx.misses);
    let created = std::mem::take(&mut ctx.db.created);
    drop(ctx);
    add_stats(server, dirty, expired, hits, misses);
    if matches!(client.blocked, Some(crate::blocking::Blocked::NotServed)) {
        return None;
    }
    if let Err(e) = result {
        out.clear();
        reply_error(server, &mut out, call.proto, &e);
    }
    Some((out.freeze(), created))
}

fn no_handler(_: &mut Ctx<'_>) -> crate::cmd::CmdResult {
    Err(CmdError::raw("ERR command has no handler"))
}

fn reply_error(server: &Server, out: &mut bytes::BytesMut, proto: Protocol, e: &CmdError) {
    server.stats.error_replies.fetch_add(1, Relaxed);
    ReplyWriter::new(out, proto).error(&e.to_string());
}

/// Sends a command to every MONITOR client: `time [db addr] "arg" ...`.
fn feed_monitors(server: &Server, client: &Client, args: &[Bytes]) {
    let us = crate::server::unix_us();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        us / 1_000_000,
        us % 1_000_000,
        client.db,
        client.info.addr
    );
    for a in args {
        line.push_str(" \"");
        for &b in a.iter() {
            match b {
                b'\\' => line.push_str("\\\\"),
                b'"' => line.push_str("\\\""),
                b'\n' => line.push_str("\\n"),
                b'\r' => line.push_str("\\r"),
                b'\t' => line.push_str("\\t"),
                7 => line.push_str("\\a"),
                8 => line.push_str("\\b"),
                0x20..=0x7e => line.push(b as char),
                _ => line.push_str(&format!("\\x{b:02x}")),
            }
        }
        line.push('"');
    }
    line.push_str("\r\n");
    let msg = Bytes::from(line);
    for (id, tx) in server.monitors.lock().iter() {
        if *id != client.info.id {
            let _ = tx.send(msg.clone());
        }
    }
}

fn record_slow(server: &Server, settings: &Settings, client: &Client, args: &[Bytes], micros: u64) {
    // Like Redis: at most 32 arguments, each cut at 128 bytes.
    let mut kept: Vec<Bytes> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i == 31 && args.len() > 32 {
            kept.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - 31
            )));
            break;
        }
        if a.len() > 128 {
            let mut v = a[..128].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
            kept.push(Bytes::from(v));
        } else {
            kept.push(a.clone());
        }
    }
    let name = client.info.name.lock().clone().unwrap_or_default();
    let mut log = server.slowlog.lock();
    let id = log.next_id;
    log.next_id += 1;
    log.entries.push_front(SlowEntry {
        id,
        time: unix_ms() / 1000,
        micros,
        args: kept,
        addr: client.info.addr.clone(),
        name,
    });
    while log.entries.len() as u64 > settings.slowlog_max_len {
        log.entries.pop_back();
    }
}
