//! Replicas and failover, in Redis's vocabulary (`cluster_legacy.c`): following a primary
//! (`clusterSetMaster`), the replica election (`clusterHandleSlaveFailover`), the primaries'
//! votes (`clusterSendFailoverAuthIfNeeded`), manual failover (`MFSTART`, the paused primary's
//! final offset, FORCE, TAKEOVER), replica migration to orphaned primaries, and ferrodis's own
//! guard for a primary that restarted without its data.

use std::collections::BTreeSet;

use rand::Rng;
use tracing::{info, warn};

use super::{ClusterState, CommandError, Effect, Event, Reply};
use crate::msg::{mflags, Body, Message};
use crate::types::{nflags, NodeId};

/// How long a manual failover may take (Redis `CLUSTER_MF_TIMEOUT`).
pub const MANUAL_FAILOVER_TIMEOUT: u64 = 5000;
/// A primary orphaned for this long gets a migrating replica (`CLUSTER_SLAVE_MIGRATION_DELAY`).
pub const MIGRATION_DELAY: u64 = 5000;

/// `CLUSTER FAILOVER` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverKind {
    /// Coordinated with the primary: it pauses writes, the replica catches up, then wins.
    Default,
    /// An election without the primary's agreement (it may be down).
    Force,
    /// No election: a new config epoch and the slots, at once.
    Takeover,
}

/// A replica's election in progress (Redis's `failover_auth_*`).
#[derive(Debug, Default)]
pub(super) struct Election {
    /// When the vote request goes (or went) out; 0: none scheduled.
    time: u64,
    rank: usize,
    sent: bool,
    epoch: u64,
    /// Primaries that voted for us in `epoch`.
    voters: BTreeSet<NodeId>,
}

/// A manual failover in progress (Redis's `mf_*`).
#[derive(Debug, Default)]
pub(super) struct Manual {
    /// Its deadline (unix ms); 0: none.
    end: u64,
    /// Primary side: the replica that asked.
    replica: Option<NodeId>,
    /// Primary side: the final offset, once writes are paused.
    paused_offset: Option<u64>,
    /// Replica side: the paused primary's final offset.
    primary_offset: Option<u64>,
    /// Replica side: the election may start (FORCE, or caught up with the primary).
    can_start: bool,
}

impl ClusterState {
    /// The replication offset our messages carry: a paused primary's final one, else ours.
    pub(super) fn header_offset(&self) -> u64 {
        match self.manual.paused_offset {
            Some(o) if self.me().is_primary() => o,
            _ => self.repl_offset,
        }
    }

    pub(super) fn header_mflags(&self) -> u8 {
        let mut f = 0;
        if self.me().is_primary() {
            if self.manual.end != 0 && self.manual.paused_offset.is_some() {
                f |= mflags::PAUSED;
            }
            if self.empty_guard.is_some() {
                f |= mflags::EMPTY;
            }
        } else if self.manual.end != 0 {
            f |= mflags::FORCEACK;
        }
        f
    }

    /// This primary restarted without data: it does not serve its slots while a replica
    /// that holds them can take over (called before the bus starts).
    pub fn guard_empty(&mut self, now: u64) {
        let me = self.me();
        let has_replicas = self.nodes.values().any(|n| n.primary == Some(self.myself));
        if me.is_primary() && !me.slots.is_empty() && has_replicas {
            warn!("I restarted without data: my slots stay unserved until a replica that holds them takes over (CLUSTER FAILOVER TAKEOVER here serves them empty)");
            self.empty_guard = Some(now);
            self.routing = None;
        }
    }

    /// Becomes a replica of `primary` (Redis `clusterSetMaster`).
    pub(super) fn set_primary(&mut self, primary: NodeId) {
        {
            let me = self.me_mut();
            me.flags = (me.flags & !nflags::MASTER) | nflags::SLAVE;
            me.primary = Some(primary);
        }
        self.migrating.clear();
        self.importing.clear();
        self.empty_guard = None;
        self.reset_manual();
        self.election = Election::default();
        self.routing = None;
        self.save_needed = true;
        self.emit_follow(Some(primary));
    }

    /// Tells the node whom to replicate from (None: serve as a primary).
    pub(super) fn emit_follow(&mut self, primary: Option<NodeId>) {
        let target = match primary {
            None => None,
            Some(p) => match self.nodes.get(&p) {
                Some(n) if !n.ip.is_empty() => Some((n.ip.clone(), n.port)),
                _ => return,
            },
        };
        self.effects.push(Effect::Event(Event::Follow(target)));
    }

    fn reset_manual(&mut self) {
        if self.manual.replica.is_some() {
            self.effects.push(Effect::Event(Event::EndPause));
        }
        self.manual = Manual::default();
    }

    /// CLUSTER REPLICATE (the node checked that it holds no keys).
    pub(super) fn replicate(&mut self, _now: u64, id: NodeId) -> Result<Reply, CommandError> {
        let Some(n) = self.nodes.get(&id).filter(|n| !n.has(nflags::HANDSHAKE)) else {
            return Err(CommandError::UnknownNode);
        };
        if id == self.myself {
            return Err(CommandError::ReplicateMyself);
        }
        if !n.is_primary() {
            return Err(CommandError::ReplicateReplica);
        }
        let me = self.me();
        if me.is_primary() && !me.slots.is_empty() {
            return Err(CommandError::ReplicateNotEmpty);
        }
        self.set_primary(id);
        Ok(Reply::Ok)
    }

    /// A replica takes its primary's slots (Redis `clusterFailoverReplaceYourMaster`).
    fn replace_primary(&mut self, now: u64) {
        let Some(old) = self.me().primary else {
            return;
        };
        {
            let me = self.me_mut();
            me.flags = (me.flags & !nflags::SLAVE) | nflags::MASTER;
            me.primary = None;
        }
        let slots: Vec<u16> = self
            .nodes
            .get(&old)
            .map(|n| n.slots.iter().collect())
            .unwrap_or_default();
        for s in slots {
            self.assign(s, Some(self.myself));
        }
        self.refresh_ranges();
        self.reset_manual();
        self.election = Election::default();
        self.routing = None;
        self.save_needed = true;
        self.update_state(now);
        self.broadcast_pong(now);
        self.emit_follow(None);
    }

    /// A PONG to every node (our new slots, or our offset before an election).
    fn broadcast_pong(&mut self, now: u64) {
        let gossip = self.gossip_section(now);
        self.broadcast(Body::Pong(gossip));
    }

    /// CLUSTER FAILOVER [FORCE|TAKEOVER].
    pub(super) fn manual_failover(
        &mut self,
        now: u64,
        kind: FailoverKind,
    ) -> Result<Reply, CommandError> {
        let me = self.me();
        if me.is_primary() {
            if kind == FailoverKind::Takeover && self.empty_guard.is_some() {
                warn!("Serving my slots without data (user request).");
                self.empty_guard = None;
                self.routing = None;
                return Ok(Reply::Ok);
            }
            return Err(CommandError::FailoverOnPrimary);
        }
        let Some(p) = me.primary.and_then(|p| self.nodes.get(&p)) else {
            return Err(CommandError::PrimaryUnknown);
        };
        let unreachable =
            p.has(nflags::FAIL | nflags::PFAIL) || p.link_stale(now, self.opts.node_timeout);
        if kind == FailoverKind::Default && unreachable {
            return Err(CommandError::PrimaryDown);
        }
        let primary = p.id;
        self.reset_manual();
        self.manual.end = now + MANUAL_FAILOVER_TIMEOUT;
        match kind {
            FailoverKind::Takeover => {
                warn!("Taking over the master (user request).");
                self.bump_epoch_without_consensus();
                self.replace_primary(now);
            }
            FailoverKind::Force => {
                warn!("Forced failover user request accepted.");
                self.manual.can_start = true;
            }
            FailoverKind::Default => {
                warn!("Manual failover user request accepted.");
                let to = self.nodes[&primary].addr();
                self.send(to, Body::MfStart);
            }
        }
        Ok(Reply::Ok)
    }

    /// MFSTART from one of our replicas: pause writes (the node reports the final offset).
    pub(super) fn manual_failover_requested(&mut self, now: u64, sender: NodeId) {
        let ours = self
            .nodes
            .get(&sender)
            .is_some_and(|n| n.primary == Some(self.myself));
        if !ours || !self.me().is_primary() {
            return;
        }
        self.reset_manual();
        self.manual.end = now + MANUAL_FAILOVER_TIMEOUT;
        self.manual.replica = Some(sender);
        warn!("Manual failover requested by replica {sender}.");
        self.effects.push(Effect::Event(Event::PauseForFailover {
            until: now + MANUAL_FAILOVER_TIMEOUT * 2,
        }));
    }

    /// The node paused writes: `offset` is final; tell the replica at once.
    pub(super) fn paused_offset(&mut self, now: u64, offset: u64) {
        let Some(replica) = self.manual.replica else {
            return;
        };
        if self.manual.paused_offset.is_some() || !self.me().is_primary() {
            return;
        }
        self.manual.paused_offset = Some(offset);
        self.send_ping(now, replica, b'P');
    }

    /// Our primary is paused for our manual failover at `offset`.
    pub(super) fn primary_paused(&mut self, now: u64, offset: u64) {
        if self.manual.end != 0 && self.manual.primary_offset.is_none() {
            self.manual.primary_offset = Some(offset);
            warn!("Received replication offset for paused master manual failover: {offset}");
            self.manual_failover_step(now);
        }
    }

    /// Replica side: the election may start once we processed the paused primary's stream.
    fn manual_failover_step(&mut self, now: u64) {
        if self.manual.end == 0 || self.manual.can_start {
            return;
        }
        if self.manual.primary_offset == Some(self.repl_offset) {
            self.manual.can_start = true;
            warn!("All master replication stream processed, manual failover can start.");
            self.election_step(now);
        }
    }

    /// Every tick: manual failover timeouts, the election, replica migration, the guard.
    pub(super) fn failover_cron(&mut self, now: u64) {
        // `cluster-replica-no-failover` shows as the `nofailover` flag (and travels in our
        // messages, so the other replicas leave us out of their ranks).
        let no_failover = self.opts.replica_no_failover;
        let me = self.me_mut();
        if (me.flags & nflags::NOFAILOVER != 0) != no_failover {
            me.flags ^= nflags::NOFAILOVER;
            self.save_needed = true;
        }
        if self.manual.end != 0 && self.manual.end < now {
            warn!("Manual failover timed out.");
            self.reset_manual();
        }
        if self.me().is_primary() {
            self.check_empty_guard(now);
            return;
        }
        self.manual_failover_step(now);
        self.election_step(now);
        self.replica_migration(now);
    }

    fn cant_failover(&mut self, reason: &'static str) {
        if self.cant_failover != Some(reason) {
            self.cant_failover = Some(reason);
            info!("Currently unable to failover: {reason}");
        }
    }

    /// How many replicas of our primary that may fail over have a newer offset than ours.
    fn replica_rank(&self) -> usize {
        let Some(p) = self.me().primary else {
            return 0;
        };
        self.nodes
            .values()
            .filter(|n| {
                n.id != self.myself
                    && n.primary == Some(p)
                    && n.has(nflags::SLAVE)
                    && !n.has(nflags::NOFAILOVER | nflags::FAIL)
                    && n.repl_offset > self.repl_offset
            })
            .count()
    }

    /// Replica side of an automatic or manual failover (Redis `clusterHandleSlaveFailover`).
    pub(super) fn election_step(&mut self, now: u64) {
        let timeout = self.opts.node_timeout;
        let auth_timeout = (timeout * 2).max(2000);
        let auth_retry = auth_timeout * 2;
        let manual = self.manual.end != 0 && self.manual.can_start;
        let me = self.me();
        if me.is_primary() {
            return;
        }
        let Some(p) = me.primary.and_then(|p| self.nodes.get(&p)) else {
            return;
        };
        // A primary back without its data is replaced only by a replica that holds some.
        let empty = p.empty && self.repl_offset > 0;
        if !(p.has(nflags::FAIL) || empty || manual) || p.slots.is_empty() {
            self.cant_failover = None;
            return;
        }
        if self.opts.replica_no_failover && !manual {
            self.cant_failover("cluster-replica-no-failover is set");
            return;
        }
        let mut data_age = match self.link_down_since {
            0 => 0,
            t => now.saturating_sub(t),
        };
        if data_age > timeout {
            data_age -= timeout;
        }
        let factor = self.opts.replica_validity_factor;
        if factor > 0 && !manual && data_age > self.opts.repl_ping_period_ms + timeout * factor {
            self.cant_failover("Disconnected from master for longer than allowed. Please check the 'cluster-replica-validity-factor' configuration option.");
            return;
        }
        if now.saturating_sub(self.election.time) > auth_retry {
            let jitter = self.rng.gen_range(0..500);
            let rank = if manual { 0 } else { self.replica_rank() };
            let time = if manual {
                now
            } else {
                now + 500 + jitter + rank as u64 * 1000
            };
            self.election = Election {
                time,
                rank,
                ..Election::default()
            };
            info!(
                "Start of election delayed for {} milliseconds (rank #{rank}, offset {}).",
                time - now,
                self.repl_offset
            );
            // Everyone learns our offset: the other replicas rank themselves with it and
            // the voters compare it.
            self.broadcast_pong(now);
            return;
        }
        if !self.election.sent && !manual {
            let rank = self.replica_rank();
            if rank > self.election.rank {
                let added = (rank - self.election.rank) as u64 * 1000;
                self.election.time += added;
                self.election.rank = rank;
                info!("Replica rank updated to #{rank}, added {added} milliseconds of delay.");
            }
        }
        if now < self.election.time {
            return;
        }
        if now - self.election.time > auth_timeout {
            self.cant_failover("Failover attempt expired.");
            return;
        }
        if !self.election.sent {
            self.current_epoch += 1;
            self.election.epoch = self.current_epoch;
            self.election.sent = true;
            self.save_needed = true;
            info!(
                "Starting a failover election for epoch {}.",
                self.current_epoch
            );
            self.broadcast(Body::AuthRequest);
            return;
        }
        let needed = self.cluster_size() / 2 + 1;
        if self.election.voters.len() < needed {
            self.cant_failover("Waiting for votes, but majority still not reached.");
            return;
        }
        info!("Failover election won, I'm the new master.");
        let epoch = self.election.epoch;
        if self.me().config_epoch < epoch {
            self.me_mut().config_epoch = epoch;
            info!("configEpoch set to {epoch} after successful failover");
        }
        self.cant_failover = None;
        self.replace_primary(now);
    }

    /// A primary's vote for a replica's election (Redis `clusterSendFailoverAuthIfNeeded`).
    pub(super) fn vote_if_needed(&mut self, now: u64, msg: &Message) {
        let me = self.me();
        if !me.is_primary() || me.slots.is_empty() {
            return;
        }
        let sender = msg.sender;
        let force = msg.mflags & mflags::FORCEACK != 0;
        if msg.current_epoch < self.current_epoch {
            warn!(
                "Failover auth denied to {sender}: reqEpoch ({}) < curEpoch({})",
                msg.current_epoch, self.current_epoch
            );
            return;
        }
        if self.last_vote_epoch == self.current_epoch {
            warn!(
                "Failover auth denied to {sender}: already voted for epoch {}",
                self.current_epoch
            );
            return;
        }
        let primary = self
            .nodes
            .get(&sender)
            .and_then(|n| n.primary)
            .or(msg.primary);
        let Some(p) = primary.and_then(|p| self.nodes.get(&p)) else {
            warn!("Failover auth denied to {sender}: it is a master node or its master is unknown");
            return;
        };
        if msg.primary.is_none() {
            warn!("Failover auth denied to {sender}: it is a master node");
            return;
        }
        if !(force || p.has(nflags::FAIL) || p.empty) {
            warn!("Failover auth denied to {sender}: its master is up");
            return;
        }
        // ferrodis: the most up-to-date replica wins. A vote goes only to a replica that no
        // other reachable replica of the same primary is ahead of (Redis leaves this to the
        // rank delay alone, which message loss defeats).
        let pid = p.id;
        let ahead = self.nodes.values().find(|n| {
            n.id != sender
                && n.primary == Some(pid)
                && !n.has(nflags::FAIL | nflags::PFAIL | nflags::NOFAILOVER)
                && n.repl_offset > msg.repl_offset
        });
        if let (Some(n), false) = (ahead, force) {
            warn!(
                "Failover auth denied to {sender}: replica {} has a newer offset ({} > {})",
                n.id, n.repl_offset, msg.repl_offset
            );
            return;
        }
        let window = self.opts.node_timeout * 2;
        if now.saturating_sub(p.voted_time) < window && p.voted_time != 0 {
            warn!(
                "Failover auth denied to {sender}: can't vote about this master before {} milliseconds",
                window - now.saturating_sub(p.voted_time)
            );
            return;
        }
        for &(a, b) in &msg.slots {
            for s in a..=b.min(crate::types::SLOTS as u16 - 1) {
                let Some(owner) = self.slots[s as usize] else {
                    continue;
                };
                let owner_epoch = self.nodes.get(&owner).map_or(0, |n| n.config_epoch);
                if owner_epoch > msg.config_epoch {
                    warn!(
                        "Failover auth denied to {sender}: slot {s} epoch ({owner_epoch}) > reqEpoch ({})",
                        msg.config_epoch
                    );
                    return;
                }
            }
        }
        self.last_vote_epoch = self.current_epoch;
        if let Some(p) = self.nodes.get_mut(&pid) {
            p.voted_time = now;
        }
        self.save_needed = true;
        let Some(to) = self.nodes.get(&sender).map(|n| n.addr()) else {
            return;
        };
        self.send(to, Body::AuthAck);
        info!(
            "Failover auth granted to {sender} for epoch {}",
            self.current_epoch
        );
    }

    /// A vote for our election.
    pub(super) fn count_vote(&mut self, now: u64, msg: &Message) {
        let voter_ok = self
            .nodes
            .get(&msg.sender)
            .is_some_and(|n| n.is_primary() && !n.slots.is_empty());
        if voter_ok && self.election.sent && msg.current_epoch >= self.election.epoch {
            self.election.voters.insert(msg.sender);
            self.election_step(now);
        }
    }

    /// A replica of a well-served primary moves to an orphaned one (Redis
    /// `clusterHandleSlaveMigration`): only the replica with the lowest id of a primary that
    /// keeps more than `cluster-migration-barrier` working replicas.
    fn replica_migration(&mut self, now: u64) {
        // Orphan bookkeeping for every primary.
        let primaries: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.is_primary() && !n.slots.is_empty())
            .map(|n| n.id)
            .collect();
        for p in &primaries {
            let ok = self.working_replicas(*p).len();
            let had = self.nodes.values().any(|n| n.primary == Some(*p));
            if let Some(n) = self.nodes.get_mut(p) {
                if ok == 0 && had && !n.has(nflags::FAIL) {
                    if n.orphaned_time == 0 {
                        n.orphaned_time = now;
                    }
                } else {
                    n.orphaned_time = 0;
                }
            }
        }
        if !self.opts.allow_replica_migration || !self.state_ok {
            return;
        }
        let Some(mine) = self.me().primary else {
            return;
        };
        let ok = self.working_replicas(mine);
        if (ok.len() as u64) <= self.opts.migration_barrier || ok.first() != Some(&self.myself) {
            return;
        }
        let target = primaries.iter().copied().find(|p| {
            *p != mine
                && self.nodes.get(p).is_some_and(|n| {
                    n.orphaned_time != 0 && now.saturating_sub(n.orphaned_time) > MIGRATION_DELAY
                })
        });
        if let Some(target) = target {
            warn!("Migrating to orphaned master {target}");
            self.set_primary(target);
        }
    }

    /// The replicas of `primary` that are not failing, lowest id first.
    fn working_replicas(&self, primary: NodeId) -> Vec<NodeId> {
        self.nodes
            .values()
            .filter(|n| n.primary == Some(primary) && !n.has(nflags::FAIL | nflags::PFAIL))
            .map(|n| n.id)
            .collect()
    }

    /// The empty-restart guard ends once no replica that holds data is around to take over.
    fn check_empty_guard(&mut self, now: u64) {
        let Some(since) = self.empty_guard else {
            return;
        };
        if now.saturating_sub(since) <= self.opts.node_timeout.max(1000) * 2 {
            return;
        }
        let holder = self.nodes.values().any(|n| {
            n.primary == Some(self.myself)
                && !n.has(nflags::FAIL | nflags::PFAIL)
                && n.data_received > since
                && n.repl_offset > 0
        });
        if !holder {
            warn!("No replica with data took over: serving my slots without data.");
            self.empty_guard = None;
            self.routing = None;
        }
    }
}
