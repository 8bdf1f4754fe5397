//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! While a client is in MULTI, dispatch queues its commands (after the lookup, arity, auth,
//! `no-multi` and OOM checks; a rejection marks the transaction failed) and runs EXEC itself:
//! every shard the queued commands and the watched keys need is locked once, then the WATCH
//! check and the commands run under those locks (`dispatch::exec`). The EXEC row's handler
//! only answers the case without MULTI. WATCH state lives in [`crate::keysig`].

use std::sync::atomic::Ordering::Relaxed;

use super::{acl, flags as f, kflags, CmdResult, Command, KeySpec};
use crate::dispatch::{Client, Ctx};
use crate::error::CmdError;
use crate::keysig::{Multi, Watcher};
use crate::server::{cflags, Server};

const TX: u32 = acl::TRANSACTION;
const TX_FLAGS: u32 = f::NOSCRIPT | f::LOADING | f::STALE | f::FAST | f::ALLOW_BUSY;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "multi",
        arity: 1,
        flags: TX_FLAGS,
        acl: TX,
        handler: Some(multi),
        group: "transactions",
        since: "1.2.0",
        summary: "Starts a transaction.",
        ..Command::DEFAULT
    },
    Command {
        name: "exec",
        arity: 1,
        flags: f::NOSCRIPT | f::LOADING | f::STALE | f::SKIP_SLOWLOG,
        acl: TX,
        handler: Some(exec_without_multi),
        group: "transactions",
        since: "1.2.0",
        complexity: "Depends on commands in the transaction",
        summary: "Runs the commands queued since MULTI.",
        ..Command::DEFAULT
    },
    Command {
        name: "discard",
        arity: 1,
        flags: TX_FLAGS,
        acl: TX,
        handler: Some(discard),
        group: "transactions",
        since: "2.0.0",
        complexity: "O(N), when N is the number of queued commands",
        summary: "Drops the commands queued since MULTI.",
        ..Command::DEFAULT
    },
    Command {
        name: "watch",
        arity: -2,
        flags: TX_FLAGS,
        acl: TX,
        key_specs: &[KeySpec::range(1, -1, 1, kflags::RO)],
        handler: Some(watch),
        group: "transactions",
        since: "2.2.0",
        complexity: "O(1) for every key.",
        summary: "Makes the next EXEC fail if one of these keys changes.",
        ..Command::DEFAULT
    },
    Command {
        name: "unwatch",
        arity: 1,
        flags: TX_FLAGS,
        acl: TX,
        handler: Some(unwatch),
        group: "transactions",
        since: "2.2.0",
        summary: "Forgets every WATCHed key.",
        ..Command::DEFAULT
    },
];

fn multi(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::raw("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Multi::default());
    ctx.client.info.flags.fetch_or(cflags::MULTI, Relaxed);
    ctx.client.info.multi.store(0, Relaxed);
    ctx.out.ok();
    Ok(())
}

/// EXEC reaches its handler only outside MULTI (dispatch runs transactions).
fn exec_without_multi(_: &mut Ctx) -> CmdResult {
    Err(CmdError::raw("ERR EXEC without MULTI"))
}

fn discard(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err(CmdError::raw("ERR DISCARD without MULTI"));
    }
    end_transaction(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::raw("ERR WATCH inside MULTI is not allowed"));
    }
    let w = ctx
        .client
        .watcher
        .get_or_insert_with(|| Watcher::new(ctx.client.info.clone()))
        .clone();
    let db = ctx.client.db;
    for key in &ctx.args[1..] {
        let expired = ctx.db.raw_state(key) == Some(true);
        ctx.server.watches.watch(&w, db, key, expired);
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx) -> CmdResult {
    if let Some(w) = &ctx.client.watcher {
        ctx.server.watches.unwatch_all(w);
    }
    ctx.out.ok();
    Ok(())
}

/// Leaves MULTI (if in it) and forgets the watched keys: DISCARD, EXEC, RESET, disconnect.
pub fn end_transaction(server: &Server, client: &mut Client) {
    end_transaction_keep_watch(client);
    if let Some(w) = &client.watcher {
        server.watches.unwatch_all(w);
    }
}

/// Leaves MULTI but keeps the watched keys (EXEC checks them first).
pub fn end_transaction_keep_watch(client: &mut Client) {
    client.multi = None;
    client.info.flags.fetch_and(!cflags::MULTI, Relaxed);
    client.info.multi.store(-1, Relaxed);
}
