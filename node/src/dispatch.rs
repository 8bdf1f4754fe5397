//! Dispatch: the checks every command goes through, in Redis's order, then the handler.
//!
//! lookup -> subcommand -> arity -> authentication -> pause -> out-of-memory -> lock the
//! key shards -> handler -> side effects (stats, dirty counter, MONITOR, SLOWLOG).
//! Handlers write their reply into `ctx.out`; an error rolls that back and sends the error.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::cmd::{self, flags, Command};
use crate::db::{key_slot, Db, ViewCtx};
use crate::error::{self, CmdError};
use crate::resp::{Protocol, ReplyWriter};
use crate::server::{unix_ms, Server, Settings, SlowEntry};

/// What decoding a pipeline already learned about a command (see [`crate::pipeline`]), so
/// running it does not work it out again. The default knows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hint {
    /// The row of `args[0]` (the top-level command).
    pub cmd: Option<&'static Command>,
    /// For a single-key command: the key's index in the arguments and its hash slot.
    pub key: Option<(usize, u16)>,
}

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
    /// PSYNC/SYNC: the connection becomes a replica's stream (see [`crate::repl`]).
    Replica(Box<crate::repl::SyncRequest>),
    /// WAIT: reply with the replicas that acknowledged `offset` once `replicas` did or the
    /// timeout (None: forever) passes.
    Wait {
        offset: u64,
        replicas: usize,
        timeout: Option<Duration>,
    },
}

/// Per-connection state that commands read and change.
pub struct Client {
    pub info: Arc<crate::server::ClientInfo>,
    /// INFO commandstats counts not yet added to the server's (see `PendingStats`).
    pub stats: crate::cmd::PendingStats,
    pub db: usize,
    pub proto: Protocol,
    pub authenticated: bool,
    pub reply_mode: ReplyMode,
    pub action: Option<Action>,
    /// The ACL user (also in `info.user` for CLIENT LIST): change it with [`Client::set_user`].
    pub user: Arc<crate::acl::User>,
    /// Set by a blocking command that found nothing to serve (see [`crate::blocking`]).
    pub blocked: Option<crate::blocking::Blocked>,
    /// Blocking commands must answer at once (Redis `CLIENT_DENY_BLOCKING`): EXEC and
    /// scripts set it. Read it through [`Client::may_block`].
    pub deny_blocking: bool,
    /// Inside MULTI: the queued commands (see [`crate::cmd::multi`]).
    pub multi: Option<crate::keysig::Multi>,
    /// This client's WATCH state, created by its first WATCH.
    pub watcher: Option<Arc<crate::keysig::Watcher>>,
    /// CLIENT TRACKING state.
    pub tracking: crate::tracking::ClientTracking,
    /// EXEC applied CLIENT REPLY to each queued command's reply itself.
    reply_mode_applied: bool,
    /// Cluster: ASKING was sent; the next command may touch an importing slot.
    pub asking: bool,
    /// Cluster: READONLY (reads allowed on a replica of the slot's owner).
    pub readonly: bool,
    /// Commands come from the AOF (later: a primary) and must be obeyed: forms only Redis's
    /// own propagation writes are accepted (Redis `mustObeyClient`).
    pub obey: bool,
    /// `REPLCONF listening-port` of a replica about to PSYNC.
    pub repl_port: u16,
    /// `REPLCONF capa eof`: the replica takes a snapshot of unknown length, ended by a
    /// marker, so a full sync streams it as it is encoded.
    pub repl_capa_eof: bool,
    /// `REPLCONF rdb-filter-only functions`: the snapshot this client syncs holds only the
    /// function libraries (`redis-cli --functions-rdb`).
    pub repl_functions_only: bool,
    /// The monotonic clock as the previous command ended, when the next one follows it in
    /// the same pipelined batch: that command's timer starts there instead of reading the
    /// clock again (one read per command instead of two). 0: read it. Every command takes
    /// it; [`execute`] leaves none behind a command the connection then waits on (a block,
    /// or an action such as WAIT or DEBUG SLEEP; a paused one never set it), and the
    /// connection clears it before every batch. So it is never older than the command
    /// before.
    pub clock: u64,
    /// Memory was over `maxmemory` when the running script (or the transaction holding it)
    /// was dispatched: its writes that need memory are refused (see [`ScriptRights`]).
    pub script_oom: bool,
    /// A script of this client is running: the commands it calls are shown to monitors as
    /// from `lua` and are not in the slow log (EVAL is, as a whole).
    pub in_script: bool,
}

impl Client {
    pub fn new(info: Arc<crate::server::ClientInfo>, _settings: &Settings) -> Client {
        let user = info.user.lock().clone();
        Client {
            info,
            stats: Default::default(),
            db: 0,
            proto: Protocol::Resp2,
            authenticated: user.auto_auth(),
            reply_mode: ReplyMode::On,
            action: None,
            user,
            blocked: None,
            deny_blocking: false,
            multi: None,
            watcher: None,
            tracking: Default::default(),
            reply_mode_applied: false,
            asking: false,
            readonly: false,
            obey: false,
            repl_port: 0,
            repl_capa_eof: false,
            repl_functions_only: false,
            clock: 0,
            script_oom: false,
            in_script: false,
        }
    }

    /// Switches the connection to `user` (AUTH, HELLO AUTH, RESET, a deleted user).
    pub fn set_user(&mut self, user: Arc<crate::acl::User>, authenticated: bool) {
        *self.info.user.lock() = user.clone();
        self.user = user;
        self.authenticated = authenticated;
    }

    /// The connection's CLIENT LIST line (for the ACL log).
    pub fn describe(&self, server: &Server) -> String {
        crate::cmd::connection::describe(server, &self.info, &self.user.name_str())
    }

    /// Marks the transaction failed after a command was rejected while queueing.
    fn flag_transaction(&mut self) {
        if let Some(m) = self.multi.as_mut() {
            m.failed = true;
        }
    }

    /// Leaves MULTI, forgets watched keys and turns tracking off (the connection is closing).
    pub fn close(&mut self, server: &Server) {
        self.stats.flush();
        crate::cmd::multi::end_transaction(server, self);
        crate::cmd::tracking::disable(server, self);
    }

    /// False inside MULTI and scripts, where a blocking command answers as if it timed out.
    pub fn may_block(&self) -> bool {
        !self.deny_blocking
    }
}

/// Everything a handler can see. `'a` is the command's own borrows (its arguments, the
/// connection and its output); `'s` the server's, which the keyspace view holds, so a
/// handler can lend its view to the commands it runs itself (a script's `redis.call`) and
/// get it back.
pub struct Ctx<'a, 's> {
    /// The arguments, `args[0]` being the command name.
    pub args: &'a [Bytes],
    pub out: ReplyWriter<'a>,
    pub db: Db<'s>,
    pub client: &'a mut Client,
    pub server: &'s Server,
    pub settings: &'a Settings,
    pub cmd: &'static Command,
    /// Keyspace hits and misses of this command.
    pub hits: u64,
    pub misses: u64,
    /// When a blocked client's command is re-run because this key became ready: the only key
    /// it may serve from (Redis 7.0 serves a blocked client from the key that was signalled).
    pub serving: Option<&'a [u8]>,
}

impl Ctx<'_, '_> {
    /// Runs `f` on a view of database `db` holding the shards of `slots` (every shard when
    /// None), for commands that reach keys dispatch did not lock for them (DEBUG POPULATE,
    /// CLUSTER COUNTKEYSINSLOT). Inside EXEC or a script needing the whole keyspace the
    /// caller's own view already holds every shard and is used: locking again would wait for
    /// ourselves forever.
    pub fn with_view<R>(
        &mut self,
        db: usize,
        slots: Option<&[u16]>,
        f: impl FnOnce(&mut Db<'_>) -> R,
    ) -> R {
        if self.db.holds_all() {
            return self.db.in_db(db, f);
        }
        let view = ViewCtx {
            db,
            now: unix_ms(),
            mode: self.settings.access,
        };
        let mut fresh = match slots {
            Some(slots) => self.server.keyspace.lock_slots(slots, view),
            None => self.server.keyspace.lock_all(view),
        };
        f(&mut fresh)
    }

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

    /// Records a keyspace event (`notify-keyspace-events`) about `key` in the selected
    /// database, e.g. `ctx.notify(notify::LIST, "lpush", key)`; dispatch publishes it after
    /// the command. Costs one branch when notifications are off.
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        self.db.notify(class, event, key);
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
pub(crate) fn full_name(parent: Option<&Command>, cmd: &Command) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, cmd.name),
        None => cmd.name.to_string(),
    }
}

/// Resolves the row for `args`: the command, or its subcommand for containers.
fn resolve(
    args: &[Bytes],
    known: Option<&'static Command>,
) -> Result<(Option<&'static Command>, &'static Command), CmdError> {
    let Some(top) = known.or_else(|| cmd::lookup(&args[0])) else {
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
    hint: Hint,
    out: &mut bytes::BytesMut,
) -> Outcome {
    let mark = out.len();
    let outcome = run(server, settings, client, args, hint, out);
    // CLIENT CACHING yes/no holds for the next command, or the next transaction (until its
    // EXEC), whether it runs or is refused; CLIENT's own subcommands leave it, as in Redis.
    if client.tracking.caching.is_some()
        && client.multi.is_none()
        && !matches!(outcome, Outcome::Paused(_))
        && !args[0].eq_ignore_ascii_case(b"client")
    {
        client.tracking.caching = None;
    }
    if matches!(outcome, Outcome::Blocked) || client.action.is_some() {
        // The connection waits before the next command (for the unblocking, or to carry
        // out the action): that command reads the clock itself.
        client.clock = 0;
    }
    if matches!(outcome, Outcome::Paused(_) | Outcome::Blocked) {
        return outcome;
    }
    if std::mem::take(&mut client.reply_mode_applied) {
        return outcome;
    }
    if client.reply_mode != ReplyMode::On
        && client.multi.is_none()
        && is_subscription(&args[0])
        && out.get(mark) != Some(&b'-')
    {
        // (Un)subscribe confirmations are pushes in Redis, sent whatever CLIENT REPLY says
        // (which still counts the command for SKIP).
        let confirmations = out.split_off(mark);
        apply_reply_mode(client, out, mark);
        out.unsplit(confirmations);
    } else {
        apply_reply_mode(client, out, mark);
    }
    if crate::pubsub::is_subscribed(&client.info) && client.info.pushes.has_queued() {
        // Messages the command published to its own client go before its reply, as in Redis
        // (and are kept even when CLIENT REPLY drops the reply).
        let tail = out.split_off(mark);
        client.info.pushes.drain_into(out);
        out.unsplit(tail);
    }
    outcome
}

/// SUBSCRIBE, UNSUBSCRIBE and their pattern and shard forms, by name.
fn is_subscription(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 6] = [
        b"subscribe",
        b"psubscribe",
        b"ssubscribe",
        b"unsubscribe",
        b"punsubscribe",
        b"sunsubscribe",
    ];
    NAMES.iter().any(|n| name.eq_ignore_ascii_case(n))
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
    hint: Hint,
    out: &mut bytes::BytesMut,
) -> Outcome {
    let proto = client.proto;
    let chained = std::mem::take(&mut client.clock);
    let (parent, cmd) = match resolve(args, hint.cmd) {
        Ok(r) => r,
        Err(e) => {
            // CLIENT INFO's cmd: NULL for an unknown command or subcommand, the container
            // when it came without one.
            let known = match e {
                CmdError::WrongArity(_) => cmd::lookup(&args[0]).map(|c| c.name),
                _ => None,
            };
            *client.info.last_cmd.lock() = ("", known.unwrap_or("NULL"));
            client.flag_transaction();
            reply_error(server, out, proto, &e);
            return Outcome::Done;
        }
    };
    *client.info.last_cmd.lock() = (parent.map_or("", |p| p.name), cmd.name);
    if !cmd.arity_ok(args.len()) {
        let e = CmdError::WrongArity(full_name(parent, cmd));
        return reject(server, client, parent, cmd, out, &e);
    }
    if parent.is_none() && cmd.name == "debug" && !crate::cmd::server::debug_allowed(server, client)
    {
        let e = CmdError::raw(crate::cmd::server::DEBUG_NOT_ALLOWED);
        return reject(server, client, parent, cmd, out, &e);
    }
    if parent.is_some_and(|p| p.name == "module")
        && cmd.flags & flags::NO_ASYNC_LOADING != 0
        && !crate::cmd::server::module_allowed(server, client)
    {
        let e = CmdError::raw(crate::cmd::server::MODULE_NOT_ALLOWED);
        return reject(server, client, parent, cmd, out, &e);
    }
    // Authentication is required while the default user has a password or is off (Redis's
    // authRequired), checked again on each command of an unauthenticated connection.
    if !client.authenticated
        && cmd.flags & flags::NO_AUTH == 0
        && !server.acl.default_user().auto_auth()
    {
        return reject(server, client, parent, cmd, out, &CmdError::NoAuth);
    }
    // ACLs: one flag for users allowed everything, the full check for the others.
    if !client.user.is_open() {
        if let Err(e) = acl_check(server, client, parent.is_some(), cmd, args) {
            return reject(server, client, parent, cmd, out, &e);
        }
    }
    // A migration deleting keys after this point makes the routing below stale (see
    // crate::cluster::migrate_pool): checked again once the keys are locked.
    let migrate_seq = server.migrate.seq();
    // Cluster redirection (MOVED/ASK/CROSSSLOT/TRYAGAIN/CLUSTERDOWN), as in processCommand.
    // Inside MULTI each queued command is checked alone (a redirect fails the transaction);
    // EXEC checks the slots of the whole transaction and a redirected EXEC discards it.
    if settings.cluster_enabled {
        let is_exec = parent.is_none() && cmd.name == "exec" && client.multi.is_some();
        let redirect = if is_exec {
            crate::cluster::route_exec(server, settings, client)
        } else {
            crate::cluster::route(server, settings, client, cmd, args)
        };
        if cmd.name != "asking" {
            client.asking = false;
        }
        if let Some(e) = redirect {
            crate::cmd::count_rejected(cmd);
            if is_exec {
                crate::cmd::multi::end_transaction(server, client);
            } else {
                client.flag_transaction();
            }
            reply_error(server, out, proto, &e);
            return Outcome::Done;
        }
    }
    // While a replica loads its primary's snapshot, only commands flagged `loading` run, as
    // in Redis (the others would wait for the shards the load holds); an EXEC is refused when
    // a queued command would be.
    if server.rdb.loading.load(Relaxed) && refused_while_loading(server, client, parent, cmd, out) {
        return Outcome::Done;
    }
    if cmd.flags & flags::ALLOW_BUSY == 0
        && server.scripts.is_running()
        && script_busy(server, settings, client)
    {
        client.flag_transaction();
        crate::cmd::count_rejected(cmd);
        reply_error(
            server,
            out,
            proto,
            &CmdError::raw(server.scripts.busy_reply()),
        );
        return Outcome::Done;
    }
    if client.multi.is_some() && !runs_in_multi(parent, cmd) {
        queue(server, settings, client, parent, cmd, args, out);
        return Outcome::Done;
    }
    // EXEC counts as a write when it would run one (CLIENT PAUSE WRITE holds it back).
    let is_write = cmd.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0
        || (parent.is_none()
            && cmd.name == "exec"
            && client.multi.as_ref().is_some_and(|m| m.writes));
    if let Some(wait) = server.paused_for(is_write) {
        return Outcome::Paused(wait);
    }
    let started = match chained {
        0 => crate::server::mono_ns(),
        t => t,
    };
    let now = crate::server::unix_ms_at(started);
    // Scripts evict before they run too (their writes are checked against the state found
    // now, as Redis's pre-command OOM state).
    client.script_oom = false;
    if settings.maxmemory > 0 && (cmd.flags & flags::DENYOOM != 0 || cmd.group == "scripting") {
        let oom = !client.obey && !server.free_memory_if_needed(settings, now);
        if oom && cmd.flags & flags::DENYOOM != 0 {
            crate::cmd::count_rejected(cmd);
            reply_error(server, out, proto, &CmdError::Oom);
            return Outcome::Done;
        }
        client.script_oom = oom;
    }
    if cmd.flags & flags::WRITE != 0 && too_few_replicas(server, settings, client) {
        crate::cmd::count_rejected(cmd);
        reply_error(server, out, proto, &CmdError::raw(NOREPLICAS));
        return Outcome::Done;
    }
    if proto == Protocol::Resp2
        && cmd.flags & flags::PUBSUB_CONTEXT == 0
        && crate::pubsub::is_subscribed(&client.info)
    {
        let e = CmdError::NotInPubSubContext(full_name(parent, cmd));
        return reject(server, client, parent, cmd, out, &e);
    }

    let view = ViewCtx {
        db: client.db,
        now,
        mode: settings.access,
    };
    if client.multi.is_some() && parent.is_none() && cmd.name == "exec" {
        let mark = out.len();
        let outcome = exec(server, settings, client, args, out, view);
        let micros = crate::server::mono_ns().saturating_sub(started) / 1000;
        client
            .stats
            .call(cmd, micros, out.get(mark).is_some_and(|&b| b == b'-'));
        return outcome;
    }
    if is_write
        && !client.obey
        && settings.replica_read_only
        && server.repl.link.is_replica()
        && cmd.flags & flags::WRITE != 0
    {
        crate::cmd::count_rejected(cmd);
        reply_error(
            server,
            out,
            proto,
            &CmdError::raw("READONLY You can't write against a read only replica."),
        );
        return Outcome::Done;
    }
    if is_write && server.aof.on() {
        if let Some(e) = server.aof.write_error() {
            reply_error(server, out, proto, &CmdError::Msg(e.into()));
            return Outcome::Done;
        }
    }
    let db = lock_keys(server, cmd, args, view, hint);
    if let Some(wait) =
        server
            .migrate
            .must_retry(migrate_seq, settings.cluster_enabled, cmd, args, &db)
    {
        // A MIGRATE holds one of its keys, or just moved keys away: run it again.
        return Outcome::Paused(wait);
    }
    let (mut db, client, _) = invoke(server, settings, client, cmd, args, out, db, started);
    let created = db.has_created().then(|| db.take_created());
    propagate(server, &mut db);
    drop(db);
    // Clients blocked on keys this command created are served now, the locks released.
    if let Some(created) = created {
        crate::blocking::serve_ready(server, settings, created);
    }
    if client.blocked.is_some() {
        return Outcome::Blocked;
    }
    Outcome::Done
}

/// Where an ACL check happens: each logs its own context and answers its own error texts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AclAt {
    /// A command as the client sent it (or queued it in MULTI).
    Command,
    /// A queued command at EXEC: the rules may have changed since it was queued.
    Exec,
    /// A command a script called (`redis.call`).
    Script,
}

/// The ACL check of one command for the client's user; a refusal is logged and returned as
/// its NOPERM error.
fn acl_check(
    server: &Server,
    client: &Client,
    is_sub: bool,
    cmd: &'static Command,
    args: &[Bytes],
) -> Result<(), CmdError> {
    acl_check_in(server, client, is_sub, cmd, args, AclAt::Command)
}

fn acl_check_in(
    server: &Server,
    client: &Client,
    is_sub: bool,
    cmd: &'static Command,
    args: &[Bytes],
    at: AclAt,
) -> Result<(), CmdError> {
    use crate::acl::{Context, Denied, Reason};
    let denied = match crate::acl::check(&client.user.rules(), cmd, is_sub, args) {
        Ok(()) => return Ok(()),
        Err(d) => d,
    };
    let (reason, object) = match denied {
        Denied::Command => (
            Reason::Command,
            Bytes::from(crate::acl::rules::fullname(crate::acl::rules::command_id(
                cmd,
            ))),
        ),
        Denied::Key(i) => (Reason::Key, args[i].clone()),
        Denied::Channel(i) => (Reason::Channel, args[i].clone()),
    };
    let context = match at {
        AclAt::Script => Context::Lua,
        AclAt::Exec => Context::Multi,
        AclAt::Command if client.multi.is_some() => Context::Multi,
        AclAt::Command => Context::Toplevel,
    };
    server.acl.log(
        reason,
        context,
        object.clone(),
        client.user.name.clone(),
        client.describe(server),
    );
    Err(match (denied, at) {
        (Denied::Command, AclAt::Command) => {
            CmdError::NoPermCommand(String::from_utf8_lossy(&object).into_owned())
        }
        (Denied::Key(_), AclAt::Command) => CmdError::NoPermKey,
        (Denied::Channel(_), AclAt::Command) => CmdError::NoPermChannel,
        (Denied::Command, AclAt::Exec) => {
            CmdError::NoPermAtExec("no permission to execute the command or subcommand")
        }
        (Denied::Key(_), AclAt::Exec) => {
            CmdError::NoPermAtExec("no permission to touch the specified keys")
        }
        (Denied::Channel(_), AclAt::Exec) => {
            CmdError::NoPermAtExec("no permission to access one of the channels used as arguments")
        }
        (Denied::Command, AclAt::Script) => CmdError::raw(
            "ERR The user executing the script can't run this command or subcommand",
        ),
        (Denied::Key(_), AclAt::Script) => CmdError::raw("ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"),
        (Denied::Channel(_), AclAt::Script) => CmdError::raw("ERR The user executing the script can't publish to the channel mentioned in the command"),
    })
}

/// Commands that run at once inside MULTI instead of being queued.
fn runs_in_multi(parent: Option<&Command>, cmd: &Command) -> bool {
    parent.is_none()
        && matches!(
            cmd.name,
            "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
        )
}

pub(crate) const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";
const LOADING: &str = "LOADING Redis is loading the dataset in memory";

/// `min-replicas-to-write`: a primary with fewer good replicas (online, and acknowledged
/// within `min-replicas-max-lag` seconds) than asked refuses writes. A replica applying its
/// primary's stream, and the AOF loading, are never refused.
pub(crate) fn too_few_replicas(server: &Server, settings: &Settings, client: &Client) -> bool {
    match settings.min_replicas {
        Some((n, max_lag)) => {
            !client.obey && !server.repl.link.is_replica() && server.repl.good_replicas(max_lag) < n
        }
        None => false,
    }
}

/// Queues a command inside MULTI (`+QUEUED`), or rejects it and fails the transaction.
fn queue(
    server: &Server,
    settings: &Settings,
    client: &mut Client,
    parent: Option<&'static Command>,
    cmd: &'static Command,
    args: &[Bytes],
    out: &mut bytes::BytesMut,
) {
    let proto = client.proto;
    let rejected = if cmd.flags & flags::NO_MULTI != 0 {
        Some(CmdError::raw(
            "ERR Command not allowed inside a transaction",
        ))
    } else if cmd.flags & flags::DENYOOM != 0
        && settings.maxmemory > 0
        && !server.free_memory_if_needed(settings, unix_ms())
    {
        Some(CmdError::Oom)
    } else if cmd.flags & flags::WRITE != 0 && too_few_replicas(server, settings, client) {
        Some(CmdError::raw(NOREPLICAS))
    } else {
        None
    };
    if let Some(e) = rejected {
        client.flag_transaction();
        reply_error(server, out, proto, &e);
        return;
    }
    // A transaction already doomed (a queueing error, or a watched key changed) keeps
    // nothing more, as in Redis (CLIENT LIST's multi= stops counting).
    let doomed = client.multi.as_ref().is_some_and(|m| m.failed)
        || client.watcher.as_ref().is_some_and(|w| w.is_dirty());
    if let Some(m) = client.multi.as_mut().filter(|_| !doomed) {
        m.writes |= cmd.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0;
        m.write_cmds |= cmd.flags & flags::WRITE != 0;
        m.loading_denied |= cmd.flags & flags::LOADING == 0;
        m.queued.push(crate::keysig::Queued {
            parent,
            cmd,
            args: args.to_vec(),
        });
        client.info.multi.store(m.queued.len() as i64, Relaxed);
    }
    ReplyWriter::new(out, proto).simple("QUEUED");
}

/// Refuses a command before it runs, as Redis's rejectCommand: an EXEC (also one given
/// outside MULTI) discards the transaction and names the reason; any other command fails
/// the transaction being queued, if any.
#[cold]
#[inline(never)]
fn reject(
    server: &Server,
    client: &mut Client,
    parent: Option<&Command>,
    cmd: &Command,
    out: &mut bytes::BytesMut,
    e: &CmdError,
) -> Outcome {
    crate::cmd::count_rejected(cmd);
    if parent.is_none() && cmd.name == "exec" {
        crate::cmd::multi::end_transaction(server, client);
        let text = e.to_string();
        let reason = text.strip_prefix("ERR ").unwrap_or(&text);
        let abort = format!("EXECABORT Transaction discarded because of: {reason}");
        reply_error(server, out, client.proto, &CmdError::Msg(abort.into()));
    } else {
        client.flag_transaction();
        reply_error(server, out, client.proto, e);
    }
    Outcome::Done
}

/// Answers LOADING (EXECABORT for an EXEC) if `cmd` may not run while a load runs (at
/// start, or a replica loading its primary's snapshot); true if it did. Out of line: the
/// check in `run` stays one load.
#[cold]
#[inline(never)]
fn refused_while_loading(
    server: &Server,
    client: &mut Client,
    parent: Option<&Command>,
    cmd: &Command,
    out: &mut bytes::BytesMut,
) -> bool {
    let is_exec = parent.is_none() && cmd.name == "exec" && client.multi.is_some();
    let denied = if is_exec {
        client.multi.as_ref().is_some_and(|m| m.loading_denied)
    } else {
        cmd.flags & flags::LOADING == 0
    };
    if denied {
        reject(server, client, parent, cmd, out, &CmdError::raw(LOADING));
    }
    denied
}

/// A queued command as EXEC runs it.
struct Exec {
    cmd: &'static Command,
    args: Vec<Bytes>,
    /// A subcommand (for its ACL check).
    is_sub: bool,
    /// The command's only key: its index in `args` and its slot.
    key: Option<(usize, u16)>,
}

/// EXEC: locks every shard the queued commands and the watched keys need, once and in
/// ascending order (all of them if a queued command needs the whole keyspace), checks WATCH
/// under those locks, then runs the commands with that one view.
/// CONFIG SET (a transaction takes new settings after it).
fn is_config_set(cmd: &Command) -> bool {
    cmd.group == "server" && cmd.name == "set"
}

fn exec(
    server: &Server,
    settings: &Settings,
    client: &mut Client,
    exec_args: &[Bytes],
    out: &mut bytes::BytesMut,
    view: ViewCtx,
) -> Outcome {
    let proto = client.proto;
    let multi = client.multi.take().unwrap_or_default();
    let watcher = client.watcher.clone();
    crate::cmd::multi::end_transaction_keep_watch(client);
    // Checked before the queue-time errors, as Redis rejects the EXEC itself.
    if multi.write_cmds && too_few_replicas(server, settings, client) {
        if let Some(w) = &watcher {
            server.watches.unwatch_all(w);
        }
        let abort = format!("EXECABORT Transaction discarded because of: {NOREPLICAS}");
        reply_error(server, out, proto, &CmdError::Msg(abort.into()));
        return Outcome::Done;
    }
    if multi.failed {
        if let Some(w) = &watcher {
            server.watches.unwatch_all(w);
        }
        reply_error(
            server,
            out,
            proto,
            &CmdError::raw("EXECABORT Transaction discarded because of previous errors."),
        );
        return Outcome::Done;
    }
    // Each queued command with the slot of its key when it has one (the handler's lookups
    // then skip the CRC16).
    let mut cmds: Vec<Exec> = Vec::with_capacity(multi.queued.len());
    let mut slots: smallvec::SmallVec<[u16; 8]> = watcher
        .as_ref()
        .map(|w| w.slots())
        .unwrap_or_default()
        .into();
    let mut idx = Vec::new();
    for q in multi.queued {
        q.cmd.key_indices(&q.args, &mut idx);
        let first = slots.len();
        slots.extend(idx.iter().map(|&i| key_slot(&q.args[i])));
        let key = match idx.as_slice() {
            [i] => Some((*i, slots[first])),
            _ => None,
        };
        cmds.push(Exec {
            cmd: q.cmd,
            is_sub: q.parent.is_some(),
            args: q.args,
            key,
        });
    }
    let whole = cmds.iter().any(|e| needs_every_shard(e.cmd));
    // A script in the transaction runs on its view, and FUNCTION LOAD, DELETE... take the
    // functions' interpreter lock: the script gate comes before the shards (and that lock
    // after them), as for a script run alone.
    let _gate = cmds
        .iter()
        .any(|e| e.cmd.flags & flags::SCRIPT_LOCKS != 0 || e.cmd.group == "scripting")
        .then(|| server.keyspace.script_gate());
    // CLIENT UNBLOCK takes the blocked clients' serve mutex, which comes before the shards:
    // it runs after the transaction.
    let unblocks = cmds
        .iter()
        .any(|e| crate::blocking::needs_deferral(e.cmd))
        .then(crate::blocking::defer_unblocks);
    let lock = || {
        if whole {
            server.keyspace.lock_all(view)
        } else {
            server.keyspace.lock_slots(&slots, view)
        }
    };
    let mut db = lock();
    // A queued write to a key a MIGRATE is moving waits for the migration to end.
    while cmds.iter().any(|e| {
        server
            .migrate
            .must_retry(server.migrate.seq(), false, e.cmd, &e.args, &db)
            .is_some()
    }) {
        drop(db);
        std::thread::sleep(Duration::from_millis(1));
        db = lock();
    }
    if let Some(w) = &watcher {
        let aborted = w.is_dirty() || w.any_expired(&mut db);
        server.watches.unwatch_all(w);
        if aborted {
            drop(db);
            ReplyWriter::new(out, proto).null_array();
            server.stats.commands_processed.fetch_add(1, Relaxed);
            return Outcome::Done;
        }
    }
    // CLIENT REPLY acts on each reply as it is written, as in Redis: EXEC's header under the
    // mode EXEC started with, each queued command's reply under the mode after it (so CLIENT
    // REPLY ON answers). A SKIP given before EXEC silences all of it; one given inside the
    // transaction skips the command after EXEC.
    let silenced = |m: ReplyMode| matches!(m, ReplyMode::Off | ReplyMode::SkipThis);
    if !silenced(client.reply_mode) {
        ReplyWriter::new(out, proto).array(cmds.len());
    }
    client.deny_blocking = true;
    let mut created = Vec::new();
    // A CONFIG SET in the transaction applies to the commands after it: each new snapshot
    // of the settings gets a cell that outlives the loop's borrows.
    let snapshots: Vec<std::cell::OnceCell<Arc<Settings>>> = cmds
        .iter()
        .filter(|e| is_config_set(e.cmd))
        .map(|_| std::cell::OnceCell::new())
        .collect();
    let mut next_snapshot = snapshots.iter();
    let mut settings = settings;
    let (mut client, mut out) = (&mut *client, &mut *out);
    for e in &mut cmds {
        db.index = client.db;
        let mark = out.len();
        // The rules may have changed since queueing, and an AUTH in the transaction changes
        // the user for the commands after it: checked as each command comes, as in Redis. A
        // command no longer allowed answers NOPERM in its place.
        if !client.user.is_open() {
            if let Err(err) = acl_check_in(server, client, e.is_sub, e.cmd, &e.args, AclAt::Exec) {
                reply_error(server, out, proto, &err);
                if silenced(client.reply_mode) {
                    out.truncate(mark);
                }
                continue;
            }
        }
        if let Some((i, slot)) = e.key {
            db.set_slot_hint(&e.args[i], slot);
        }
        (db, client, out) = invoke(
            server,
            settings,
            client,
            e.cmd,
            &e.args,
            out,
            db,
            crate::server::mono_ns(),
        );
        if is_config_set(e.cmd) {
            if let Some(cell) = next_snapshot.next() {
                settings = cell.get_or_init(|| server.settings());
            }
        }
        created.append(&mut db.take_created());
        client.blocked = None;
        if silenced(client.reply_mode) {
            out.truncate(mark);
        }
    }
    client.reply_mode = match client.reply_mode {
        ReplyMode::SkipThis => ReplyMode::On,
        ReplyMode::Skip => ReplyMode::SkipThis,
        m => m,
    };
    client.reply_mode_applied = true;
    client.deny_blocking = false;
    propagate(server, &mut db);
    drop(db);
    if let Some(u) = unblocks {
        u.finish(server);
    }
    server.stats.commands_processed.fetch_add(1, Relaxed);
    if server.has_monitors.load(Relaxed) {
        feed_monitors(server, client, exec_args);
    }
    if !created.is_empty() {
        crate::blocking::serve_ready(server, settings, created);
    }
    Outcome::Done
}

/// Waits while another client's script runs (it holds the keyspace anyway): false when it
/// ended, true once it has run for `busy-reply-threshold` (the command then answers BUSY, as
/// in Redis, and the worker is free for SCRIPT KILL).
fn script_busy(server: &Server, settings: &Settings, client: &Client) -> bool {
    let threshold = Duration::from_millis(settings.busy_reply_threshold);
    while let Some(ran) = server.scripts.busy_for(client.info.id) {
        if ran >= threshold {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1).min(threshold - ran));
    }
    false
}

/// How a script's `redis.call` may write (see [`script_call`]).
#[derive(Default)]
pub struct ScriptRights {
    /// EVAL_RO, EVALSHA_RO, FCALL_RO, or a `no-writes` script.
    pub read_only: bool,
    /// The script may write past `maxmemory` (`allow-oom`).
    pub allow_oom: bool,
    /// Memory was over `maxmemory` when the script started (eviction could not make room),
    /// as Redis decides before running it.
    pub oom: bool,
    /// A write has run (after it, OOM no longer stops the script's writes, so it is not
    /// left half done).
    pub wrote: bool,
    /// `redis.set_repl(redis.REPL_NONE)`: the writes called from now on are not propagated.
    /// (AOF-only and replica-only choices propagate to both: one stream feeds both here.)
    pub no_propagation: bool,
}

/// Runs one command a script called, on the script's view, with Redis's checks for
/// commands called from scripts (in its order: the command, its arity, `noscript`, writes in a
/// read-only script or on a read-only replica, memory, ACL, cluster slots). The reply, in the
/// client's current protocol, or the check's error, is appended to `out`.
#[allow(clippy::too_many_arguments)] // the borrows invoke takes, plus the script's rights
pub(crate) fn script_call<'a, 's>(
    server: &'s Server,
    settings: &'a Settings,
    client: &'a mut Client,
    args: &'a [Bytes],
    out: &'a mut bytes::BytesMut,
    mut db: Db<'s>,
    rights: &mut ScriptRights,
) -> Db<'s> {
    let proto = client.proto;
    // The script's checks count their errors, as a failed command does.
    let fail = |out: &mut bytes::BytesMut, msg: &str| {
        server.stats.count_error(msg);
        ReplyWriter::new(out, proto).error(msg);
    };
    let (parent, cmd) = match resolve(args, None) {
        Ok(found) => found,
        Err(CmdError::WrongArity(_)) => {
            fail(
                out,
                "ERR Wrong number of args calling Redis command from script",
            );
            return db;
        }
        Err(_) => {
            fail(out, "ERR Unknown Redis command called from script");
            return db;
        }
    };
    if !cmd.arity_ok(args.len()) || (parent.is_none() && !cmd.subcommands.is_empty()) {
        fail(
            out,
            "ERR Wrong number of args calling Redis command from script",
        );
        return db;
    }
    let all_flags = cmd.flags | parent.map_or(0, |p| p.flags);
    if all_flags & flags::NOSCRIPT != 0 {
        fail(out, "ERR This Redis command is not allowed from script");
        return db;
    }
    if rights.read_only && cmd.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        fail(
            out,
            "ERR Write commands are not allowed from read-only scripts.",
        );
        return db;
    }
    if cmd.flags & flags::WRITE != 0 {
        if !client.obey && settings.replica_read_only && server.repl.link.is_replica() {
            fail(out, "READONLY You can't write against a read only replica.");
            return db;
        }
        // `min-replicas-to-write` (scripts without flags: those with flags were checked
        // before they ran).
        if too_few_replicas(server, settings, client) {
            fail(out, NOREPLICAS);
            return db;
        }
    }
    if cmd.flags & flags::DENYOOM != 0 && rights.oom && !rights.allow_oom && !rights.wrote {
        fail(
            out,
            "OOM command not allowed when used memory > 'maxmemory'.",
        );
        return db;
    }
    if !client.user.is_open() {
        if let Err(e) = acl_check_in(server, client, parent.is_some(), cmd, args, AclAt::Script) {
            fail(out, &e.to_string());
            return db;
        }
    }
    if settings.cluster_enabled
        && crate::cluster::route_in_script(server, settings, client, cmd, args, &mut db).is_some()
    {
        fail(
            out,
            "ERR Script attempted to access a non local key in a cluster node",
        );
        return db;
    }
    if needs_every_shard(cmd) {
        db.lock_script_all();
    }
    db.index = client.db;
    let propagated_before = db.fx.as_ref().map_or(0, |fx| fx.propagated.len());
    let (mut db, client, _) = invoke(
        server,
        settings,
        client,
        cmd,
        args,
        out,
        db,
        crate::server::mono_ns(),
    );
    client.blocked = None;
    if cmd.flags & flags::WRITE != 0 && db.dirty > 0 {
        rights.wrote = true;
    }
    if rights.no_propagation {
        if let Some(fx) = db.fx.as_mut() {
            fx.propagated.truncate(propagated_before);
        }
    }
    db
}

/// Runs one command's handler with `db` (already holding its shards) and applies the side
/// effects: error reply, stats, modified-keys signal, tracking, MONITOR, SLOWLOG. Returns the
/// view (EXEC reuses it for the next command; its `created` keys are left for the caller).
///
/// Everything borrowed is moved into the handler's [`Ctx`] and moved back out, so the caller
/// gets the same borrows back and can call again with them.
#[allow(clippy::too_many_arguments)] // the borrows Ctx is built from, moved in and back out
pub(crate) fn invoke<'a, 's>(
    server: &'s Server,
    settings: &'a Settings,
    client: &'a mut Client,
    cmd: &'static Command,
    args: &'a [Bytes],
    out: &'a mut bytes::BytesMut,
    mut db: Db<'s>,
    started: u64,
) -> (Db<'s>, &'a mut Client, &'a mut bytes::BytesMut) {
    let mark = out.len();
    let proto = client.proto;
    let from_db = client.db;
    db.track = crate::keysig::active(server);
    db.notify_flags = settings.notify_flags;
    db.propagate = server.aof.on() || server.repl.on();
    db.rewrote = false;
    db.dirty = 0;
    db.expired = 0;
    let replaced = (db.track
        && cmd.flags & flags::ALL_SHARDS != 0
        && cmd.flags & flags::WRITE != 0
        && server.watches.active())
    .then(|| crate::keysig::snapshot(server, &mut db));
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
    if ctx.misses > 0
        && settings.notify_flags & crate::config::notify::KEY_MISS != 0
        && cmd::lookup(&args[0]).is_some_and(|c| std::ptr::eq(c, cmd))
    {
        note_key_misses(&mut ctx);
    }
    let Ctx {
        mut db,
        client,
        hits,
        misses,
        out: writer,
        ..
    } = ctx;
    let out = writer.buf;
    let (dirty, expired) = (db.dirty, db.expired);
    note_propagation(&mut db, cmd, args, from_db);
    // Taken only when there are some: most commands record none, and dropping an empty
    // Vec here cost a call per command.
    let events = db.has_events().then(|| db.take_events());
    if db.track {
        report_modified(server, client.info.id, cmd, args, from_db, &mut db);
        if let Some(before) = replaced {
            crate::keysig::touch_replaced(server, &mut db, before);
        }
        if result.is_ok() && server.tracking.active() && matches!(cmd.name, "flushall" | "flushdb")
        {
            server.tracking.flushed(server, cmd.name == "flushall");
        }
    }
    // A read-only script's own keys are not remembered, only what the commands it calls
    // read (they come through here too), as in Redis.
    if client.tracking.on
        && cmd.flags & flags::READONLY != 0
        && cmd.flags & flags::SCRIPT_LOCKS == 0
        && client.tracking.remembers()
    {
        let mut idx = Vec::new();
        cmd.key_indices(args, &mut idx);
        server
            .tracking
            .remember(client.info.id, idx.iter().map(|&i| &args[i][..]));
        server
            .tracking
            .limit_keys(server, settings.tracking_table_max_keys);
    }
    if let Err(e) = result {
        out.truncate(mark);
        reply_error(server, out, proto, &e);
    }
    if let Some(events) = events {
        publish_events(server, settings, &events);
    }
    server.stats.commands_processed.fetch_add(1, Relaxed);
    add_stats(server, dirty, expired, hits, misses);
    // Administrative commands are not shown to monitors (Redis deems them too dangerous).
    if server.has_monitors.load(Relaxed) && cmd.flags & (flags::SKIP_MONITOR | flags::ADMIN) == 0 {
        feed_monitors(server, client, args);
    }
    let ended = crate::server::mono_ns();
    client.clock = ended;
    let micros = ended.saturating_sub(started) / 1000;
    // An error reply, returned or written by the handler, is a failed call.
    client
        .stats
        .call(cmd, micros, out.get(mark).is_some_and(|&b| b == b'-'));
    if settings.latency_threshold_ms > 0 && micros / 1000 >= settings.latency_threshold_ms {
        let event = match cmd.flags & flags::FAST {
            0 => "command",
            _ => "fast-command",
        };
        server
            .latency
            .add(event, crate::server::unix_ms() / 1000, micros / 1000);
    }
    if settings.slowlog_slower_than >= 0
        && micros >= settings.slowlog_slower_than as u64
        && cmd.flags & flags::SKIP_SLOWLOG == 0
        && !client.in_script
    {
        record_slow(server, settings, client, args, micros);
    }
    (db, client, out)
}

/// The modified-keys signal of one command (see [`crate::keysig`]): the keys its view wrote,
/// deleted or expired, plus, when it changed something, the keys its specs say it writes.
/// Called with the view still holding their shards.
fn report_modified(
    server: &Server,
    by: u64,
    cmd: &Command,
    args: &[Bytes],
    from_db: usize,
    db: &mut Db<'_>,
) {
    let mut keys = db.take_modified();
    if db.dirty > 0 && cmd.flags & flags::WRITE != 0 {
        let mut idx = Vec::new();
        cmd.written_key_indices(args, &mut idx);
        keys.extend(
            idx.into_iter()
                .map(|i| (from_db, crate::db::SmallBytes::new(&args[i]))),
        );
    }
    if keys.len() > 1 {
        // Once per key, in the order written (invalidations list keys in that order).
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        keys.retain(|(d, k)| seen.insert((*d, k.clone())));
    }
    crate::keysig::signal(server, by, db, &keys);
}

/// Adds the command itself to what its view propagates (AOF, replicas) when it changed
/// something and its handler did not propagate a rewritten form instead.
fn note_propagation(db: &mut Db<'_>, cmd: &Command, args: &[Bytes], from_db: usize) {
    if db.propagate
        && !db.rewrote
        && db.dirty > 0
        && cmd.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0
    {
        db.fx().propagated.push((from_db, args.to_vec()));
    }
    db.rewrote = false;
}

/// Feeds what a view propagates to the AOF while the view still holds its shards, so the
/// file has the writes to each key in the order they were applied.
fn propagate(server: &Server, db: &mut Db<'_>) {
    let Some(fx) = db.fx.as_mut() else {
        return;
    };
    if !fx.propagated.is_empty() {
        if server.aof.on() {
            server.aof.feed(&fx.propagated);
        }
        // A replica's stream is its primary's, passed on as it came (see repl::link).
        if server.repl.on() && !server.repl.link.is_replica() {
            server.repl.feed(&fx.propagated);
        }
        fx.propagated.clear();
    }
}

/// Runs a command read from the AOF: no authentication, cluster routing, pause, memory or
/// pub/sub checks, and the reply is dropped. MULTI and EXEC are skipped (the reader hands
/// over only whole transactions). Err: why the file cannot be loaded.
pub fn replay(
    server: &Server,
    settings: &Settings,
    client: &mut Client,
    args: &[Bytes],
    out: &mut bytes::BytesMut,
) -> Result<(), String> {
    let (parent, cmd) = match resolve(args, None) {
        Ok(r) => r,
        Err(_) => return Err(format!("Unknown command '{}'", error::lossy(&args[0], 128))),
    };
    if parent.is_none() && matches!(cmd.name, "multi" | "exec") {
        return Ok(());
    }
    if !cmd.arity_ok(args.len()) {
        return Err(format!(
            "Wrong number of arguments for '{}'",
            full_name(parent, cmd)
        ));
    }
    let started = crate::server::mono_ns();
    let view = ViewCtx {
        db: client.db,
        now: crate::server::unix_ms_at(started),
        mode: settings.access,
    };
    let db = lock_keys(server, cmd, args, view, Hint::default());
    let (mut db, _, out) = invoke(server, settings, client, cmd, args, out, db, started);
    // Only our own AOF: a replica passes its primary's exact stream on to its replicas.
    if let Some(fx) = db.fx.as_mut().filter(|f| !f.propagated.is_empty()) {
        server.aof.feed(&fx.propagated);
        fx.propagated.clear();
    }
    drop(db);
    out.clear();
    Ok(())
}

/// Whether a command run inside a transaction or a script needs every shard locked: the
/// whole-keyspace commands, and the keyless server and cluster commands that read the
/// keyspace (INFO, MEMORY STATS, DBSIZE, CLUSTER COUNTKEYSINSLOT...), which would otherwise
/// lock shards themselves, some of them already held by the caller.
fn needs_every_shard(cmd: &Command) -> bool {
    cmd.flags & flags::ALL_SHARDS != 0
        || (cmd.key_specs.is_empty() && matches!(cmd.group, "server" | "cluster"))
}

/// Locks the shards of the command's keys (all of them for whole-keyspace commands).
fn lock_keys<'s>(
    server: &'s Server,
    cmd: &Command,
    args: &[Bytes],
    view: ViewCtx,
    hint: Hint,
) -> Db<'s> {
    if cmd.flags & flags::ALL_SHARDS != 0 {
        if cmd.flags & flags::SCRIPT_LOCKS != 0 {
            // A script's own view: the gate and its declared keys' shards now, any other
            // shard when the script reaches it (see `cmd::script`).
            // EVAL, EVALSHA, FCALL and their _RO forms: `name body|sha|function numkeys
            // key...` (arity -3); a bad numkeys is the handler's to refuse.
            let n = crate::util::num::parse_i64(&args[2])
                .and_then(|n| usize::try_from(n).ok())
                .map_or(0, |n| n.min(args.len() - 3));
            let slots: smallvec::SmallVec<[u16; 8]> =
                args[3..3 + n].iter().map(|k| key_slot(k)).collect();
            let mut db = server.keyspace.script_view(view);
            db.lock_script_slots(&slots);
            db
        } else {
            server.keyspace.lock_all(view)
        }
    } else if cmd.key_specs.is_empty() {
        server.keyspace.unlocked(view)
    } else if let Some(i) = cmd.single_key(args.len()) {
        let slot = match hint.key {
            Some((k, slot)) if k == i => slot,
            _ => key_slot(&args[i]),
        };
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
    let mut db = lock_keys(server, cmd, &call.args, view, Hint::default());
    db.notify_flags = settings.notify_flags;
    db.track = crate::keysig::active(server);
    db.propagate = server.aof.on() || server.repl.on();
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
    let created = ctx.db.take_created();
    let events = ctx.db.take_events();
    if ctx.db.track {
        report_modified(server, call.info.id, cmd, &call.args, call.db, &mut ctx.db);
    }
    note_propagation(&mut ctx.db, cmd, &call.args, call.db);
    propagate(server, &mut ctx.db);
    drop(ctx);
    add_stats(server, dirty, expired, hits, misses);
    publish_events(server, settings, &events);
    if matches!(client.blocked, Some(crate::blocking::Blocked::NotServed)) {
        return None;
    }
    if let Err(e) = result {
        out.clear();
        reply_error(server, &mut out, call.proto, &e);
    }
    Some((out.freeze(), created))
}

/// The `keymiss` events (`notify-keyspace-events m`) of a command that missed: one per key of a
/// read-only key spec (`RO`) that is absent after the command ran (the command does not write
/// those keys, so that is the set of keys its read lookups missed), in argument order as
/// Redis's lookups report them. Subcommands (OBJECT) look keys up without notifying, as Redis.
fn note_key_misses(ctx: &mut Ctx<'_, '_>) {
    let mut idx = Vec::new();
    for spec in ctx.cmd.key_specs {
        if spec.flags & cmd::kflags::RO == 0 {
            continue;
        }
        let one = Command {
            key_specs: std::slice::from_ref(spec),
            ..Command::DEFAULT
        };
        one.key_indices(ctx.args, &mut idx);
        for &i in &idx {
            let key = &ctx.args[i];
            if !ctx.db.exists(key) {
                ctx.db
                    .notify(crate::config::notify::KEY_MISS, "keymiss", key);
            }
        }
    }
}

/// Publishes the keyspace events a command recorded (called with no keyspace lock held).
pub fn publish_events(server: &Server, settings: &Settings, events: &[crate::pubsub::Event]) {
    for ev in events {
        crate::pubsub::notify_keyspace(server, settings.notify_flags, ev);
    }
}

fn no_handler(_: &mut Ctx<'_, '_>) -> crate::cmd::CmdResult {
    Err(CmdError::raw("ERR command has no handler"))
}

fn reply_error(server: &Server, out: &mut bytes::BytesMut, proto: Protocol, e: &CmdError) {
    let text = e.to_string();
    server.stats.count_error(&text);
    ReplyWriter::new(out, proto).error(&text);
}

/// The arguments as SLOWLOG and MONITOR show them: the secrets Redis 7 hides read
/// `(redacted)`. That is every argument of AUTH; HELLO's AUTH username and password;
/// MIGRATE's AUTH password and AUTH2 username and password (options only, not keys named
/// like them after KEYS); the value of a sensitive CONFIG SET parameter (`requirepass`,
/// `masterauth`...); and everything after ACL SETUSER.
pub fn redacted(args: &[Bytes]) -> std::borrow::Cow<'_, [Bytes]> {
    let is = |i: usize, word: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    let mut hide: Vec<usize> = Vec::new();
    if is(0, "auth") {
        hide.extend(1..args.len());
    } else if is(0, "hello") {
        let mut j = 2;
        while j < args.len() {
            if is(j, "auth") && j + 2 < args.len() {
                hide.extend([j + 1, j + 2]);
                j += 3;
            } else {
                j += 1;
            }
        }
    } else if is(0, "migrate") {
        let mut j = 6;
        while j < args.len() && !is(j, "keys") {
            if is(j, "auth") && j + 1 < args.len() {
                hide.push(j + 1);
                j += 2;
            } else if is(j, "auth2") && j + 2 < args.len() {
                hide.extend([j + 1, j + 2]);
                j += 3;
            } else {
                j += 1;
            }
        }
    } else if is(0, "config") && is(1, "set") {
        hide.extend(
            (2..args.len())
                .step_by(2)
                .filter(|&j| j + 1 < args.len() && crate::config::is_sensitive(&args[j]))
                .map(|j| j + 1),
        );
    } else if is(0, "acl") && is(1, "setuser") {
        hide.extend(2..args.len());
    }
    if hide.is_empty() {
        return std::borrow::Cow::Borrowed(args);
    }
    let mut v = args.to_vec();
    for j in hide {
        v[j] = Bytes::from_static(b"(redacted)");
    }
    std::borrow::Cow::Owned(v)
}

/// Sends a command to every MONITOR client: `time [db addr] "arg" ...`.
pub(crate) fn feed_monitors(server: &Server, client: &Client, args: &[Bytes]) {
    let args = &*redacted(args);
    let us = crate::server::unix_us();
    let source = if client.in_script {
        "lua"
    } else {
        client.info.addr.as_str()
    };
    let mut line = format!(
        "+{}.{:06} [{} {source}]",
        us / 1_000_000,
        us % 1_000_000,
        client.db,
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
    let args = &*redacted(args);
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
