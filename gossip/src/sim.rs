//! A deterministic simulator: N [`ClusterState`]s over an in-memory network with seeded loss,
//! delay and partitions (like raft-rs's test harness). Node `i` lives at `10.0.<i/256>.<i%256>`
//! with client port 7000 and bus port 17000.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::msg::Message;
use crate::state::{
    Addr, ClusterState, Command, CommandError, Effect, Event, LinkInfo, Options, Reply, TICK_MS,
};
use crate::types::NodeId;

pub const PORT: u16 = 7000;
pub const CPORT: u16 = 17000;

/// The address of node `i`.
pub fn ip_of(i: usize) -> String {
    format!("10.0.{}.{}", i / 256, i % 256)
}

fn index_of(ip: &str) -> Option<usize> {
    let mut parts = ip.split('.').skip(2);
    let hi: usize = parts.next()?.parse().ok()?;
    let lo: usize = parts.next()?.parse().ok()?;
    Some(hi * 256 + lo)
}

/// The network and its nodes.
pub struct Sim {
    pub nodes: Vec<ClusterState>,
    pub now: u64,
    rng: StdRng,
    /// (deliver at, sequence, to, from) ordered by time.
    queue: BinaryHeap<Reverse<(u64, u64, usize, usize)>>,
    in_flight: std::collections::HashMap<u64, Message>,
    seq: u64,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Delivery delay: uniform in 1..=max_delay ms.
    pub max_delay: u64,
    /// Partition group of each node: messages cross only within a group.
    pub group: Vec<u32>,
    /// Crashed nodes neither tick nor receive.
    pub down: Vec<bool>,
    next_tick: Vec<u64>,
    /// Messages delivered, for the curious.
    pub delivered: u64,
    /// Each node's replication offset, reported to it before every tick (the test moves
    /// them as writes would).
    pub offsets: Vec<u64>,
    /// When each node went down (0: up); a replica's link to a down primary is down since.
    pub down_since: Vec<u64>,
    /// Every `Follow` event: (node, whether it follows someone).
    pub follows: Vec<(usize, bool)>,
    /// Every `SlotsLost` event: (node, the slots whose keys it must drop).
    pub lost: Vec<(usize, Vec<u16>)>,
}

impl Sim {
    /// `n` fresh nodes with random ids from `seed`, starting at a unix-ish time.
    pub fn new(n: usize, seed: u64, node_timeout: u64) -> Sim {
        let mut rng = StdRng::seed_from_u64(seed);
        let now = 1_700_000_000_000;
        let nodes = (0..n)
            .map(|i| {
                let opts = Options::new(node_timeout, PORT, CPORT);
                let id = NodeId::random(&mut rng);
                ClusterState::new(opts, id, rng.gen(), now + i as u64)
            })
            .collect();
        let next_tick = (0..n).map(|_| now + rng.gen_range(0..TICK_MS)).collect();
        Sim {
            nodes,
            now,
            rng,
            queue: BinaryHeap::new(),
            in_flight: Default::default(),
            seq: 0,
            loss: 0.0,
            max_delay: 1,
            group: vec![0; n],
            down: vec![false; n],
            next_tick,
            delivered: 0,
            offsets: vec![0; n],
            down_since: vec![0; n],
            follows: Vec::new(),
            lost: Vec::new(),
        }
    }

    /// Runs a command on node `i` and routes its effects.
    pub fn command(&mut self, i: usize, cmd: Command) -> Result<Reply, CommandError> {
        let (r, effects) = self.nodes[i].on_command(self.now, cmd);
        self.route(i, effects);
        r
    }

    /// Takes node `i` down (crash) or brings it back with its state as it was.
    pub fn set_down(&mut self, i: usize, down: bool) {
        self.down[i] = down;
        self.down_since[i] = if down { self.now } else { 0 };
    }

    fn route(&mut self, from: usize, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Send { to, msg } => self.post(from, &to, msg),
                // The node pauses writes at once: its offset is final.
                Effect::Event(Event::PauseForFailover { .. }) => {
                    let offset = self.offsets[from];
                    let (_, more) =
                        self.nodes[from].on_command(self.now, Command::PausedOffset(offset));
                    self.route(from, more);
                }
                Effect::Event(Event::Follow(target)) => {
                    self.follows.push((from, target.is_some()));
                }
                Effect::Event(Event::SlotsLost(slots)) => self.lost.push((from, slots)),
                _ => {}
            }
        }
    }

    /// Reports node `i`'s offset and link state, as the node's status task does.
    fn report(&mut self, i: usize) {
        let st = &self.nodes[i];
        let link_down_since = st.nodes[&st.myself]
            .primary
            .and_then(|p| self.nodes.iter().position(|n| n.myself == p))
            .map_or(0, |p| self.down_since[p]);
        let cmd = Command::ReplStatus {
            offset: self.offsets[i],
            link_down_since,
        };
        let (_, effects) = self.nodes[i].on_command(self.now, cmd);
        self.route(i, effects);
    }

    fn post(&mut self, from: usize, to: &Addr, msg: Message) {
        let Some(to) = index_of(&to.ip) else {
            return;
        };
        if to >= self.nodes.len() || self.rng.gen_bool(self.loss.clamp(0.0, 1.0)) {
            return;
        }
        let at = self.now + self.rng.gen_range(1..=self.max_delay.max(1));
        self.seq += 1;
        self.in_flight.insert(self.seq, msg);
        self.queue.push(Reverse((at, self.seq, to, from)));
    }

    /// Advances the simulated clock by `ms`, delivering messages and ticking nodes in time
    /// order. `each` runs after every step (for invariants).
    pub fn run_for(&mut self, ms: u64, mut each: impl FnMut(&Sim)) {
        let end = self.now + ms;
        loop {
            let next_msg = self.queue.peek().map(|Reverse((t, ..))| *t);
            let (ti, tt) = self
                .next_tick
                .iter()
                .enumerate()
                .min_by_key(|(_, t)| **t)
                .map(|(i, t)| (i, *t))
                .unwrap_or((0, u64::MAX));
            let t = next_msg.map_or(tt, |m| m.min(tt));
            if t > end {
                break;
            }
            self.now = t;
            if next_msg == Some(t) {
                let Some(Reverse((_, seq, to, from))) = self.queue.pop() else {
                    break;
                };
                let Some(msg) = self.in_flight.remove(&seq) else {
                    continue;
                };
                if self.down[to] || self.down[from] || self.group[to] != self.group[from] {
                    continue;
                }
                let link = LinkInfo {
                    peer_ip: ip_of(from),
                    local_ip: Some(ip_of(to)),
                };
                self.delivered += 1;
                let effects = self.nodes[to].on_message(t, &link, msg);
                self.route(to, effects);
            } else {
                self.next_tick[ti] = t + TICK_MS;
                if !self.down[ti] {
                    self.report(ti);
                    let effects = self.nodes[ti].on_tick(t);
                    self.route(ti, effects);
                }
            }
            each(self);
        }
        self.now = end;
    }
}

/// Runs `run` for every seed of `seeds` (or only `$SIM_SEED` when set), reporting each failing
/// seed with its error, and panics listing them all.
pub fn check_seeds(seeds: impl Iterator<Item = u64>, run: impl Fn(u64) -> Result<(), String>) {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED must be a number")],
        Err(_) => seeds.collect(),
    };
    let failed: Vec<u64> = seeds
        .into_iter()
        .filter(|&seed| match run(seed) {
            Ok(()) => false,
            Err(e) => {
                eprintln!("seed {seed} failed: {e}");
                true
            }
        })
        .collect();
    assert!(
        failed.is_empty(),
        "failing seeds (rerun with SIM_SEED=n): {failed:?}"
    );
}
