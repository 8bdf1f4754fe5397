//! Simulator properties over hundreds of seeds: convergence of the slot map, FAIL of a node
//! cut off past the timeout (and its clearing once it is back), and no slot with two owners
//! sharing a config epoch. A failing seed is printed; rerun one with `SIM_SEED=<n>`.

use ferrodis_gossip::sim::{ip_of, Sim, CPORT, PORT};
use ferrodis_gossip::types::{nflags, SLOTS};
use ferrodis_gossip::{Command, NodeId, SetSlot};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TIMEOUT: u64 = 1000;

/// Every live node knows every other, none in handshake, all agree on every slot's owner.
fn converged(sim: &Sim, live: &[usize]) -> Result<(), String> {
    let n = sim.nodes.len();
    for &i in live {
        let st = &sim.nodes[i];
        let known = st
            .nodes
            .values()
            .filter(|x| x.flags & nflags::HANDSHAKE == 0)
            .count();
        if known != n {
            return Err(format!("node {i} knows {known} of {n} nodes"));
        }
    }
    let first = &sim.nodes[live[0]];
    for s in 0..SLOTS as u16 {
        let o = first.slot_owner(s);
        for &i in &live[1..] {
            if sim.nodes[i].slot_owner(s) != o {
                return Err(format!(
                    "slot {s}: node {} says {:?}, node {i} says {:?}",
                    live[0],
                    o,
                    sim.nodes[i].slot_owner(s)
                ));
            }
        }
    }
    Ok(())
}

/// No slot has two different owners with the same config epoch (each as its viewer knows it).
fn unique_epochs(sim: &Sim, slots: &[u16]) -> Result<(), String> {
    for &s in slots {
        let mut seen: Vec<(NodeId, u64)> = Vec::new();
        for st in &sim.nodes {
            if let Some(o) = st.slot_owner(s) {
                let e = st.nodes.get(&o).map_or(0, |n| n.config_epoch);
                if let Some((other, _)) = seen.iter().find(|(id, ep)| *ep == e && *id != o) {
                    return Err(format!(
                        "slot {s} owned by {other:?} and {o:?}, both with config epoch {e}"
                    ));
                }
                seen.push((o, e));
            }
        }
    }
    Ok(())
}

fn run_seed(seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let n = rng.gen_range(3..=6);
    let mut sim = Sim::new(n, seed, TIMEOUT);
    sim.loss = rng.gen_range(0.0..0.05);
    sim.max_delay = rng.gen_range(1..40);
    let owners = n.min(rng.gen_range(3..=n));
    // Half the seeds start with distinct config epochs (as redis-cli does), half all at 0
    // (collisions must be resolved).
    if rng.gen_bool(0.5) {
        for i in 0..n {
            sim.command(i, Command::SetConfigEpoch(i as u64 + 1))
                .map_err(|e| format!("set-config-epoch: {e}"))?;
        }
    }
    let per = SLOTS / owners;
    for i in 0..owners {
        let lo = i * per;
        let hi = if i == owners - 1 { SLOTS } else { lo + per };
        let slots: Vec<u16> = (lo as u16..hi as u16).collect();
        sim.command(i, Command::AddSlots(slots))
            .map_err(|e| format!("addslots: {e}"))?;
    }
    for i in 1..n {
        let from = if rng.gen_bool(0.5) { 0 } else { i - 1 };
        sim.command(
            from,
            Command::Meet {
                ip: ip_of(i),
                port: PORT,
                cport: CPORT,
            },
        )
        .map_err(|e| format!("meet: {e}"))?;
    }
    // Slots watched for the epoch invariant: range boundaries and the migrated slot.
    let watched: Vec<u16> = vec![0, per as u16 - 1, per as u16, 16383];
    let mut violation: Option<String> = None;
    let mut check = |sim: &Sim| {
        if violation.is_none() {
            if let Err(e) = unique_epochs(sim, &watched) {
                violation = Some(format!("t={}: {e}", sim.now));
            }
        }
    };
    let all: Vec<usize> = (0..n).collect();
    sim.run_for(12_000, &mut check);
    converged(&sim, &all).map_err(|e| format!("after joining: {e}"))?;
    for (i, st) in sim.nodes.iter().enumerate() {
        if !st.state_ok {
            return Err(format!("node {i}: cluster state not ok after joining"));
        }
    }
    // Distinct config epochs among primaries once collisions are resolved.
    let mut epochs: Vec<u64> = sim
        .nodes
        .iter()
        .map(|st| st.nodes[&st.myself].config_epoch)
        .collect();
    epochs.sort();
    epochs.dedup();
    if epochs.len() != n {
        return Err(format!("config epochs not unique: {epochs:?}"));
    }

    // Migrate slot 0 from node 0 to node 1 (as redis-cli --cluster reshard does).
    if rng.gen_bool(0.5) {
        let id0 = sim.nodes[0].myself;
        let id1 = sim.nodes[1].myself;
        sim.command(
            1,
            Command::SetSlot {
                slot: 0,
                action: SetSlot::Importing(id0),
            },
        )
        .map_err(|e| format!("importing: {e}"))?;
        sim.command(
            0,
            Command::SetSlot {
                slot: 0,
                action: SetSlot::Migrating(id1),
            },
        )
        .map_err(|e| format!("migrating: {e}"))?;
        sim.command(
            1,
            Command::SetSlot {
                slot: 0,
                action: SetSlot::Node(id1),
            },
        )
        .map_err(|e| format!("setslot node (target): {e}"))?;
        sim.command(
            0,
            Command::SetSlot {
                slot: 0,
                action: SetSlot::Node(id1),
            },
        )
        .map_err(|e| format!("setslot node (source): {e}"))?;
        sim.run_for(5_000, &mut check);
        converged(&sim, &all).map_err(|e| format!("after migration: {e}"))?;
        for (i, st) in sim.nodes.iter().enumerate() {
            if st.slot_owner(0) != Some(id1) {
                return Err(format!("node {i}: slot 0 not moved"));
            }
        }
    }

    // Cut one node off past the timeout: everyone else marks it FAIL.
    let victim = rng.gen_range(0..n);
    let vid = sim.nodes[victim].myself;
    sim.group[victim] = 1;
    sim.run_for(3 * TIMEOUT + 1_000, &mut check);
    for (i, st) in sim.nodes.iter().enumerate() {
        if i == victim {
            continue;
        }
        let flags = st.nodes.get(&vid).map_or(0, |x| x.flags);
        if flags & nflags::FAIL == 0 {
            return Err(format!(
                "node {i} does not see the cut-off node {victim} as FAIL (flags {})",
                nflags::render(flags)
            ));
        }
    }
    // Heal: the FAIL is cleared (after the undo time for a primary with slots).
    sim.group[victim] = 0;
    sim.run_for(4 * TIMEOUT + 4_000, &mut check);
    for (i, st) in sim.nodes.iter().enumerate() {
        for x in st.nodes.values() {
            if x.flags & (nflags::FAIL | nflags::PFAIL) != 0 {
                return Err(format!(
                    "after healing, node {i} still sees {:?} as {}",
                    x.id,
                    nflags::render(x.flags)
                ));
            }
        }
    }
    converged(&sim, &all).map_err(|e| format!("after healing: {e}"))?;
    if let Some(v) = violation {
        return Err(v);
    }
    Ok(())
}

#[test]
fn simulated_clusters() {
    let n = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    ferrodis_gossip::sim::check_seeds(0..n, run_seed);
}
