//! ferrodis-gossip: the cluster bus.
//!
//! # Layout
//!
//! - [`types`]: the vocabulary: [`NodeId`], [`Slot`], [`Epoch`], node flags, slot sets.
//! - [`msg`]: bus messages (MEET, PING, PONG with gossip sections, FAIL, UPDATE, PUBLISH) and
//!   their frames (`FRDB`, version, length, postcard body, size limit).
//! - [`state`]: the pure state machine ([`ClusterState`]): `on_tick`, `on_message`,
//!   `on_command` return [`Effect`]s; time and randomness come in as arguments.
//! - [`view`]: the immutable snapshot the node reads ([`View`], [`Routing`]).
//! - [`sim`]: N state machines over an in-memory network with seeded loss, delay and
//!   partitions.
//! - [`driver`] (feature `driver`): the tokio driver: bus listener, one outbound link per
//!   node address, the clock, and channels to the node.
#![forbid(unsafe_code)]

pub mod msg;
pub mod sim;
pub mod state;
pub mod types;
pub mod view;

#[cfg(feature = "driver")]
pub mod driver;

pub use state::{
    Addr, ClusterState, Command, CommandError, Effect, Event, LinkInfo, Options, Reply, Saved,
    SavedNode, SetSlot,
};
pub use types::{nflags, Epoch, NodeId, Slot, SlotSet, SLOTS};
pub use view::{NodeView, Routing, Target, View};
