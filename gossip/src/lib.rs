//! ferrodis-gossip: the cluster bus (issue 5). Pure state machine, tokio driver and simulator.
#![forbid(unsafe_code)]
