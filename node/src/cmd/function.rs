//! Functions (Redis 7.0): FCALL, FCALL_RO and FUNCTION LOAD/DELETE/FLUSH/LIST/DUMP/RESTORE/
//! STATS/KILL/HELP. The libraries are in [`crate::functions`]; a function runs as an EVAL
//! script does ([`super::script::run`]).
//!
//! FUNCTION LOAD, DELETE, FLUSH and RESTORE are write commands: they reach the AOF and the
//! replicas as they were given, so both end with the same libraries.

use super::script::{
    numkeys, Body, Run, EVAL_FLAGS, EVAL_RO_FLAGS, RO_KEYS, RW_KEYS, SCRIPT_SHARDS,
};
use super::{acl, flags as f, CmdResult, Command};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::functions::Policy;
use crate::util::glob::glob_match;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "fcall",
        arity: -3,
        // A function may touch keys it did not declare: it locks what it reaches.
        flags: EVAL_FLAGS | SCRIPT_SHARDS,
        acl: acl::SCRIPTING,
        key_specs: &[RW_KEYS],
        handler: Some(fcall),
        group: "scripting",
        since: "7.0.0",
        complexity: "Depends on the function that is executed.",
        summary: "Runs a function of a loaded library.",
        ..Command::DEFAULT
    },
    Command {
        name: "fcall_ro",
        arity: -3,
        flags: EVAL_RO_FLAGS | SCRIPT_SHARDS,
        acl: acl::SCRIPTING,
        key_specs: &[RO_KEYS],
        handler: Some(fcall_ro),
        group: "scripting",
        since: "7.0.0",
        complexity: "Depends on the function that is executed.",
        summary: "Runs a read-only function of a loaded library.",
        ..Command::DEFAULT
    },
    Command {
        name: "function",
        arity: -2,
        subcommands: FUNCTION,
        group: "scripting",
        since: "7.0.0",
        complexity: "Depends on subcommand.",
        summary: "Manages function libraries.",
        ..Command::DEFAULT
    },
];

macro_rules! sub {
    ($name:literal, $arity:expr, $flags:expr, $handler:ident, $tips:expr, $complexity:literal, $summary:literal) => {
        Command {
            name: $name,
            arity: $arity,
            flags: $flags,
            acl: acl::SCRIPTING,
            tips: $tips,
            handler: Some($handler),
            group: "scripting",
            since: "7.0.0",
            complexity: $complexity,
            summary: $summary,
            ..Command::DEFAULT
        }
    };
}

const ALL_SHARDS: &[&str] = &["request_policy:all_shards", "response_policy:all_succeeded"];

static FUNCTION: &[Command] = &[
    sub!(
        "delete",
        3,
        f::WRITE | f::NOSCRIPT,
        function_delete,
        ALL_SHARDS,
        "O(1)",
        "Deletes a library and its functions."
    ),
    sub!(
        "dump",
        2,
        f::NOSCRIPT,
        function_dump,
        &[],
        "O(N) where N is the number of functions",
        "Dumps all libraries into a serialized binary payload."
    ),
    sub!(
        "flush",
        -2,
        f::WRITE | f::NOSCRIPT,
        function_flush,
        ALL_SHARDS,
        "O(N) where N is the number of functions deleted",
        "Deletes all libraries and functions."
    ),
    sub!(
        "help",
        2,
        f::LOADING | f::STALE,
        function_help,
        &[],
        "O(1)",
        "Describes the FUNCTION subcommands."
    ),
    sub!(
        "kill",
        2,
        f::NOSCRIPT | f::ALLOW_BUSY,
        function_kill,
        &["request_policy:all_shards", "response_policy:one_succeeded"],
        "O(1)",
        "Stops the running function if it has not written yet."
    ),
    sub!(
        "list",
        -2,
        f::NOSCRIPT,
        function_list,
        &["nondeterministic_output_order"],
        "O(N) where N is the number of functions",
        "Lists the libraries and their functions."
    ),
    sub!(
        "load",
        -3,
        f::WRITE | f::DENYOOM | f::NOSCRIPT,
        function_load,
        ALL_SHARDS,
        "O(1) (considering compilation time is redundant)",
        "Creates a library."
    ),
    sub!(
        "restore",
        -3,
        f::WRITE | f::DENYOOM | f::NOSCRIPT,
        function_restore,
        ALL_SHARDS,
        "O(N) where N is the number of functions on the payload",
        "Restores libraries from a FUNCTION DUMP payload."
    ),
    sub!(
        "stats",
        2,
        f::NOSCRIPT | f::ALLOW_BUSY,
        function_stats,
        &[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special"
        ],
        "O(1)",
        "Describes the running function and the libraries loaded."
    ),
];

fn fcall(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    fcall_generic(ctx, false)
}

fn fcall_ro(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    fcall_generic(ctx, true)
}

fn fcall_generic(ctx: &mut Ctx<'_, '_>, read_only: bool) -> CmdResult {
    let Some((lib, index)) = ctx.server.functions.find(ctx.arg(1)) else {
        return Err(CmdError::raw("ERR Function not found"));
    };
    if crate::util::num::parse_i64(ctx.arg(2)).is_none() {
        return Err(CmdError::raw("ERR Bad number of keys provided"));
    }
    let nkeys = numkeys(ctx)?;
    let function = &lib.functions[index];
    let name = String::from_utf8_lossy(&function.name).into_owned();
    super::script::run(
        ctx,
        Run {
            body: Body::Function(&lib, index),
            name: &name,
            chunk_name: "user_function",
            flags: function.flags(),
            read_only,
            nkeys,
        },
    )
}

/// The library commands change no key but must reach the AOF and the replicas.
fn propagate_verbatim(ctx: &mut Ctx<'_, '_>) {
    ctx.db.dirty += 1;
}

/// Redis's refusal of extra arguments to FLUSH and RESTORE (it names the subcommand as given).
fn subcommand_syntax(ctx: &Ctx<'_, '_>) -> CmdError {
    CmdError::subcommand_syntax(ctx.arg(1), "FUNCTION")
}

fn function_load(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let mut replace = false;
    let mut i = 2;
    while i < ctx.args.len() - 1 {
        if ctx.arg(i).eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else {
            return Err(CmdError::Msg(
                format!(
                    "ERR Unknown option given: {}",
                    String::from_utf8_lossy(ctx.arg(i))
                )
                .into(),
            ));
        }
        i += 1;
    }
    let code = ctx.args[ctx.args.len() - 1].clone();
    let name = ctx
        .server
        .functions
        .load(&code, replace)
        .map_err(|e| CmdError::Msg(e.into()))?;
    propagate_verbatim(ctx);
    ctx.out.bulk(&name);
    Ok(())
}

fn function_delete(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    if !ctx.server.functions.delete(ctx.arg(2)) {
        return Err(CmdError::raw("ERR Library not found"));
    }
    propagate_verbatim(ctx);
    ctx.out.ok();
    Ok(())
}

fn function_flush(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    if ctx.args.len() > 3 {
        return Err(subcommand_syntax(ctx));
    }
    if !super::flush_mode_ok(&ctx.args[2..]) {
        return Err(CmdError::raw(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    ctx.server.functions.flush();
    propagate_verbatim(ctx);
    ctx.out.ok();
    Ok(())
}

fn function_list(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let mut pattern: Option<&[u8]> = None;
    let mut with_code = false;
    let mut i = 2;
    while i < ctx.args.len() {
        let a = ctx.arg(i);
        if a.eq_ignore_ascii_case(b"withcode") && !with_code {
            with_code = true;
        } else if a.eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
            i += 1;
            if i >= ctx.args.len() {
                return Err(CmdError::raw("ERR library name argument was not given"));
            }
            pattern = Some(&ctx.args[i]);
        } else {
            return Err(CmdError::Msg(
                format!("ERR Unknown argument {}", String::from_utf8_lossy(a)).into(),
            ));
        }
        i += 1;
    }
    let libs: Vec<_> = ctx
        .server
        .functions
        .libraries()
        .into_iter()
        .filter(|l| pattern.is_none_or(|p| glob_match(p, &l.name, true)))
        .collect();
    let out = &mut ctx.out;
    out.array(libs.len());
    for lib in &libs {
        out.map(3 + with_code as usize);
        out.bulk(b"library_name");
        out.bulk(&lib.name);
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for func in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(&func.name);
            out.bulk(b"description");
            match &func.description {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = func.flag_names().collect();
            out.set(names.len());
            for n in names {
                out.simple(n);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

fn function_dump(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let payload = ctx.server.functions.dump(ctx.settings.rdbcompression);
    ctx.out.bulk(&payload);
    Ok(())
}

fn function_restore(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    if ctx.args.len() > 4 {
        return Err(subcommand_syntax(ctx));
    }
    let policy =
        match ctx.args.get(3) {
            None => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"flush") => Policy::Flush,
            Some(p) if p.eq_ignore_ascii_case(b"append") => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"replace") => Policy::Replace,
            Some(_) => return Err(CmdError::raw(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    ctx.server
        .functions
        .restore(ctx.arg(2), policy)
        .map_err(|e| CmdError::Msg(e.into()))?;
    propagate_verbatim(ctx);
    ctx.out.ok();
    Ok(())
}

fn function_stats(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    // While an EVAL script runs, only SCRIPT KILL goes through (FUNCTION STATS is let in for
    // functions).
    if ctx.server.scripts.busy_for(ctx.client.info.id).is_some()
        && ctx.server.scripts.running_function().is_none()
    {
        return Err(CmdError::raw(crate::scripting::BUSY_SCRIPT));
    }
    let (libs, funcs) = ctx.server.functions.counts();
    let running = ctx.server.scripts.running_function();
    let out = &mut ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match running {
        None => out.null(),
        Some((name, args, ms)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(&name);
            out.bulk(b"command");
            out.array(args.len());
            for a in &args {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(ms as i64);
        }
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libs as i64);
    out.bulk(b"functions_count");
    out.int(funcs as i64);
    Ok(())
}

fn function_kill(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    super::script::kill(ctx, true)
}

fn function_help(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    super::connection::help(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a library from its code (its first line: #!lua name=<library>).",
            "DELETE <LIBRARY NAME>",
            "    Delete a library and its functions.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Describe the libraries (those matching PATTERN): name, engine, functions,",
            "    and their code with WITHCODE.",
            "STATS",
            "    Describe the running function, if any, and the libraries loaded.",
            "KILL",
            "    Stop the running function, if it has not written anything yet.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete every library.",
            "DUMP",
            "    Answer a payload holding every library, for FUNCTION RESTORE.",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Load the libraries of a payload: after deleting all (FLUSH), failing on a",
            "    library already there (APPEND, the default), or replacing it (REPLACE).",
        ],
    );
    Ok(())
}
