//! Out-of-band frames for a connection: bytes another connection (or the server) wants
//! written to this client between its replies, such as client-side caching invalidations.
//!
//! Each connection registers one unbounded channel under its client id; the connection task
//! appends whatever arrives to its output buffer after the reply of the command it is running
//! (as MONITOR output is fed, see `conn.rs`).

use std::collections::HashMap;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// The senders of every registered connection, by client id.
#[derive(Default)]
pub struct Pushers {
    map: Mutex<HashMap<u64, mpsc::UnboundedSender<Bytes>>>,
}

impl Pushers {
    /// Registers client `id`; the connection reads the returned receiver.
    pub fn register(&self, id: u64) -> mpsc::UnboundedReceiver<Bytes> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.map.lock().insert(id, tx);
        rx
    }

    pub fn unregister(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    /// Queues `frame` for client `id`; false if there is no such connection.
    pub fn send(&self, id: u64, frame: Bytes) -> bool {
        match self.map.lock().get(&id) {
            Some(tx) => tx.send(frame).is_ok(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_reaches_registered_client_only() {
        let p = Pushers::default();
        let mut rx = p.register(7);
        assert!(p.send(7, Bytes::from_static(b"x")));
        assert!(!p.send(8, Bytes::from_static(b"y")));
        assert_eq!(rx.try_recv().ok(), Some(Bytes::from_static(b"x")));
        p.unregister(7);
        assert!(!p.send(7, Bytes::from_static(b"z")));
    }
}
