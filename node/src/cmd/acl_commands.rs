//! ACL commands: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, LOG, DRYRUN, GENPASS,
//! LOAD, SAVE, HELP. The users and the check live in [`crate::acl`].

use std::sync::Arc;

use bytes::Bytes;

use super::{flags as f, CmdResult, Command};
use crate::acl::{self, rules, Rules, User};
use crate::dispatch::{Action, Ctx};
use crate::error::{self, CmdError};

const SUB: u32 = f::NOSCRIPT | f::LOADING | f::STALE;
const ADMIN: u32 = f::ADMIN | SUB;

const fn sub(name: &'static str, arity: i32, flags: u32, handler: super::Handler) -> Command {
    Command {
        name,
        arity,
        flags,
        handler: Some(handler),
        group: "server",
        since: "6.0.0",
        complexity: "O(1)",
        ..Command::DEFAULT
    }
}

pub static COMMANDS: &[Command] = &[Command {
    name: "acl",
    arity: -2,
    subcommands: ACL,
    group: "server",
    since: "6.0.0",
    complexity: "Depends on subcommand.",
    summary: "A container for the ACL commands.",
    ..Command::DEFAULT
}];

static ACL: &[Command] = &[
    Command {
        summary: "Lists the ACL categories, or the commands of one.",
        ..sub("cat", -2, SUB, cat)
    },
    Command {
        summary: "Deletes users and closes their connections.",
        ..sub("deluser", -3, ADMIN, deluser)
    },
    Command {
        since: "7.0.0",
        summary: "Says whether a user may run a command, without running it.",
        ..sub("dryrun", -4, ADMIN, dryrun)
    },
    Command {
        summary: "Generates a random password.",
        ..sub("genpass", -2, SUB, genpass)
    },
    Command {
        summary: "Describes a user's rules.",
        ..sub("getuser", 3, ADMIN, getuser)
    },
    Command {
        summary: "Lists the ACL subcommands.",
        ..sub("help", 2, f::LOADING | f::STALE, help)
    },
    Command {
        summary: "Lists the users in ACL file format.",
        ..sub("list", 2, ADMIN, list)
    },
    Command {
        summary: "Reloads the users from the ACL file.",
        ..sub("load", 2, ADMIN, load)
    },
    Command {
        summary: "Shows or clears the log of refused commands and authentications.",
        ..sub("log", -2, ADMIN, log)
    },
    Command {
        summary: "Writes the users to the ACL file.",
        ..sub("save", 2, ADMIN, save)
    },
    Command {
        summary: "Creates or changes a user.",
        ..sub("setuser", -3, ADMIN, setuser)
    },
    Command {
        summary: "Lists the user names.",
        ..sub("users", 2, ADMIN, users)
    },
    Command {
        summary: "The user of this connection.",
        ..sub("whoami", 2, SUB, whoami)
    },
];

/// `addReplySubcommandSyntaxError`.
fn syntax_error(ctx: &Ctx) -> CmdError {
    CmdError::subcommand_syntax(&ctx.args[1], "ACL")
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Closes the connections of users that were deleted or replaced: this one after its reply
/// (as Redis's CLIENT_CLOSE_AFTER_COMMAND), the others at once.
fn disconnect(ctx: &mut Ctx, gone: &[Arc<User>]) {
    if gone.is_empty() {
        return;
    }
    let is_gone = |u: &Arc<User>| gone.iter().any(|g| Arc::ptr_eq(g, u));
    let default = ctx.server.acl.default_user().clone();
    let me = ctx.client.info.id;
    if is_gone(&ctx.client.user) {
        ctx.client.set_user(default.clone(), false);
        ctx.client.action = Some(Action::Close);
    }
    let clients: Vec<_> = ctx.server.clients.lock().values().cloned().collect();
    for c in clients {
        if c.id == me {
            continue;
        }
        let hit = is_gone(&c.user.lock());
        if hit {
            *c.user.lock() = default.clone();
            ctx.server.close_client(&c);
        }
    }
}

fn setuser(ctx: &mut Ctx) -> CmdResult {
    let name = ctx.args[2].clone();
    if rules::has_spaces(&name) {
        return Err(CmdError::raw(error::acl::BAD_USERNAME));
    }
    let ops: Vec<&[u8]> = ctx.args[3..].iter().map(|a| &a[..]).collect();
    let merged = rules::merge_selector_args(&ops).map_err(|j| {
        CmdError::err(format!(
            "Unmatched parenthesis in acl selector starting at '{}'.",
            lossy(ops[j])
        ))
    })?;
    let acl = &ctx.server.acl;
    let pubsub_all = acl.pubsub_all();
    let old = acl.get(&name).map(|u| u.rules().clone());
    let mut r = old.clone().unwrap_or_else(|| Rules::new(pubsub_all));
    for op in &merged {
        r.apply(op, pubsub_all).map_err(|e| {
            CmdError::err(format!(
                "Error in ACL SETUSER modifier '{}': {e}",
                lossy(op)
            ))
        })?;
    }
    let user = acl.set_user(&name, r);
    if let Some(old) = old {
        kill_pubsub_clients_if_needed(ctx, &user, &old);
    }
    ctx.out.ok();
    Ok(())
}

/// Subscribers of `user` whose channels the new rules no longer allow are closed
/// (`ACLKillPubsubClientsIfNeeded`): nothing to do when a selector allows every channel or
/// when the old rules allowed no more than the new ones (every old channel pattern still
/// listed, and none of them `allchannels`); otherwise each subscription is checked against
/// the new list.
fn kill_pubsub_clients_if_needed(ctx: &mut Ctx, user: &Arc<User>, old: &Rules) {
    let rules = user.rules();
    if rules.selectors.iter().any(|s| s.all_channels) {
        return;
    }
    let patterns: Vec<Bytes> = rules
        .selectors
        .iter()
        .flat_map(|s| s.channels.iter().cloned())
        .collect();
    drop(rules);
    let kept = !old.selectors.iter().any(|s| s.all_channels)
        && old
            .selectors
            .iter()
            .flat_map(|s| s.channels.iter())
            .all(|c| patterns.contains(c));
    if kept {
        return;
    }
    let clients: Vec<_> = ctx.server.clients.lock().values().cloned().collect();
    for c in clients {
        if !Arc::ptr_eq(&c.user.lock(), user) || !crate::pubsub::is_subscribed(&c) {
            continue;
        }
        let (channels, pats) = crate::pubsub::subscriptions_of(ctx.server, &c);
        let channel_ok = |ch: &Bytes| {
            patterns
                .iter()
                .any(|p| crate::util::glob::glob_match(p, ch, false))
        };
        let pattern_ok = |pat: &Bytes| patterns.iter().any(|p| p == pat);
        if !channels.iter().all(channel_ok) || !pats.iter().all(pattern_ok) {
            if c.id == ctx.client.info.id {
                ctx.client.action = Some(Action::Close);
            } else {
                ctx.server.close_client(&c);
            }
        }
    }
}

fn deluser(ctx: &mut Ctx) -> CmdResult {
    if ctx.args[2..].iter().any(|a| &a[..] == b"default") {
        return Err(CmdError::raw(error::acl::DELETE_DEFAULT));
    }
    let mut gone = Vec::new();
    for name in &ctx.args[2..] {
        if let Some(u) = ctx.server.acl.remove(name) {
            gone.push(u);
        }
    }
    disconnect(ctx, &gone);
    ctx.out.int(gone.len() as i64);
    Ok(())
}

fn describe_selector(ctx: &mut Ctx, s: &rules::Selector) {
    ctx.out.bulk(b"commands");
    ctx.out.bulk(&s.describe_commands());
    ctx.out.bulk(b"keys");
    ctx.out.bulk(&s.describe_keys());
    ctx.out.bulk(b"channels");
    ctx.out.bulk(&s.describe_channels());
}

fn getuser(ctx: &mut Ctx) -> CmdResult {
    let Some(u) = ctx.server.acl.get(&ctx.args[2]) else {
        ctx.out.null();
        return Ok(());
    };
    let r = u.rules().clone();
    ctx.out.map(6);
    ctx.out.bulk(b"flags");
    let names: Vec<&str> = rules::uflags::NAMES
        .iter()
        .filter(|(f, _)| r.flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    ctx.out.set(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    ctx.out.bulk(b"passwords");
    ctx.out.array(r.passwords.len());
    for p in &r.passwords {
        ctx.out.bulk(p);
    }
    describe_selector(ctx, r.root());
    ctx.out.bulk(b"selectors");
    ctx.out.array(r.selectors.len() - 1);
    for s in &r.selectors[1..] {
        ctx.out.map(3);
        describe_selector(ctx, s);
    }
    Ok(())
}

fn list(ctx: &mut Ctx) -> CmdResult {
    let users = ctx.server.acl.users();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(&u.line());
    }
    Ok(())
}

fn users(ctx: &mut Ctx) -> CmdResult {
    let users = ctx.server.acl.users();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(&u.name);
    }
    Ok(())
}

fn whoami(ctx: &mut Ctx) -> CmdResult {
    let name = ctx.client.user.name.clone();
    ctx.out.bulk(&name);
    Ok(())
}

fn aclfile(ctx: &Ctx) -> Result<String, CmdError> {
    let path = ctx.server.config.read().aclfile().to_string();
    if path.is_empty() {
        return Err(CmdError::raw(error::acl::NO_ACLFILE));
    }
    Ok(path)
}

fn load(ctx: &mut Ctx) -> CmdResult {
    let path = aclfile(ctx)?;
    let users = acl::file::load(&path, ctx.server.acl.pubsub_all()).map_err(CmdError::err)?;
    let gone = ctx.server.acl.replace_all(users);
    disconnect(ctx, &gone);
    ctx.out.ok();
    Ok(())
}

fn save(ctx: &mut Ctx) -> CmdResult {
    let path = aclfile(ctx)?;
    if let Err(e) = acl::file::save(&path, &ctx.server.acl.users()) {
        tracing::warn!("Writing ACL file for ACL SAVE: {e}");
        return Err(CmdError::raw(error::acl::SAVE_FAILED));
    }
    ctx.out.ok();
    Ok(())
}

fn cat(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() == 2 {
        ctx.out.array(super::acl::NAMES.len());
        for (_, n) in super::acl::NAMES {
            ctx.out.bulk(n.as_bytes());
        }
        return Ok(());
    }
    if ctx.args.len() != 3 {
        return Err(syntax_error(ctx));
    }
    let Some(flag) = rules::category(&ctx.args[2]) else {
        return Err(CmdError::err(format!(
            "Unknown category '{}'",
            error::lossy(&ctx.args[2], 128)
        )));
    };
    let ids = rules::commands_in(flag);
    ctx.out.array(ids.len());
    for id in ids {
        ctx.out.bulk(rules::fullname(id).as_bytes());
    }
    Ok(())
}

fn genpass(ctx: &mut Ctx) -> CmdResult {
    let bits = match ctx.args.len() {
        2 => 256,
        3 => ctx.int_arg(2)?,
        _ => return Err(syntax_error(ctx)),
    };
    if !(1..=4096).contains(&bits) {
        return Err(CmdError::raw(error::acl::GENPASS_RANGE));
    }
    ctx.out.bulk(acl::genpass(bits as usize).as_bytes());
    Ok(())
}

fn log(ctx: &mut Ctx) -> CmdResult {
    let mut count = 10i64;
    match ctx.args.len() {
        2 => {}
        3 => {
            if ctx.args[2].eq_ignore_ascii_case(b"reset") {
                ctx.server.acl.log_reset();
                ctx.out.ok();
                return Ok(());
            }
            count = ctx.int_arg(2)?.max(0);
        }
        _ => return Err(syntax_error(ctx)),
    }
    let entries = ctx.server.acl.log_entries(count as usize);
    let now = crate::server::unix_ms();
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.map(7);
        ctx.out.bulk(b"count");
        ctx.out.int(e.count as i64);
        ctx.out.bulk(b"reason");
        ctx.out.bulk(e.reason_str().as_bytes());
        ctx.out.bulk(b"context");
        ctx.out.bulk(e.context_str().as_bytes());
        ctx.out.bulk(b"object");
        ctx.out.bulk(&e.object);
        ctx.out.bulk(b"username");
        ctx.out.bulk(&e.username);
        ctx.out.bulk(b"age-seconds");
        ctx.out.double(now.saturating_sub(e.ctime) as f64 / 1000.0);
        ctx.out.bulk(b"client-info");
        ctx.out.bulk(e.client_info.as_bytes());
    }
    Ok(())
}

fn dryrun(ctx: &mut Ctx) -> CmdResult {
    let Some(u) = ctx.server.acl.get(&ctx.args[2]) else {
        return Err(CmdError::err(format!(
            "User '{}' not found",
            lossy(&ctx.args[2])
        )));
    };
    let args = &ctx.args[3..];
    let not_found = || CmdError::err(format!("Command '{}' not found", lossy(&args[0])));
    let top = super::lookup(&args[0]).ok_or_else(not_found)?;
    let (cmd, is_sub) = if args.len() == 1 || top.subcommands.is_empty() {
        (top, false)
    } else {
        (top.subcommand(&args[1]).ok_or_else(not_found)?, true)
    };
    let id = rules::command_id(cmd);
    if !cmd.arity_ok(args.len()) {
        return Err(CmdError::WrongArity(rules::fullname(id).to_string()));
    }
    let result = acl::check(&u.rules(), cmd, is_sub, args);
    match result {
        Ok(()) => ctx.out.ok(),
        Err(acl::Denied::Command) => ctx.out.bulk(
            format!(
                "This user has no permissions to run the '{}' command",
                rules::fullname(id)
            )
            .as_bytes(),
        ),
        Err(acl::Denied::Key(i)) => ctx.out.bulk(
            format!(
                "This user has no permissions to access the '{}' key",
                lossy(&args[i])
            )
            .as_bytes(),
        ),
        Err(acl::Denied::Channel(i)) => ctx.out.bulk(
            format!(
                "This user has no permissions to access the '{}' channel",
                lossy(&args[i])
            )
            .as_bytes(),
        ),
    }
    Ok(())
}

fn help(ctx: &mut Ctx) -> CmdResult {
    super::connection::help(
        ctx,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(())
}
