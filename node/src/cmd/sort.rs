//! SORT and SORT_RO: the elements of a list, set or sorted set, sorted as numbers or as
//! strings (`ALPHA`), by themselves or by other keys named after them (`BY weight_*`,
//! `BY hash_*->field`), limited, and replaced by other keys' values (`GET`), returned or
//! stored as a list (`STORE`).
//!
//! The patterns read keys only known once the elements are: both commands lock every
//! shard. In cluster mode `BY` with a pattern and `GET` are refused, as in Redis.

use bytes::Bytes;

use super::{acl, flags as f, kflags, BeginSearch, CmdResult, Command, FindKeys, KeySpec};
use crate::config::notify;
use crate::db::types::list::ListValue;
use crate::db::Value;
use crate::dispatch::Ctx;
use crate::error::CmdError;
use crate::util::{cstr, num};

const SORT_ACL: u32 = acl::SET | acl::SORTEDSET | acl::LIST | acl::SLOW | acl::DANGEROUS;
const COMPLEXITY: &str = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).";

const SORTED_KEY: KeySpec = KeySpec::one(1, kflags::RO | kflags::ACCESS);
const PATTERN_KEYS: KeySpec = KeySpec {
    notes: "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort",
    flags: kflags::RO | kflags::ACCESS,
    begin: BeginSearch::Unknown,
    find: FindKeys::Unknown,
};
const STORE_KEY: KeySpec = KeySpec {
    notes: "For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array",
    flags: kflags::OW | kflags::UPDATE,
    begin: BeginSearch::Unknown,
    find: FindKeys::Unknown,
};

pub static COMMANDS: &[Command] = &[
    Command {
        name: "sort",
        arity: -2,
        flags: f::WRITE | f::DENYOOM | f::ALL_SHARDS,
        acl: SORT_ACL,
        key_specs: &[SORTED_KEY, PATTERN_KEYS, STORE_KEY],
        getkeys: Some(sort_keys),
        handler: Some(sort),
        complexity: COMPLEXITY,
        summary: "Sorts the elements of a list, set or sorted set, optionally storing the result.",
        ..Command::DEFAULT
    },
    Command {
        name: "sort_ro",
        arity: -2,
        flags: f::READONLY | f::ALL_SHARDS,
        acl: SORT_ACL,
        key_specs: &[SORTED_KEY, PATTERN_KEYS],
        handler: Some(sort_ro),
        since: "7.0.0",
        complexity: COMPLEXITY,
        summary: "Sorts the elements of a list, set or sorted set.",
        ..Command::DEFAULT
    },
];

/// The sorted key, and the last `STORE` destination (Redis's `sortGetKeys`: `LIMIT`, `GET`
/// and `BY` skip their arguments, anything else is taken as a flag).
fn sort_keys(args: &[Bytes], f: &mut dyn FnMut(usize, u16)) {
    // Also called before the arity check (the connection hashes keys ahead).
    if args.len() < 2 {
        return;
    }
    f(1, SORTED_KEY.flags);
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    if let Some(i) = store {
        f(i, STORE_KEY.flags);
    }
}

/// What the options ask for.
struct Opts {
    /// `BY` with a `*`: the pattern of the keys to sort by.
    by: Option<Bytes>,
    /// `BY` without a `*`: no sorting at all.
    dontsort: bool,
    /// `LIMIT offset count` (-1 count: to the end).
    limit: (i64, i64),
    gets: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
}

fn parse(ctx: &Ctx<'_, '_>, readonly: bool) -> Result<Opts, CmdError> {
    let args = ctx.args;
    let mut o = Opts {
        by: None,
        dontsort: false,
        limit: (0, -1),
        gets: Vec::new(),
        desc: false,
        alpha: false,
        store: None,
    };
    // BY and GET read keys the user's ACL patterns may not cover: they need access to all.
    let all_keys =
        ctx.client.user.is_open() || ctx.client.user.rules().selectors.iter().any(|s| s.all_keys);
    let mut j = 2;
    while j < args.len() {
        let a = &args[j];
        let left = args.len() - j - 1;
        if a.eq_ignore_ascii_case(b"asc") {
            o.desc = false;
        } else if a.eq_ignore_ascii_case(b"desc") {
            o.desc = true;
        } else if a.eq_ignore_ascii_case(b"alpha") {
            o.alpha = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            let start = num::parse_i64(&args[j + 1]).ok_or(CmdError::NotInteger)?;
            let count = num::parse_i64(&args[j + 2]).ok_or(CmdError::NotInteger)?;
            o.limit = (start, count);
            j += 2;
        } else if a.eq_ignore_ascii_case(b"store") && left >= 1 && !readonly {
            o.store = Some(args[j + 1].clone());
            j += 1;
        } else if a.eq_ignore_ascii_case(b"by") && left >= 1 {
            let pattern = &args[j + 1];
            if !cstr(pattern).contains(&b'*') {
                o.dontsort = true;
                o.by = None;
            } else if ctx.settings.cluster_enabled {
                return Err(CmdError::err("BY option of SORT denied in Cluster mode."));
            } else if !all_keys {
                return Err(CmdError::err(
                    "BY option of SORT denied due to insufficient ACL permissions.",
                ));
            } else {
                o.dontsort = false;
                o.by = Some(pattern.clone());
            }
            j += 1;
        } else if a.eq_ignore_ascii_case(b"get") && left >= 1 {
            if ctx.settings.cluster_enabled {
                return Err(CmdError::err("GET option of SORT denied in Cluster mode."));
            }
            if !all_keys {
                return Err(CmdError::err(
                    "GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.gets.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

fn sort(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    run(ctx, false)
}

fn sort_ro(ctx: &mut Ctx<'_, '_>) -> CmdResult {
    run(ctx, true)
}

/// One element being sorted, with what it is sorted by.
struct Item {
    elem: Vec<u8>,
    score: f64,
    /// `ALPHA` with `BY`: the other key's value (None when it is missing).
    by: Option<Vec<u8>>,
}

fn run(ctx: &mut Ctx<'_, '_>, readonly: bool) -> CmdResult {
    let mut o = parse(ctx, readonly)?;
    let key = &ctx.args[1];
    let storing = o.store.is_some();
    // The elements, in the container's own order (a set is sorted when stored, so a
    // replica stores the same list).
    let elems: Vec<Vec<u8>>;
    let mut ranged = false;
    let found = match ctx.db.get(key) {
        Some(e) => {
            // Redis 7.0 turns a sorted set it sorts into a skiplist first, SORT_RO too.
            if let Value::ZSet(z) = &mut e.value {
                z.to_skiplist();
            }
            true
        }
        None => false,
    };
    // A read lookup in Redis 7.0 with STORE too (hit or miss, and its keymiss event).
    ctx.hit(found);
    let e = ctx.db.peek(key);
    let len = match e.as_ref().map(|e| &e.value) {
        None => 0,
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        Some(_) => return Err(CmdError::WrongType),
    } as i64;
    // A set's order is not deterministic: sorted anyway when it is stored or read by a
    // script, as in Redis.
    if o.dontsort
        && (storing || ctx.client.in_script)
        && matches!(e.as_ref().map(|e| &e.value), Some(Value::Set(_)))
    {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    // LIMIT, as Redis clamps it.
    let (ls, lc) = o.limit;
    let mut start = ls.max(0);
    let mut end = if lc < 0 { len - 1 } else { start + lc - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    match e.map(|e| &e.value) {
        None => elems = Vec::new(),
        Some(Value::List(l)) if o.dontsort => {
            // The range alone, in list order (reversed by DESC).
            elems = if end >= start {
                let n = (end - start + 1) as usize;
                let v: Vec<Vec<u8>> = if o.desc {
                    l.iter()
                        .rev()
                        .skip(start as usize)
                        .take(n)
                        .map(<[u8]>::to_vec)
                        .collect()
                } else {
                    l.range(start as usize, n).map(<[u8]>::to_vec).collect()
                };
                v
            } else {
                Vec::new()
            };
            ranged = true;
        }
        Some(Value::List(l)) => elems = l.iter().map(<[u8]>::to_vec).collect(),
        Some(Value::Set(s)) => elems = s.members().iter().map(|m| m.as_slice().to_vec()).collect(),
        Some(Value::ZSet(z)) if o.dontsort => {
            // The range by rank, in score order (reversed by DESC).
            elems = if end >= start {
                // Ascending ranks a..b (b excluded).
                let (a, b) = if o.desc {
                    (len - 1 - end, len - start)
                } else {
                    (start, end + 1)
                };
                z.collect_range(a as usize, b as usize, o.desc)
                    .into_iter()
                    .map(|(m, _)| m)
                    .collect()
            } else {
                Vec::new()
            };
            ranged = true;
        }
        Some(Value::ZSet(z)) => {
            elems = z
                .collect_range(0, z.len(), false)
                .into_iter()
                .map(|(m, _)| m)
                .collect();
        }
        Some(_) => return Err(CmdError::WrongType),
    }
    if ranged {
        // The output below is not aware the range was taken already.
        end -= start;
        start = 0;
    }
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            by: None,
        })
        .collect();
    if !o.dontsort {
        let mut bad_number = false;
        for it in &mut items {
            let by = match &o.by {
                Some(p) => match lookup_by_pattern(ctx, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.elem.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    it.by = Some(by);
                }
            } else {
                match sort_score(&by) {
                    Some(s) => it.score = s,
                    None => bad_number = true,
                }
            }
        }
        if bad_number {
            return Err(CmdError::err(
                "One or more scores can't be converted into double",
            ));
        }
        let (alpha, by, desc) = (o.alpha, o.by.is_some(), o.desc);
        items.sort_by(|a, b| {
            let cmp = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if by {
                match (&a.by, &b.by) {
                    (Some(x), Some(y)) => collate(x, y, storing),
                    (x, y) => x.is_some().cmp(&y.is_some()),
                }
            } else {
                collate(&a.elem, &b.elem, storing)
            };
            if desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
    }
    let rows = (end - start + 1).max(0) as usize;
    let start = start.max(0) as usize;
    let picked = items.iter().skip(start).take(rows);
    let outlen = if o.gets.is_empty() {
        rows
    } else {
        o.gets.len() * rows
    };
    match o.store.take() {
        None => {
            let mut values = Vec::with_capacity(outlen);
            for it in picked {
                if o.gets.is_empty() {
                    values.push(Some(it.elem.clone()));
                }
                for g in &o.gets {
                    values.push(lookup_by_pattern(ctx, g, &it.elem));
                }
            }
            ctx.out.array(values.len());
            for v in values {
                match v {
                    Some(v) => ctx.out.bulk(&v),
                    None => ctx.out.null(),
                }
            }
        }
        Some(dst) => {
            let mut list = ListValue::new();
            for it in picked {
                if o.gets.is_empty() {
                    list.push_back(&it.elem);
                }
                for g in &o.gets {
                    let v = lookup_by_pattern(ctx, g, &it.elem);
                    list.push_back(v.as_deref().unwrap_or(b""));
                }
            }
            if outlen > 0 {
                ctx.db.set(&dst, Value::List(Box::new(list)), false);
                ctx.db.notify(notify::LIST, "sortstore", &dst);
                // Each element stored counts as a change (set counted one).
                ctx.db.dirty += outlen as u64 - 1;
            } else if ctx.db.remove(&dst).is_some() {
                ctx.db.notify(notify::GENERIC, "del", &dst);
            }
            ctx.out.int(outlen as i64);
        }
    }
    Ok(())
}

/// String order: by bytes; without STORE only up to the first NUL, as C's `strcoll` reads
/// them (in the C locale).
fn collate(a: &[u8], b: &[u8], binary: bool) -> std::cmp::Ordering {
    if binary {
        a.cmp(b)
    } else {
        cstr(a).cmp(cstr(b))
    }
}

/// A value sorted as a number, as Redis reads it with `strtod`: the whole C string, leading
/// white space allowed, the empty string 0; None for anything else, NaN, or a value out of
/// range, subnormal numbers included (strtod reports ERANGE for them, and SORT checks).
fn sort_score(v: &[u8]) -> Option<f64> {
    let s = cstr(v);
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|c| !c.is_ascii_whitespace() && *c != 0x0b)?;
    num::parse_f64(&s[start..]).filter(|v| *v == 0.0 || v.is_normal() || v.is_infinite())
}

/// The value a `BY` or `GET` pattern names for `elem` (Redis's `lookupKeyByPattern`): `#` is
/// the element; otherwise the pattern's first `*` becomes the element, and `->field` after it
/// reads that hash field instead of a string. None: no `*`, no such key, or the wrong type.
/// A read lookup as in Redis 7.0, with STORE too: a keyspace hit or miss, and a `keymiss`
/// event for a key that is not there.
fn lookup_by_pattern(ctx: &mut Ctx<'_, '_>, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    let c = cstr(pattern);
    if c == b"#" {
        return Some(elem.to_vec());
    }
    let star = c.iter().position(|&b| b == b'*')?;
    let arrow = c[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| star + 1 + p)
        .filter(|&p| p + 2 < c.len());
    let (tail, field) = match arrow {
        Some(p) => (&pattern[star + 1..p], Some(&pattern[p + 2..])),
        None => (&pattern[star + 1..], None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + tail.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(tail);
    let mut tmp = itoa::Buffer::new();
    let (found, value) = match ctx.db.get(&key) {
        None => (false, None),
        Some(e) => match (field, &e.value) {
            (Some(f), Value::Hash(h)) => (true, h.get(f).map(<[u8]>::to_vec)),
            (None, v) => (true, v.str_bytes(&mut tmp).map(<[u8]>::to_vec)),
            _ => (true, None),
        },
    };
    ctx.hit(found);
    if !found {
        ctx.db.notify(notify::KEY_MISS, "keymiss", &key);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(args: &[&str]) -> Vec<(usize, u16)> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        let mut out = Vec::new();
        sort_keys(&args, &mut |i, f| out.push((i, f)));
        out
    }

    #[test]
    fn keys_are_the_sorted_one_and_the_last_store() {
        let ro = kflags::RO | kflags::ACCESS;
        let ow = kflags::OW | kflags::UPDATE;
        assert_eq!(keys(&["sort", "k"]), vec![(1, ro)]);
        assert_eq!(
            keys(&["sort", "k", "store", "a", "STORE", "b"]),
            vec![(1, ro), (5, ow)]
        );
        // The arguments of LIMIT, GET and BY are skipped, even when they read "store".
        assert_eq!(
            keys(&["sort", "k", "get", "store", "by", "store", "limit", "store", "store"]),
            vec![(1, ro)]
        );
        assert_eq!(keys(&["sort", "k", "store"]), vec![(1, ro)]);
    }

    #[test]
    fn scores_read_as_strtod() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"  1.5"), Some(1.5));
        assert_eq!(sort_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
        assert_eq!(sort_score(b"2\0junk"), Some(2.0));
        assert_eq!(sort_score(b"1 "), None);
        assert_eq!(sort_score(b"   "), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"abc"), None);
    }
}
