//! ferrodis-node: a Redis 7 compatible server.
//!
//! # Layout
//!
//! In the order a request travels:
//!
//! - [`resp`]: RESP2/RESP3 frames; the only module that knows the wire format.
//! - [`conn`]: one task per client; reads, runs every buffered command, flushes once.
//! - [`dispatch`]: the checks every command goes through, then its handler.
//! - [`acl`]: users, their permissions (checked by dispatch), the ACL log and file.
//! - [`keysig`]: the modified-keys signal and WATCH; MULTI state.
//! - [`tracking`]: client-side caching (CLIENT TRACKING) and its invalidation messages.
//! - [`push`]: per-client channels for out-of-band frames (invalidations).
//! - [`blocking`]: clients blocked on keys (BLPOP & co.) and serving them when keys fill.
//! - [`pubsub`]: subscriptions, PUBLISH delivery to other connections, keyspace notifications.
//! - [`cmd`]: the command table and the handlers, one file per command group.
//! - [`db`]: the keyspace (sharded by hash slot) and the value types.
//! - [`rdb`]: the RDB format of values (DUMP/RESTORE payloads; snapshots next).
//!
//! Beside the path: [`cluster`] (cluster mode: the bus, nodes.conf, slot routing),
//! [`server`] (shared state), [`config`] (the directive registry),
//! [`error`] (every error text), [`log`] (Redis's log format), [`alloc`] (memory counter),
//! [`persist`] (SAVE/BGSAVE, save points, loading at start), [`aof`] (append-only file),
//! [`scripting`] (the script cache and each thread's Lua interpreter),
//! [`tls`] (rustls for the client port and the cluster bus, certificate reload),
//! [`util`] (number parsing and formatting, glob matching, the value digest of DEBUG
//! DIGEST-VALUE).
#![deny(unsafe_code)]

pub mod acl;
pub mod alloc;
pub mod aof;
pub mod blocking;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod conn;
pub mod db;
pub mod dispatch;
pub mod error;
pub mod functions;
pub mod hdr;
pub mod keysig;
pub mod latency;
pub mod listener;
pub mod rdb;
pub mod repl;

/// The Redis version ferrodis is compatible with, reported to clients (HELLO, INFO).
pub const REDIS_VERSION: &str = "7.0.15";
pub mod log;
pub mod persist;
pub mod pipeline;
pub mod pubsub;
pub mod push;
pub mod resp;
pub mod scripting;
pub mod server;
pub mod spin;
pub mod tls;
pub mod tracking;
pub mod util;
