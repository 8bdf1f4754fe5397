//! Geo commands on sorted sets (Redis `geo.c`): the rows and their handlers.
//!
//! The math (scores, cells, distances, formats) lives in [`crate::db::types::geo`]; this file
//! parses arguments in Redis's order, which decides which error wins, and reads and writes
//! the sorted sets.

use crate::cmd::{acl, flags, kflags, BeginSearch, CmdResult, Command, FindKeys, KeySpec};
use crate::config::notify;
use crate::db::types::geo::{self, Point, Shape, ShapeKind};
use crate::db::types::zset::ZSetValue;
use crate::db::Value;
use crate::dispatch::Ctx;
use crate::error::{self, CmdError};
use crate::resp::ReplyWriter;
use crate::util::num;

const RO_ACCESS: &[KeySpec] = &[KeySpec::one(1, kflags::RO | kflags::ACCESS)];

/// GEORADIUS's keys: the source and every STORE / STOREDIST destination. The specs name
/// the first of each, but the options may repeat and the last one is written, as in Redis,
/// so every one named is locked.
fn radius_keys(args: &[bytes::Bytes], from: usize, f: &mut dyn FnMut(usize, u16)) {
    if args.len() < 2 {
        return;
    }
    f(1, kflags::RO | kflags::ACCESS);
    let mut i = from;
    while i < args.len() {
        let a = &args[i];
        if (is_kw(a, "store") || is_kw(a, "storedist")) && i + 1 < args.len() {
            f(i + 1, kflags::OW | kflags::UPDATE);
            i += 1;
        } else if is_kw(a, "count") {
            i += 1;
        }
        i += 1;
    }
}

fn georadius_keys(args: &[bytes::Bytes], f: &mut dyn FnMut(usize, u16)) {
    radius_keys(args, 6, f);
}

fn georadiusbymember_keys(args: &[bytes::Bytes], f: &mut dyn FnMut(usize, u16)) {
    radius_keys(args, 5, f);
}

/// The key after the STORE / STOREDIST keyword, searched from argument `from`.
const fn store_spec(keyword: &'static str, from: i32) -> KeySpec {
    KeySpec {
        notes: "",
        flags: kflags::OW | kflags::UPDATE,
        begin: BeginSearch::Keyword {
            keyword,
            startfrom: from,
        },
        find: FindKeys::Range {
            lastkey: 0,
            step: 1,
            limit: 0,
        },
    }
}

const WD: u32 = flags::WRITE | flags::DENYOOM;
const R: u32 = flags::READONLY;
const SEARCH_COMPLEXITY: &str = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "geoadd",
        arity: -5,
        flags: WD,
        acl: acl::GEO,
        key_specs: &[KeySpec::one(1, kflags::RW | kflags::UPDATE)],
        handler: Some(geoadd_cmd),
        group: "geo",
        since: "3.2.0",
        complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        summary: "Adds members with their longitude and latitude to a sorted set used as a geo index.",
        ..Command::DEFAULT
    },
    Command {
        name: "geodist",
        arity: -4,
        flags: R,
        acl: acl::GEO,
        key_specs: RO_ACCESS,
        handler: Some(geodist_cmd),
        group: "geo",
        since: "3.2.0",
        complexity: "O(log(N))",
        summary: "Returns the distance between two members of a geo index.",
        ..Command::DEFAULT
    },
    Command {
        name: "geohash",
        arity: -2,
        flags: R,
        acl: acl::GEO,
        key_specs: RO_ACCESS,
        handler: Some(geohash_cmd),
        group: "geo",
        since: "3.2.0",
        complexity: "O(log(N)) for each member requested.",
        summary: "Returns the standard geohash strings of members of a geo index.",
        ..Command::DEFAULT
    },
    Command {
        name: "geopos",
        arity: -2,
        flags: R,
        acl: acl::GEO,
        key_specs: RO_ACCESS,
        handler: Some(geopos_cmd),
        group: "geo",
        since: "3.2.0",
        complexity: "O(N) where N is the number of members requested.",
        summary: "Returns the longitude and latitude of members of a geo index.",
        ..Command::DEFAULT
    },
    Command {
        name: "geosearch",
        arity: -7,
        flags: R,
        acl: acl::GEO,
        key_specs: RO_ACCESS,
        handler: Some(geosearch_cmd),
        group: "geo",
        since: "6.2.0",
        complexity: SEARCH_COMPLEXITY,
        summary: "Finds the members of a geo index inside a circle or a box.",
        ..Command::DEFAULT
    },
    Command {
        name: "geosearchstore",
        arity: -8,
        flags: WD,
        acl: acl::GEO,
        key_specs: &[
            KeySpec::one(1, kflags::OW | kflags::UPDATE),
            KeySpec::one(2, kflags::RO | kflags::ACCESS),
        ],
        handler: Some(geosearchstore_cmd),
        group: "geo",
        since: "6.2.0",
        complexity: SEARCH_COMPLEXITY,
        summary: "Stores the members of a geo index inside a circle or a box in a sorted set.",
        ..Command::DEFAULT
    },
    Command {
        name: "georadius",
        arity: -6,
        flags: WD,
        acl: acl::GEO,
        key_specs: &[
            KeySpec::one(1, kflags::RO | kflags::ACCESS),
            store_spec("STORE", 6),
            store_spec("STOREDIST", 6),
        ],
        getkeys: Some(georadius_keys),
        handler: Some(georadius_cmd),
        group: "geo",
        since: "3.2.0",
        complexity: SEARCH_COMPLEXITY,
        summary: "Finds the members of a geo index within a radius of a point, optionally storing them (deprecated: GEOSEARCH).",
        ..Command::DEFAULT
    },
    Command {
        name: "georadius_ro",
        arity: -6,
        flags: R,
        acl: acl::GEO,
        key_specs: RO_ACCESS,
        handler: Some(georadius_ro_cmd),
        group: "geo",
        since: "3.2.10",
        complexity: SEARCH_COMPLEXITY,
        summary: "Finds the members of a geo index within a radius of a point (deprecated: GEOSEARCH).",
        ..Command::DEFAULT
    },
    Command {
        name: "georadiusbymember",
        arity: -5,
        flags: WD,
        acl: acl::GEO,
        key_specs: &[
            KeySpec::one(1, kflags::RO | kflags::ACCESS),
            store_spec("STORE", 5),
            store_spec("STOREDIST", 5),
        ],
        getkeys: Some(georadiusbymember_keys),
        handler: Some(georadiusbymember_cmd),
        group: "geo",
        since: "3.2.0",
        complexity: SEARCH_COMPLEXITY,
        summary: "Finds the members of a geo index within a radius of a member, optionally storing them (deprecated: GEOSEARCH).",
        ..Command::DEFAULT
    },
    Command {
        name: "georadiusbymember_ro",
        arity: -5,
        flags: R,
        acl: acl::GEO,
        key_specs: RO_ACCESS,
        handler: Some(georadiusbymember_ro_cmd),
        group: "geo",
        since: "3.2.10",
        complexity: SEARCH_COMPLEXITY,
        summary: "Finds the members of a geo index within a radius of a member (deprecated: GEOSEARCH).",
        ..Command::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------------
// Argument helpers

/// True if `arg` is the keyword `kw` ignoring ASCII case; like C's `strcasecmp` on the
/// argument, it ends at its first NUL byte.
fn is_kw(arg: &[u8], kw: &str) -> bool {
    let end = arg.iter().position(|&c| c == 0).unwrap_or(arg.len());
    arg[..end].eq_ignore_ascii_case(kw.as_bytes())
}

/// A float argument, or `ERR <msg>` (`value is not a valid float` by default).
fn float_arg(arg: &[u8], msg: Option<&'static str>) -> Result<f64, CmdError> {
    num::parse_f64(arg).ok_or_else(|| match msg {
        Some(m) => CmdError::err(m),
        None => CmdError::NotFloat,
    })
}

/// A longitude, latitude pair inside the limits.
fn lonlat_args(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let lon = float_arg(lon, None)?;
    let lat = float_arg(lat, None)?;
    if !geo::valid_lonlat(lon, lat) {
        return Err(CmdError::err(format!(
            "invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Meters per unit: m, km, ft, mi.
fn unit_arg(arg: &[u8]) -> Result<f64, CmdError> {
    if is_kw(arg, "m") {
        Ok(1.0)
    } else if is_kw(arg, "km") {
        Ok(1000.0)
    } else if is_kw(arg, "ft") {
        Ok(0.3048)
    } else if is_kw(arg, "mi") {
        Ok(1609.34)
    } else {
        Err(CmdError::err(
            "unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// `radius unit`: (radius, meters per unit).
fn radius_args(radius: &[u8], unit: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = float_arg(radius, Some("need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::err("radius cannot be negative"));
    }
    Ok((r, unit_arg(unit)?))
}

/// `width height unit`: (width, height, meters per unit).
fn box_args(width: &[u8], height: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let w = float_arg(width, Some("need numeric width"))?;
    let h = float_arg(height, Some("need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(CmdError::err("height or width cannot be negative"));
    }
    Ok((w, h, unit_arg(unit)?))
}

/// The sorted set at `key` for a read (counting the keyspace hit or miss), WRONGTYPE for other
/// types.
fn read_zset<'a>(
    db: &'a mut crate::db::Db<'_>,
    hits: &mut u64,
    misses: &mut u64,
    key: &[u8],
) -> Result<Option<&'a ZSetValue>, CmdError> {
    match db.get(key) {
        None => {
            *misses += 1;
            Ok(None)
        }
        Some(e) => {
            *hits += 1;
            match &e.value {
                Value::ZSet(z) => Ok(Some(z)),
                _ => Err(CmdError::WrongType),
            }
        }
    }
}

/// A coordinate reply: a bulk string in RESP2, a `,` double in RESP3, in Redis's "human"
/// long double format either way.
fn coord_reply(out: &mut ReplyWriter<'_>, v: f64) {
    let s = geo::fmt_coord(v);
    if out.is_resp3() {
        out.raw(b",");
        out.raw(s.as_bytes());
        out.raw(b"\r\n");
    } else {
        out.bulk(s.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS

/// `GEOADD key [NX|XX] [CH] lon lat member [lon lat member ...]`: ZADD of the encoded scores.
fn geoadd_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut first = 2;
    while first < args.len() {
        let a = &args[first][..];
        if is_kw(a, "nx") {
            nx = true;
        } else if is_kw(a, "xx") {
            xx = true;
        } else if is_kw(a, "ch") {
            ch = true;
        } else {
            break;
        }
        first += 1;
    }
    let rest = args.len() - first;
    if !rest.is_multiple_of(3) || (nx && xx) || rest == 0 {
        return Err(CmdError::Syntax);
    }
    let mut items = Vec::with_capacity(rest / 3);
    for t in args[first..].chunks(3) {
        let (lon, lat) = lonlat_args(&t[0], &t[1])?;
        let score = geo::score_of(lon, lat).ok_or(CmdError::Syntax)? as f64;
        items.push((&t[2][..], score));
    }
    let key = &args[1][..];
    let dirty = ctx.db.dirty;
    let limits = ctx.settings.zset_limits;
    let (mut added, mut updated) = (0i64, 0i64);
    let mut apply = |z: &mut ZSetValue| {
        for &(member, score) in &items {
            match z.score(member) {
                None if !xx => {
                    z.insert_with(member, score, limits);
                    added += 1;
                }
                Some(old) if !nx && old != score => {
                    z.insert_with(member, score, limits);
                    updated += 1;
                }
                _ => {}
            }
        }
    };
    match ctx.db.get(key) {
        Some(e) => match &mut e.value {
            Value::ZSet(z) => apply(z),
            _ => return Err(CmdError::WrongType),
        },
        None if xx => {}
        None => {
            let mut z = ZSetValue::new();
            apply(&mut z);
            ctx.db.set(key, Value::ZSet(Box::new(z)), false);
        }
    }
    ctx.db.dirty = dirty + (added + updated) as u64;
    if added + updated > 0 {
        ctx.db.notify(notify::ZSET, "zadd", key);
    }
    ctx.out.int(if ch { added + updated } else { added });
    Ok(())
}

/// `GEODIST key member1 member2 [M|KM|FT|MI]`.
fn geodist_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let to_meter = match args.len() {
        5 => unit_arg(&args[4])?,
        4 => 1.0,
        _ => return Err(CmdError::Syntax),
    };
    let Ctx {
        db,
        out,
        hits,
        misses,
        ..
    } = ctx;
    let Some(z) = read_zset(db, hits, misses, &args[1])? else {
        out.null();
        return Ok(());
    };
    let (Some(s1), Some(s2)) = (z.score(&args[2]), z.score(&args[3])) else {
        out.null();
        return Ok(());
    };
    let (lon1, lat1) = geo::decode_score(s1);
    let (lon2, lat2) = geo::decode_score(s2);
    let d = geo::distance(lon1, lat1, lon2, lat2) / to_meter;
    out.bulk(geo::fmt_distance(d).as_bytes());
    Ok(())
}

/// `GEOHASH key [member ...]`.
fn geohash_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let Ctx {
        db, hits, misses, ..
    } = ctx;
    let scores: Vec<Option<f64>> = match read_zset(db, hits, misses, &args[1])? {
        Some(z) => args[2..].iter().map(|m| z.score(m)).collect(),
        None => vec![None; args.len() - 2],
    };
    ctx.out.array(scores.len());
    for s in scores {
        match s {
            Some(s) => ctx.out.bulk(&geo::geohash_string(s)),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// `GEOPOS key [member ...]`.
fn geopos_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    let args = ctx.args;
    let Ctx {
        db, hits, misses, ..
    } = ctx;
    let scores: Vec<Option<f64>> = match read_zset(db, hits, misses, &args[1])? {
        Some(z) => args[2..].iter().map(|m| z.score(m)).collect(),
        None => vec![None; args.len() - 2],
    };
    ctx.out.array(scores.len());
    for s in scores {
        match s {
            Some(s) => {
                let (lon, lat) = geo::decode_score(s);
                ctx.out.array(2);
                coord_reply(&mut ctx.out, lon);
                coord_reply(&mut ctx.out, lat);
            }
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// GEORADIUS, GEORADIUSBYMEMBER, GEOSEARCH, GEOSEARCHSTORE (Redis `georadiusGeneric`)

/// Which search command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS (`store`: STORE/STOREDIST allowed).
    Radius { store: bool },
    /// GEORADIUSBYMEMBER.
    ByMember { store: bool },
    /// GEOSEARCH, or GEOSEARCHSTORE (`store`).
    Search { store: bool },
}

fn georadius_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    search_generic(ctx, Variant::Radius { store: true })
}

fn georadius_ro_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    search_generic(ctx, Variant::Radius { store: false })
}

fn georadiusbymember_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    search_generic(ctx, Variant::ByMember { store: true })
}

fn georadiusbymember_ro_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    search_generic(ctx, Variant::ByMember { store: false })
}

fn geosearch_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    search_generic(ctx, Variant::Search { store: false })
}

fn geosearchstore_cmd(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    search_generic(ctx, Variant::Search { store: true })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// The position of a member of `z`, or the error of a missing one.
fn member_pos(z: &ZSetValue, member: &[u8]) -> Result<(f64, f64), CmdError> {
    z.score(member)
        .map(geo::decode_score)
        .ok_or_else(|| CmdError::err("could not decode requested zset member"))
}

fn search_generic(ctx: &mut Ctx<'_, '_>, variant: Variant) -> CmdResult {
    let store_event = if ctx.cmd.name == "geosearchstore" {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    let args = ctx.args;
    let limits = ctx.settings.zset_limits;
    let src_index = if variant == (Variant::Search { store: true }) {
        2
    } else {
        1
    };
    let Ctx {
        db,
        out,
        hits,
        misses,
        cmd,
        ..
    } = ctx;
    let z = read_zset(db, hits, misses, &args[src_index])?;

    let mut center: Option<(f64, f64)> = None;
    let mut kind: Option<ShapeKind> = None;
    let mut conversion = 1.0;
    let mut store_key: Option<&[u8]> = None;
    let mut store_dist = false;
    let base = match variant {
        Variant::Radius { .. } => {
            center = Some(lonlat_args(&args[2], &args[3])?);
            let (r, c) = radius_args(&args[4], &args[5])?;
            kind = Some(ShapeKind::Radius(r));
            conversion = c;
            6
        }
        Variant::ByMember { .. } => {
            if let Some(z) = z {
                center = Some(member_pos(z, &args[2])?);
                let (r, c) = radius_args(&args[3], &args[4])?;
                kind = Some(ShapeKind::Radius(r));
                conversion = c;
            }
            5
        }
        Variant::Search { store: false } => 2,
        Variant::Search { store: true } => {
            store_key = Some(&args[1][..]);
            3
        }
    };
    let is_search = matches!(variant, Variant::Search { .. });
    let store_ok = matches!(
        variant,
        Variant::Radius { store: true } | Variant::ByMember { store: true }
    );

    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let opts = &args[base..];
    let mut i = 0;
    while i < opts.len() {
        let arg = &opts[i][..];
        let left = opts.len() - i - 1;
        if is_kw(arg, "withdist") {
            withdist = true;
        } else if is_kw(arg, "withhash") {
            withhash = true;
        } else if is_kw(arg, "withcoord") {
            withcoord = true;
        } else if is_kw(arg, "any") {
            any = true;
        } else if is_kw(arg, "asc") {
            sort = Sort::Asc;
        } else if is_kw(arg, "desc") {
            sort = Sort::Desc;
        } else if is_kw(arg, "count") && left >= 1 {
            count = num::parse_i64(&opts[i + 1]).ok_or(CmdError::NotInteger)?;
            if count <= 0 {
                return Err(CmdError::err("COUNT must be > 0"));
            }
            i += 1;
        } else if (is_kw(arg, "store") || is_kw(arg, "storedist")) && left >= 1 && store_ok {
            store_key = Some(&opts[i + 1][..]);
            store_dist = is_kw(arg, "storedist");
            i += 1;
        } else if is_kw(arg, "storedist") && variant == (Variant::Search { store: true }) {
            store_dist = true;
        } else if is_kw(arg, "frommember") && left >= 1 && is_search && !fromloc {
            if let Some(z) = z {
                center = Some(member_pos(z, &opts[i + 1])?);
            }
            frommember = true;
            i += 1;
        } else if is_kw(arg, "fromlonlat") && left >= 2 && is_search && !frommember {
            center = Some(lonlat_args(&opts[i + 1], &opts[i + 2])?);
            fromloc = true;
            i += 2;
        } else if is_kw(arg, "byradius") && left >= 2 && is_search && !bybox {
            let (r, c) = radius_args(&opts[i + 1], &opts[i + 2])?;
            kind = Some(ShapeKind::Radius(r));
            conversion = c;
            byradius = true;
            i += 2;
        } else if is_kw(arg, "bybox") && left >= 3 && is_search && !byradius {
            let (w, h, c) = box_args(&opts[i + 1], &opts[i + 2], &opts[i + 3])?;
            kind = Some(ShapeKind::Box {
                width: w,
                height: h,
            });
            conversion = c;
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }

    if store_key.is_some() && (withdist || withhash || withcoord) {
        return Err(CmdError::err(format!(
            "{} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if variant == (Variant::Search { store: true }) {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let name = || error::lossy(&args[0], usize::MAX);
    if is_search && !(frommember || fromloc) {
        return Err(CmdError::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name()
        )));
    }
    if is_search && !(byradius || bybox) {
        return Err(CmdError::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {}",
            name()
        )));
    }
    if any && count == 0 {
        return Err(CmdError::err("the ANY argument requires COUNT argument"));
    }
    if let Some(key) = store_key {
        // The dispatcher locked every key `radius_keys` names; one it missed could not be
        // written safely.
        let mut idx = Vec::new();
        cmd.key_indices(args, &mut idx);
        if !idx.iter().any(|&i| args[i] == key) {
            return Err(CmdError::err(
                "STORE and STOREDIST may name only one destination key",
            ));
        }
    }

    let (Some(z), Some((lon, lat)), Some(kind)) = (z, center, kind) else {
        // No source key.
        match store_key {
            Some(key) => {
                if db.remove(key).is_some() {
                    db.notify(notify::GENERIC, "del", key);
                }
                out.int(0);
            }
            None => out.array(0),
        }
        return Ok(());
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape {
        lon,
        lat,
        conversion,
        kind,
    };
    let limit = if any { count as usize } else { 0 };
    let mut found: Vec<Point> = geo::search(z, &shape, limit);
    if found.is_empty() && store_key.is_none() {
        out.array(0);
        return Ok(());
    }
    let returned = if count == 0 {
        found.len()
    } else {
        found.len().min(count as usize)
    };
    if sort != Sort::None {
        geo::sort_points(&mut found, sort == Sort::Desc, returned);
    }
    found.truncate(returned);
    for p in &mut found {
        p.dist /= conversion;
    }

    let Some(key) = store_key else {
        let options = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
        out.array(found.len());
        for p in &found {
            if options > 0 {
                out.array(options + 1);
            }
            out.bulk(&p.member);
            if withdist {
                out.bulk(geo::fmt_distance(p.dist).as_bytes());
            }
            if withhash {
                out.int(geo::c_double_to_i64(p.score));
            }
            if withcoord {
                out.array(2);
                coord_reply(out, p.lon);
                coord_reply(out, p.lat);
            }
        }
        return Ok(());
    };
    if found.is_empty() {
        if db.remove(key).is_some() {
            db.notify(notify::GENERIC, "del", key);
        }
    } else {
        let mut dest = ZSetValue::new();
        for p in &found {
            let score = if store_dist { p.dist } else { p.score };
            dest.insert_with(&p.member, score, limits);
        }
        let dirty = db.dirty;
        db.set(key, Value::ZSet(Box::new(dest)), false);
        db.dirty = dirty + found.len() as u64;
        db.notify(notify::ZSET, store_event, key);
    }
    out.int(found.len() as i64);
    Ok(())
}
