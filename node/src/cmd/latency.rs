//! LATENCY: the latency monitor's samples ([`crate::latency`]): LATEST, HISTORY, RESET, a
//! text GRAPH and DOCTOR report of our own, HELP; and HISTOGRAM, the commands' latency
//! histograms (`latency-tracking`, [`crate::hdr`]).

use super::{flags as f, CmdResult, Command};
use crate::dispatch::Ctx;
use crate::error::CmdError;

pub static COMMANDS: &[Command] = &[Command {
    name: "latency",
    arity: -2,
    subcommands: LATENCY,
    group: "server",
    since: "2.8.13",
    complexity: "Depends on subcommand.",
    summary: "Reads and resets the latency monitor's samples.",
    ..Command::DEFAULT
}];

const SUB_FLAGS: u32 = f::ADMIN | f::NOSCRIPT | f::LOADING | f::STALE;

macro_rules! sub {
    ($name:literal, $arity:expr, $handler:ident, $tips:expr, $summary:literal) => {
        Command {
            name: $name,
            arity: $arity,
            flags: SUB_FLAGS,
            acl: super::acl::DANGEROUS,
            tips: $tips,
            handler: Some($handler),
            group: "server",
            since: "2.8.13",
            summary: $summary,
            ..Command::DEFAULT
        }
    };
}

const ALL_NODES: &[&str] = &[
    "nondeterministic_output",
    "request_policy:all_nodes",
    "response_policy:special",
];

static LATENCY: &[Command] = &[
    sub!(
        "doctor",
        2,
        latency_doctor,
        ALL_NODES,
        "Describes the latency events recorded."
    ),
    sub!(
        "graph",
        3,
        latency_graph,
        ALL_NODES,
        "Draws one event's samples as text."
    ),
    Command {
        name: "help",
        arity: 2,
        flags: f::LOADING | f::STALE,
        handler: Some(latency_help),
        group: "server",
        since: "2.8.13",
        summary: "Describes the LATENCY subcommands.",
        ..Command::DEFAULT
    },
    Command {
        name: "histogram",
        arity: -2,
        flags: SUB_FLAGS,
        acl: super::acl::DANGEROUS,
        tips: ALL_NODES,
        handler: Some(latency_histogram),
        group: "server",
        since: "7.0.0",
        complexity:
            "O(N) where N is the number of commands with latency information being retrieved.",
        summary: "Answers the latency histograms of some or all commands.",
        ..Command::DEFAULT
    },
    sub!(
        "history",
        3,
        latency_history,
        ALL_NODES,
        "Answers one event's samples."
    ),
    sub!(
        "latest",
        2,
        latency_latest,
        ALL_NODES,
        "Answers each event's latest sample and worst latency."
    ),
    sub!(
        "reset",
        -2,
        latency_reset,
        &["request_policy:all_nodes", "response_policy:all_succeeded"],
        "Forgets the samples of some or all events."
    ),
];

fn latency_latest(ctx: &mut Ctx) -> CmdResult {
    let all = ctx.server.latency.all();
    ctx.out.array(all.len());
    for (name, s) in all {
        let (t, ms) = s.samples.back().copied().unwrap_or((0, 0));
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(t as i64);
        ctx.out.int(ms as i64);
        ctx.out.int(s.max as i64);
    }
    Ok(())
}

/// The histograms of the named commands (a container names each of its subcommands; an
/// unknown name or a command without samples is left out, a name given twice is answered
/// twice, as in Redis), or of every command with samples.
fn latency_histogram(ctx: &mut Ctx) -> CmdResult {
    let found: Vec<(String, crate::hdr::Snapshot)> = if ctx.args.len() == 2 {
        crate::cmd::latency_histograms()
    } else {
        let mut found = Vec::new();
        for name in &ctx.args[2..] {
            let Some((cmd, parent)) = super::command::find(name) else {
                continue;
            };
            let full_name = crate::dispatch::full_name;
            if cmd.subcommands.is_empty() {
                found.extend(crate::cmd::latency_of(cmd).map(|h| (full_name(parent, cmd), h)));
            } else {
                for sub in cmd.subcommands {
                    if let Some(h) = crate::cmd::latency_of(sub) {
                        found.push((full_name(Some(cmd), sub), h));
                    }
                }
            }
        }
        found
    };
    ctx.out.map(found.len());
    for (name, h) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(h.total as i64);
        ctx.out.bulk(b"histogram_usec");
        let rows = h.log_buckets();
        ctx.out.map(rows.len());
        for (usec, count) in rows {
            ctx.out.int(usec as i64);
            ctx.out.int(count as i64);
        }
    }
    Ok(())
}

fn latency_history(ctx: &mut Ctx) -> CmdResult {
    let samples = ctx
        .server
        .latency
        .get(ctx.arg(2))
        .map(|s| s.samples)
        .unwrap_or_default();
    ctx.out.array(samples.len());
    for (t, ms) in samples {
        ctx.out.array(2);
        ctx.out.int(t as i64);
        ctx.out.int(ms as i64);
    }
    Ok(())
}

fn latency_reset(ctx: &mut Ctx) -> CmdResult {
    let names: Vec<&[u8]> = ctx.args[2..].iter().map(|a| &a[..]).collect();
    let n = ctx.server.latency.reset(&names);
    ctx.out.int(n as i64);
    Ok(())
}

/// One column per sample (oldest left), as tall as its share of the highest.
fn latency_graph(ctx: &mut Ctx) -> CmdResult {
    let name = String::from_utf8_lossy(ctx.arg(2)).into_owned();
    let Some(s) = ctx
        .server
        .latency
        .get(ctx.arg(2))
        .filter(|s| !s.samples.is_empty())
    else {
        return Err(CmdError::Msg(
            format!("ERR No samples available for event '{name}'").into(),
        ));
    };
    const ROWS: u64 = 8;
    let high = s.samples.iter().map(|&(_, ms)| ms).max().unwrap_or(0);
    let low = s.samples.iter().map(|&(_, ms)| ms).min().unwrap_or(0);
    let mut text = format!(
        "{name} - high {high} ms, low {low} ms (all time high {} ms)\n",
        s.max
    );
    text.push_str(&"-".repeat(s.samples.len().max(20)));
    text.push('\n');
    for row in (1..=ROWS).rev() {
        for &(_, ms) in &s.samples {
            let level = (ms * ROWS).div_ceil(high.max(1));
            text.push(if level >= row { '#' } else { ' ' });
        }
        text.push('\n');
    }
    let now = crate::server::unix_ms() / 1000;
    let oldest = now.saturating_sub(s.samples.front().map_or(now, |&(t, _)| t));
    text.push_str(&format!(
        "oldest sample {oldest} s ago, newest on the right ({} samples)\n",
        s.samples.len()
    ));
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn latency_doctor(ctx: &mut Ctx) -> CmdResult {
    let all = ctx.server.latency.all();
    let threshold = ctx.settings.latency_threshold_ms;
    let mut text = String::new();
    if all.is_empty() {
        text.push_str("No latency event was recorded");
        if threshold == 0 {
            text.push_str(
                " (the monitor is off: CONFIG SET latency-monitor-threshold <milliseconds>).\n",
            );
        } else {
            text.push_str(&format!(" over the {threshold} ms threshold.\n"));
        }
    } else {
        text.push_str(&format!(
            "Latency events over the {threshold} ms threshold:\n\n"
        ));
        for (i, (name, s)) in all.iter().enumerate() {
            let n = s.samples.len() as u64;
            let avg = s.samples.iter().map(|&(_, ms)| ms).sum::<u64>() / n.max(1);
            text.push_str(&format!(
                "{}. {name}: {n} latency spikes (average {avg} ms, worst {} ms).\n",
                i + 1,
                s.max
            ));
        }
        text.push_str("\nAdvice:\n");
        if all
            .iter()
            .any(|(n, _)| *n == "command" || *n == "fast-command")
        {
            text.push_str("- Check the slow log (SLOWLOG GET) for the commands that took long: commands over large collections (KEYS, SMEMBERS, LRANGE 0 -1...) or long scripts.\n");
        }
        if all.iter().any(|(n, _)| *n == "fast-command") {
            text.push_str(
                "- Fast commands were slow: the machine may be overloaded or swapping.\n",
            );
        }
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn latency_help(ctx: &mut Ctx) -> CmdResult {
    super::connection::help(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Describe the latency events recorded, with advice.",
            "GRAPH <event>",
            "    Draw the samples of an event as text.",
            "HISTOGRAM [<command> ...]",
            "    Answer the latency histograms (cumulative counts by microseconds) of the",
            "    commands named, or of every command run.",
            "HISTORY <event>",
            "    Answer the samples (time, milliseconds) of an event.",
            "LATEST",
            "    Answer each event's latest sample and worst latency.",
            "RESET [<event> ...]",
            "    Forget the samples of the events (all of them without names).",
        ],
    );
    Ok(())
}
