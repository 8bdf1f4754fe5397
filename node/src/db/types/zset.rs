//! A sorted set: member -> score, ordered by (score, member), with O(log n) rank and range queries. Small ones report `listpack`, large ones `skiplist` (`zset-max-listpack-entries`/`-value`).
//!
//! Interim implementation (two maps) with the API the geo commands use; the real compact
//! type replaces it.

use std::collections::{BTreeSet, HashMap};

/// A score ordered by `f64::total_cmp` so it can key an ordered set.
#[derive(Debug, Clone, Copy)]
struct Score(f64);

impl PartialEq for Score {
    fn eq(&self, o: &Self) -> bool {
        self.0.total_cmp(&o.0).is_eq()
    }
}
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Score {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ZSetValue {
    scores: HashMap<Vec<u8>, f64>,
    order: BTreeSet<(Score, Vec<u8>)>,
}

impl ZSetValue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets a member's score; true if the member is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        let old = self.scores.insert(member.to_vec(), score);
        if let Some(old) = old {
            self.order.remove(&(Score(old), member.to_vec()));
        }
        self.order.insert((Score(score), member.to_vec()));
        old.is_none()
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(old) => {
                self.order.remove(&(Score(old), member.to_vec()));
                true
            }
            None => false,
        }
    }

    /// Calls `f` for every member with `min <= score <= max`, in (score, member) order.
    pub fn range_by_score(&self, min: f64, max: f64, mut f: impl FnMut(&[u8], f64)) {
        if min.is_nan() || max.is_nan() || min > max {
            return;
        }
        for (s, m) in self.order.range((Score(min), Vec::new())..) {
            if s.0 > max {
                break;
            }
            f(m, s.0);
        }
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        if self.len() <= 128 && self.scores.keys().all(|k| k.len() <= 64) {
            "listpack"
        } else {
            "skiplist"
        }
    }

    /// Approximate heap bytes used (`MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        self.scores.keys().map(|k| 2 * k.len() + 48).sum()
    }
}
