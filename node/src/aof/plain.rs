//! An AOF base without the RDB preamble (`aof-use-rdb-preamble no`): the snapshot written as
//! the fewest commands that rebuild it, as Redis 7.0's `rewriteAppendOnlyFileRio` does:
//! `SELECT` per database, then per key `SET`, or `RPUSH`/`SADD`/`ZADD`/`HMSET` with at most
//! [`ITEMS_PER_CMD`] elements each, or a stream's `XADD`s followed by `XSETID` and its
//! consumer groups (`XGROUP CREATE`, one `XCLAIM .. JUSTID FORCE` per pending entry,
//! `XGROUP CREATECONSUMER` for consumers with nothing pending), and `PEXPIREAT` for a TTL.
//!
//! The snapshot arrives as RDB entries ([`crate::db::Part`]), the one form snapshots are
//! taken in; each chunk is read back into values and written out as commands.

use std::io::Write;

use bytes::BytesMut;

use crate::db::types::stream::{Stream, StreamId};
use crate::db::{Part, Value};
use crate::rdb::{opcode, Limits, RdbError, Reader};
use crate::resp::encode_command;

/// Elements per command (Redis `AOF_REWRITE_ITEMS_PER_CMD`).
pub const ITEMS_PER_CMD: usize = 64;

/// Commands are flushed to the writer once this many bytes are pending.
const FLUSH_AT: usize = 64 * 1024;

/// Writes the parts of a snapshot to `w` as commands.
pub struct CommandWriter<W: Write> {
    w: W,
    limits: Limits,
    out: BytesMut,
    len: u64,
}

fn bad(e: RdbError) -> std::io::Error {
    std::io::Error::other(format!("snapshot entries unreadable: {e}"))
}

impl<W: Write> CommandWriter<W> {
    /// `limits`: the encodings values are read back into (they only decide memory layout).
    pub fn new(w: W, limits: Limits) -> Self {
        CommandWriter {
            w,
            limits,
            out: BytesMut::with_capacity(FLUSH_AT + 4096),
            len: 0,
        }
    }

    fn cmd(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        encode_command(&mut self.out, args);
        if self.out.len() >= FLUSH_AT {
            self.flush_out()?;
        }
        Ok(())
    }

    fn flush_out(&mut self) -> std::io::Result<()> {
        self.len += self.out.len() as u64;
        self.w.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    /// `FUNCTION LOAD` of one library.
    pub fn function(&mut self, code: &[u8]) -> std::io::Result<()> {
        self.cmd(&[b"FUNCTION", b"LOAD", code])
    }

    /// Appends one part of a snapshot.
    pub fn part(&mut self, part: Part<'_>) -> std::io::Result<()> {
        match part {
            Part::Db { index, .. } => {
                let n = itoa::Buffer::new().format(index).as_bytes().to_vec();
                self.cmd(&[b"SELECT", &n])
            }
            Part::Entries(bytes) => {
                let mut r = Reader::new(bytes);
                while !r.is_empty() {
                    let mut t = r.u8().map_err(bad)?;
                    let mut expire_at = 0;
                    if t == opcode::EXPIRETIME_MS {
                        let b = r.take(8).map_err(bad)?;
                        expire_at = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                        t = r.u8().map_err(bad)?;
                    }
                    let key = r.string().map_err(bad)?;
                    match r.read_value(t, &self.limits) {
                        Ok(v) => self.key(&key, &v, expire_at)?,
                        Err(RdbError::EmptyKey) => {}
                        Err(e) => return Err(bad(e)),
                    }
                }
                Ok(())
            }
        }
    }

    /// The commands that rebuild `key` holding `v`.
    fn key(&mut self, key: &[u8], v: &Value, expire_at: u64) -> std::io::Result<()> {
        match v {
            Value::Int(_) | Value::Str(_) | Value::Raw(_) => {
                let mut tmp = itoa::Buffer::new();
                let s = v.str_bytes(&mut tmp).unwrap_or_default().to_vec();
                self.cmd(&[b"SET", key, &s])?;
            }
            Value::List(l) => {
                let items: Vec<&[u8]> = l.iter().collect();
                self.batches(b"RPUSH", key, &items, 1)?;
            }
            Value::Set(s) => {
                let mut items: Vec<Vec<u8>> = Vec::with_capacity(s.len());
                s.for_each(|m| items.push(m.to_vec()));
                let items: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
                self.batches(b"SADD", key, &items, 1)?;
            }
            Value::ZSet(z) => {
                let mut items: Vec<Vec<u8>> = Vec::with_capacity(z.len() * 2);
                z.for_each(|m, score| {
                    let mut s = Vec::new();
                    crate::util::num::fmt_double_17g(score, &mut s);
                    items.push(s);
                    items.push(m.to_vec());
                });
                let items: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
                self.batches(b"ZADD", key, &items, 2)?;
            }
            Value::Hash(h) => {
                let items: Vec<&[u8]> = h.iter().flat_map(|(f, v)| [f, v]).collect();
                self.batches(b"HMSET", key, &items, 2)?;
            }
            Value::Stream(s) => self.stream(key, s)?,
        }
        if expire_at != 0 {
            let at = itoa::Buffer::new().format(expire_at).as_bytes().to_vec();
            self.cmd(&[b"PEXPIREAT", key, &at])?;
        }
        Ok(())
    }

    /// `cmd key` with the `items` (`per` of them make one element), [`ITEMS_PER_CMD`]
    /// elements at a time.
    fn batches(
        &mut self,
        cmd: &[u8],
        key: &[u8],
        items: &[&[u8]],
        per: usize,
    ) -> std::io::Result<()> {
        for chunk in items.chunks(ITEMS_PER_CMD * per) {
            let mut args: Vec<&[u8]> = Vec::with_capacity(chunk.len() + 2);
            args.push(cmd);
            args.push(key);
            args.extend_from_slice(chunk);
            self.cmd(&args)?;
        }
        Ok(())
    }

    fn stream(&mut self, key: &[u8], s: &Stream) -> std::io::Result<()> {
        let id = |i: StreamId| i.to_bytes();
        if s.is_empty() {
            // An empty stream is made by adding an entry and trimming it away at once.
            self.cmd(&[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"])?;
        } else {
            let mut result = Ok(());
            s.range(StreamId::MIN, StreamId::MAX, false, |eid, fields| {
                let eid = id(eid);
                let mut args: Vec<&[u8]> = Vec::with_capacity(fields.len() + 3);
                args.push(b"XADD");
                args.push(key);
                args.push(&eid);
                args.extend_from_slice(&fields);
                result = self.cmd(&args);
                result.is_ok()
            });
            result?;
        }
        let added = itoa::Buffer::new()
            .format(s.entries_added)
            .as_bytes()
            .to_vec();
        self.cmd(&[
            b"XSETID",
            key,
            &id(s.last_id),
            b"ENTRIESADDED",
            &added,
            b"MAXDELETEDID",
            &id(s.max_deleted),
        ])?;
        for (name, g) in &s.groups {
            let read = itoa::Buffer::new()
                .format(g.entries_read)
                .as_bytes()
                .to_vec();
            self.cmd(&[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                &id(g.last_id),
                b"ENTRIESREAD",
                &read,
            ])?;
            for (pid, nack) in &g.pel {
                let time = itoa::Buffer::new()
                    .format(nack.delivery_time)
                    .as_bytes()
                    .to_vec();
                let count = itoa::Buffer::new()
                    .format(nack.delivery_count)
                    .as_bytes()
                    .to_vec();
                self.cmd(&[
                    b"XCLAIM",
                    key,
                    name,
                    &nack.consumer,
                    b"0",
                    &id(*pid),
                    b"TIME",
                    &time,
                    b"RETRYCOUNT",
                    &count,
                    b"JUSTID",
                    b"FORCE",
                ])?;
            }
            for (cname, c) in &g.consumers {
                if c.pel.is_empty() {
                    self.cmd(&[b"XGROUP", b"CREATECONSUMER", key, name, cname])?;
                }
            }
        }
        Ok(())
    }

    /// Flushes what is pending; returns the writer and the bytes written.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        self.flush_out()?;
        self.w.flush()?;
        Ok((self.w, self.len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Keyspace, ViewCtx};

    fn limits() -> Limits {
        Limits {
            hash: crate::db::types::hash::Limits {
                entries: 128,
                value: 64,
            },
            set_max_intset: 512,
            zset: Default::default(),
        }
    }

    /// The commands of `text` (a RESP command stream) as space-joined lines.
    fn lines(bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let end = super::super::parse_commands(bytes, |args| {
            out.push(
                args.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        });
        assert!(matches!(end, Ok(super::super::End::Complete)));
        out
    }

    #[test]
    fn keys_become_batched_commands() {
        let ks = Keyspace::new();
        let mut d = ks.lock_all(ViewCtx {
            db: 0,
            now: 1000,
            mode: Default::default(),
        });
        d.set(b"n", Value::Int(12), false);
        d.set_expire(b"n", 99_000);
        let mut l = crate::db::types::list::ListValue::new();
        for i in 0..130 {
            l.push_back(format!("e{i}").as_bytes());
        }
        d.set(b"l", Value::List(Box::new(l)), false);
        let mut z = crate::db::types::zset::ZSetValue::new();
        z.insert(b"a", 0.1);
        z.insert(b"b", f64::INFINITY);
        d.index = 2;
        d.set(b"z", Value::ZSet(Box::new(z)), false);
        let mut w = CommandWriter::new(Vec::new(), limits());
        d.snapshot_now(false, |p| w.part(p)).unwrap().unwrap();
        drop(d);
        let (bytes, len) = w.finish().unwrap();
        assert_eq!(len, bytes.len() as u64);
        let got = lines(&bytes);
        let rpush: Vec<&String> = got.iter().filter(|l| l.starts_with("RPUSH l ")).collect();
        assert_eq!(rpush.len(), 3, "{got:?}");
        assert_eq!(rpush[0].split(' ').count(), 2 + 64);
        assert_eq!(rpush[2].split(' ').count(), 2 + 2);
        assert!(rpush[0].starts_with("RPUSH l e0 e1 "));
        assert_eq!(got[0], "SELECT 0");
        let n = got.iter().position(|l| l == "SET n 12").unwrap();
        assert_eq!(got[n + 1], "PEXPIREAT n 99000");
        let sel2 = got.iter().position(|l| l == "SELECT 2").unwrap();
        assert_eq!(got[sel2 + 1], "ZADD z 0.10000000000000001 a inf b");
    }

    #[test]
    fn unreadable_entries_are_an_error_not_a_panic() {
        let mut w = CommandWriter::new(Vec::new(), limits());
        for bytes in [&[0u8][..], &[0, 1, b'k', 0x80], &[200, 1, b'k', 1, b'v']] {
            assert!(w.part(Part::Entries(bytes)).is_err());
        }
    }
}
