//! Replica elections in the simulator, over hundreds of seeds with message loss, delay and
//! partitions: at most one replica wins a given epoch, the winner is the most up-to-date
//! replica that could be reached, the slot map converges, and the failed primary comes back
//! as a replica of its successor. A failing seed is printed; rerun one with `SIM_SEED=<n>`.

use std::collections::BTreeMap;

use ferrodis_gossip::sim::{ip_of, Sim, CPORT, PORT};
use ferrodis_gossip::types::{nflags, SLOTS};
use ferrodis_gossip::{Command, NodeId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TIMEOUT: u64 = 1000;

fn index(sim: &Sim, id: NodeId) -> usize {
    sim.nodes
        .iter()
        .position(|st| st.myself == id)
        .expect("a node of the simulation")
}

fn primary_of(sim: &Sim, i: usize) -> Option<NodeId> {
    let st = &sim.nodes[i];
    st.nodes[&st.myself].primary
}

/// Every live node agrees on every slot's owner and on who follows whom.
fn converged(sim: &Sim, live: &[usize]) -> Result<(), String> {
    let first = &sim.nodes[live[0]];
    for s in (0..SLOTS as u16).step_by(97).chain([SLOTS as u16 - 1]) {
        let o = first.slot_owner(s);
        for &i in &live[1..] {
            if sim.nodes[i].slot_owner(s) != o {
                return Err(format!(
                    "slot {s}: node {} says {o:?}, node {i} says {:?}",
                    live[0],
                    sim.nodes[i].slot_owner(s)
                ));
            }
        }
    }
    for &j in live {
        let id = sim.nodes[j].myself;
        let own = primary_of(sim, j);
        for &i in live {
            let seen = sim.nodes[i].nodes.get(&id).and_then(|n| n.primary);
            if seen != own {
                return Err(format!(
                    "node {i} thinks node {j} follows {seen:?}, it follows {own:?}"
                ));
            }
        }
    }
    Ok(())
}

struct Layout {
    primaries: usize,
    /// (replica index, primary index)
    replicas: Vec<(usize, usize)>,
}

/// Primaries 0..p with distinct config epochs and the slots split between them, then the
/// replicas, all joined and following.
fn build(rng: &mut StdRng, seed: u64) -> Result<(Sim, Layout), String> {
    let primaries = rng.gen_range(3..=5);
    let mut replicas = Vec::new();
    let mut next = primaries;
    for p in 0..primaries {
        for _ in 0..rng.gen_range(1..=2) {
            replicas.push((next, p));
            next += 1;
        }
    }
    let n = next;
    let mut sim = Sim::new(n, seed, TIMEOUT);
    sim.max_delay = rng.gen_range(1..30);
    for i in 0..n {
        sim.command(i, Command::SetConfigEpoch(i as u64 + 1))
            .map_err(|e| format!("set-config-epoch: {e}"))?;
    }
    let per = SLOTS / primaries;
    for p in 0..primaries {
        let lo = p * per;
        let hi = if p == primaries - 1 { SLOTS } else { lo + per };
        sim.command(p, Command::AddSlots((lo as u16..hi as u16).collect()))
            .map_err(|e| format!("addslots: {e}"))?;
    }
    for i in 1..n {
        let cmd = Command::Meet {
            ip: ip_of(i),
            port: PORT,
            cport: CPORT,
        };
        sim.command(0, cmd).map_err(|e| format!("meet: {e}"))?;
    }
    sim.run_for(6000, |_| {});
    for &(r, p) in &replicas {
        let id = sim.nodes[p].myself;
        sim.command(r, Command::Replicate(id))
            .map_err(|e| format!("replicate {r} -> {p}: {e}"))?;
    }
    sim.run_for(6000, |_| {});
    let all: Vec<usize> = (0..n).collect();
    converged(&sim, &all).map_err(|e| format!("after replicate: {e}"))?;
    Ok((
        sim,
        Layout {
            primaries,
            replicas,
        },
    ))
}

fn run_seed(seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xe1ec);
    let (mut sim, layout) = build(&mut rng, seed)?;
    let n = sim.nodes.len();
    sim.loss = rng.gen_range(0.0..0.05);
    // Offsets: primaries ahead, their replicas behind by distinct amounts.
    for p in 0..layout.primaries {
        sim.offsets[p] = 100_000;
    }
    for &(r, _) in &layout.replicas {
        sim.offsets[r] = 50_000 + r as u64 * 1000 + rng.gen_range(0..1000);
    }
    sim.run_for(3000, |_| {});
    let victim = rng.gen_range(0..layout.primaries);
    let victim_id = sim.nodes[victim].myself;
    let candidates: Vec<usize> = layout
        .replicas
        .iter()
        .filter(|(_, p)| *p == victim)
        .map(|(r, _)| *r)
        .collect();
    let best = *candidates
        .iter()
        .max_by_key(|&&r| sim.offsets[r])
        .expect("every primary has a replica");
    // Sometimes a partition cuts off one node (maybe the best replica) for a while.
    let cut = rng
        .gen_bool(0.3)
        .then(|| rng.gen_range(0..n))
        .filter(|&c| c != victim);
    let mut winners: BTreeMap<u64, usize> = BTreeMap::new();
    let mut was_primary: Vec<bool> = (0..n).map(|i| primary_of(&sim, i).is_none()).collect();
    let mut violation: Option<String> = None;
    let mut check = |sim: &Sim| {
        for (i, st) in sim.nodes.iter().enumerate() {
            let me = &st.nodes[&st.myself];
            let primary = me.primary.is_none();
            if primary && !was_primary[i] {
                let e = me.config_epoch;
                if let Some(&other) = winners.get(&e) {
                    if other != i && violation.is_none() {
                        violation = Some(format!(
                            "nodes {other} and {i} both won epoch {e} at {}",
                            sim.now
                        ));
                    }
                }
                winners.insert(e, i);
            }
            was_primary[i] = primary;
        }
    };
    sim.set_down(victim, true);
    if let Some(c) = cut {
        sim.group[c] = 1;
        sim.run_for(rng.gen_range(500..4000), &mut check);
        sim.group[c] = 0;
    }
    sim.run_for(15_000, &mut check);
    let live: Vec<usize> = (0..n).filter(|&i| i != victim).collect();
    converged(&sim, &live).map_err(|e| format!("after the failover: {e}"))?;
    let owner = sim.nodes[live[0]]
        .slot_owner((victim * (SLOTS / layout.primaries)) as u16)
        .ok_or("the victim's slots are unowned")?;
    let winner = index(&sim, owner);
    if !candidates.contains(&winner) {
        return Err(format!(
            "node {winner} took the slots, not a replica of {victim}"
        ));
    }
    if cut.is_none() && winner != best {
        return Err(format!(
            "node {winner} (offset {}) won, node {best} (offset {}) was ahead",
            sim.offsets[winner], sim.offsets[best]
        ));
    }
    for &r in &candidates {
        if r != winner && primary_of(&sim, r) != Some(owner) {
            return Err(format!("replica {r} does not follow the winner {winner}"));
        }
    }
    for st in &sim.nodes {
        if st.myself != victim_id && !st.state_ok {
            return Err("cluster state not ok after the failover".into());
        }
    }
    // The old primary comes back and follows its successor.
    sim.set_down(victim, false);
    sim.run_for(10_000, &mut check);
    if let Some(v) = violation {
        return Err(v);
    }
    if primary_of(&sim, victim) != Some(owner) {
        return Err(format!(
            "the old primary {victim} follows {:?}, not the winner {winner}",
            primary_of(&sim, victim)
        ));
    }
    let all: Vec<usize> = (0..n).collect();
    converged(&sim, &all).map_err(|e| format!("after the return: {e}"))?;
    let failed = sim.nodes[0]
        .nodes
        .values()
        .any(|x| x.flags & nflags::FAIL != 0 && x.id != victim_id);
    if failed {
        return Err("a node is still FAIL".into());
    }
    Ok(())
}

/// Runs seeds `range` (or just `SIM_SEED`), reporting every failing one.
fn run_seeds(range: std::ops::Range<u64>) {
    ferrodis_gossip::sim::check_seeds(range, run_seed);
}

// Four quarters of 240 seeds, so the test threads share them.
#[test]
fn elections_seeds_0() {
    run_seeds(0..60);
}
#[test]
fn elections_seeds_1() {
    run_seeds(60..120);
}
#[test]
fn elections_seeds_2() {
    run_seeds(120..180);
}
#[test]
fn elections_seeds_3() {
    run_seeds(180..240);
}
