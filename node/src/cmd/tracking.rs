//! CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO (rows in `connection.rs`'s CLIENT table;
//! the tables and the invalidation messages are in [`crate::tracking`]).

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::CmdResult;
use crate::dispatch::{Client, Ctx};
use crate::error::{lossy, CmdError};
use crate::server::{cflags, Server};
use crate::tracking::Options;

fn prefix_overlap(a: &[u8], b: &[u8]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

pub fn client_tracking(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let mut opts = Options::default();
    let mut j = 3;
    while j < args.len() {
        let a = &args[j];
        let more = j + 1 < args.len();
        if a.eq_ignore_ascii_case(b"REDIRECT") && more {
            j += 1;
            if opts.redirect != 0 {
                return Err(CmdError::raw(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = crate::util::num::parse_i64(&args[j]).ok_or(CmdError::NotInteger)?;
            if id <= 0 || !ctx.server.clients.lock().contains_key(&(id as u64)) {
                return Err(CmdError::raw(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            opts.redirect = id as u64;
        } else if a.eq_ignore_ascii_case(b"BCAST") {
            opts.bcast = true;
        } else if a.eq_ignore_ascii_case(b"OPTIN") {
            opts.optin = true;
        } else if a.eq_ignore_ascii_case(b"OPTOUT") {
            opts.optout = true;
        } else if a.eq_ignore_ascii_case(b"NOLOOP") {
            opts.noloop = true;
        } else if a.eq_ignore_ascii_case(b"PREFIX") && more {
            j += 1;
            opts.prefixes.push(args[j].clone());
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let onoff = &args[2];
    if onoff.eq_ignore_ascii_case(b"OFF") {
        disable(ctx.server, ctx.client);
        ctx.out.ok();
        return Ok(());
    }
    if !onoff.eq_ignore_ascii_case(b"ON") {
        return Err(CmdError::Syntax);
    }
    let cur = &ctx.client.tracking;
    if !opts.bcast && !opts.prefixes.is_empty() {
        return Err(CmdError::raw(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if cur.on && cur.opts.bcast != opts.bcast {
        return Err(CmdError::raw("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if opts.bcast && (opts.optin || opts.optout) {
        return Err(CmdError::raw(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if opts.optin && opts.optout {
        return Err(CmdError::raw(
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if cur.on && ((opts.optin && cur.opts.optout) || (opts.optout && cur.opts.optin)) {
        return Err(CmdError::raw("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if opts.bcast {
        let existing: &[Bytes] = if cur.on { &cur.opts.prefixes } else { &[] };
        for (i, p) in opts.prefixes.iter().enumerate() {
            if let Some(e) = existing.iter().find(|e| prefix_overlap(p, e)) {
                return Err(CmdError::err(format!(
                    "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    lossy(p, usize::MAX),
                    lossy(e, usize::MAX)
                )));
            }
            for (k, q) in opts.prefixes.iter().enumerate() {
                if k != i && prefix_overlap(p, q) {
                    return Err(CmdError::err(format!(
                        "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                        lossy(p, usize::MAX),
                        lossy(q, usize::MAX)
                    )));
                }
            }
        }
        // No prefix is the empty one, which every key has (shown by TRACKINGINFO, and
        // overlapping any later prefix, as in Redis).
        if opts.prefixes.is_empty() {
            opts.prefixes.push(Bytes::new());
        }
        // Prefixes add up while tracking stays on.
        if cur.on {
            let mut all = cur.opts.prefixes.clone();
            for p in opts.prefixes.drain(..) {
                if !all.contains(&p) {
                    all.push(p);
                }
            }
            opts.prefixes = all;
        }
    }
    let c = &mut *ctx.client;
    c.tracking.on = true;
    c.tracking.opts = opts;
    c.tracking.caching = None;
    let fl = cflags::TRACKING
        | if c.tracking.opts.bcast {
            cflags::TRACKING_BCAST
        } else {
            0
        };
    c.info.flags.fetch_and(
        !(cflags::TRACKING_BCAST | cflags::TRACKING_BROKEN_REDIR),
        Relaxed,
    );
    c.info.flags.fetch_or(fl, Relaxed);
    c.info.redir.store(c.tracking.opts.redirect as i64, Relaxed);
    ctx.server.tracking.enable(c.info.id, &c.tracking.opts);
    ctx.out.ok();
    Ok(())
}

/// Turns tracking off for this client (CLIENT TRACKING OFF, RESET).
pub fn disable(server: &Server, c: &mut Client) {
    if c.tracking.on {
        server.tracking.disable(c.info.id);
    }
    c.tracking = Default::default();
    c.info.flags.fetch_and(
        !(cflags::TRACKING | cflags::TRACKING_BCAST | cflags::TRACKING_BROKEN_REDIR),
        Relaxed,
    );
    c.info.redir.store(-1, Relaxed);
}

pub fn client_caching(ctx: &mut Ctx) -> CmdResult {
    let t = &ctx.client.tracking;
    if !t.on {
        return Err(CmdError::raw("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    }
    let a = &ctx.args[2];
    if a.eq_ignore_ascii_case(b"YES") {
        if !t.opts.optin {
            return Err(CmdError::raw(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        ctx.client.tracking.caching = Some(true);
    } else if a.eq_ignore_ascii_case(b"NO") {
        if !t.opts.optout {
            return Err(CmdError::raw(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        ctx.client.tracking.caching = Some(false);
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

pub fn client_getredir(ctx: &mut Ctx) -> CmdResult {
    let t = &ctx.client.tracking;
    ctx.out.int(if t.on { t.opts.redirect as i64 } else { -1 });
    Ok(())
}

pub fn client_trackinginfo(ctx: &mut Ctx) -> CmdResult {
    let t = &ctx.client.tracking;
    let broken = ctx.client.info.flags.load(Relaxed) & cflags::TRACKING_BROKEN_REDIR != 0;
    let mut fl: Vec<&str> = Vec::new();
    if !t.on {
        fl.push("off");
    } else {
        fl.push("on");
        if t.opts.bcast {
            fl.push("bcast");
        }
        if t.opts.optin {
            fl.push("optin");
            if t.caching == Some(true) {
                fl.push("caching-yes");
            }
        }
        if t.opts.optout {
            fl.push("optout");
            if t.caching == Some(false) {
                fl.push("caching-no");
            }
        }
        if t.opts.noloop {
            fl.push("noloop");
        }
        if broken {
            fl.push("broken_redirect");
        }
    }
    let out = &mut ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(fl.len());
    for f in fl {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"redirect");
    out.int(if t.on { t.opts.redirect as i64 } else { -1 });
    out.bulk(b"prefixes");
    // In byte order, as Redis's prefix tree lists them.
    let mut prefixes: Vec<&Bytes> = t.opts.prefixes.iter().collect();
    prefixes.sort();
    out.array(prefixes.len());
    for p in prefixes {
        out.bulk(p);
    }
    Ok(())
}
