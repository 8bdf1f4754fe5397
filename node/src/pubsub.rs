//! Pub/Sub: who listens to which channel, pattern or shard channel, and delivery of messages
//! to the subscribers' connection tasks.
//!
//! Every client has a [`Pushes`] queue in its [`ClientInfo`]: [`publish`] (and anything else
//! that must reach another connection out of band, such as keyspace notifications or, later,
//! client-side caching invalidations) encodes the message once per protocol and appends it there;
//! the connection task wakes on [`Pushes::ready`], moves the queue into its output buffer and
//! flushes. The queued bytes are counted against `client-output-buffer-limit` (the `pubsub`
//! class for subscribed clients, `normal` otherwise): a client over the hard limit, or over the
//! soft limit for longer than the soft seconds, is closed and its queue dropped, so a subscriber
//! that never reads cannot make the server grow without bound.
//!
//! Keyspace notifications ([`notify_keyspace`]) are published here too: handlers only record
//! events in [`crate::db::Db::notify`]; dispatch publishes them once the command is done.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use hashbrown::HashMap;
use indexmap::IndexSet;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tracing::warn;

use crate::config::{notify, ObufLimit};
use crate::resp::Protocol;
use crate::server::{cflags, ClientInfo, Server};
use crate::util::glob::glob_match;

/// The three kinds of subscription a client can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn subscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    fn unsubscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }

    fn index(self) -> usize {
        match self {
            Kind::Channel => 0,
            Kind::Pattern => 1,
            Kind::Shard => 2,
        }
    }
}

/// One client's subscriptions and its queue of out-of-band messages.
#[derive(Default)]
pub struct Pushes {
    queue: Mutex<VecDeque<Bytes>>,
    /// Woken whenever something is queued.
    pub ready: Notify,
    /// Bytes queued and not yet written to the socket.
    pending: AtomicU64,
    /// Of those, the bytes already moved into the connection's buffer (only the connection
    /// task changes it).
    unsent: AtomicU64,
    /// Unix ms when the soft limit was first exceeded (0: not exceeded).
    soft_since: AtomicU64,
    /// The connection is waiting for the client to read: its last write found the socket full
    /// (see [`Pushes::stall`]).
    stalled: AtomicBool,
    /// Channels, patterns, shard channels (indexed by [`Kind::index`]).
    /// Insertion-ordered: an UNSUBSCRIBE of everything answers in subscription order, as
    /// Redis's per-client pattern list does.
    subs: Mutex<[IndexSet<Bytes>; 3]>,
}

impl Pushes {
    /// Number of channels, patterns and shard channels subscribed (CLIENT LIST `sub`, `psub`,
    /// `ssub`).
    pub fn counts(&self) -> [usize; 3] {
        let s = self.subs.lock();
        [s[0].len(), s[1].len(), s[2].len()]
    }

    /// Bytes waiting to be written (CLIENT LIST `omem` style).
    pub fn pending(&self) -> u64 {
        self.pending.load(Relaxed)
    }

    /// Moves everything queued into the connection's buffer `out`; they count against the
    /// limits until [`Pushes::sent`] says they reached the socket.
    pub fn drain_into(&self, out: &mut BytesMut) {
        let mut q = self.queue.lock();
        let mut n = 0u64;
        for m in q.drain(..) {
            n += m.len() as u64;
            out.extend_from_slice(&m);
        }
        if n > 0 {
            self.unsent.fetch_add(n, Relaxed);
        }
    }

    /// `n` bytes of the connection's buffer reached the socket: as much of what
    /// [`Pushes::drain_into`] moved there stops counting. (Which bytes of the buffer they were
    /// does not matter: only the total is judged, and the buffer is written whole.)
    pub fn sent(&self, n: u64) {
        let unsent = self.unsent.load(Relaxed);
        if unsent == 0 {
            return;
        }
        let n = n.min(unsent);
        self.unsent.store(unsent - n, Relaxed);
        // Saturating: a client closed for its limits had `pending` reset to 0 meanwhile.
        let before = self
            .pending
            .fetch_update(Relaxed, Relaxed, |p| Some(p.saturating_sub(n)))
            .unwrap_or(0);
        if before <= n {
            self.soft_since.store(0, Relaxed);
        }
    }

    /// Called by the connection task around a write: true while the socket refuses more
    /// (the client is not reading), false once the write went through.
    pub fn stall(&self, stalled: bool) {
        self.stalled.store(stalled, Relaxed);
    }

    /// True if anything is queued.
    pub fn has_queued(&self) -> bool {
        !self.queue.lock().is_empty()
    }
}

/// Sends `frame` (already encoded for the client's protocol) to a client's connection task,
/// enforcing its output buffer limits. False if the client is gone or was just closed for
/// exceeding them.
pub fn deliver(server: &Server, info: &ClientInfo, frame: Bytes) -> bool {
    if info.killed.load(Relaxed) {
        return false;
    }
    let p = &info.pushes;
    let len = frame.len() as u64;
    {
        let mut q = p.queue.lock();
        q.push_back(frame);
    }
    let used = p.pending.fetch_add(len, Relaxed) + len;
    let class = if info.flags.load(Relaxed) & cflags::PUBSUB != 0 {
        2
    } else {
        0
    };
    let limit = server.pubsub.limit(class);
    if over_limit(p, &limit, used, len) {
        warn!(
            "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
            info.id, info.addr
        );
        p.queue.lock().clear();
        p.pending.store(0, Relaxed);
        info.kill();
        return false;
    }
    p.ready.notify_one();
    true
}

/// Bytes a client that is not known to be stalled may have queued past its hard limit before it
/// is closed anyway (see [`over_limit`]).
const UNSTALLED_CAP: u64 = 64 << 20;

/// Redis's `checkClientOutputBufferLimits`: hard limit at once, soft limit after it has been
/// exceeded continuously for more than the soft seconds.
///
/// In Redis the thread that runs PUBLISH also writes to the subscribers' sockets, so a
/// subscriber's buffer only grows while its socket is full, that is while it does not read.
/// Here the subscriber's own connection task writes, and on a busy machine that task can be
/// kept off the CPU while the publisher's runs: a subscriber that reads everything would be
/// a megabyte behind through no fault of its own. So the hard limit closes a client only when
/// its last write found the socket full (`stalled`), when one message alone is over the limit
/// (as in Redis), or when the backlog passes a fixed cap, which bounds memory if the task
/// never runs at all.
fn over_limit(p: &Pushes, l: &ObufLimit, used: u64, len: u64) -> bool {
    over_limit_at(p, l, used, len, crate::server::unix_ms)
}

fn over_limit_at(p: &Pushes, l: &ObufLimit, used: u64, len: u64, now: impl Fn() -> u64) -> bool {
    if l.hard_bytes > 0
        && used >= l.hard_bytes
        && (p.stalled.load(Relaxed)
            || len >= l.hard_bytes
            || used >= l.hard_bytes.max(UNSTALLED_CAP))
    {
        return true;
    }
    if l.soft_bytes > 0 && used >= l.soft_bytes {
        let now_ms = now();
        let since = p.soft_since.load(Relaxed);
        if since == 0 {
            p.soft_since.store(now_ms.max(1), Relaxed);
            return false;
        }
        return now_ms.saturating_sub(since) / 1000 > l.soft_seconds.max(0) as u64;
    }
    p.soft_since.store(0, Relaxed);
    false
}

type Subscribers = Vec<Arc<ClientInfo>>;

#[derive(Default)]
struct Registry {
    /// Channel, pattern, shard channel maps (indexed by [`Kind::index`]); subscribers in
    /// subscription order.
    maps: [HashMap<Bytes, Subscribers>; 3],
}

/// The server's pub/sub state.
#[derive(Default)]
pub struct PubSub {
    reg: RwLock<Registry>,
    /// `client-output-buffer-limit` of the normal, replica and pubsub classes: hard, soft,
    /// seconds.
    limits: [[AtomicI64; 3]; 3],
}

impl PubSub {
    /// Takes the output buffer limits from the configuration (call on every change).
    pub fn set_limits(&self, l: &[ObufLimit; 3]) {
        for (i, l) in l.iter().enumerate() {
            self.limits[i][0].store(l.hard_bytes as i64, Relaxed);
            self.limits[i][1].store(l.soft_bytes as i64, Relaxed);
            self.limits[i][2].store(l.soft_seconds, Relaxed);
        }
    }

    fn limit(&self, class: usize) -> ObufLimit {
        let l = &self.limits[class];
        ObufLimit {
            hard_bytes: l[0].load(Relaxed) as u64,
            soft_bytes: l[1].load(Relaxed) as u64,
            soft_seconds: l[2].load(Relaxed),
        }
    }

    /// Channels, patterns and shard channels with at least one subscriber (INFO).
    pub fn sizes(&self) -> [usize; 3] {
        let r = self.reg.read();
        [r.maps[0].len(), r.maps[1].len(), r.maps[2].len()]
    }

    /// Channels (or shard channels) with subscribers matching `pattern` (PUBSUB CHANNELS).
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let r = self.reg.read();
        r.maps[kind.index()]
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of one channel, patterns not counted (PUBSUB NUMSUB).
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.reg.read().maps[kind.index()]
            .get(channel)
            .map_or(0, |v| v.len())
    }

    /// True if nobody listens to anything: publishing is a no-op.
    fn is_empty(&self) -> bool {
        let r = self.reg.read();
        r.maps.iter().all(|m| m.is_empty())
    }
}

/// Appends `*n`/`>n` and the bulk strings of a message frame.
fn frame(proto: Protocol, parts: &[&[u8]]) -> Bytes {
    let mut b = BytesMut::with_capacity(16 + parts.iter().map(|p| p.len() + 16).sum::<usize>());
    let mut w = crate::resp::ReplyWriter::new(&mut b, proto);
    w.push(parts.len());
    for p in parts {
        w.bulk(p);
    }
    b.freeze()
}

/// A message encoded lazily for each protocol it is sent in.
struct Lazy<'a> {
    parts: [&'a [u8]; 4],
    n: usize,
    enc: [Option<Bytes>; 2],
}

impl<'a> Lazy<'a> {
    fn new(parts: &[&'a [u8]]) -> Self {
        let mut p: [&[u8]; 4] = [b""; 4];
        p[..parts.len()].copy_from_slice(parts);
        Lazy {
            parts: p,
            n: parts.len(),
            enc: [None, None],
        }
    }

    fn get(&mut self, proto: Protocol) -> Bytes {
        let i = (proto == Protocol::Resp3) as usize;
        let parts = &self.parts[..self.n];
        self.enc[i]
            .get_or_insert_with(|| frame(proto, parts))
            .clone()
    }
}

fn proto_of(info: &ClientInfo) -> Protocol {
    if info.resp.load(Relaxed) == 3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    }
}

/// Publishes `message` on `channel` to channel and pattern subscribers; returns how many
/// received it (the PUBLISH reply). The entry point for anything that publishes (PUBLISH,
/// keyspace notifications, client tracking's `__redis__:invalidate` redirect).
pub fn publish(server: &Server, channel: &[u8], message: &[u8]) -> usize {
    publish_kind(server, Kind::Channel, channel, message)
}

/// SPUBLISH: shard channel subscribers only (patterns never match shard channels).
pub fn spublish(server: &Server, channel: &[u8], message: &[u8]) -> usize {
    publish_kind(server, Kind::Shard, channel, message)
}

fn publish_kind(server: &Server, kind: Kind, channel: &[u8], message: &[u8]) -> usize {
    // Subscribers this message put over their output buffer limits (rare).
    let mut closed: Vec<Arc<ClientInfo>> = Vec::new();
    let mut send = |c: &Arc<ClientInfo>, frame: Bytes| {
        if !deliver(server, c, frame) && c.killed.load(Relaxed) {
            closed.push(c.clone());
        }
    };
    let mut receivers = 0;
    {
        // Delivery only takes each subscriber's queue lock, so it runs under the registry's
        // read lock (no list of receivers to build).
        let reg = server.pubsub.reg.read();
        if let Some(subs) = reg.maps[kind.index()].get(channel) {
            let word: &[u8] = if kind == Kind::Shard {
                b"smessage"
            } else {
                b"message"
            };
            let mut msg = Lazy::new(&[word, channel, message]);
            for c in subs {
                send(c, msg.get(proto_of(c)));
            }
            receivers += subs.len();
        }
        if kind == Kind::Channel {
            for (pat, subs) in reg.maps[Kind::Pattern.index()].iter() {
                if !glob_match(pat, channel, false) {
                    continue;
                }
                let mut msg = Lazy::new(&[b"pmessage", pat, channel, message]);
                for c in subs {
                    send(c, msg.get(proto_of(c)));
                }
                receivers += subs.len();
            }
        }
    }
    // A closed subscriber stops counting at once, as in Redis, which frees it before the next
    // command: its connection task may take a while to notice the kill.
    for c in closed {
        server.close_client(&c);
    }
    receivers
}

/// Writes a subscribe/unsubscribe confirmation into the client's reply.
fn confirm(out: &mut crate::resp::ReplyWriter, word: &[u8], name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(word);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

/// Count shown in a confirmation: channels + patterns, or shard channels.
fn count_for(kind: Kind, subs: &[IndexSet<Bytes>; 3]) -> usize {
    match kind {
        Kind::Shard => subs[2].len(),
        _ => subs[0].len() + subs[1].len(),
    }
}

fn update_flag(info: &ClientInfo, subs: &[IndexSet<Bytes>; 3]) {
    if subs.iter().all(|s| s.is_empty()) {
        info.flags.fetch_and(!cflags::PUBSUB, Relaxed);
    } else {
        info.flags.fetch_or(cflags::PUBSUB, Relaxed);
    }
}

/// (P|S)SUBSCRIBE: subscribes `info` to each name, writing one confirmation per name.
pub fn subscribe(
    server: &Server,
    info: &Arc<ClientInfo>,
    kind: Kind,
    names: &[Bytes],
    out: &mut crate::resp::ReplyWriter,
) {
    let mut reg = server.pubsub.reg.write();
    let mut subs = info.pushes.subs.lock();
    for n in names {
        if subs[kind.index()].insert(n.clone()) {
            reg.maps[kind.index()]
                .entry(n.clone())
                .or_default()
                .push(info.clone());
        }
        confirm(out, kind.subscribe_word(), Some(n), count_for(kind, &subs));
    }
    info.flags.fetch_or(cflags::PUBSUB, Relaxed);
}

/// (P|S)UNSUBSCRIBE: from each name, or from everything of that kind when `names` is empty
/// (with a single confirmation carrying a null name if there was nothing). Without `out`
/// (RESET, disconnect) nothing is written.
pub fn unsubscribe(
    server: &Server,
    info: &ClientInfo,
    kind: Kind,
    names: &[Bytes],
    mut out: Option<&mut crate::resp::ReplyWriter>,
) {
    let mut reg = server.pubsub.reg.write();
    let mut subs = info.pushes.subs.lock();
    let k = kind.index();
    let all: Vec<Bytes>;
    let list = if names.is_empty() {
        all = subs[k].iter().cloned().collect();
        &all[..]
    } else {
        names
    };
    for n in list {
        if subs[k].shift_remove(n) {
            if let Some(v) = reg.maps[k].get_mut(n) {
                v.retain(|c| c.id != info.id);
                if v.is_empty() {
                    reg.maps[k].remove(n);
                }
            }
        }
        if let Some(o) = out.as_deref_mut() {
            confirm(o, kind.unsubscribe_word(), Some(n), count_for(kind, &subs));
        }
    }
    if list.is_empty() {
        if let Some(o) = out {
            confirm(o, kind.unsubscribe_word(), None, count_for(kind, &subs));
        }
    }
    update_flag(info, &subs);
}

/// Drops every subscription of a client silently (RESET, disconnect).
pub fn unsubscribe_all(server: &Server, info: &ClientInfo) {
    if info.flags.load(Relaxed) & cflags::PUBSUB == 0 {
        return;
    }
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        unsubscribe(server, info, kind, &[], None);
    }
}

/// A client's subscriptions: channels and shard channels, then patterns (ACL SETUSER checks
/// them against the user's new channel rules).
pub fn subscriptions_of(_server: &Server, info: &ClientInfo) -> (Vec<Bytes>, Vec<Bytes>) {
    let subs = info.pushes.subs.lock();
    let channels = subs[0].iter().chain(subs[2].iter()).cloned().collect();
    (channels, subs[1].iter().cloned().collect())
}

/// True if the client holds any subscription (RESP2 subscriber mode).
pub fn is_subscribed(info: &ClientInfo) -> bool {
    info.flags.load(Relaxed) & cflags::PUBSUB != 0
}

/// One keyspace event recorded by a command (see [`crate::db::Db::notify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The class (`notify::STRING`, `notify::GENERIC`...).
    pub class: u32,
    /// Redis's event name (`set`, `lpush`, `expired`...).
    pub name: &'static str,
    pub db: usize,
    pub key: Bytes,
}

/// True if events of `class` are published under the `notify-keyspace-events` flags.
pub fn wants(flags: u32, class: u32) -> bool {
    flags & class != 0 && flags & (notify::KEYSPACE | notify::KEYEVENT) != 0
}

/// Publishes one keyspace event about `key` outside a command (expiry, eviction).
pub fn notify_key(
    server: &Server,
    flags: u32,
    class: u32,
    name: &'static str,
    db: usize,
    key: &[u8],
) {
    if !wants(flags, class) {
        return;
    }
    let ev = Event {
        class,
        name,
        db,
        key: Bytes::copy_from_slice(key),
    };
    notify_keyspace(server, flags, &ev);
}

/// Publishes one keyspace event: `__keyspace@<db>__:<key>` carrying the event name, and
/// `__keyevent@<db>__:<event>` carrying the key, as the flags ask.
pub fn notify_keyspace(server: &Server, flags: u32, ev: &Event) {
    if !wants(flags, ev.class) || server.pubsub.is_empty() {
        return;
    }
    let mut ch = Vec::with_capacity(24 + ev.key.len().max(ev.name.len()));
    if flags & notify::KEYSPACE != 0 {
        ch.extend_from_slice(b"__keyspace@");
        ch.put_slice(itoa::Buffer::new().format(ev.db).as_bytes());
        ch.extend_from_slice(b"__:");
        ch.extend_from_slice(&ev.key);
        publish(server, &ch, ev.name.as_bytes());
    }
    if flags & notify::KEYEVENT != 0 {
        ch.clear();
        ch.extend_from_slice(b"__keyevent@");
        ch.put_slice(itoa::Buffer::new().format(ev.db).as_bytes());
        ch.extend_from_slice(b"__:");
        ch.extend_from_slice(ev.name.as_bytes());
        publish(server, &ch, &ev.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_per_protocol() {
        assert_eq!(
            &frame(Protocol::Resp2, &[b"message", b"ch", b"hi"])[..],
            b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            &frame(Protocol::Resp3, &[b"message", b"ch", b""])[..],
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn limits_hard_and_soft() {
        let p = Pushes::default();
        let hard = ObufLimit {
            hard_bytes: 100,
            soft_bytes: 0,
            soft_seconds: 0,
        };
        // A client whose socket still takes everything is a task behind, not a slow reader.
        assert!(!over_limit_at(&p, &hard, 100, 10, || 1000));
        // One message over the limit on its own closes it, as in Redis.
        assert!(over_limit_at(&p, &hard, 100, 100, || 1000));
        // So does a backlog past the fixed cap.
        assert!(over_limit_at(&p, &hard, UNSTALLED_CAP, 10, || 1000));
        // A client that stopped reading is closed at the limit.
        p.stall(true);
        assert!(!over_limit_at(&p, &hard, 99, 10, || 1000));
        assert!(over_limit_at(&p, &hard, 100, 10, || 1000));
        p.stall(false);
        let soft = ObufLimit {
            hard_bytes: 0,
            soft_bytes: 10,
            soft_seconds: 2,
        };
        assert!(!over_limit_at(&p, &soft, 5, 1, || 1000));
        assert!(!over_limit_at(&p, &soft, 20, 1, || 1000));
        // Whole seconds, as Redis: over for 2 s is not yet more than 2 s.
        assert!(!over_limit_at(&p, &soft, 20, 1, || 3999));
        assert!(over_limit_at(&p, &soft, 20, 1, || 4000));
        // Dropping below the soft limit restarts the clock.
        assert!(!over_limit_at(&p, &soft, 5, 1, || 4001));
        assert!(!over_limit_at(&p, &soft, 20, 1, || 5000));
        assert!(!over_limit_at(&p, &soft, 20, 1, || 7999));
        let none = ObufLimit {
            hard_bytes: 0,
            soft_bytes: 0,
            soft_seconds: 0,
        };
        assert!(!over_limit_at(&p, &none, u64::MAX / 2, 1, || 0));
    }

    #[test]
    fn wants_needs_k_or_e() {
        assert!(!wants(notify::ALL, notify::STRING));
        assert!(wants(notify::KEYSPACE | notify::STRING, notify::STRING));
        assert!(!wants(notify::KEYEVENT | notify::LIST, notify::STRING));
        assert!(wants(notify::KEYEVENT | notify::ALL, notify::EXPIRED));
        assert!(!wants(notify::KEYEVENT | notify::ALL, notify::NEW));
    }

    #[test]
    fn patterns_use_redis_glob() {
        assert!(glob_match(b"__key*__:*", b"__keyspace@0__:foo", false));
        assert!(glob_match(b"news.[ab]*", b"news.art", false));
        assert!(!glob_match(b"news.[ab]*", b"news.cat", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(!glob_match(b"H?llo", b"hello", false));
    }
}
