//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB.
//! The subscription registry and delivery live in [`crate::pubsub`].

use super::{flags as f, kflags, CmdResult, Command, KeySpec};
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::pubsub::{self, Kind};

/// (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE: also allowed to a subscribed RESP2 client.
const SUB: u32 = f::PUBSUB | f::NOSCRIPT | f::LOADING | f::STALE | f::PUBSUB_CONTEXT;
const INTRO: u32 = f::PUBSUB | f::LOADING | f::STALE;

/// Shard channels are reported like keys (for cluster routing) but are not keys.
static SHARD_CHANNELS: &[KeySpec] = &[KeySpec::range(1, -1, 1, kflags::NOT_KEY)];
static SHARD_CHANNEL: &[KeySpec] = &[KeySpec::one(1, kflags::NOT_KEY)];

pub static COMMANDS: &[Command] = &[
    Command {
        name: "subscribe",
        arity: -2,
        flags: SUB,
        handler: Some(subscribe),
        group: "pubsub",
        since: "2.0.0",
        complexity: "O(N) where N is the number of channels to subscribe to.",
        summary: "Listens for messages published to channels.",
        ..Command::DEFAULT
    },
    Command {
        name: "unsubscribe",
        arity: -1,
        flags: SUB,
        handler: Some(unsubscribe),
        group: "pubsub",
        since: "2.0.0",
        complexity: "O(N) where N is the number of clients already subscribed to a channel.",
        summary: "Stops listening to channels, or to all of them.",
        ..Command::DEFAULT
    },
    Command {
        name: "psubscribe",
        arity: -2,
        flags: SUB,
        handler: Some(psubscribe),
        group: "pubsub",
        since: "2.0.0",
        complexity: "O(N) where N is the number of patterns the client is already subscribed to.",
        summary: "Listens for messages published to channels matching glob patterns.",
        ..Command::DEFAULT
    },
    Command {
        name: "punsubscribe",
        arity: -1,
        flags: SUB,
        handler: Some(punsubscribe),
        group: "pubsub",
        since: "2.0.0",
        complexity: "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).",
        summary: "Stops listening to patterns, or to all of them.",
        ..Command::DEFAULT
    },
    Command {
        name: "publish",
        arity: 3,
        // Held back by CLIENT PAUSE WRITE and refused in read-only scripts, as in Redis.
        flags: f::PUBSUB | f::LOADING | f::STALE | f::FAST | f::MAY_REPLICATE,
        handler: Some(publish),
        group: "pubsub",
        since: "2.0.0",
        complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
        summary: "Posts a message to a channel; replies with the number of receivers.",
        ..Command::DEFAULT
    },
    Command {
        name: "ssubscribe",
        arity: -2,
        flags: SUB,
        key_specs: SHARD_CHANNELS,
        handler: Some(ssubscribe),
        group: "pubsub",
        since: "7.0.0",
        complexity: "O(N) where N is the number of shard channels to subscribe to.",
        summary: "Listens for messages published to shard channels.",
        ..Command::DEFAULT
    },
    Command {
        name: "sunsubscribe",
        arity: -1,
        flags: SUB,
        key_specs: SHARD_CHANNELS,
        handler: Some(sunsubscribe),
        group: "pubsub",
        since: "7.0.0",
        complexity: "O(N) where N is the number of clients already subscribed to a shard channel.",
        summary: "Stops listening to shard channels, or to all of them.",
        ..Command::DEFAULT
    },
    Command {
        name: "spublish",
        arity: 3,
        // Held back by CLIENT PAUSE WRITE and refused in read-only scripts, as in Redis.
        flags: f::PUBSUB | f::LOADING | f::STALE | f::FAST | f::MAY_REPLICATE,
        key_specs: SHARD_CHANNEL,
        handler: Some(spublish),
        group: "pubsub",
        since: "7.0.0",
        complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
        summary: "Posts a message to a shard channel; replies with the number of receivers.",
        ..Command::DEFAULT
    },
    Command {
        name: "pubsub",
        arity: -2,
        subcommands: PUBSUB,
        group: "pubsub",
        since: "2.8.0",
        complexity: "Depends on subcommand.",
        summary: "Inspects the Pub/Sub state.",
        ..Command::DEFAULT
    },
];

static PUBSUB: &[Command] = &[
    Command {
        name: "channels",
        arity: -2,
        flags: INTRO,
        handler: Some(pubsub_channels),
        group: "pubsub",
        since: "2.8.0",
        complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)",
        summary: "Active channels, optionally those matching a pattern.",
        ..Command::DEFAULT
    },
    Command {
        name: "numsub",
        arity: -2,
        flags: INTRO,
        handler: Some(pubsub_numsub),
        group: "pubsub",
        since: "2.8.0",
        complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
        summary: "Number of subscribers of channels.",
        ..Command::DEFAULT
    },
    Command {
        name: "numpat",
        arity: 2,
        flags: INTRO,
        handler: Some(pubsub_numpat),
        group: "pubsub",
        since: "2.8.0",
        summary: "Number of patterns subscribed to.",
        ..Command::DEFAULT
    },
    Command {
        name: "shardchannels",
        arity: -2,
        flags: INTRO,
        handler: Some(pubsub_shardchannels),
        group: "pubsub",
        since: "7.0.0",
        complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).",
        summary: "Active shard channels, optionally those matching a pattern.",
        ..Command::DEFAULT
    },
    Command {
        name: "shardnumsub",
        arity: -2,
        flags: INTRO,
        handler: Some(pubsub_shardnumsub),
        group: "pubsub",
        since: "7.0.0",
        complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
        summary: "Number of subscribers of shard channels.",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: f::LOADING | f::STALE,
        handler: Some(pubsub_help),
        group: "pubsub",
        since: "6.2.0",
        summary: "Lists the PUBSUB subcommands.",
        ..Command::DEFAULT
    },
];

fn sub(ctx: &mut Ctx, kind: Kind) -> CmdResult {
    let info = ctx.client.info.clone();
    pubsub::subscribe(ctx.server, &info, kind, &ctx.args[1..], &mut ctx.out);
    Ok(())
}

fn unsub(ctx: &mut Ctx, kind: Kind) -> CmdResult {
    let info = ctx.client.info.clone();
    pubsub::unsubscribe(ctx.server, &info, kind, &ctx.args[1..], Some(&mut ctx.out));
    Ok(())
}

fn subscribe(ctx: &mut Ctx) -> CmdResult {
    sub(ctx, Kind::Channel)
}

fn unsubscribe(ctx: &mut Ctx) -> CmdResult {
    unsub(ctx, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx) -> CmdResult {
    sub(ctx, Kind::Pattern)
}

fn punsubscribe(ctx: &mut Ctx) -> CmdResult {
    unsub(ctx, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx) -> CmdResult {
    // Unlike SUBSCRIBE, not even inside MULTI (as Redis).
    if !ctx.client.may_block() {
        return Err(CmdError::raw(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    sub(ctx, Kind::Shard)
}

fn sunsubscribe(ctx: &mut Ctx) -> CmdResult {
    unsub(ctx, Kind::Shard)
}

fn publish(ctx: &mut Ctx) -> CmdResult {
    let n = pubsub::publish(ctx.server, &ctx.args[1], &ctx.args[2]);
    // In a cluster every node's subscribers get it (the count is this node's, as Redis).
    if let Some(c) = ctx.server.cluster.get() {
        c.publish(&ctx.args[1], &ctx.args[2]);
    }
    ctx.out.int(n as i64);
    Ok(())
}

fn spublish(ctx: &mut Ctx) -> CmdResult {
    let n = pubsub::spublish(ctx.server, &ctx.args[1], &ctx.args[2]);
    ctx.out.int(n as i64);
    Ok(())
}

/// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try PUBSUB HELP.`
fn syntax(ctx: &Ctx) -> CmdError {
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
        crate::error::lossy(&ctx.args[1], 128)
    ))
}

fn channels(ctx: &mut Ctx, kind: Kind) -> CmdResult {
    if ctx.args.len() > 3 {
        return Err(syntax(ctx));
    }
    let list = ctx
        .server
        .pubsub
        .channels(kind, ctx.args.get(2).map(|p| &p[..]));
    ctx.out.array(list.len());
    for c in &list {
        ctx.out.bulk(c);
    }
    Ok(())
}

fn numsub(ctx: &mut Ctx, kind: Kind) -> CmdResult {
    let names = &ctx.args[2..];
    // A flat array in RESP3 too, as Redis.
    ctx.out.array(names.len() * 2);
    for n in names {
        ctx.out.bulk(n);
        ctx.out.int(ctx.server.pubsub.numsub(kind, n) as i64);
    }
    Ok(())
}

fn pubsub_channels(ctx: &mut Ctx) -> CmdResult {
    channels(ctx, Kind::Channel)
}

fn pubsub_shardchannels(ctx: &mut Ctx) -> CmdResult {
    channels(ctx, Kind::Shard)
}

fn pubsub_numsub(ctx: &mut Ctx) -> CmdResult {
    numsub(ctx, Kind::Channel)
}

fn pubsub_shardnumsub(ctx: &mut Ctx) -> CmdResult {
    numsub(ctx, Kind::Shard)
}

fn pubsub_numpat(ctx: &mut Ctx) -> CmdResult {
    ctx.out.int(ctx.server.pubsub.sizes()[1] as i64);
    Ok(())
}

fn pubsub_help(ctx: &mut Ctx) -> CmdResult {
    super::connection::help(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}
