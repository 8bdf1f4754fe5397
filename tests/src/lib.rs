//! ferrodis-tests: end-to-end and differential tests that drive real server processes.
//!
//! # Layout
//! - [`server`]: a `redis-server` / `ferrodis-server` process on a free loopback port, in its
//!   own temp dir, stopped by pid on drop.
//! - [`resp_client`]: a blocking raw RESP client; replies keep their exact bytes.
//! - [`script`]: the `tests/scripts/*.redis` format (commands, `@raw`, `@sorted`...).
//! - [`diff`]: runs a script on stock Redis and ferrodis and compares every reply.
//! - [`scenario`]: multi-client scenarios compared between both servers (blocking commands).
//! - [`cluster`]: clusters of either flavor built with the real `redis-cli --cluster`, and
//!   waits with deadlines.
//!
//! The tests themselves live in `tests/*.rs`; the scripts in `scripts/*.redis`. The
//! `ferrodis-script` binary prints what a server answers to a script (to write new ones).
#![forbid(unsafe_code)]

pub mod cluster;
pub mod diff;
pub mod resp_client;
pub mod scenario;
pub mod script;
pub mod server;
pub mod state;

pub use resp_client::{Reply, RespClient};
pub use server::{Flavor, Server};
