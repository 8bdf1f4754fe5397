//! Client-side caching (CLIENT TRACKING): which client read which key, and the `invalidate`
//! messages sent when those keys change.
//!
//! Default mode remembers the keys a tracking client reads (read-only commands) in one table,
//! key -> clients, as Redis does (not per database); a modified key is removed from the table
//! and each client that read it gets one `invalidate` message. BCAST mode keeps prefixes
//! instead and sends, per command, one message per matching prefix with the matching keys.
//! Messages go through [`crate::push`]: `>2 invalidate [keys]` to a RESP3 client, or to the
//! REDIRECT client, as a pub/sub message on `__redis__:invalidate` when it speaks RESP2 (see
//! [`deliver_invalidation`], the one place that builds and sends them).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use crate::resp::{Protocol, ReplyWriter};
use crate::server::{cflags, Server};

/// Options of CLIENT TRACKING ON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// Client id invalidations go to; 0 = this client.
    pub redirect: u64,
    pub prefixes: Vec<Bytes>,
}

/// A connection's tracking state.
#[derive(Debug, Default)]
pub struct ClientTracking {
    pub on: bool,
    pub opts: Options,
    /// CLIENT CACHING YES/NO given for the next command.
    pub caching: Option<bool>,
}

impl ClientTracking {
    /// Whether the keys of the read command just run are remembered (default mode, with the
    /// OPTIN/OPTOUT rules).
    pub fn remembers(&self) -> bool {
        let opted_out = (self.opts.optin && self.caching != Some(true))
            || (self.opts.optout && self.caching == Some(false));
        self.on && !self.opts.bcast && !opted_out
    }
}

#[derive(Default)]
struct Inner {
    /// Tracking clients and their options.
    clients: HashMap<u64, Options>,
    /// Default mode: key -> clients that may cache it.
    keys: HashMap<Bytes, HashSet<u64>>,
    /// BCAST mode: prefix -> clients.
    prefixes: Vec<(Bytes, Vec<u64>)>,
    /// Clients already told their redirection is gone.
    broken: HashSet<u64>,
}

/// The server's tracking tables.
#[derive(Default)]
pub struct Tracking {
    clients: AtomicUsize,
    inner: Mutex<Inner>,
}

impl Tracking {
    /// True if some client has tracking on.
    pub fn active(&self) -> bool {
        self.clients.load(Relaxed) > 0
    }

    /// `tracking_clients` of INFO.
    pub fn client_count(&self) -> usize {
        self.clients.load(Relaxed)
    }

    /// (`tracking_total_keys`, `tracking_total_items`, `tracking_total_prefixes`).
    pub fn totals(&self) -> (usize, usize, usize) {
        let i = self.inner.lock();
        (
            i.keys.len(),
            i.keys.values().map(|s| s.len()).sum(),
            i.prefixes.len(),
        )
    }

    /// Turns tracking on (or changes its options) for client `id`; BCAST prefixes add up.
    pub fn enable(&self, id: u64, opts: &Options) {
        let mut i = self.inner.lock();
        if i.clients.insert(id, opts.clone()).is_none() {
            self.clients.fetch_add(1, Relaxed);
        }
        i.broken.remove(&id);
        // CLIENT TRACKING gives BCAST at least the empty prefix.
        if opts.bcast {
            for p in opts.prefixes.iter().cloned() {
                match i.prefixes.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, ids)) if ids.contains(&id) => {}
                    Some((_, ids)) => ids.push(id),
                    None => i.prefixes.push((p, vec![id])),
                }
            }
        }
    }

    /// Turns tracking off for client `id` (also when it disconnects).
    pub fn disable(&self, id: u64) {
        let mut i = self.inner.lock();
        if i.clients.remove(&id).is_some() {
            self.clients.fetch_sub(1, Relaxed);
        }
        i.broken.remove(&id);
        i.prefixes.retain_mut(|(_, ids)| {
            ids.retain(|x| *x != id);
            !ids.is_empty()
        });
    }

    /// Remembers that client `id` read `keys`.
    pub fn remember<'k>(&self, id: u64, keys: impl Iterator<Item = &'k [u8]>) {
        let mut i = self.inner.lock();
        for k in keys {
            match i.keys.get_mut(k) {
                Some(set) => {
                    set.insert(id);
                }
                None => {
                    i.keys
                        .insert(Bytes::copy_from_slice(k), HashSet::from([id]));
                }
            }
        }
    }

    /// Keeps the key table within `tracking-table-max-keys` (0: no limit): keys beyond it are
    /// dropped as if modified, so their clients are told to forget them.
    pub fn limit_keys(&self, server: &Server, max: u64) {
        if max == 0 {
            return;
        }
        let extra = {
            let i = self.inner.lock();
            let n = i.keys.len() as u64;
            if n <= max {
                return;
            }
            i.keys
                .keys()
                .take((n - max) as usize)
                .cloned()
                .collect::<Vec<Bytes>>()
        };
        let keys: Vec<&[u8]> = extra.iter().map(|k| &k[..]).collect();
        self.invalidate(server, 0, &keys);
    }

    /// `keys` were modified by client `by` (0: the server): tells whoever may cache them.
    pub fn invalidate(&self, server: &Server, by: u64, keys: &[&[u8]]) {
        let mut i = self.inner.lock();
        let mut sends: Vec<(u64, Vec<Bytes>)> = Vec::new();
        for k in keys {
            let Some(ids) = i.keys.remove(*k) else {
                continue;
            };
            for id in ids {
                match i.clients.get(&id) {
                    Some(o) if !(o.bcast || (o.noloop && id == by)) => {
                        sends.push((id, vec![Bytes::copy_from_slice(k)]))
                    }
                    _ => {}
                }
            }
        }
        for (prefix, ids) in &i.prefixes {
            let matching: Vec<Bytes> = keys
                .iter()
                .filter(|k| k.starts_with(prefix))
                .map(|k| Bytes::copy_from_slice(k))
                .collect();
            if matching.is_empty() {
                continue;
            }
            for id in ids {
                if i.clients.get(id).is_some_and(|o| !(o.noloop && *id == by)) {
                    sends.push((*id, matching.clone()));
                }
            }
        }
        for (id, ks) in sends {
            let Some(o) = i.clients.get(&id).cloned() else {
                continue;
            };
            if !deliver_invalidation(server, id, &o, Some(&ks), i.broken.contains(&id)) {
                i.broken.insert(id);
            }
        }
    }

    /// FLUSHDB / FLUSHALL: every tracking client gets `invalidate` with a null; FLUSHALL also
    /// empties the key table.
    pub fn flushed(&self, server: &Server, all: bool) {
        let mut i = self.inner.lock();
        if all {
            i.keys.clear();
        }
        let clients: Vec<(u64, Options)> =
            i.clients.iter().map(|(id, o)| (*id, o.clone())).collect();
        for (id, o) in clients {
            if !deliver_invalidation(server, id, &o, None, i.broken.contains(&id)) {
                i.broken.insert(id);
            }
        }
    }
}

/// The protocol of client `id`, if it is connected.
fn proto_of(server: &Server, id: u64) -> Option<Protocol> {
    let clients = server.clients.lock();
    let c = clients.get(&id)?;
    Some(if c.resp.load(Relaxed) >= 3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    })
}

/// Sends one invalidation for tracking client `owner` (keys, or None for "everything" after a
/// flush) where its options say: to itself when it speaks RESP3, or to its REDIRECT client (a
/// push in RESP3, a `__redis__:invalidate` pub/sub message in RESP2). Returns false when the
/// redirection client is gone (a RESP3 owner gets a `tracking-redir-broken` push).
///
/// Differs from Redis until pub/sub is merged: Redis sends the RESP2 message only if the
/// REDIRECT client is in pub/sub mode (it subscribed to `__redis__:invalidate`); here it is
/// always sent straight to that client.
pub fn deliver_invalidation(
    server: &Server,
    owner: u64,
    opts: &Options,
    keys: Option<&[Bytes]>,
    already_broken: bool,
) -> bool {
    let Some(owner_proto) = proto_of(server, owner) else {
        return true;
    };
    let mut out = BytesMut::new();
    let target = if opts.redirect != 0 {
        let Some(p) = proto_of(server, opts.redirect) else {
            if !already_broken {
                if let Some(c) = server.clients.lock().get(&owner) {
                    c.flags.fetch_or(cflags::TRACKING_BROKEN_REDIR, Relaxed);
                }
            }
            // Redis tells a RESP3 client each time an invalidation finds its target gone.
            if owner_proto == Protocol::Resp3 {
                let mut w = ReplyWriter::new(&mut out, owner_proto);
                w.push(2);
                w.bulk(b"tracking-redir-broken");
                w.int(opts.redirect as i64);
                server.pushers.send(owner, out.freeze());
            }
            return false;
        };
        if p == Protocol::Resp2 {
            // A RESP2 target only gets the message while in pub/sub mode (Redis checks the
            // client's pub/sub flag, as a subscriber to `__redis__:invalidate` has it).
            let subscribed = server
                .clients
                .lock()
                .get(&opts.redirect)
                .is_some_and(|c| crate::pubsub::is_subscribed(c));
            if !subscribed {
                return true;
            }
        }
        let mut w = ReplyWriter::new(&mut out, p);
        if p == Protocol::Resp3 {
            w.push(2);
            w.bulk(b"invalidate");
        } else {
            w.array(3);
            w.bulk(b"message");
            w.bulk(b"__redis__:invalidate");
        }
        opts.redirect
    } else if owner_proto == Protocol::Resp3 {
        let mut w = ReplyWriter::new(&mut out, owner_proto);
        w.push(2);
        w.bulk(b"invalidate");
        owner
    } else {
        // RESP2 without redirection: no way to send a push on this connection.
        return true;
    };
    match keys {
        Some(ks) => {
            let mut w = ReplyWriter::new(&mut out, owner_proto);
            w.array(ks.len());
            for k in ks {
                w.bulk(k);
            }
        }
        // The null is written in the tracking client's own protocol, as Redis does.
        None => ReplyWriter::new(&mut out, owner_proto).null(),
    }
    server.pushers.send(target, out.freeze());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_follows_optin_optout() {
        let mut t = ClientTracking {
            on: true,
            ..Default::default()
        };
        assert!(t.remembers());
        t.opts.optin = true;
        assert!(!t.remembers());
        t.caching = Some(true);
        assert!(t.remembers());
        t.opts.optin = false;
        t.opts.optout = true;
        t.caching = Some(false);
        assert!(!t.remembers());
        t.opts.optout = false;
        t.opts.bcast = true;
        assert!(!t.remembers());
    }

    #[test]
    fn tables_count() {
        let t = Tracking::default();
        t.enable(
            1,
            &Options {
                bcast: true,
                prefixes: vec![Bytes::from_static(b"a")],
                ..Default::default()
            },
        );
        t.enable(2, &Options::default());
        t.remember(2, [&b"k"[..], b"j"].into_iter());
        assert_eq!(t.client_count(), 2);
        assert_eq!(t.totals(), (2, 2, 1));
        t.disable(1);
        assert_eq!(t.totals(), (2, 2, 0));
        assert_eq!(t.client_count(), 1);
    }

    #[test]
    fn key_table_limit() {
        let server = Server::new(crate::config::Config::default());
        let t = &server.tracking;
        t.enable(9, &Options::default());
        t.remember(9, [&b"a"[..], b"b", b"c"].into_iter());
        t.limit_keys(&server, 0);
        assert_eq!(t.totals().0, 3);
        t.limit_keys(&server, 2);
        assert_eq!(t.totals().0, 2);
    }
}
