//! Streams in RDB: `STREAM_LISTPACKS_2` (type 19, Redis 7.0) written and read, and
//! `STREAM_LISTPACKS` (type 15, Redis 5 and 6) read.
//!
//! A stream is its radix tree of listpacks, one per chunk, keyed by the chunk's master ID
//! (16 bytes, milliseconds then sequence, big-endian), then its metadata and consumer groups:
//!
//! ```text
//! nodes: len, (master-id string, listpack string)*
//! length, last-id (ms, seq)                                  lengths
//! first-id, max-deleted-id, entries-added                    type 19 only
//! groups: len, (name, last-id, entries-read [type 19],
//!               pel: len, (id 16 bytes, delivery-time 8 bytes LE, delivery-count len)*,
//!               consumers: len, (name, seen-time 8 bytes LE, pel: len, (id 16 bytes)*)*)*
//! ```
//!
//! Each listpack is laid out as Redis's `t_stream.c` keeps it: a master entry (live count,
//! deleted count, field count, field names, a 0 terminator), then per entry its flags
//! (`DELETED` 1, `SAMEFIELDS` 2), the ID as deltas from the master ID, either the values alone
//! (same field names as the master entry) or a field count and the pairs, and the number of
//! elements the entry took (the backward link Redis walks in reverse iteration).
//!
//! Loading checks every count, flag and ID: IDs of live entries must ascend and not pass the
//! last ID, the live counts must add up to the stream's length, every pending entry must
//! belong to exactly one consumer. Tombstones that Redis may leave out of order (after XSETID
//! lowered the last ID below deleted entries) are dropped, as they hold no data.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;

use super::listpack::{self, Elem};
use super::{write_len, write_string, RdbError, Reader};
use crate::db::types::stream::{
    Consumer, Group, Nack, Node, Stream, StreamId, INVALID_ENTRIES_READ,
};
use crate::db::Value;

/// Entry flags inside a stream listpack.
const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// The largest counter (entries added, entries read, delivery count) accepted from a file:
/// Redis keeps them as `long long`, and arithmetic on them (lag, one more delivery) must not
/// overflow. No stream comes near it.
const COUNTER_MAX: u64 = (i64::MAX / 4) as u64;

fn corrupt(what: &str) -> RdbError {
    RdbError::Corrupt(format!("stream: {what}"))
}

fn raw_id(id: StreamId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.ms.to_be_bytes());
    k[8..].copy_from_slice(&id.seq.to_be_bytes());
    k
}

fn id_from_raw(b: &[u8]) -> Result<StreamId, RdbError> {
    if b.len() != 16 {
        return Err(corrupt("node key is not the size of a stream ID"));
    }
    let ms = u64::from_be_bytes(b[..8].try_into().map_err(|_| RdbError::Truncated)?);
    let seq = u64::from_be_bytes(b[8..].try_into().map_err(|_| RdbError::Truncated)?);
    Ok(StreamId::new(ms, seq))
}

// ---------------------------------------------------------------------------------------------
// Writing

/// The listpack Redis keeps for a chunk.
fn node_listpack(node: &Node<'_>) -> Vec<u8> {
    let master = node.master;
    let master_fields = &node.master_fields;
    let deleted = node.deleted.iter().filter(|&&d| d).count();
    let mut lp = listpack::Writer::with_capacity(node.ids.len() * 16 + 64);
    lp.int((node.ids.len() - deleted) as i64);
    lp.int(deleted as i64);
    lp.int(master_fields.len() as i64);
    for f in master_fields {
        lp.str(f);
    }
    lp.int(0);
    for (i, (&id, &del)) in node.ids.iter().zip(node.deleted).enumerate() {
        let fields = node.entry(i);
        let nfields = fields.len() / 2;
        let same = nfields == master_fields.len()
            && fields
                .iter()
                .step_by(2)
                .zip(master_fields)
                .all(|(a, b)| a == b);
        let mut flags = 0;
        if del {
            flags |= FLAG_DELETED;
        }
        if same {
            flags |= FLAG_SAMEFIELDS;
        }
        lp.int(flags);
        lp.int(id.ms.wrapping_sub(master.ms) as i64);
        lp.int(id.seq.wrapping_sub(master.seq) as i64);
        if same {
            for v in fields.iter().skip(1).step_by(2) {
                lp.str(v);
            }
            lp.int(3 + nfields as i64);
        } else {
            lp.int(nfields as i64);
            for x in fields {
                lp.str(x);
            }
            lp.int(4 + 2 * nfields as i64);
        }
    }
    lp.finish()
}

/// Appends the body of a `STREAM_LISTPACKS_2` value.
pub(super) fn write(out: &mut Vec<u8>, s: &Stream, compress: bool) {
    write_len(out, s.chunk_count() as u64);
    s.for_each_node(|node| {
        write_string(out, &raw_id(node.master), false);
        write_string(out, &node_listpack(node), compress);
    });
    write_len(out, s.length);
    for id in [s.last_id, s.first_id, s.max_deleted] {
        write_len(out, id.ms);
        write_len(out, id.seq);
    }
    write_len(out, s.entries_added);
    write_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        write_string(out, name, compress);
        write_len(out, g.last_id.ms);
        write_len(out, g.last_id.seq);
        // -1 (unknown) is written as the 64-bit length 2^64 - 1, as Redis does.
        write_len(out, g.entries_read as u64);
        write_len(out, g.pel.len() as u64);
        for (id, nack) in &g.pel {
            out.extend_from_slice(&raw_id(*id));
            out.extend_from_slice(&nack.delivery_time.to_le_bytes());
            write_len(out, nack.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_string(out, cname, compress);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            write_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&raw_id(*id));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// An entry as parsed: ID, deleted flag, and where its field/value pairs are in the node's
/// field list.
type RawEntry = (StreamId, bool, Range<usize>);

/// A node as parsed: master ID, entries, and every entry's fields and values (borrowed from
/// the listpack, integers turned into their text).
type RawNode<'a> = (StreamId, Vec<RawEntry>, Vec<Cow<'a, [u8]>>);

fn elem_int(e: Option<&Elem<'_>>) -> Result<i64, RdbError> {
    match e {
        Some(Elem::Int(n)) => Ok(*n),
        Some(Elem::Str(s)) => {
            crate::util::num::parse_i64(s).ok_or_else(|| corrupt("string where an integer belongs"))
        }
        None => Err(corrupt("listpack ends inside an entry")),
    }
}

fn elem_bytes<'a>(e: Option<&Elem<'a>>) -> Result<Cow<'a, [u8]>, RdbError> {
    match e {
        Some(Elem::Str(s)) => Ok(Cow::Borrowed(s)),
        Some(Elem::Int(n)) => Ok(Cow::Owned(
            itoa::Buffer::new().format(*n).as_bytes().to_vec(),
        )),
        None => Err(corrupt("listpack ends inside an entry")),
    }
}

/// A count read from the listpack: non-negative and no larger than the elements left.
fn elem_count(e: Option<&Elem<'_>>, left: usize) -> Result<usize, RdbError> {
    let n = elem_int(e)?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n <= left)
        .ok_or_else(|| corrupt("count out of range"))
}

/// The entries of one node's listpack, checked against its master entry.
fn parse_node(lp: &[u8], master: StreamId) -> Result<RawNode<'_>, RdbError> {
    let el = listpack::parse(lp)?;
    if el.is_empty() {
        return Err(corrupt("empty listpack inside stream"));
    }
    let live = elem_int(el.first())?;
    let deleted = elem_int(el.get(1))?;
    let nmaster = elem_count(el.get(2), el.len())?;
    let mut i = 3;
    let mut names = Vec::new();
    for _ in 0..nmaster {
        names.push(elem_bytes(el.get(i))?);
        i += 1;
    }
    if elem_int(el.get(i))? != 0 {
        return Err(corrupt("master entry not terminated by 0"));
    }
    i += 1;
    let mut entries: Vec<RawEntry> = Vec::new();
    let mut fields: Vec<Cow<'_, [u8]>> = Vec::with_capacity(el.len());
    let (mut seen_live, mut seen_deleted) = (0i64, 0i64);
    while i < el.len() {
        let flags = elem_int(el.get(i))?;
        if !(0..=3).contains(&flags) {
            return Err(corrupt("unknown entry flags"));
        }
        let ms = elem_int(el.get(i + 1))?;
        let seq = elem_int(el.get(i + 2))?;
        i += 3;
        let start = fields.len();
        let lp_count = if flags & FLAG_SAMEFIELDS != 0 {
            for name in &names {
                fields.push(name.clone());
                fields.push(elem_bytes(el.get(i))?);
                i += 1;
            }
            3 + names.len()
        } else {
            let n = elem_count(el.get(i), el.len())?;
            i += 1;
            for _ in 0..2 * n {
                fields.push(elem_bytes(el.get(i))?);
                i += 1;
            }
            4 + 2 * n
        };
        if fields.len() == start {
            return Err(corrupt("entry without fields"));
        }
        if usize::try_from(elem_int(el.get(i))?).ok() != Some(lp_count) {
            return Err(corrupt("entry element count does not match"));
        }
        i += 1;
        let id = StreamId::new(
            master.ms.wrapping_add(ms as u64),
            master.seq.wrapping_add(seq as u64),
        );
        let del = flags & FLAG_DELETED != 0;
        if del {
            seen_deleted += 1;
        } else {
            seen_live += 1;
        }
        entries.push((id, del, start..fields.len()));
    }
    if seen_live != live || seen_deleted != deleted {
        return Err(corrupt("master entry counts do not match the entries"));
    }
    Ok((master, entries, fields))
}

fn read_id(r: &mut Reader<'_>) -> Result<StreamId, RdbError> {
    let ms = r.len()?;
    let seq = r.len()?;
    Ok(StreamId::new(ms, seq))
}

fn read_ms_time(r: &mut Reader<'_>) -> Result<u64, RdbError> {
    let b = r.take(8)?;
    Ok(u64::from_le_bytes(
        b.try_into().map_err(|_| RdbError::Truncated)?,
    ))
}

/// Builds the chunks from the nodes as read: checks the order of live entries and drops
/// tombstones that are out of order or past `last_id`. Returns the number of live entries.
fn build_chunks(s: &mut Stream, nodes: &[RawNode<'_>], last_id: StreamId) -> Result<u64, RdbError> {
    // The smallest live ID after each position (tombstones must stay below it).
    let total: usize = nodes.iter().map(|(_, e, _)| e.len()).sum();
    let mut next_live = vec![None; total];
    let mut bound: Option<StreamId> = None;
    let mut k = total;
    for (_, entries, _) in nodes.iter().rev() {
        for (id, del, _) in entries.iter().rev() {
            k -= 1;
            next_live[k] = bound;
            if !del {
                bound = Some(*id);
            }
        }
    }
    let mut prev: Option<StreamId> = None;
    let mut live = 0u64;
    let mut k = 0;
    let mut kept: Vec<RawEntry> = Vec::new();
    for (master, entries, fields) in nodes {
        kept.clear();
        for (id, del, range) in entries {
            let id = *id;
            let after_prev = prev.is_none_or(|p| id > p);
            let upper = next_live[k];
            k += 1;
            if *del {
                if after_prev && id <= last_id && upper.is_none_or(|u| id < u) {
                    prev = Some(id);
                    kept.push((id, true, range.clone()));
                }
                continue;
            }
            if !after_prev || id > last_id {
                return Err(corrupt("entry IDs out of order"));
            }
            prev = Some(id);
            live += 1;
            kept.push((id, false, range.clone()));
        }
        let Some(first) = kept.first().map(|e| e.0) else {
            continue;
        };
        // Redis's master ID is the first entry's ID; keep it when it still orders the chunk.
        let after_last_chunk = s.last_chunk_id().is_none_or(|l| *master > l);
        let key = if *master <= first && after_last_chunk {
            *master
        } else {
            first
        };
        s.push_node(key, &kept, fields);
    }
    Ok(live)
}

/// Reads the body of a `STREAM_LISTPACKS` (15) or `STREAM_LISTPACKS_2` (19) value.
pub(super) fn read(r: &mut Reader<'_>, t: u8) -> Result<Value, RdbError> {
    let v2 = t == super::kind::STREAM_LISTPACKS_2;
    let n = r.count()?;
    let mut blobs = Vec::new();
    let mut masters = std::collections::BTreeSet::new();
    for _ in 0..n {
        let master = id_from_raw(&r.string()?)?;
        if !masters.insert(master) {
            return Err(corrupt("listpack re-added with existing key"));
        }
        blobs.push((master, r.string()?));
    }
    let nodes = blobs
        .iter()
        .map(|(master, lp)| parse_node(lp, *master))
        .collect::<Result<Vec<_>, _>>()?;
    let mut s = Stream::new();
    s.length = r.len()?;
    s.last_id = read_id(r)?;
    if v2 {
        s.first_id = read_id(r)?;
        s.max_deleted = read_id(r)?;
        s.entries_added = r.len()?;
    }
    let last_id = s.last_id;
    let live = build_chunks(&mut s, &nodes, last_id)?;
    if live != s.length {
        return Err(corrupt("length does not match the live entries"));
    }
    if v2 {
        if s.entries_added < s.length || s.entries_added > COUNTER_MAX {
            return Err(corrupt("entries added out of range"));
        }
    } else {
        // Redis 7.0 migrating an older stream: no tombstone known, every entry counted as
        // added, the first ID found by walking (the highest possible ID when empty).
        s.max_deleted = StreamId::MIN;
        s.entries_added = s.length;
        s.first_id = s.edge_id(true).unwrap_or(StreamId::MAX);
    }
    let ngroups = r.count()?;
    for _ in 0..ngroups {
        let name = Bytes::from(r.string()?);
        let last_id = read_id(r)?;
        let entries_read = if v2 {
            // -1 (unknown) arrives as 2^64 - 1.
            let v = r.len()? as i64;
            if v != INVALID_ENTRIES_READ && !(0..=COUNTER_MAX as i64).contains(&v) {
                return Err(corrupt("group entries read out of range"));
            }
            v
        } else {
            s.estimate_distance(last_id)
                .map_or(INVALID_ENTRIES_READ, |d| d as i64)
        };
        let mut g = Group::new(last_id, entries_read);
        let npel = r.count()?;
        let mut pel: BTreeMap<StreamId, (u64, u64, Option<Bytes>)> = BTreeMap::new();
        for _ in 0..npel {
            let id = id_from_raw(r.take(16)?)?;
            let time = read_ms_time(r)?;
            let count = r.len()?;
            if count > COUNTER_MAX {
                return Err(corrupt("delivery count out of range"));
            }
            if pel.insert(id, (time, count, None)).is_some() {
                return Err(corrupt("duplicated global PEL entry"));
            }
        }
        let nconsumers = r.count()?;
        for _ in 0..nconsumers {
            let cname = Bytes::from(r.string()?);
            let seen_time = read_ms_time(r)?;
            let mut consumer = Consumer {
                seen_time,
                ..Consumer::default()
            };
            let n = r.count()?;
            for _ in 0..n {
                let id = id_from_raw(r.take(16)?)?;
                let owner = match pel.get_mut(&id) {
                    Some((_, _, owner)) => owner,
                    None => return Err(corrupt("consumer entry not found in group global PEL")),
                };
                if owner.is_some() {
                    return Err(corrupt("PEL entry owned by two consumers"));
                }
                *owner = Some(cname.clone());
                consumer.pel.insert(id);
            }
            if g.consumers.insert(cname, consumer).is_some() {
                return Err(corrupt("duplicate consumer"));
            }
        }
        for (id, (delivery_time, delivery_count, owner)) in pel {
            let consumer = owner.ok_or_else(|| corrupt("PEL entry without consumer"))?;
            g.pel.insert(
                id,
                Nack {
                    consumer,
                    delivery_time,
                    delivery_count,
                },
            );
        }
        if s.groups.insert(name, g).is_some() {
            return Err(corrupt("duplicated consumer group name"));
        }
    }
    Ok(Value::Stream(Box::new(s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::types::stream::NodeLimits;

    fn fv(pairs: &[(&str, &str)]) -> Vec<Bytes> {
        pairs
            .iter()
            .flat_map(|(f, v)| [Bytes::from(f.to_string()), Bytes::from(v.to_string())])
            .collect()
    }

    /// The DUMP body (type byte included) stock Redis 7.0.15 printed for: XADD s 1-1 a 1 b x,
    /// XADD s 1-2 a 2 b y, XADD s 5-0 c 3, XDEL s 1-2.
    const REDIS_BODY: &[u8] = b"\x13\x01\x10\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x3f\x3f\x00\x00\x00\x19\x00\x02\x01\x01\x01\x02\x01\x81a\x02\x81b\x02\x00\x01\x02\x01\x00\x01\x00\x01\x01\x01\x81x\x02\x05\x01\x03\x01\x00\x01\x01\x01\x02\x01\x81y\x02\x05\x01\x00\x01\x04\x01\xdf\xff\x02\x01\x01\x81c\x02\x03\x01\x06\x01\xff\x02\x05\x00\x01\x01\x01\x02\x03\x00";

    fn sample() -> Stream {
        let mut s = Stream::new();
        let lim = NodeLimits::default();
        s.append(StreamId::new(1, 1), &fv(&[("a", "1"), ("b", "x")]), lim);
        s.append(StreamId::new(1, 2), &fv(&[("a", "2"), ("b", "y")]), lim);
        s.append(StreamId::new(5, 0), &fv(&[("c", "3")]), lim);
        assert!(s.delete(StreamId::new(1, 2)));
        s.max_deleted = StreamId::new(1, 2);
        s
    }

    fn body(s: &Stream) -> Vec<u8> {
        let mut out = vec![super::super::kind::STREAM_LISTPACKS_2];
        write(&mut out, s, true);
        out
    }

    fn load(b: &[u8]) -> Result<Stream, RdbError> {
        let mut r = Reader::new(b);
        let t = r.u8()?;
        match read(&mut r, t)? {
            Value::Stream(s) if r.is_empty() => Ok(*s),
            _ => Err(corrupt("trailing bytes")),
        }
    }

    fn entries(s: &Stream) -> Vec<(StreamId, Vec<Vec<u8>>)> {
        let mut v = Vec::new();
        s.range(StreamId::MIN, StreamId::MAX, false, |id, f| {
            v.push((id, f.iter().map(|x| x.to_vec()).collect()));
            true
        });
        v
    }

    #[test]
    fn writes_what_redis_writes() {
        assert_eq!(body(&sample()), REDIS_BODY);
    }

    #[test]
    fn reads_what_redis_writes() {
        let s = load(REDIS_BODY).unwrap();
        assert_eq!(s.length, 2);
        assert_eq!(s.last_id, StreamId::new(5, 0));
        assert_eq!(s.first_id, StreamId::new(1, 1));
        assert_eq!(s.max_deleted, StreamId::new(1, 2));
        assert_eq!(s.entries_added, 3);
        assert_eq!(entries(&s), entries(&sample()));
        assert_eq!(body(&s), REDIS_BODY);
    }

    #[test]
    fn groups_round_trip() {
        let mut s = sample();
        let mut g = Group::new(StreamId::new(5, 0), 3);
        g.consumer(b"alice", 1000);
        g.consumer(b"12", 2000);
        g.deliver(StreamId::new(1, 1), b"alice", 3000);
        g.deliver(StreamId::new(5, 0), b"12", 4000);
        if let Some(n) = g.pel.get_mut(&StreamId::new(5, 0)) {
            n.delivery_count = 7;
        }
        s.groups.insert(Bytes::from_static(b"g1"), g);
        s.groups.insert(
            Bytes::from_static(b"empty"),
            Group::new(StreamId::MIN, INVALID_ENTRIES_READ),
        );
        let back = load(&body(&s)).unwrap();
        assert_eq!(body(&back), body(&s));
        let g = &back.groups[&b"g1"[..]];
        assert_eq!(g.pel[&StreamId::new(5, 0)].delivery_count, 7);
        assert_eq!(g.pel[&StreamId::new(5, 0)].consumer, &b"12"[..]);
        assert_eq!(g.consumers[&b"alice"[..]].seen_time, 1000);
        assert_eq!(
            back.groups[&b"empty"[..]].entries_read,
            INVALID_ENTRIES_READ
        );
    }

    #[test]
    fn many_chunks_round_trip() {
        let mut s = Stream::new();
        let lim = NodeLimits {
            max_entries: 7,
            max_bytes: 4096,
        };
        for i in 1..=100u64 {
            let name = if i % 5 == 0 { "other" } else { "f" };
            let big = "z".repeat((i as usize * 37) % 300);
            s.append(
                StreamId::new(i * 1000, i),
                &fv(&[(name, &big), ("n", &i.to_string())]),
                lim,
            );
        }
        for i in (3..=100u64).step_by(4) {
            assert!(s.delete(StreamId::new(i * 1000, i)));
        }
        s.trim(crate::db::types::stream::Trim::MaxLen(50), false, 0);
        let back = load(&body(&s)).unwrap();
        assert_eq!(entries(&back), entries(&s));
        assert_eq!(back.chunk_count(), s.chunk_count());
        assert_eq!(body(&back), body(&s));
        // Appending after loading splits chunks where the original does.
        let (mut a, mut b) = (s, back);
        for i in 101..=130u64 {
            let f = fv(&[("f", "v")]);
            a.append(StreamId::new(i * 1000, 0), &f, lim);
            b.append(StreamId::new(i * 1000, 0), &f, lim);
        }
        assert_eq!(body(&a), body(&b));
    }

    #[test]
    fn reads_redis6_streams() {
        // Type 15: no first ID, tombstone or counters; the group's read counter is estimated.
        let mut b = REDIS_BODY.to_vec();
        b[0] = super::super::kind::STREAM_LISTPACKS;
        let tail = b.len() - 6; // first id (2), max deleted (2), entries added (1), groups (1)
        b.truncate(tail);
        b.push(1);
        write_string(&mut b, b"g", false);
        write_len(&mut b, 0);
        write_len(&mut b, 0);
        write_len(&mut b, 0);
        write_len(&mut b, 0);
        let s = load(&b).unwrap();
        assert_eq!(s.first_id, StreamId::new(1, 1));
        assert_eq!(s.entries_added, 2);
        assert_eq!(s.max_deleted, StreamId::MIN);
        assert_eq!(s.groups[&b"g"[..]].entries_read, 0);
    }

    #[test]
    fn corrupt_bodies_are_errors() {
        for cut in 1..REDIS_BODY.len() {
            assert!(load(&REDIS_BODY[..cut]).is_err(), "prefix {cut}");
        }
        // Length that does not match the live entries.
        let mut b = REDIS_BODY.to_vec();
        let at = b.len() - 9;
        b[at] = 3;
        assert!(load(&b).is_err());
        // A consumer PEL entry missing from the group PEL.
        let mut s = sample();
        let mut g = Group::new(StreamId::MIN, 0);
        g.deliver(StreamId::new(1, 1), b"c", 1);
        g.pel.clear();
        s.groups.insert(Bytes::from_static(b"g"), g);
        assert!(load(&body(&s)).is_err());
        // A group PEL entry no consumer owns.
        let mut s = sample();
        let mut g = Group::new(StreamId::MIN, 0);
        g.deliver(StreamId::new(1, 1), b"c", 1);
        g.consumers.clear();
        s.groups.insert(Bytes::from_static(b"g"), g);
        assert!(load(&body(&s)).is_err());
    }

    #[test]
    fn stale_tombstones_are_dropped() {
        // XADD 1, 2, 3; XDEL 3, 2; XSETID 1; XADD 2: Redis keeps [1, 2 del, 3 del, 2].
        let master = StreamId::new(1, 0);
        let node = |entries: &[(u64, bool)]| -> RawNode<'static> {
            let mut fields: Vec<Cow<'static, [u8]>> = Vec::new();
            let mut list = Vec::new();
            for &(i, del) in entries {
                let start = fields.len();
                fields.push(Cow::Borrowed(b"a"));
                fields.push(Cow::Borrowed(b"b"));
                list.push((StreamId::new(i, 0), del, start..fields.len()));
            }
            (master, list, fields)
        };
        let mut t = Stream::new();
        let nodes = [node(&[(1, false), (2, true), (3, true), (2, false)])];
        let built = build_chunks(&mut t, &nodes, StreamId::new(2, 0)).unwrap();
        assert_eq!(built, 2);
        let ids: Vec<StreamId> = entries(&t).into_iter().map(|e| e.0).collect();
        assert_eq!(ids, vec![StreamId::new(1, 0), StreamId::new(2, 0)]);
        // Live entries out of order are corrupt.
        let mut u = Stream::new();
        let nodes = [node(&[(2, false), (1, false)])];
        assert!(build_chunks(&mut u, &nodes, StreamId::new(2, 0)).is_err());
    }

    /// A stream with several nodes, tombstones, a trim and two groups with pending entries.
    fn rich() -> Stream {
        let mut s = Stream::new();
        let lim = NodeLimits {
            max_entries: 3,
            max_bytes: 4096,
        };
        for i in 1..=14u64 {
            let name = if i % 4 == 0 { "g" } else { "f" };
            s.append(
                StreamId::new(i, i % 2),
                &fv(&[(name, &i.to_string()), ("x", "yy")]),
                lim,
            );
        }
        for i in [2u64, 5, 6, 13] {
            assert!(s.delete(StreamId::new(i, i % 2)));
        }
        s.max_deleted = StreamId::new(13, 1);
        s.trim(crate::db::types::stream::Trim::MaxLen(8), false, 0);
        let mut g = Group::new(StreamId::new(9, 1), 6);
        g.deliver(StreamId::new(7, 1), b"a", 10);
        g.deliver(StreamId::new(8, 0), b"b", 20);
        g.deliver(StreamId::new(9, 1), b"a", 30);
        g.consumer(b"c", 40);
        s.groups.insert(Bytes::from_static(b"g1"), g);
        s.groups
            .insert(Bytes::from_static(b"g2"), Group::new(StreamId::MIN, 0));
        s
    }

    /// Whatever a loaded stream holds, every operation on it stays in bounds.
    fn exercise(s: &mut Stream) {
        let _ = entries(s);
        s.range(StreamId::MIN, StreamId::MAX, true, |_, _| true);
        let _ = (s.edge_id(true), s.rax_nodes(), s.heap_size());
        for g in s.groups.values() {
            let _ = (s.lag(g), s.estimate_distance(g.last_id));
        }
        let half = s.len() / 2;
        s.trim(crate::db::types::stream::Trim::MaxLen(half), false, 0);
        if let Some(next) = s.last_id.incr() {
            s.append(next, &fv(&[("f", "v")]), NodeLimits::default());
        }
        let back = load(&body(s)).expect("a loaded stream writes back loadable");
        assert_eq!(entries(&back), entries(s));
    }

    proptest::proptest! {
        #[test]
        fn mutated_bodies_never_panic(
            at in 0usize..REDIS_BODY.len(),
            byte in proptest::num::u8::ANY,
            cut in 0usize..8,
        ) {
            let mut b = REDIS_BODY.to_vec();
            b[at] = byte;
            b.truncate(b.len() - cut.min(b.len() - 1));
            if let Ok(mut s) = load(&b) {
                exercise(&mut s);
            }
        }

        /// RESTORE of mutated payloads (footer recomputed, so the body is parsed): an error
        /// or a stream that behaves, never a panic.
        #[test]
        fn mutated_restore_payloads(
            edits in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 1..4),
            cut in proptest::option::of(proptest::num::usize::ANY),
        ) {
            let mut b = body(&rich());
            for (at, byte) in edits {
                let i = at % b.len();
                b[i] = byte;
            }
            if let Some(c) = cut {
                b.truncate(1 + c % b.len());
            }
            b.extend_from_slice(&super::super::RDB_VERSION.to_le_bytes());
            let crc = super::super::crc64(&b);
            b.extend_from_slice(&crc.to_le_bytes());
            let limits = super::super::Limits {
                hash: crate::db::types::hash::Limits { entries: 128, value: 64 },
                set_max_intset: 512,
                zset: Default::default(),
            };
            if let Ok(Value::Stream(mut s)) = super::super::restore(&b, &limits) {
                exercise(&mut s);
            }
        }
    }

    #[test]
    fn rich_stream_round_trips() {
        let mut s = rich();
        let back = load(&body(&s)).unwrap();
        assert_eq!(body(&back), body(&s));
        exercise(&mut s);
    }
}
