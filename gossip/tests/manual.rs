//! Manual failover, TAKEOVER, FORCE, the empty-restart guard and replica migration in the
//! simulator (no loss: these are about the protocol's steps, the election properties are in
//! `elections.rs`).

use ferrodis_gossip::sim::{ip_of, Sim, CPORT, PORT};
use ferrodis_gossip::state::FailoverKind;
use ferrodis_gossip::types::SLOTS;
use ferrodis_gossip::{Command, CommandError, NodeId, Reply};

const TIMEOUT: u64 = 1000;

/// Three primaries (0, 1, 2) with replicas 3 -> 0, 4 -> 1, 5 -> 2, plus `extra` more
/// replicas of primary 0.
fn cluster(seed: u64, extra: usize) -> Sim {
    let n = 6 + extra;
    let mut sim = Sim::new(n, seed, TIMEOUT);
    sim.max_delay = 5;
    for i in 0..n {
        sim.command(i, Command::SetConfigEpoch(i as u64 + 1))
            .unwrap();
    }
    let per = SLOTS / 3;
    for p in 0..3 {
        let hi = if p == 2 { SLOTS } else { (p + 1) * per };
        let slots = ((p * per) as u16..hi as u16).collect();
        sim.command(p, Command::AddSlots(slots)).unwrap();
    }
    for i in 1..n {
        let cmd = Command::Meet {
            ip: ip_of(i),
            port: PORT,
            cport: CPORT,
        };
        sim.command(0, cmd).unwrap();
    }
    sim.run_for(5000, |_| {});
    for r in 3..n {
        let p = if r < 6 { r - 3 } else { 0 };
        let id = sim.nodes[p].myself;
        assert_eq!(sim.command(r, Command::Replicate(id)), Ok(Reply::Ok));
    }
    sim.run_for(3000, |_| {});
    sim
}

fn primary_of(sim: &Sim, i: usize) -> Option<NodeId> {
    let st = &sim.nodes[i];
    st.nodes[&st.myself].primary
}

fn id(sim: &Sim, i: usize) -> NodeId {
    sim.nodes[i].myself
}

/// Node `viewer` says slot 0 belongs to node `owner`.
fn owns_slot0(sim: &Sim, viewer: usize, owner: usize) -> bool {
    sim.nodes[viewer].slot_owner(0) == Some(id(sim, owner))
}

#[test]
fn manual_failover_waits_for_the_replica_to_catch_up() {
    let mut sim = cluster(1, 0);
    sim.offsets[0] = 5000;
    sim.offsets[3] = 4000;
    assert_eq!(
        sim.command(3, Command::Failover(FailoverKind::Default)),
        Ok(Reply::Ok)
    );
    // The primary paused at 5000; the replica is behind: no election.
    sim.run_for(2000, |_| {});
    assert!(primary_of(&sim, 3).is_some(), "promoted before catching up");
    // It catches up: it wins, the old primary follows it.
    sim.offsets[3] = 5000;
    sim.run_for(1000, |_| {});
    assert_eq!(primary_of(&sim, 3), None);
    for v in 0..6 {
        assert!(
            owns_slot0(&sim, v, 3),
            "node {v} still routes slot 0 elsewhere"
        );
    }
    assert_eq!(primary_of(&sim, 0), Some(id(&sim, 3)));
}

#[test]
fn manual_failover_times_out_when_the_replica_never_catches_up() {
    let mut sim = cluster(2, 0);
    sim.offsets[0] = 5000;
    sim.offsets[3] = 4000;
    sim.command(3, Command::Failover(FailoverKind::Default))
        .unwrap();
    sim.run_for(8000, |_| {});
    assert!(primary_of(&sim, 3).is_some());
    assert!(owns_slot0(&sim, 1, 0));
    // Later catching up does not revive the expired attempt.
    sim.offsets[3] = 5000;
    sim.run_for(3000, |_| {});
    assert!(primary_of(&sim, 3).is_some());
}

#[test]
fn failover_checks_its_preconditions() {
    let mut sim = cluster(3, 0);
    assert_eq!(
        sim.command(0, Command::Failover(FailoverKind::Default)),
        Err(CommandError::FailoverOnPrimary)
    );
    assert_eq!(
        sim.command(3, Command::Replicate(id(&sim, 3))),
        Err(CommandError::ReplicateMyself)
    );
    assert_eq!(
        sim.command(4, Command::Replicate(id(&sim, 3))),
        Err(CommandError::ReplicateReplica)
    );
    assert_eq!(
        sim.command(1, Command::Replicate(id(&sim, 0))),
        Err(CommandError::ReplicateNotEmpty)
    );
    // The primary is down: only FORCE or TAKEOVER.
    sim.set_down(0, true);
    sim.run_for(4000, |_| {});
    let r = sim.command(3, Command::Failover(FailoverKind::Default));
    // It may have failed over on its own already; if not, the plain form is refused.
    if primary_of(&sim, 3).is_some() {
        assert_eq!(r, Err(CommandError::PrimaryDown));
    }
}

#[test]
fn force_fails_over_while_the_primary_is_up_and_takeover_needs_no_votes() {
    let mut sim = cluster(4, 0);
    sim.command(3, Command::Failover(FailoverKind::Force))
        .unwrap();
    sim.run_for(2000, |_| {});
    assert_eq!(primary_of(&sim, 3), None, "FORCE did not promote");
    assert_eq!(primary_of(&sim, 0), Some(id(&sim, 3)));
    // TAKEOVER with every other primary cut off: no vote is possible, it still wins.
    for g in [0, 1, 2] {
        sim.group[g] = 1;
    }
    sim.group[4] = 1;
    let r = sim.command(4, Command::Failover(FailoverKind::Takeover));
    assert_eq!(r, Err(CommandError::PrimaryDown).or(Ok(Reply::Ok)));
    assert_eq!(primary_of(&sim, 4), None, "TAKEOVER is immediate");
    sim.group = vec![0; sim.nodes.len()];
    sim.run_for(3000, |_| {});
    for v in 0..6 {
        assert_eq!(
            sim.nodes[v].slot_owner(SLOTS as u16 / 3),
            Some(id(&sim, 4)),
            "node {v}"
        );
    }
    assert_eq!(primary_of(&sim, 1), Some(id(&sim, 4)));
}

#[test]
fn a_primary_back_without_data_hands_over_to_its_replica() {
    let mut sim = cluster(5, 0);
    sim.offsets[0] = 9000;
    sim.offsets[3] = 9000;
    sim.set_down(0, true);
    sim.run_for(300, |_| {});
    // Back before anyone noticed, but empty.
    sim.set_down(0, false);
    sim.offsets[0] = 0;
    let (_, effects) = sim.nodes[0].on_command(sim.now, Command::GuardEmpty);
    drop(effects);
    assert!(sim.nodes[0].view(sim.now).empty_guard);
    sim.run_for(6000, |_| {});
    assert_eq!(
        primary_of(&sim, 3),
        None,
        "the replica with the data took over"
    );
    assert_eq!(primary_of(&sim, 0), Some(id(&sim, 3)));
    assert!(!sim.nodes[0].view(sim.now).empty_guard);
    for v in 0..6 {
        assert!(owns_slot0(&sim, v, 3), "node {v}");
    }
}

#[test]
fn the_empty_guard_lifts_when_no_replica_holds_data() {
    let mut sim = cluster(6, 0);
    // The replica has nothing either (offset 0).
    let (_, _) = sim.nodes[0].on_command(sim.now, Command::GuardEmpty);
    assert!(sim.nodes[0].view(sim.now).empty_guard);
    sim.run_for(5000, |_| {});
    assert!(!sim.nodes[0].view(sim.now).empty_guard);
    assert_eq!(primary_of(&sim, 0), None);
    // TAKEOVER on a guarded primary is the operator's override.
    sim.offsets[3] = 100;
    sim.run_for(1000, |_| {});
    let (_, _) = sim.nodes[1].on_command(sim.now, Command::GuardEmpty);
    sim.offsets[4] = 100;
    assert_eq!(
        sim.command(1, Command::Failover(FailoverKind::Takeover)),
        Ok(Reply::Ok)
    );
    assert!(!sim.nodes[1].view(sim.now).empty_guard);
}

#[test]
fn a_replica_migrates_to_an_orphaned_primary() {
    // Primary 0 has replicas 3 and 6; primary 1 loses its only replica 4.
    let mut sim = cluster(7, 1);
    sim.set_down(4, true);
    sim.run_for(12_000, |_| {});
    let lower = if id(&sim, 3) < id(&sim, 6) { 3 } else { 6 };
    assert_eq!(
        primary_of(&sim, lower),
        Some(id(&sim, 1)),
        "the lowest-id replica of the well-served primary moves"
    );
    let other = 9 - lower;
    assert_eq!(primary_of(&sim, other), Some(id(&sim, 0)));
}
