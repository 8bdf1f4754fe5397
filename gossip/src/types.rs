//! The bus's vocabulary: node ids, slots, epochs, node flags and slot sets.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Number of hash slots.
pub const SLOTS: usize = 16384;

/// A node's name: 40 hex characters, kept as the 20 bytes they spell.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub [u8; 20]);

impl NodeId {
    /// A random id from `rng` (the driver passes an OS-seeded one, the simulator a seeded one).
    pub fn random(rng: &mut impl rand::Rng) -> NodeId {
        let mut b = [0u8; 20];
        rng.fill(&mut b[..]);
        NodeId(b)
    }

    /// Parses 40 hex characters (either case); anything else is None.
    pub fn parse(s: &[u8]) -> Option<NodeId> {
        if s.len() != 40 {
            return None;
        }
        let mut b = [0u8; 20];
        for (i, pair) in s.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            b[i] = (hi * 16 + lo) as u8;
        }
        Some(NodeId(b))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.to_string()[..8])
    }
}

/// A hash slot, 0..16384.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Slot(pub u16);

/// An epoch (`currentEpoch`, `configEpoch`).
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Epoch(pub u64);

/// Node flags, in the order `CLUSTER NODES` prints them.
pub mod nflags {
    pub const MYSELF: u16 = 1 << 0;
    pub const MASTER: u16 = 1 << 1;
    pub const SLAVE: u16 = 1 << 2;
    pub const PFAIL: u16 = 1 << 3;
    pub const FAIL: u16 = 1 << 4;
    pub const HANDSHAKE: u16 = 1 << 5;
    pub const NOADDR: u16 = 1 << 6;
    pub const NOFAILOVER: u16 = 1 << 7;
    /// We sent (or must send) MEET rather than PING to this handshake node.
    pub const MEET: u16 = 1 << 8;

    /// Names as `CLUSTER NODES` and nodes.conf print them (MEET is never printed).
    pub const NAMES: &[(u16, &str)] = &[
        (MYSELF, "myself"),
        (MASTER, "master"),
        (SLAVE, "slave"),
        (PFAIL, "fail?"),
        (FAIL, "fail"),
        (HANDSHAKE, "handshake"),
        (NOADDR, "noaddr"),
        (NOFAILOVER, "nofailover"),
    ];

    /// `myself,master`, or `noflags`.
    pub fn render(flags: u16) -> String {
        let names: Vec<&str> = NAMES
            .iter()
            .filter(|(f, _)| flags & f != 0)
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            "noflags".to_string()
        } else {
            names.join(",")
        }
    }

    /// Parses a rendered flag list; unknown names are an error.
    pub fn parse(s: &str) -> Option<u16> {
        let mut flags = 0;
        for part in s.split(',') {
            match part {
                "noflags" => {}
                "meet" => flags |= MEET,
                _ => flags |= NAMES.iter().find(|(_, n)| *n == part)?.0,
            }
        }
        Some(flags)
    }
}

/// A set of slots: a 16384-bit bitmap.
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSet(Box<[u64; SLOTS / 64]>);

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet(Box::new([0; SLOTS / 64]))
    }
}

impl fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.ranges())
    }
}

impl SlotSet {
    pub fn contains(&self, s: u16) -> bool {
        let s = s as usize % SLOTS;
        self.0[s / 64] & (1 << (s % 64)) != 0
    }

    pub fn insert(&mut self, s: u16) {
        let s = s as usize % SLOTS;
        self.0[s / 64] |= 1 << (s % 64);
    }

    pub fn remove(&mut self, s: u16) {
        let s = s as usize % SLOTS;
        self.0[s / 64] &= !(1 << (s % 64));
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// Every slot in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..SLOTS as u16).filter(|&s| self.contains(s))
    }

    /// Contiguous ranges, inclusive, ascending.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        let mut start: Option<u16> = None;
        for s in 0..SLOTS as u16 {
            match (self.contains(s), start) {
                (true, None) => start = Some(s),
                (false, Some(b)) => {
                    out.push((b, s - 1));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(b) = start {
            out.push((b, SLOTS as u16 - 1));
        }
        out
    }

    /// Builds a set from inclusive ranges; ranges outside 0..16384 are clipped.
    pub fn from_ranges(ranges: &[(u16, u16)]) -> SlotSet {
        let mut set = SlotSet::default();
        for &(a, b) in ranges {
            let b = b.min(SLOTS as u16 - 1);
            for s in a..=b {
                set.insert(s);
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_round_trip() {
        let s = b"1dbda6d657fcff6ed9395fd54bbcfc26af6549b8";
        let id = NodeId::parse(s).unwrap();
        assert_eq!(id.to_string().as_bytes(), s);
        assert!(NodeId::parse(b"1dbda6d657fcff6ed9395fd54bbcfc26af6549bx").is_none());
        assert!(NodeId::parse(b"abc").is_none());
    }

    #[test]
    fn slot_ranges() {
        let set = SlotSet::from_ranges(&[(0, 10), (12, 12), (16380, 16383)]);
        assert_eq!(set.ranges(), vec![(0, 10), (12, 12), (16380, 16383)]);
        assert_eq!(set.len(), 11 + 1 + 4);
    }

    #[test]
    fn flags_render() {
        use nflags::*;
        assert_eq!(render(MYSELF | MASTER), "myself,master");
        assert_eq!(render(0), "noflags");
        assert_eq!(parse("myself,master"), Some(MYSELF | MASTER));
        assert_eq!(parse("fail?"), Some(PFAIL));
        assert_eq!(parse("bogus"), None);
    }
}
