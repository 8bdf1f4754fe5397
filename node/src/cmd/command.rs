//! COMMAND and its subcommands: everything here is derived from the command table.

use super::{
    acl, all, flags as f, kflags, lookup, BeginSearch, CmdResult, Command, FindKeys, KeySpec,
};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::resp::ReplyWriter;

const SUB: u32 = f::LOADING | f::STALE;
const CONN: u32 = acl::CONNECTION;

pub static COMMANDS: &[Command] = &[Command {
    name: "command",
    arity: -1,
    flags: SUB,
    acl: CONN,
    tips: &["nondeterministic_output_order"],
    subcommands: SUBS,
    handler: Some(command_all),
    group: "server",
    since: "2.8.13",
    complexity: "O(N) where N is the total number of Redis commands",
    summary: "Describes every command.",
    ..Command::DEFAULT
}];

static SUBS: &[Command] = &[
    Command {
        name: "count",
        arity: 2,
        flags: SUB,
        acl: CONN,
        handler: Some(count),
        group: "server",
        since: "2.8.13",
        summary: "Number of commands.",
        ..Command::DEFAULT
    },
    Command {
        name: "list",
        arity: -2,
        flags: SUB,
        acl: CONN,
        tips: &["nondeterministic_output_order"],
        handler: Some(list),
        group: "server",
        since: "7.0.0",
        complexity: "O(N) where N is the total number of Redis commands",
        summary: "Names of the commands, optionally filtered.",
        ..Command::DEFAULT
    },
    Command {
        name: "info",
        arity: -2,
        flags: SUB,
        acl: CONN,
        tips: &["nondeterministic_output_order"],
        handler: Some(info),
        group: "server",
        since: "2.8.13",
        complexity: "O(N) where N is the number of commands to look up",
        summary: "Describes the named commands.",
        ..Command::DEFAULT
    },
    Command {
        name: "docs",
        arity: -2,
        flags: SUB,
        acl: CONN,
        tips: &["nondeterministic_output_order"],
        handler: Some(docs),
        group: "server",
        since: "7.0.0",
        complexity: "O(N) where N is the number of commands to look up",
        summary: "Documentation of the named commands.",
        ..Command::DEFAULT
    },
    Command {
        name: "getkeys",
        arity: -4,
        flags: SUB,
        acl: CONN,
        handler: Some(getkeys),
        group: "server",
        since: "2.8.13",
        complexity: "O(N) where N is the number of arguments to the command",
        summary: "The keys a full command line names.",
        ..Command::DEFAULT
    },
    Command {
        name: "getkeysandflags",
        arity: -4,
        flags: SUB,
        acl: CONN,
        handler: Some(getkeysandflags),
        group: "server",
        since: "7.0.0",
        complexity: "O(N) where N is the number of arguments to the command",
        summary: "The keys a full command line names, with their access flags.",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: SUB,
        acl: CONN,
        handler: Some(help),
        group: "server",
        since: "5.0.0",
        summary: "Lists the COMMAND subcommands.",
        ..Command::DEFAULT
    },
];

fn names_of(out: &mut ReplyWriter, bits: u64, names: &[(u64, &str)], prefix: &str) {
    let n = names.iter().filter(|(b, _)| bits & b != 0).count();
    out.set(n);
    for (b, name) in names {
        if bits & b != 0 {
            out.simple(&format!("{prefix}{name}"));
        }
    }
}

fn flag_names(out: &mut ReplyWriter, bits: u32) {
    let v: Vec<(u64, &str)> = f::NAMES.iter().map(|(b, n)| (*b as u64, *n)).collect();
    names_of(out, bits as u64, &v, "");
}

fn acl_names(out: &mut ReplyWriter, bits: u32) {
    let v: Vec<(u64, &str)> = acl::NAMES.iter().map(|(b, n)| (*b as u64, *n)).collect();
    names_of(out, bits as u64, &v, "@");
}

fn key_flag_names(out: &mut ReplyWriter, bits: u16) {
    let v: Vec<(u64, &str)> = kflags::NAMES.iter().map(|(b, n)| (*b as u64, *n)).collect();
    names_of(out, bits as u64, &v, "");
}

fn key_spec(out: &mut ReplyWriter, s: &KeySpec) {
    out.map(if s.notes.is_empty() { 3 } else { 4 });
    if !s.notes.is_empty() {
        out.bulk(b"notes");
        out.bulk(s.notes.as_bytes());
    }
    out.bulk(b"flags");
    key_flag_names(out, s.flags);
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    match s.begin {
        BeginSearch::Index(i) => {
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.int(i as i64);
        }
        BeginSearch::Keyword { keyword, startfrom } => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(keyword.as_bytes());
            out.bulk(b"startfrom");
            out.int(startfrom as i64);
        }
        BeginSearch::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    match s.find {
        FindKeys::Range {
            lastkey,
            step,
            limit,
        } => {
            out.bulk(b"range");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"lastkey");
            out.int(lastkey as i64);
            out.bulk(b"keystep");
            out.int(step as i64);
            out.bulk(b"limit");
            out.int(limit as i64);
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            step,
        } => {
            out.bulk(b"keynum");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"keynumidx");
            out.int(keynumidx as i64);
            out.bulk(b"firstkey");
            out.int(firstkey as i64);
            out.bulk(b"keystep");
            out.int(step as i64);
        }
        FindKeys::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
}

/// One `COMMAND INFO` entry.
fn describe(out: &mut ReplyWriter, c: &Command, parent: Option<&Command>) {
    out.array(10);
    match parent {
        Some(p) => out.bulk(format!("{}|{}", p.name, c.name).as_bytes()),
        None => out.bulk(c.name.as_bytes()),
    }
    out.int(c.arity as i64);
    // Redis 7.0 does not list may_replicate (EVAL, FCALL, PFCOUNT, PUBLISH have it).
    let hidden = f::ALL_SHARDS | f::SCRIPT_LOCKS | f::MAY_REPLICATE;
    flag_names(out, c.all_flags() & !hidden);
    let (first, last, step) = c.legacy_range();
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    acl_names(out, c.acl_categories());
    out.set(c.tips.len());
    for t in c.tips {
        out.bulk(t.as_bytes());
    }
    out.set(c.key_specs.len());
    for s in c.key_specs {
        key_spec(out, s);
    }
    // Like Redis: an empty subcommand list is an empty set, a non-empty one an array.
    if c.subcommands.is_empty() {
        out.set(0);
    } else {
        out.array(c.subcommands.len());
    }
    for s in c.subcommands {
        describe(out, s, Some(c));
    }
}

/// Finds a command or `container|sub`.
pub(crate) fn find(name: &[u8]) -> Option<(&'static Command, Option<&'static Command>)> {
    match name.iter().position(|&b| b == b'|') {
        Some(bar) => {
            let parent = lookup(&name[..bar])?;
            Some((parent.subcommand(&name[bar + 1..])?, Some(parent)))
        }
        None => Some((lookup(name)?, None)),
    }
}

fn command_all(ctx: &mut Ctx) -> CmdResult {
    let n = all().count();
    ctx.out.array(n);
    for c in all() {
        describe(&mut ctx.out, c, None);
    }
    Ok(())
}

fn count(ctx: &mut Ctx) -> CmdResult {
    ctx.out.int(all().count() as i64);
    Ok(())
}

fn list(ctx: &mut Ctx) -> CmdResult {
    let mut names: Vec<String> = Vec::new();
    for c in all() {
        names.push(c.name.to_string());
        for s in c.subcommands {
            names.push(format!("{}|{}", c.name, s.name));
        }
    }
    if ctx.args.len() > 2 {
        if ctx.args.len() != 5 || !ctx.args[2].eq_ignore_ascii_case(b"FILTERBY") {
            return Err(CmdError::Syntax);
        }
        let (kind, value) = (ctx.args[3].to_ascii_lowercase(), &ctx.args[4]);
        match kind.as_slice() {
            b"module" => names.clear(),
            b"pattern" => {
                names.retain(|n| crate::util::glob::glob_match(value, n.as_bytes(), true))
            }
            b"aclcat" => {
                let Some((bit, _)) = acl::NAMES
                    .iter()
                    .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(value))
                else {
                    names.clear();
                    ctx.out.array(0);
                    return Ok(());
                };
                names.retain(|n| {
                    find(n.as_bytes()).is_some_and(|(c, _)| c.acl_categories() & bit != 0)
                });
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

fn info(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() == 2 {
        return command_all(ctx);
    }
    ctx.out.array(ctx.args.len() - 2);
    for name in &ctx.args[2..] {
        match find(name) {
            Some((c, parent)) => describe(&mut ctx.out, c, parent),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn doc(out: &mut ReplyWriter, c: &Command, parent: Option<&Command>) {
    let subs = !c.subcommands.is_empty();
    // Redis leaves complexity out where it has none (LOLWUT).
    let complexity = !c.complexity.is_empty();
    out.map(3 + complexity as usize + subs as usize);
    out.bulk(b"summary");
    out.bulk(c.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(c.since.as_bytes());
    out.bulk(b"group");
    out.bulk(c.group.as_bytes());
    if complexity {
        out.bulk(b"complexity");
        out.bulk(c.complexity.as_bytes());
    }
    if subs {
        out.bulk(b"subcommands");
        out.map(c.subcommands.len());
        for s in c.subcommands {
            out.bulk(format!("{}|{}", c.name, s.name).as_bytes());
            doc(out, s, Some(c));
        }
    }
    let _ = parent;
}

fn docs(ctx: &mut Ctx) -> CmdResult {
    let found: Vec<(String, &Command, Option<&Command>)> = if ctx.args.len() == 2 {
        all().map(|c| (c.name.to_string(), c, None)).collect()
    } else {
        ctx.args[2..]
            .iter()
            .filter_map(|n| {
                let (c, p) = find(n)?;
                let name = match p {
                    Some(p) => format!("{}|{}", p.name, c.name),
                    None => c.name.to_string(),
                };
                Some((name, c, p))
            })
            .collect()
    };
    ctx.out.map(found.len());
    for (name, c, p) in found {
        ctx.out.bulk(name.as_bytes());
        doc(&mut ctx.out, c, p);
    }
    Ok(())
}

/// The keys of `COMMAND GETKEYS`-style arguments, with their flags, checked in Redis's
/// order: a known command, one with keys, the right number of arguments, key specs that
/// fit them, and at least one key unless the command may have none.
fn keys_of(ctx: &Ctx) -> Result<Vec<(usize, u16)>, CmdError> {
    let argv = &ctx.args[2..];
    let Some(top) = lookup(&argv[0]) else {
        return Err(CmdError::err("Invalid command specified"));
    };
    let cmd = if !top.subcommands.is_empty() && argv.len() >= 2 {
        top.subcommand(&argv[1]).unwrap_or(top)
    } else {
        top
    };
    if cmd.key_specs.iter().all(|s| s.flags & kflags::NOT_KEY != 0) {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !cmd.arity_ok(argv.len()) {
        return Err(CmdError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let mut keys = Vec::new();
    if !cmd.keys_with_flags(argv, &mut keys) {
        keys.clear();
    }
    if keys.is_empty() && cmd.flags & f::NO_MANDATORY_KEYS == 0 {
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    Ok(keys)
}

fn getkeys(ctx: &mut Ctx) -> CmdResult {
    let keys = keys_of(ctx)?;
    ctx.out.array(keys.len());
    for (i, _) in keys {
        ctx.out.bulk(&ctx.args[2 + i]);
    }
    Ok(())
}

fn getkeysandflags(ctx: &mut Ctx) -> CmdResult {
    let keys = keys_of(ctx)?;
    ctx.out.array(keys.len());
    for (i, flags) in keys {
        ctx.out.array(2);
        ctx.out.bulk(&ctx.args[2 + i]);
        key_flag_names(&mut ctx.out, flags);
    }
    Ok(())
}

fn help(ctx: &mut Ctx) -> CmdResult {
    super::connection::help(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Describe every command.",
            "COUNT",
            "    Number of commands.",
            "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <glob>)]",
            "    Names of the commands, optionally filtered.",
            "INFO [<command-name> ...]",
            "    Describe the named commands (all of them without names).",
            "DOCS [<command-name> ...]",
            "    Documentation of the named commands (all of them without names).",
            "GETKEYS <full-command>",
            "    The keys a full command line names.",
            "GETKEYSANDFLAGS <full-command>",
            "    The keys a full command line names, with their access flags.",
        ],
    );
    Ok(())
}
