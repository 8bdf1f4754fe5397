//! MODULE: ferrodis loads no Redis modules (they are C libraries built against Redis's
//! internals), so the list is always empty and a load fails as a load of a broken module
//! fails in Redis. LOAD, LOADEX and UNLOAD are protected by `enable-module-command`, as in
//! Redis (checked by dispatch before they run).

use super::{acl, flags as f, CmdResult, Command};
use crate::dispatch::Ctx;
use crate::error::CmdError;

pub static COMMANDS: &[Command] = &[Command {
    name: "module",
    arity: -2,
    subcommands: MODULE,
    group: "server",
    since: "4.0.0",
    complexity: "Depends on subcommand.",
    summary: "Manages modules (none can be loaded here).",
    ..Command::DEFAULT
}];

static MODULE: &[Command] = &[
    // In the order Redis lists them (COMMAND INFO).
    Command {
        name: "list",
        arity: 2,
        flags: f::ADMIN | f::NOSCRIPT,
        acl: acl::DANGEROUS,
        tips: &["nondeterministic_output_order"],
        handler: Some(module_list),
        group: "server",
        since: "4.0.0",
        complexity: "O(N) where N is the number of loaded modules.",
        summary: "Lists the loaded modules (always none here).",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: f::LOADING | f::STALE,
        handler: Some(module_help),
        group: "server",
        since: "5.0.0",
        summary: "Describes the MODULE subcommands.",
        ..Command::DEFAULT
    },
    Command {
        name: "unload",
        arity: 3,
        flags: f::ADMIN | f::NOSCRIPT | f::NO_ASYNC_LOADING,
        acl: acl::DANGEROUS,
        handler: Some(module_unload),
        group: "server",
        since: "4.0.0",
        summary: "Unloads a module (there is none).",
        ..Command::DEFAULT
    },
    Command {
        name: "load",
        arity: -3,
        flags: f::ADMIN | f::NOSCRIPT | f::NO_ASYNC_LOADING,
        acl: acl::DANGEROUS,
        handler: Some(module_load),
        group: "server",
        since: "4.0.0",
        summary: "Loads a module (always fails here: no module can be loaded).",
        ..Command::DEFAULT
    },
    Command {
        name: "loadex",
        arity: -3,
        flags: f::ADMIN | f::NOSCRIPT | f::NO_ASYNC_LOADING,
        acl: acl::DANGEROUS,
        handler: Some(module_load),
        group: "server",
        since: "7.0.0",
        summary: "Loads a module with configurations (always fails here).",
        ..Command::DEFAULT
    },
];

fn module_list(ctx: &mut Ctx) -> CmdResult {
    ctx.out.array(0);
    Ok(())
}

fn module_load(ctx: &mut Ctx) -> CmdResult {
    let path = String::from_utf8_lossy(ctx.arg(2));
    tracing::warn!("Module {path} failed to load: ferrodis cannot load Redis modules");
    Err(CmdError::raw(
        "ERR Error loading the extension. Please check the server logs.",
    ))
}

fn module_unload(_ctx: &mut Ctx) -> CmdResult {
    Err(CmdError::raw(
        "ERR Error unloading module: no such module with that name",
    ))
}

fn module_help(ctx: &mut Ctx) -> CmdResult {
    super::connection::help(
        ctx,
        "MODULE",
        &[
            "LIST",
            "    Answer the loaded modules: none, ferrodis loads no modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module: always fails here.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module with configurations: always fails here.",
            "UNLOAD <name>",
            "    Unload a module: there is none.",
        ],
    );
    Ok(())
}
