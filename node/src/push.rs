//! Out-of-band frames for a connection: bytes another connection (or the server) wants
//! written to this client between its replies, such as client-side caching invalidations.
//!
//! Each connection registers one unbounded channel under its client id; the connection task
//! appends whatever arrives to its output buffer after the reply of the command it is running
//! (as MONITOR output is fed, see `conn.rs`). A frame sent to an idle connection wakes it
//! through its one wake source, the notify of its pub/sub queue.

use std::collections::HashMap;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::server::ClientInfo;

/// The senders of every registered connection, by client id.
#[derive(Default)]
pub struct Pushers {
    map: Mutex<HashMap<u64, Registered>>,
}

/// A connection's sender and what wakes it.
type Registered = (mpsc::UnboundedSender<Bytes>, Arc<ClientInfo>);

impl Pushers {
    /// Registers the client; the connection reads the returned receiver when its pub/sub
    /// queue's notify wakes it.
    pub fn register(&self, info: &Arc<ClientInfo>) -> mpsc::UnboundedReceiver<Bytes> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.map.lock().insert(info.id, (tx, info.clone()));
        rx
    }

    pub fn unregister(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    /// Queues `frame` for client `id`; false if there is no such connection.
    pub fn send(&self, id: u64, frame: Bytes) -> bool {
        match self.map.lock().get(&id) {
            Some((tx, info)) => {
                let sent = tx.send(frame).is_ok();
                info.frames.store(true, Release);
                info.pushes.ready.notify_one();
                sent
            }
            None => false,
        }
    }
}

/// Appends the frames waiting for the connection of `info` to `out`. Without any, this is one
/// load of its flag: the connection calls it after every command.
#[inline]
pub fn drain(info: &ClientInfo, rx: &mut mpsc::UnboundedReceiver<Bytes>, out: &mut BytesMut) {
    // The sender sets the flag after queueing, so a frame is either drained now or flagged
    // for the next call (and its notify wakes an idle connection).
    if info.frames.load(Relaxed) && info.frames.swap(false, Acquire) {
        while let Ok(frame) = rx.try_recv() {
            out.extend_from_slice(&frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn send_reaches_registered_client_only_and_wakes_it() {
        let s = crate::server::Server::new(crate::config::Config::default());
        let info = s.register_client("a".into(), "b".into(), 0);
        let id = info.id;
        let p = Pushers::default();
        let mut rx = p.register(&info);
        let woken = info.pushes.ready.notified();
        assert!(p.send(id, Bytes::from_static(b"x")));
        assert!(!p.send(id + 1, Bytes::from_static(b"y")));
        tokio::time::timeout(std::time::Duration::from_secs(5), woken)
            .await
            .expect("the send wakes the connection");
        let mut out = BytesMut::new();
        drain(&info, &mut rx, &mut out);
        assert_eq!(&out[..], b"x");
        drain(&info, &mut rx, &mut out);
        assert_eq!(&out[..], b"x");
        assert!(p.send(id, Bytes::from_static(b"w")));
        drain(&info, &mut rx, &mut out);
        assert_eq!(&out[..], b"xw");
        p.unregister(id);
        assert!(!p.send(id, Bytes::from_static(b"z")));
    }
}
