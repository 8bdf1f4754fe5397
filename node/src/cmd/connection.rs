//! Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, CLIENT.

use super::{acl, flags as f, CmdResult, Command};
use crate::dispatch::{Action, Ctx, ReplyMode};
use crate::error::CmdError;
use crate::resp::Protocol;
use crate::server::{cflags, unix_ms, ClientInfo, PausePurpose, Server};
use std::sync::atomic::Ordering::Relaxed;

const CONN: u32 = acl::CONNECTION;
const SESSION: u32 = f::NOSCRIPT | f::LOADING | f::STALE | f::FAST | f::NO_AUTH | f::ALLOW_BUSY;
const CLIENT_SUB: u32 = f::NOSCRIPT | f::LOADING | f::STALE;
const CLIENT_ADMIN: u32 = f::ADMIN | f::NOSCRIPT | f::LOADING | f::STALE;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "ping",
        arity: -1,
        flags: f::FAST | f::PUBSUB_CONTEXT,
        acl: CONN,
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        handler: Some(ping),
        group: "connection",
        summary: "Checks that the server answers, optionally echoing a message.",
        ..Command::DEFAULT
    },
    Command {
        name: "echo",
        arity: 2,
        flags: f::LOADING | f::STALE | f::FAST,
        acl: CONN,
        handler: Some(echo),
        group: "connection",
        summary: "Replies with the given message.",
        ..Command::DEFAULT
    },
    Command {
        name: "quit",
        arity: -1,
        flags: SESSION | f::PUBSUB_CONTEXT,
        acl: CONN,
        handler: Some(quit),
        group: "connection",
        summary: "Closes the connection after replying.",
        ..Command::DEFAULT
    },
    Command {
        name: "reset",
        arity: 1,
        flags: SESSION | f::PUBSUB_CONTEXT,
        acl: CONN,
        handler: Some(reset),
        group: "connection",
        since: "6.2.0",
        summary: "Returns the connection to its initial state.",
        ..Command::DEFAULT
    },
    Command {
        name: "hello",
        arity: -1,
        flags: SESSION,
        acl: CONN,
        handler: Some(hello),
        group: "connection",
        since: "6.0.0",
        summary: "Picks the protocol version, optionally authenticating and naming the connection.",
        ..Command::DEFAULT
    },
    Command {
        name: "auth",
        arity: -2,
        flags: SESSION,
        acl: CONN,
        handler: Some(auth),
        group: "connection",
        summary: "Authenticates the connection.",
        ..Command::DEFAULT
    },
    Command {
        name: "client",
        arity: -2,
        acl: 0,
        subcommands: CLIENT,
        group: "connection",
        since: "2.4.0",
        summary: "Inspects and controls client connections.",
        ..Command::DEFAULT
    },
];

static CLIENT: &[Command] = &[
    Command {
        name: "id",
        arity: 2,
        flags: CLIENT_SUB,
        acl: CONN,
        handler: Some(client_id),
        group: "connection",
        summary: "The id of this connection.",
        ..Command::DEFAULT
    },
    Command {
        name: "setname",
        arity: 3,
        flags: CLIENT_SUB,
        acl: CONN,
        handler: Some(client_setname),
        group: "connection",
        summary: "Names this connection.",
        ..Command::DEFAULT
    },
    Command {
        name: "getname",
        arity: 2,
        flags: CLIENT_SUB,
        acl: CONN,
        handler: Some(client_getname),
        group: "connection",
        summary: "The name of this connection.",
        ..Command::DEFAULT
    },
    Command {
        name: "list",
        arity: -2,
        flags: CLIENT_ADMIN,
        acl: CONN,
        tips: &["nondeterministic_output"],
        handler: Some(client_list),
        group: "connection",
        complexity: "O(N)",
        summary: "Lists the connected clients.",
        ..Command::DEFAULT
    },
    Command {
        name: "info",
        arity: 2,
        flags: CLIENT_SUB,
        acl: CONN,
        tips: &["nondeterministic_output"],
        handler: Some(client_info),
        group: "connection",
        summary: "Describes this connection.",
        ..Command::DEFAULT
    },
    Command {
        name: "kill",
        arity: -3,
        flags: CLIENT_ADMIN,
        acl: CONN,
        handler: Some(client_kill),
        group: "connection",
        complexity: "O(N)",
        summary: "Closes client connections chosen by address, id, type or user.",
        ..Command::DEFAULT
    },
    Command {
        name: "reply",
        arity: 3,
        flags: CLIENT_SUB,
        acl: CONN,
        handler: Some(client_reply),
        group: "connection",
        summary: "Turns this connection's replies on or off.",
        ..Command::DEFAULT
    },
    Command {
        name: "no-evict",
        arity: 3,
        flags: CLIENT_ADMIN,
        acl: CONN,
        handler: Some(client_no_evict),
        group: "connection",
        summary: "Protects this connection from client eviction.",
        ..Command::DEFAULT
    },
    Command {
        name: "pause",
        arity: -3,
        flags: CLIENT_ADMIN,
        acl: CONN,
        handler: Some(client_pause),
        group: "connection",
        summary: "Holds back commands of every client for a while.",
        ..Command::DEFAULT
    },
    Command {
        name: "unpause",
        arity: 2,
        flags: CLIENT_ADMIN,
        acl: CONN,
        handler: Some(client_unpause),
        group: "connection",
        complexity: "O(N)",
        summary: "Ends a CLIENT PAUSE.",
        ..Command::DEFAULT
    },
    Command {
        name: "unblock",
        arity: -3,
        flags: CLIENT_ADMIN,
        acl: CONN,
        handler: Some(client_unblock),
        group: "connection",
        since: "5.0.0",
        complexity: "O(log N) where N is the number of client connections",
        summary: "Ends the wait of a client blocked in a blocking command.",
        ..Command::DEFAULT
    },
    Command {
        name: "tracking",
        arity: -3,
        flags: CLIENT_SUB,
        acl: CONN,
        handler: Some(super::tracking::client_tracking),
        group: "connection",
        since: "6.0.0",
        complexity: "O(1). Some options may introduce additional complexity.",
        summary: "Turns client-side caching invalidation messages on or off.",
        ..Command::DEFAULT
    },
    Command {
        name: "caching",
        arity: 3,
        flags: CLIENT_SUB,
        acl: CONN,
        handler: Some(super::tracking::client_caching),
        group: "connection",
        since: "6.0.0",
        summary: "Says whether the next command's keys are tracked (OPTIN/OPTOUT).",
        ..Command::DEFAULT
    },
    Command {
        name: "getredir",
        arity: 2,
        flags: CLIENT_SUB,
        acl: CONN,
        handler: Some(super::tracking::client_getredir),
        group: "connection",
        since: "6.0.0",
        summary: "The client invalidation messages are redirected to.",
        ..Command::DEFAULT
    },
    Command {
        name: "trackinginfo",
        arity: 2,
        flags: CLIENT_SUB,
        acl: CONN,
        handler: Some(super::tracking::client_trackinginfo),
        group: "connection",
        since: "6.2.0",
        summary: "Describes this connection's client-side caching state.",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: f::LOADING | f::STALE,
        acl: CONN,
        handler: Some(client_help),
        group: "connection",
        summary: "Lists the CLIENT subcommands.",
        ..Command::DEFAULT
    },
];

fn ping(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() <= 2
        && ctx.client.proto == Protocol::Resp2
        && !ctx.client.in_script
        && crate::pubsub::is_subscribed(&ctx.client.info)
    {
        // A RESP2 subscriber gets PING's answer in the shape of a message (not a script it
        // runs: the script's calls are not the subscriber's).
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(ctx.args.get(1).map_or(&b""[..], |a| &a[..]));
        return Ok(());
    }
    match ctx.args.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(&ctx.args[1]),
        _ => return Err(CmdError::WrongArity("ping".into())),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx) -> CmdResult {
    ctx.out.bulk(&ctx.args[1]);
    Ok(())
}

fn quit(ctx: &mut Ctx) -> CmdResult {
    ctx.out.ok();
    ctx.client.action = Some(Action::Close);
    Ok(())
}

fn reset(ctx: &mut Ctx) -> CmdResult {
    let c = &mut *ctx.client;
    c.db = 0;
    c.info.db.store(0, Relaxed);
    c.proto = Protocol::Resp2;
    c.info.resp.store(2, Relaxed);
    // A SKIP given just before still drops RESET's own reply, as in Redis; OFF ends here.
    if c.reply_mode != ReplyMode::SkipThis {
        c.reply_mode = ReplyMode::On;
    }
    *c.info.name.lock() = None;
    // NO-EVICT stays on: Redis 7.0 leaves it (7.2 turns it off).
    let default = ctx.server.acl.default_user().clone();
    let auto = default.auto_auth();
    c.set_user(default, auto);
    if c.info.flags.fetch_and(!cflags::MONITOR, Relaxed) & cflags::MONITOR != 0 {
        ctx.server.unregister_monitor(c.info.id);
    }
    crate::pubsub::unsubscribe_all(ctx.server, &c.info);
    super::multi::end_transaction(ctx.server, c);
    super::tracking::disable(ctx.server, c);
    ctx.out.proto = Protocol::Resp2;
    ctx.out.simple("RESET");
    Ok(())
}

/// Authenticates the connection as `user` (`ACLAuthenticateUser`); a failure is logged in the
/// ACL log with the command name as typed.
fn authenticate(ctx: &mut Ctx, user: &[u8], pass: &[u8]) -> CmdResult {
    match ctx.server.acl.authenticate(user, pass) {
        Some(u) => {
            ctx.client.set_user(u, true);
            Ok(())
        }
        None => {
            let context = if ctx.client.multi.is_some() {
                crate::acl::Context::Multi
            } else {
                crate::acl::Context::Toplevel
            };
            ctx.server.acl.log(
                crate::acl::Reason::Auth,
                context,
                ctx.args[0].clone(),
                bytes::Bytes::copy_from_slice(user),
                ctx.client.describe(ctx.server),
            );
            Err(CmdError::WrongPass)
        }
    }
}

fn auth(ctx: &mut Ctx) -> CmdResult {
    let (user, pass) = match ctx.args.len() {
        2 => {
            if ctx.server.acl.default_user().rules().nopass() {
                return Err(CmdError::raw(crate::error::acl::AUTH_NO_PASSWORD));
            }
            (bytes::Bytes::from_static(b"default"), ctx.args[1].clone())
        }
        3 => (ctx.args[1].clone(), ctx.args[2].clone()),
        _ => return Err(CmdError::Syntax),
    };
    authenticate(ctx, &user, &pass)?;
    ctx.out.ok();
    Ok(())
}

/// Validates a client name: printable ASCII without spaces; empty clears it.
fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

const BAD_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

fn set_name(info: &ClientInfo, name: &[u8]) -> CmdResult {
    if !valid_name(name) {
        return Err(CmdError::raw(BAD_NAME));
    }
    *info.name.lock() = if name.is_empty() {
        None
    } else {
        Some(bytes::Bytes::copy_from_slice(name))
    };
    Ok(())
}

fn hello(ctx: &mut Ctx) -> CmdResult {
    let mut proto = None;
    if ctx.args.len() >= 2 {
        let v = crate::util::num::parse_i64(&ctx.args[1]).ok_or_else(|| {
            CmdError::raw("ERR Protocol version is not an integer or out of range")
        })?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::raw("NOPROTO unsupported protocol version"));
        }
        proto = Some(v);
    }
    // Each option takes effect as it is read, as in Redis: an AUTH before a bad name or a
    // syntax error has authenticated, a name before a failed AUTH is set.
    let mut i = 2;
    while i < ctx.args.len() {
        let more = ctx.args.len() - i - 1;
        let opt = &ctx.args[i];
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            let (user, pass) = (ctx.args[i + 1].clone(), ctx.args[i + 2].clone());
            authenticate(ctx, &user, &pass)?;
            i += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            set_name(&ctx.client.info, &ctx.args[i + 1])?;
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                crate::error::lossy(opt, 128)
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::raw("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(v) = proto {
        ctx.client.proto = if v == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        ctx.client.info.resp.store(v as u8, Relaxed);
        ctx.out.proto = ctx.client.proto;
    }
    let out = &mut ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if ctx.client.proto == Protocol::Resp3 {
        3
    } else {
        2
    });
    out.bulk(b"id");
    out.int(ctx.client.info.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

fn client_id(ctx: &mut Ctx) -> CmdResult {
    ctx.out.int(ctx.client.info.id as i64);
    Ok(())
}

fn client_setname(ctx: &mut Ctx) -> CmdResult {
    set_name(&ctx.client.info, &ctx.args[2])?;
    ctx.out.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx) -> CmdResult {
    match ctx.client.info.name.lock().clone() {
        Some(n) => ctx.out.bulk(&n),
        None => ctx.out.null(),
    }
    Ok(())
}

/// One `CLIENT LIST` line (without the newline).
pub fn describe(server: &Server, c: &ClientInfo, user: &str) -> String {
    let fl = c.flags.load(Relaxed);
    let mut flags = String::new();
    if fl & cflags::MONITOR != 0 {
        flags.push('O');
    }
    if fl & cflags::REPLICA != 0 {
        flags.push('S');
    }
    if fl & cflags::MASTER != 0 {
        flags.push('M');
    }
    if fl & cflags::PUBSUB != 0 {
        flags.push('P');
    }
    if fl & cflags::MULTI != 0 {
        flags.push('x');
    }
    if fl & cflags::BLOCKED != 0 {
        flags.push('b');
    }
    for (bit, ch) in [
        (cflags::TRACKING, 't'),
        (cflags::TRACKING_BROKEN_REDIR, 'R'),
        (cflags::TRACKING_BCAST, 'B'),
        (cflags::DIRTY_CAS, 'd'),
    ] {
        if fl & bit != 0 {
            flags.push(ch);
        }
    }
    if fl & cflags::NO_EVICT != 0 {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let idle = server
        .uptime_ms()
        .saturating_sub(c.last_active_ms.load(Relaxed))
        / 1000;
    let qbuf = c.qbuf.load(Relaxed);
    let name = c.name.lock().clone().unwrap_or_default();
    let subs = c.pushes.counts();
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem={} events=r cmd={} user={} redir={} resp={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        String::from_utf8_lossy(&name),
        c.created.elapsed().as_secs(),
        idle,
        flags,
        c.db.load(Relaxed),
        subs[0],
        subs[1],
        subs[2],
        c.multi.load(Relaxed),
        qbuf,
        16384usize.saturating_sub(qbuf),
        qbuf + 16384 * 2,
        match *c.last_cmd.lock() {
            ("", n) => n.to_string(),
            (p, n) => format!("{p}|{n}"),
        },
        user,
        c.redir.load(Relaxed),
        c.resp.load(Relaxed),
    )
}

fn client_type_ok(t: &[u8]) -> bool {
    [&b"normal"[..], b"master", b"replica", b"slave", b"pubsub"]
        .iter()
        .any(|x| t.eq_ignore_ascii_case(x))
}

/// Whether a client matches a `TYPE` filter: replication links are `replica` (`slave`) or
/// `master`, subscribed clients `pubsub`, the others `normal`.
fn is_type(c: &ClientInfo, t: &[u8]) -> bool {
    let fl = c.flags.load(Relaxed);
    if fl & cflags::REPLICA != 0 {
        t.eq_ignore_ascii_case(b"replica") || t.eq_ignore_ascii_case(b"slave")
    } else if fl & cflags::MASTER != 0 {
        t.eq_ignore_ascii_case(b"master")
    } else if fl & cflags::PUBSUB != 0 {
        t.eq_ignore_ascii_case(b"pubsub")
    } else {
        t.eq_ignore_ascii_case(b"normal")
    }
}

/// `CLIENT LIST [TYPE type | ID id [id ...]]`, parsed as Redis does: TYPE only as the one
/// option, IDs listed in the order given (a repeated one twice, an unknown one not at all).
fn client_list(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let clients: Vec<_> = ctx.server.clients.lock().values().cloned().collect();
    let mut text = String::new();
    let mut add = |c: &ClientInfo| {
        let user = c.user.lock().name_str();
        text.push_str(&describe(ctx.server, c, &user));
        text.push('\n');
    };
    if args.len() == 4 && args[2].eq_ignore_ascii_case(b"TYPE") {
        if !client_type_ok(&args[3]) {
            return Err(CmdError::err(format!(
                "Unknown client type '{}'",
                crate::error::lossy(&args[3], 128)
            )));
        }
        clients
            .iter()
            .filter(|c| is_type(c, &args[3]))
            .for_each(|c| add(c));
    } else if args.len() > 3 && args[2].eq_ignore_ascii_case(b"ID") {
        for a in &args[3..] {
            let id =
                crate::util::num::parse_i64(a).ok_or_else(|| CmdError::err("Invalid client ID"))?;
            if let Some(c) = clients.iter().find(|c| c.id as i64 == id) {
                add(c);
            }
        }
    } else if args.len() != 2 {
        return Err(CmdError::Syntax);
    } else {
        clients.iter().for_each(|c| add(c));
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn client_info(ctx: &mut Ctx) -> CmdResult {
    let mut line = ctx.client.describe(ctx.server);
    line.push('\n');
    ctx.out.verbatim(line.as_bytes());
    Ok(())
}

fn client_kill(ctx: &mut Ctx) -> CmdResult {
    let me = ctx.client.info.id;
    if ctx.args.len() == 3 {
        // Old form: CLIENT KILL addr:port.
        let addr = &ctx.args[2];
        let found = ctx
            .server
            .clients
            .lock()
            .values()
            .find(|c| c.addr.as_bytes() == &addr[..])
            .cloned();
        return match found {
            Some(c) => {
                if c.id == me {
                    ctx.client.action = Some(Action::Close);
                } else {
                    ctx.server.close_client(&c);
                }
                ctx.out.ok();
                Ok(())
            }
            None => Err(CmdError::err("No such client")),
        };
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut ty: Option<&[u8]> = None;
    let mut user = None;
    let mut skipme = true;
    let mut i = 2;
    while i < ctx.args.len() {
        if i + 1 >= ctx.args.len() {
            return Err(CmdError::Syntax);
        }
        let (k, v) = (&ctx.args[i], &ctx.args[i + 1]);
        if k.eq_ignore_ascii_case(b"ID") {
            match crate::util::num::parse_i64(v) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Err(CmdError::err("client-id should be greater than 0")),
            }
        } else if k.eq_ignore_ascii_case(b"ADDR") {
            addr = Some(v.clone());
        } else if k.eq_ignore_ascii_case(b"LADDR") {
            laddr = Some(v.clone());
        } else if k.eq_ignore_ascii_case(b"TYPE") {
            if !client_type_ok(v) {
                return Err(CmdError::err(format!(
                    "Unknown client type '{}'",
                    crate::error::lossy(v, 128)
                )));
            }
            ty = Some(v);
        } else if k.eq_ignore_ascii_case(b"USER") {
            let Some(u) = ctx.server.acl.get(v) else {
                return Err(CmdError::err(format!(
                    "No such user '{}'",
                    crate::error::lossy(v, usize::MAX)
                )));
            };
            user = Some(u);
        } else if k.eq_ignore_ascii_case(b"SKIPME") {
            if v.eq_ignore_ascii_case(b"yes") {
                skipme = true;
            } else if v.eq_ignore_ascii_case(b"no") {
                skipme = false;
            } else {
                return Err(CmdError::Syntax);
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let clients: Vec<_> = ctx.server.clients.lock().values().cloned().collect();
    let mut killed = 0;
    for c in clients {
        if id.is_some_and(|x| x != c.id)
            || addr.as_ref().is_some_and(|a| a[..] != *c.addr.as_bytes())
            || laddr.as_ref().is_some_and(|a| a[..] != *c.laddr.as_bytes())
            || ty.is_some_and(|t| !is_type(&c, t))
            || user
                .as_ref()
                .is_some_and(|u| !std::sync::Arc::ptr_eq(u, &c.user.lock()))
        {
            continue;
        }
        if c.id == me {
            if skipme {
                continue;
            }
            ctx.client.action = Some(Action::Close);
        } else {
            ctx.server.close_client(&c);
        }
        killed += 1;
    }
    ctx.out.int(killed);
    Ok(())
}

fn client_reply(ctx: &mut Ctx) -> CmdResult {
    let a = &ctx.args[2];
    if a.eq_ignore_ascii_case(b"ON") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if a.eq_ignore_ascii_case(b"OFF") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if a.eq_ignore_ascii_case(b"SKIP") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::Skip;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

fn client_no_evict(ctx: &mut Ctx) -> CmdResult {
    let a = &ctx.args[2];
    if a.eq_ignore_ascii_case(b"ON") {
        ctx.client.info.flags.fetch_or(cflags::NO_EVICT, Relaxed);
    } else if a.eq_ignore_ascii_case(b"OFF") {
        ctx.client.info.flags.fetch_and(!cflags::NO_EVICT, Relaxed);
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

/// `CLIENT PAUSE timeout [WRITE|ALL]`: Redis's checks in its order (the count of
/// arguments, the mode, then the timeout).
fn client_pause(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() > 4 {
        return Err(CmdError::subcommand_syntax(&ctx.args[1], "CLIENT"));
    }
    let mut write_only = false;
    if let Some(m) = ctx.args.get(3) {
        if m.eq_ignore_ascii_case(b"WRITE") {
            write_only = true;
        } else if !m.eq_ignore_ascii_case(b"ALL") {
            return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL"));
        }
    }
    let ms = match crate::util::num::parse_i64(&ctx.args[2]) {
        Some(n) if n < 0 => return Err(CmdError::TimeoutNegative),
        Some(n) => n as u64,
        None => return Err(CmdError::TimeoutNotInteger),
    };
    let now = unix_ms();
    // A longer pause, or a stricter mode, wins over the one in force.
    ctx.server.pause.pause(
        PausePurpose::Client,
        now.saturating_add(ms),
        write_only,
        now,
    );
    ctx.out.ok();
    Ok(())
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: the reason is checked before the id, as in Redis.
fn client_unblock(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() > 4 {
        return Err(CmdError::raw(
            "ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.",
        ));
    }
    let mut error = false;
    if let Some(reason) = ctx.args.get(3) {
        if reason.eq_ignore_ascii_case(b"error") {
            error = true;
        } else if !reason.eq_ignore_ascii_case(b"timeout") {
            return Err(CmdError::raw(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    }
    let id = ctx.int_arg(2)?;
    let done = id >= 0 && crate::blocking::unblock(ctx.server, id as u64, error);
    ctx.out.int(done as i64);
    Ok(())
}

fn client_unpause(ctx: &mut Ctx) -> CmdResult {
    ctx.server.pause.resume(PausePurpose::Client);
    ctx.out.ok();
    Ok(())
}

/// Writes a HELP reply: the title line, then each line as a status reply.
pub fn help(ctx: &mut Ctx, command: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

fn client_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx,
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Track, or not, the keys of the next command (OPTIN/OPTOUT tracking).",
            "GETNAME",
            "    Return the name of this connection.",
            "GETREDIR",
            "    Return the id invalidation messages are redirected to (-1 without tracking).",
            "ID",
            "    Return the id of this connection.",
            "INFO",
            "    Describe this connection.",
            "KILL <ip:port>",
            "    Close the connection from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Close connections chosen by ID, ADDR, LADDR, TYPE, USER and SKIPME (YES|NO).",
            "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> ...]",
            "    Describe client connections.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    End the wait of a client blocked in a blocking command.",
            "UNPAUSE",
            "    End a client pause.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Hold back all commands, or only writes, for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Turn this connection's replies on or off.",
            "SETNAME <name>",
            "    Name this connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect this connection from client eviction.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] [NOLOOP]",
            "    Turn client-side caching invalidation messages on or off.",
            "TRACKINGINFO",
            "    Describe this connection's client-side caching state.",
        ],
    );
    Ok(())
}
