//! MIGRATE: moves keys to another server as `RESTORE` (`RESTORE-ASKING` in cluster mode)
//! commands carrying their DUMP payload and TTL, then deletes them here unless COPY (Redis
//! `cluster.c` `migrateCommand`). Replies and errors are Redis 7.0's.
//!
//! The keys are serialized under their shard locks; the locks are then released for the
//! round trip (the keys stay fenced against writers, see [`crate::cluster::migrate_pool`]),
//! taken again, and the keys the target acknowledged are deleted and propagated as one
//! `DEL`. Connections to targets are pooled per `host:port`.

use std::time::Duration;

use bytes::{BufMut, Bytes};

use super::{acl, flags as f, kflags as k, BeginSearch, CmdResult, Command, FindKeys, KeySpec};
use crate::cluster::migrate_pool::{Conn, ConnectError, IoFailure, Migrations};
use crate::db::{key_slot, ViewCtx};
use crate::dispatch::Ctx;
use crate::error::{migrate as text, CmdError};

pub static COMMANDS: &[Command] = &[Command {
    name: "migrate",
    arity: -6,
    flags: f::WRITE,
    acl: acl::KEYSPACE | acl::DANGEROUS,
    tips: &["nondeterministic_output"],
    key_specs: &[
        KeySpec::one(3, k::RW | k::ACCESS | k::DELETE),
        KeySpec {
            notes: "",
            flags: k::RW | k::ACCESS | k::DELETE | k::INCOMPLETE,
            begin: BeginSearch::Keyword {
                keyword: "KEYS",
                startfrom: -2,
            },
            find: FindKeys::Range {
                lastkey: -1,
                step: 1,
                limit: 0,
            },
        },
    ],
    handler: Some(migrate),
    since: "2.6.0",
    complexity: "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed.",
    summary: "Atomically transfers a key from one Redis instance to another.",
    ..Command::DEFAULT
}];

/// True when MIGRATE names its keys after `KEYS` (the key argument is then the empty
/// placeholder and not a key, as Redis's `migrateGetKeys` says).
pub fn uses_keys_option(args: &[Bytes]) -> bool {
    args.len() > 6
        && args.get(3).is_some_and(|k| k.is_empty())
        && args[6..].iter().any(|a| a.eq_ignore_ascii_case(b"keys"))
}

/// The parsed options.
struct Request {
    copy: bool,
    replace: bool,
    user: Option<Bytes>,
    password: Option<Bytes>,
    db: i64,
    timeout: Duration,
}

/// One key ready to go: its name, TTL in ms (0: none) and DUMP payload.
struct Item {
    key: Bytes,
    ttl: u64,
    payload: Vec<u8>,
}

/// How the exchange with the target ended.
enum Exchange {
    /// Every RESTORE answered; `acked[i]` = key i was accepted.
    Done {
        acked: Vec<bool>,
        error: Option<String>,
    },
    /// The connection failed after `acked` keys were accepted.
    Failed {
        acked: Vec<bool>,
        error: Option<String>,
        writing: bool,
    },
    /// No connection could be made.
    NoConnection,
}

fn migrate(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let mut req = Request {
        copy: false,
        replace: false,
        user: None,
        password: None,
        db: 0,
        timeout: Duration::ZERO,
    };
    let (mut first, mut count) = (3usize, 1usize);
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let a = &args[j];
        if a.eq_ignore_ascii_case(b"copy") {
            req.copy = true;
        } else if a.eq_ignore_ascii_case(b"replace") {
            req.replace = true;
        } else if a.eq_ignore_ascii_case(b"auth") {
            if more == 0 {
                return Err(CmdError::Syntax);
            }
            j += 1;
            req.password = Some(args[j].clone());
        } else if a.eq_ignore_ascii_case(b"auth2") {
            if more < 2 {
                return Err(CmdError::Syntax);
            }
            req.user = Some(args[j + 1].clone());
            req.password = Some(args[j + 2].clone());
            j += 2;
        } else if a.eq_ignore_ascii_case(b"keys") {
            if !args[3].is_empty() {
                return Err(CmdError::raw(text::KEYS_NEED_EMPTY_KEY));
            }
            first = j + 1;
            count = args.len() - j - 1;
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let timeout = ctx.int_arg(5)?;
    req.db = ctx.int_arg(4)?;
    req.timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });

    // Serialize the keys that are here, under their locks (for big values, off the
    // runtime's worker so the other connections it runs are not held up meanwhile).
    let now = ctx.db.now;
    let compress = ctx.settings.rdbcompression;
    let keys = &args[first..first + count];
    let big = keys
        .iter()
        .any(|k| ctx.db.peek(k).is_some_and(|e| heavy(&e.value)));
    let snapshot = |ctx: &mut Ctx| {
        let mut items: Vec<Item> = Vec::new();
        for key in keys {
            let snap = ctx.db.get(key).map(|e| {
                let ttl = match e.expire_at {
                    0 => 0,
                    at => at.saturating_sub(now).max(1),
                };
                (ttl, crate::rdb::dump(&e.value, compress))
            });
            ctx.hit(snap.is_some());
            if let Some((ttl, payload)) = snap {
                items.push(Item {
                    key: key.clone(),
                    ttl,
                    payload,
                });
            }
        }
        items
    };
    let items = if big {
        blocking(|| snapshot(ctx))
    } else {
        snapshot(ctx)
    };
    if items.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    let server = ctx.server;
    let keys: Vec<Bytes> = items.iter().map(|i| i.key.clone()).collect();
    let _fence = server.migrate.fence(ctx.db.index, &keys);

    // Release the shard locks for the round trip, unless inside a transaction (whose view
    // must stay whole): the fence keeps writers off these keys meanwhile.
    let view = ViewCtx {
        db: ctx.db.index,
        now,
        mode: ctx.db.access_mode(),
    };
    let release = !ctx.client.deny_blocking && ctx.db.holds_locks() && !ctx.db.holds_all();
    if release {
        let unlocked = server.keyspace.unlocked(view);
        drop(swap_view(ctx, unlocked));
    }
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    let port = atoi(&args[2]);
    let restore: &[u8] = if ctx.settings.cluster_enabled {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    let outcome = blocking(|| exchange(&server.migrate, &host, port, &req, restore, &items));
    if release {
        let mut slots: Vec<u16> = keys.iter().map(|k| key_slot(k)).collect();
        slots.sort_unstable();
        slots.dedup();
        let locked = server.keyspace.lock_slots(&slots, view);
        drop(swap_view(ctx, locked));
    }

    let (acked, error, io) = match outcome {
        Exchange::NoConnection => return Err(CmdError::raw(text::IOERR_CONNECT)),
        Exchange::Done { acked, error } => (acked, error, None),
        Exchange::Failed {
            acked,
            error,
            writing,
        } => (acked, error, Some(writing)),
    };
    if !req.copy {
        let mut del: Vec<Bytes> = vec![Bytes::from_static(b"DEL")];
        for (item, _) in items.iter().zip(&acked).filter(|(_, a)| **a) {
            ctx.db.remove(&item.key);
            ctx.notify(crate::config::notify::GENERIC, "del", &item.key);
            del.push(item.key.clone());
        }
        if del.len() > 1 {
            ctx.db.propagate_as(del);
            server.migrate.deleted();
        }
    }
    if let Some(e) = error {
        return Err(CmdError::Msg(text::target_error(&e).into()));
    }
    if let Some(writing) = io {
        return Err(CmdError::raw(if writing {
            text::IOERR_WRITING
        } else {
            text::IOERR_READING
        }));
    }
    ctx.out.ok();
    Ok(())
}

/// True for values whose serialization takes long enough to matter (large collections,
/// strings over 1 MiB).
fn heavy(v: &crate::db::Value) -> bool {
    use crate::db::Value;
    match v {
        Value::Int(_) => false,
        Value::Str(s) => s.len() > 1 << 20,
        Value::Raw(s) => s.len() > 1 << 20,
        Value::List(l) => l.len() > 4096,
        Value::Set(s) => s.len() > 4096,
        Value::ZSet(z) => z.len() > 4096,
        Value::Hash(h) => h.len() > 4096,
        Value::Stream(s) => s.len() > 4096,
    }
}

/// Puts `new` in place of the handler's view, carrying over what the command recorded so
/// far (changes, events, propagation), and returns the old view (dropping it unlocks).
fn swap_view<'a>(ctx: &mut Ctx<'_, 'a>, mut new: crate::db::Db<'a>) -> crate::db::Db<'a> {
    let old = &mut ctx.db;
    new.dirty = old.dirty;
    new.expired = old.expired;
    new.fx = old.fx.take();
    new.notify_flags = old.notify_flags;
    new.track = old.track;
    new.propagate = old.propagate;
    new.rewrote = old.rewrote;
    std::mem::replace(&mut ctx.db, new)
}

/// Runs blocking network I/O without starving the runtime's other tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The port as C's `atoi` reads it (leading digits; garbage is 0), None when it is no
/// TCP port (the connection then fails like an unresolvable address).
fn atoi(s: &[u8]) -> Option<u16> {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .try_fold(0u32, |n, &c| {
            n.checked_mul(10)?.checked_add((c - b'0') as u32)
        })?;
    if neg && n != 0 {
        return None;
    }
    u16::try_from(n).ok()
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.put_u8(b'$');
    out.put_slice(b.len().to_string().as_bytes());
    out.put_slice(b"\r\n");
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

fn array(out: &mut Vec<u8>, n: usize) {
    out.put_u8(b'*');
    out.put_slice(n.to_string().as_bytes());
    out.put_slice(b"\r\n");
}

/// The RESTORE commands, one per key.
fn restore_commands(req: &Request, restore: &[u8], items: &[Item]) -> Vec<u8> {
    let size: usize = items
        .iter()
        .map(|i| i.payload.len() + i.key.len() + 64)
        .sum();
    let mut out = Vec::with_capacity(size);
    for i in items {
        array(&mut out, if req.replace { 5 } else { 4 });
        bulk(&mut out, restore);
        bulk(&mut out, &i.key);
        bulk(&mut out, i.ttl.to_string().as_bytes());
        bulk(&mut out, &i.payload);
        if req.replace {
            bulk(&mut out, b"REPLACE");
        }
    }
    out
}

/// Talks to the target: AUTH, SELECT when the connection is not on the database yet, the
/// RESTOREs; reads the replies. A failure on a connection before any reply was read is
/// retried once on a new connection, unless it was a timeout (as Redis does).
fn exchange(
    pool: &Migrations,
    host: &str,
    port: Option<u16>,
    req: &Request,
    restore: &[u8],
    items: &[Item],
) -> Exchange {
    let name = format!("{host}:{}", port.unwrap_or(0));
    let body = restore_commands(req, restore, items);
    let mut may_retry = true;
    loop {
        let mut conn = match pool.take(&name) {
            Some(c) => c,
            None => match port {
                None => return Exchange::NoConnection,
                Some(p) => match Conn::connect(host, p, req.timeout) {
                    Ok(c) => c,
                    Err(ConnectError::Resolve | ConnectError::Timeout) => {
                        return Exchange::NoConnection
                    }
                    Err(ConnectError::Refused) => {
                        // Redis's connect is non-blocking: the refusal shows when writing.
                        if may_retry {
                            may_retry = false;
                            continue;
                        }
                        return Exchange::Failed {
                            acked: vec![false; items.len()],
                            error: None,
                            writing: true,
                        };
                    }
                },
            },
        };
        let select = conn.last_db != Some(req.db);
        let mut head = Vec::new();
        if let Some(pw) = &req.password {
            array(&mut head, if req.user.is_some() { 3 } else { 2 });
            bulk(&mut head, b"AUTH");
            if let Some(u) = &req.user {
                bulk(&mut head, u);
            }
            bulk(&mut head, pw);
        }
        if select {
            array(&mut head, 2);
            bulk(&mut head, b"SELECT");
            bulk(&mut head, req.db.to_string().as_bytes());
        }
        let sent = conn
            .send(&head, req.timeout)
            .and_then(|()| conn.send(&body, req.timeout));
        if let Err(e) = sent {
            if !e.timeout && may_retry {
                may_retry = false;
                continue;
            }
            return Exchange::Failed {
                acked: vec![false; items.len()],
                error: None,
                writing: true,
            };
        }
        let read_head = |conn: &mut Conn, want: bool| -> Result<Option<Vec<u8>>, IoFailure> {
            if want {
                conn.read_line(req.timeout).map(Some)
            } else {
                Ok(None)
            }
        };
        let head_replies = read_head(&mut conn, req.password.is_some())
            .and_then(|auth| read_head(&mut conn, select).map(|sel| (auth, sel)));
        let (auth, sel) = match head_replies {
            Ok(r) => r,
            Err(e) => {
                if !e.timeout && may_retry {
                    may_retry = false;
                    continue;
                }
                return Exchange::Failed {
                    acked: vec![false; items.len()],
                    error: None,
                    writing: false,
                };
            }
        };
        let failed_head = [&auth, &sel]
            .into_iter()
            .flatten()
            .find(|l| l.first() == Some(&b'-'))
            .cloned();
        let mut acked = vec![false; items.len()];
        let mut error: Option<String> = None;
        let mut socket_error: Option<IoFailure> = None;
        let mut read = 0;
        for a in acked.iter_mut() {
            let line = match conn.read_line(req.timeout) {
                Ok(l) => l,
                Err(e) => {
                    socket_error = Some(e);
                    break;
                }
            };
            read += 1;
            let bad = failed_head
                .as_ref()
                .or((line.first() == Some(&b'-')).then_some(&line));
            match bad {
                Some(l) => {
                    if error.is_none() {
                        error = Some(crate::error::lossy(&l[1..], usize::MAX));
                    }
                }
                None => *a = true,
            }
        }
        if let Some(e) = socket_error {
            if error.is_none() && read == 0 && may_retry && !e.timeout {
                may_retry = false;
                continue;
            }
            // The connection is dropped (closed) here.
            return Exchange::Failed {
                acked,
                error,
                writing: false,
            };
        }
        conn.last_db = if error.is_some() { None } else { Some(req.db) };
        pool.give_back(name, conn);
        return Exchange::Done { acked, error };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn port_like_atoi() {
        assert_eq!(atoi(b"6379"), Some(6379));
        assert_eq!(atoi(b"12abc"), Some(12));
        assert_eq!(atoi(b"abc"), Some(0));
        assert_eq!(atoi(b"70000"), None);
        assert_eq!(atoi(b"-1"), None);
    }

    #[test]
    fn keys_option_detection() {
        assert!(uses_keys_option(&args(&[
            "migrate", "h", "1", "", "0", "5", "KEYS", "a"
        ])));
        assert!(!uses_keys_option(&args(&[
            "migrate", "h", "1", "k", "0", "5", "KEYS", "a"
        ])));
        assert!(!uses_keys_option(&args(&[
            "migrate", "h", "1", "", "0", "5"
        ])));
    }

    #[test]
    fn restore_commands_format() {
        let req = Request {
            copy: false,
            replace: true,
            user: None,
            password: None,
            db: 0,
            timeout: Duration::from_secs(1),
        };
        let items = [Item {
            key: Bytes::from_static(b"k"),
            ttl: 5,
            payload: b"xy".to_vec(),
        }];
        assert_eq!(
            restore_commands(&req, b"RESTORE", &items),
            b"*5\r\n$7\r\nRESTORE\r\n$1\r\nk\r\n$1\r\n5\r\n$2\r\nxy\r\n$7\r\nREPLACE\r\n"
        );
    }
}
