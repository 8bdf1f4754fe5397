//! MIGRATE's shared state: the cached connections to targets, and the fence that keeps
//! writers off keys whose value is on its way to another node.
//!
//! Redis runs MIGRATE with the whole server stopped, so nothing can touch a key between
//! its serialization and its deletion. ferrodis serializes the keys under their shard
//! locks, releases the locks for the network round trip, and takes them again to delete
//! the keys the target acknowledged. Meanwhile the keys are *fenced*: a command that would
//! write one of them is held back and retried (as a `CLIENT PAUSE` holds it), so no write
//! lands between the snapshot and the deletion. Readers keep being served the old value.
//!
//! After a migration deleted keys, a command that was routed before the deletion (the key
//! was still here, so no `-ASK`) but locked its shard after it would act on a missing key:
//! every deletion bumps [`Migrations::seq`], and dispatch re-runs (re-routes) a keyed
//! command that saw the counter move between its routing and its locks.
//!
//! Connections are kept per `host:port` (Redis `migrate_cached_sockets`), reused by later
//! MIGRATEs and closed once idle for [`IDLE`], at most [`MAX_CACHED`] in all.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::cmd::{flags, Command};
use crate::db::Db;

/// A cached connection is closed after this long unused (Redis `MIGRATE_SOCKET_CACHE_TTL`).
pub const IDLE: Duration = Duration::from_secs(10);
/// At most this many cached connections (Redis `MIGRATE_SOCKET_CACHE_ITEMS`).
pub const MAX_CACHED: usize = 64;

/// A connection to a MIGRATE target.
pub struct Conn {
    reader: BufReader<TcpStream>,
    /// The database last SELECTed on it (None: unknown, SELECT again).
    pub last_db: Option<i64>,
    last_use: Instant,
}

/// What went wrong talking to the target.
#[derive(Debug)]
pub struct IoFailure {
    /// The error was a timeout (Redis does not retry those).
    pub timeout: bool,
}

fn failure(e: &std::io::Error) -> IoFailure {
    IoFailure {
        timeout: matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ),
    }
}

impl Conn {
    /// Connects with `timeout`; None if the address cannot be resolved or reached in time
    /// (the caller answers `IOERR error or timeout connecting to the client`). A refused
    /// connection is reported by the first write, as Redis's non-blocking connect does.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Conn, ConnectError> {
        let addrs: Vec<_> = (host, port)
            .to_socket_addrs()
            .map_err(|_| ConnectError::Resolve)?
            .collect();
        let mut last = ConnectError::Resolve;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(Conn {
                        reader: BufReader::with_capacity(4096, s),
                        last_db: None,
                        last_use: Instant::now(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => last = ConnectError::Timeout,
                Err(_) => last = ConnectError::Refused,
            }
        }
        Err(last)
    }

    /// Writes `buf` in 64 KiB pieces, each within `timeout`.
    pub fn send(&mut self, buf: &[u8], timeout: Duration) -> Result<(), IoFailure> {
        let s = self.reader.get_mut();
        s.set_write_timeout(Some(timeout))
            .map_err(|e| failure(&e))?;
        for piece in buf.chunks(64 * 1024) {
            s.write_all(piece).map_err(|e| failure(&e))?;
        }
        Ok(())
    }

    /// Reads one reply line (without its CRLF) within `timeout`, as Redis's `syncReadLine`:
    /// the target answers RESTORE, SELECT and AUTH with one status or error line.
    pub fn read_line(&mut self, timeout: Duration) -> Result<Vec<u8>, IoFailure> {
        self.reader
            .get_mut()
            .set_read_timeout(Some(timeout))
            .map_err(|e| failure(&e))?;
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(0) => Err(IoFailure { timeout: false }),
            Ok(_) if line.last() != Some(&b'\n') => Err(IoFailure { timeout: false }),
            Ok(_) => {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(line)
            }
            Err(e) => Err(failure(&e)),
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// The host name does not resolve: Redis's "connecting" error.
    Resolve,
    /// No answer within the timeout: Redis's "connecting" error too.
    Timeout,
    /// Refused or unreachable: Redis only notices it when writing.
    Refused,
}

/// MIGRATE's state on one server.
#[derive(Default)]
pub struct Migrations {
    /// Idle cached connections by `host:port`.
    pool: Mutex<HashMap<String, Vec<Conn>>>,
    /// `(db, key)` -> migrations in flight holding it.
    fence: Mutex<HashMap<(usize, Bytes), u32>>,
    /// Number of fenced keys (checked before looking at `fence`).
    fenced: AtomicUsize,
    /// Bumped each time a migration deleted keys.
    seq: AtomicU64,
}

impl Migrations {
    /// A cached connection to `host:port`, if one is idle (and fresh).
    pub fn take(&self, name: &str) -> Option<Conn> {
        let mut pool = self.pool.lock();
        let list = pool.get_mut(name)?;
        while let Some(c) = list.pop() {
            if c.last_use.elapsed() < IDLE {
                if list.is_empty() {
                    pool.remove(name);
                }
                return Some(c);
            }
        }
        pool.remove(name);
        None
    }

    /// Puts a connection back for the next MIGRATE to `name`.
    pub fn give_back(&self, name: String, mut conn: Conn) {
        conn.last_use = Instant::now();
        let mut pool = self.pool.lock();
        let total: usize = pool.values().map(Vec::len).sum();
        if total >= MAX_CACHED {
            // Full: drop the least recently used connection.
            let oldest = pool
                .iter()
                .flat_map(|(k, v)| v.iter().enumerate().map(move |(i, c)| (c.last_use, k, i)))
                .min_by_key(|(t, _, _)| *t)
                .map(|(_, k, i)| (k.clone(), i));
            if let Some((k, i)) = oldest {
                if let Some(v) = pool.get_mut(&k) {
                    v.remove(i);
                    if v.is_empty() {
                        pool.remove(&k);
                    }
                }
            }
        }
        pool.entry(name).or_default().push(conn);
    }

    /// Closes cached connections idle for [`IDLE`] (from the server cron).
    pub fn close_idle(&self) {
        let mut pool = self.pool.lock();
        if pool.is_empty() {
            return;
        }
        pool.retain(|_, v| {
            v.retain(|c| c.last_use.elapsed() < IDLE);
            !v.is_empty()
        });
    }

    /// Number of cached connections (tests, INFO).
    pub fn cached(&self) -> usize {
        self.pool.lock().values().map(Vec::len).sum()
    }

    /// Fences `keys` of database `db` until the returned guard is dropped. Call it holding
    /// the keys' shard locks, so no write slips between the check and the fence.
    pub fn fence<'a>(&'a self, db: usize, keys: &[Bytes]) -> Fence<'a> {
        let mut f = self.fence.lock();
        for k in keys {
            *f.entry((db, k.clone())).or_default() += 1;
        }
        self.fenced.fetch_add(keys.len(), Relaxed);
        Fence {
            owner: self,
            db,
            keys: keys.to_vec(),
        }
    }

    /// The deletion counter (see the module notes): read it before routing a command.
    #[inline]
    pub fn seq(&self) -> u64 {
        self.seq.load(Relaxed)
    }

    /// Records that a migration deleted keys (call it with their shards still locked).
    pub fn deleted(&self) {
        self.seq.fetch_add(1, Relaxed);
    }

    /// Some(wait) when `cmd` must be held back and run again from the start (after
    /// `wait`): it writes a fenced key, or (cluster mode) a migration deleted keys since
    /// `seq` was read before routing it. Called by dispatch with the command's shards
    /// locked (`db`).
    #[inline]
    pub fn must_retry(
        &self,
        seq: u64,
        cluster: bool,
        cmd: &Command,
        args: &[Bytes],
        db: &Db<'_>,
    ) -> Option<Duration> {
        // The common case, no migration at all: two relaxed loads.
        if self.fenced.load(Relaxed) == 0 && (!cluster || self.seq.load(Relaxed) == seq) {
            return None;
        }
        self.must_retry_slow(seq, cluster, cmd, args, db)
    }

    #[cold]
    fn must_retry_slow(
        &self,
        seq: u64,
        cluster: bool,
        cmd: &Command,
        args: &[Bytes],
        db: &Db<'_>,
    ) -> Option<Duration> {
        if cmd.key_specs.is_empty() {
            return None;
        }
        if cluster && self.seq.load(Relaxed) != seq && db.holds_locks() {
            return Some(Duration::ZERO);
        }
        // Scripts (EVAL, FCALL: MAY_REPLICATE) write too: their declared keys are checked.
        if self.fenced.load(Relaxed) == 0 || cmd.flags & (flags::WRITE | flags::MAY_REPLICATE) == 0
        {
            return None;
        }
        let mut idx = Vec::new();
        cmd.key_indices(args, &mut idx);
        self.any_fenced(db.index, idx.iter().map(|&i| &args[i]))
            .then_some(Duration::from_millis(1))
    }

    /// True if one of `keys` (database `db`) is fenced.
    pub fn any_fenced<'k>(&self, db: usize, mut keys: impl Iterator<Item = &'k Bytes>) -> bool {
        if self.fenced.load(Relaxed) == 0 {
            return false;
        }
        let f = self.fence.lock();
        keys.any(|k| f.contains_key(&(db, k.clone())))
    }
}

/// Cluster mode, from the cron: a client blocked (BLPOP, BZPOPMIN, XREAD...) on a key whose
/// slot is now served elsewhere and not imported here is answered `-MOVED` (`-CLUSTERDOWN`
/// when the slot is unassigned, or the whole cluster is down), as Redis's
/// `clusterRedirectBlockedClientIfNeeded`: otherwise it would wait on a key that can no
/// longer change here.
pub fn redirect_blocked(server: &crate::server::Server) -> usize {
    let Some(cluster) = server.cluster.get() else {
        return 0;
    };
    if server.blocking.blocked_clients() == 0 {
        return 0;
    }
    let view = cluster.view();
    crate::blocking::unblock_with_error(server, |_, key| {
        if !view.state_ok {
            return Some("CLUSTERDOWN The cluster is down".to_string());
        }
        let slot = crate::db::key_slot(key);
        let routing = &view.routing;
        match routing.owner(slot) {
            Some(o) if o.myself => None,
            _ if routing.importing.contains_key(&slot) => None,
            // A replica of the owner keeps serving its READONLY readers.
            Some(o) if view.me().primary == Some(o.id) => None,
            Some(o) => Some(format!("MOVED {slot} {}:{}", o.ip, o.port)),
            None => Some("CLUSTERDOWN Hash slot not served".to_string()),
        }
    })
}

/// Keys fenced by one MIGRATE; dropping it lifts the fence.
pub struct Fence<'a> {
    owner: &'a Migrations,
    db: usize,
    keys: Vec<Bytes>,
}

impl Drop for Fence<'_> {
    fn drop(&mut self) {
        let mut f = self.owner.fence.lock();
        for k in self.keys.drain(..) {
            let key = (self.db, k);
            if let Some(n) = f.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    f.remove(&key);
                }
            }
            self.owner.fenced.fetch_sub(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_counts_and_lifts() {
        let m = Migrations::default();
        let a = Bytes::from_static(b"a");
        let b = Bytes::from_static(b"b");
        {
            let _f1 = m.fence(0, &[a.clone(), b.clone()]);
            let f2 = m.fence(0, std::slice::from_ref(&a));
            assert!(m.any_fenced(0, [&a].into_iter()));
            assert!(!m.any_fenced(1, [&a].into_iter()));
            drop(f2);
            assert!(m.any_fenced(0, [&a].into_iter()));
            assert!(m.any_fenced(0, [&b].into_iter()));
        }
        assert!(!m.any_fenced(0, [&a, &b].into_iter()));
        assert_eq!(m.fenced.load(Relaxed), 0);
    }

    #[test]
    fn pool_reuses_and_expires() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let m = Migrations::default();
        let name = format!("127.0.0.1:{port}");
        assert!(m.take(&name).is_none());
        let c = Conn::connect("127.0.0.1", port, Duration::from_secs(1)).unwrap();
        m.give_back(name.clone(), c);
        assert_eq!(m.cached(), 1);
        let mut c = m.take(&name).unwrap();
        assert_eq!(m.cached(), 0);
        c.last_use = Instant::now() - IDLE - Duration::from_secs(1);
        m.pool.lock().entry(name.clone()).or_default().push(c);
        m.close_idle();
        assert_eq!(m.cached(), 0);
        assert_eq!(
            Conn::connect("nosuchhost.invalid", 1, Duration::from_millis(200)).err(),
            Some(ConnectError::Resolve)
        );
    }
}
