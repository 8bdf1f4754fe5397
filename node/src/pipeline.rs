//! A connection's pipeline: the commands of one read, decoded before any of them runs.
//!
//! Decoding a batch first lets the keyspace warm the cache for all of its keys at once
//! ([`crate::db::Keyspace::prefetch_batch`]): with many keys, a lookup's time is mostly cache
//! misses, and probes made back to back overlap where lookups made one per command would
//! each wait for theirs. The argument vectors are kept from batch to batch.

use bytes::{Bytes, BytesMut};

use crate::cmd::acl;
use crate::db::{key_slot, shard_of_slot, BatchKey, Keyspace};
use crate::dispatch::Hint;
use crate::resp::{parse_command, Limits, ProtocolError};

/// The most commands decoded ahead of running them.
pub const MAX_BATCH: usize = 64;
/// The most keys of one batch prefetched.
const MAX_KEYS: usize = 256;

#[derive(Default)]
pub struct Pipeline {
    cmds: Vec<Vec<Bytes>>,
    /// What [`Pipeline::prefetch`] found out about each command, for running it.
    hints: Vec<Hint>,
    /// Scratch for the key positions of multi-key commands.
    idx: Vec<usize>,
    len: usize,
    /// A protocol error found after the decoded commands, reported once they have run.
    error: Option<ProtocolError>,
}

impl Pipeline {
    /// Decodes up to [`MAX_BATCH`] complete commands from the front of `inbuf` (dropping the
    /// previous batch). Decoding stops after a command that changes how the bytes after it
    /// are read: one that authenticates (the limits differ before), or PSYNC/SYNC (the
    /// connection becomes a replication stream that takes the rest of `inbuf`). A client
    /// that is not authenticated gets one command per batch.
    pub fn fill(&mut self, inbuf: &mut BytesMut, limits: Limits) {
        if self.len != 0 || self.error.is_some() {
            self.clear();
        }
        while self.len < MAX_BATCH {
            if self.cmds.len() == self.len {
                self.cmds.push(Vec::with_capacity(8));
                self.hints.push(Hint::default());
            }
            let args = &mut self.cmds[self.len];
            match parse_command(inbuf, limits, args) {
                Ok(false) => break,
                Ok(true) if args.is_empty() => continue,
                Ok(true) => {
                    self.hints[self.len] = Hint::default();
                    self.len += 1;
                    if limits.unauthenticated || ends_batch(&args[0]) {
                        break;
                    }
                }
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            }
        }
    }

    /// Decoded commands, in order.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.error.is_none()
    }

    pub fn args(&self, i: usize) -> &[Bytes] {
        &self.cmds[..self.len][i]
    }

    pub fn hint(&self, i: usize) -> Hint {
        self.hints[..self.len][i]
    }

    /// The protocol error that ended the batch, if any (taken: reported once).
    pub fn take_error(&mut self) -> Option<ProtocolError> {
        self.error.take()
    }

    /// Drops the batch's arguments, so they no longer share the read buffer's memory.
    pub fn clear(&mut self) {
        for c in &mut self.cmds[..self.len] {
            c.clear();
        }
        self.len = 0;
        self.error = None;
    }

    /// Warms the cache for the keys of the batch's commands, keeping what it looked up
    /// (command row, the slot of a single key) as the commands' hints.
    pub fn prefetch(&mut self, keyspace: &Keyspace, db: usize) {
        let mut keys: smallvec::SmallVec<[BatchKey<'_>; MAX_BATCH]> = smallvec::SmallVec::new();
        for (args, hint) in self.cmds[..self.len].iter().zip(&mut self.hints) {
            let Some(cmd) = crate::cmd::lookup(&args[0]) else {
                continue;
            };
            hint.cmd = Some(cmd);
            if let Some(i) = cmd.single_key(args.len()) {
                let slot = key_slot(&args[i]);
                hint.key = Some((i, slot));
                // A hash's field or a set's member follows the key in the commands that
                // have one (HSET, HGET, SADD, SISMEMBER...).
                let member = if cmd.acl & (acl::HASH | acl::SET) != 0 {
                    args.get(i + 1).map(|m| &m[..])
                } else {
                    None
                };
                keys.push((shard_of_slot(slot), &args[i], member));
            } else if cmd.key_specs.is_empty() || keys.len() >= MAX_KEYS {
                continue;
            } else {
                self.idx.clear();
                cmd.key_indices(args, &mut self.idx);
                for &i in self.idx.iter().take(MAX_KEYS - keys.len()) {
                    keys.push((shard_of_slot(key_slot(&args[i])), &args[i], None));
                }
            }
        }
        if keys.len() > 1 {
            // (One lookup has nothing to overlap with.)
            keyspace.prefetch_batch(db, &keys);
        }
    }
}

/// Commands after which the next bytes are not decoded ahead (see [`Pipeline::fill`]).
fn ends_batch(name: &[u8]) -> bool {
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    match name.len() {
        4 => is("auth") || is("sync"),
        5 => is("hello") || is("reset") || is("psync"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(unauthenticated: bool) -> Limits {
        Limits {
            max_bulk: 512 << 20,
            unauthenticated,
        }
    }

    fn names(p: &Pipeline) -> Vec<String> {
        (0..p.len())
            .map(|i| {
                p.args(i)
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn decodes_every_complete_command_and_keeps_a_partial_one() {
        let mut buf =
            BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n\r\nPING\r\n*2\r\n$3\r\nGET"[..]);
        let mut p = Pipeline::default();
        p.fill(&mut buf, limits(false));
        assert_eq!(names(&p), ["GET a", "PING"]);
        assert!(p.take_error().is_none());
        assert_eq!(&buf[..], b"*2\r\n$3\r\nGET");
        p.fill(&mut buf, limits(false));
        assert!(p.is_empty());
    }

    #[test]
    fn stops_after_commands_that_change_how_the_rest_is_read() {
        for cmd in ["AUTH pw", "hello 3", "RESET", "PSYNC ? -1", "sync"] {
            let mut buf = BytesMut::from(format!("PING\r\n{cmd}\r\nPING x\r\n").as_bytes());
            let mut p = Pipeline::default();
            p.fill(&mut buf, limits(false));
            assert_eq!(names(&p), ["PING", cmd], "{cmd}");
            assert_eq!(&buf[..], b"PING x\r\n");
        }
    }

    #[test]
    fn an_unauthenticated_client_gets_one_command_at_a_time() {
        let mut buf = BytesMut::from(&b"PING\r\nPING\r\n"[..]);
        let mut p = Pipeline::default();
        p.fill(&mut buf, limits(true));
        assert_eq!(p.len(), 1);
        assert_eq!(&buf[..], b"PING\r\n");
    }

    #[test]
    fn a_protocol_error_comes_after_the_commands_before_it() {
        let mut buf = BytesMut::from(&b"PING\r\n*1\r\n$x\r\n"[..]);
        let mut p = Pipeline::default();
        p.fill(&mut buf, limits(false));
        assert_eq!(names(&p), ["PING"]);
        assert!(p.take_error().is_some());
        assert!(p.take_error().is_none());
    }

    #[test]
    fn batches_are_bounded_and_buffers_released() {
        let mut buf = BytesMut::from("PING\r\n".repeat(MAX_BATCH + 3).as_bytes());
        let mut p = Pipeline::default();
        p.fill(&mut buf, limits(false));
        assert_eq!(p.len(), MAX_BATCH);
        p.fill(&mut buf, limits(false));
        assert_eq!(p.len(), 3);
        p.clear();
        assert!(p.cmds.iter().all(|c| c.is_empty()));
    }

    #[test]
    fn prefetch_handles_any_batch() {
        let ks = Keyspace::new();
        let mut buf = BytesMut::from(
            "SET a 1\r\nGET a\r\nMSET b 1 c 2\r\nPING\r\nGET\r\nDEL a b\r\n"
                .repeat(20)
                .as_bytes(),
        );
        let mut p = Pipeline::default();
        while {
            p.fill(&mut buf, limits(false));
            !p.is_empty()
        } {
            p.prefetch(&ks, 0);
            p.prefetch(&ks, 15);
            for i in 0..p.len() {
                let h = p.hint(i);
                let name = String::from_utf8_lossy(&p.args(i)[0]).to_lowercase();
                assert_eq!(h.cmd.map(|c| c.name), Some(name.as_str()));
                let want = match name.as_str() {
                    "set" | "get" if p.args(i).len() > 1 => Some((1, key_slot(b"a"))),
                    _ => None, // PING has no key, MSET and DEL have several, GET lacks one
                };
                assert_eq!(h.key, want, "{name}");
            }
        }
    }
}
