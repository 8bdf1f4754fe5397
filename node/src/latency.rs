//! The latency monitor (`latency-monitor-threshold`, LATENCY): each event kind keeps its
//! latest samples over the threshold, one per second (the worst of that second), and its
//! worst ever. Commands report two kinds, as in Redis: `command` and `fast-command` (commands
//! flagged fast). The commands are in [`crate::cmd::latency`].

use std::collections::VecDeque;

use indexmap::IndexMap;
use parking_lot::Mutex;

/// Samples kept per event (Redis keeps 160).
pub const HISTORY_LEN: usize = 160;

/// One event's samples: (unix seconds, milliseconds), oldest first.
#[derive(Debug, Default, Clone)]
pub struct Series {
    pub samples: VecDeque<(u64, u64)>,
    /// The worst latency ever seen (milliseconds).
    pub max: u64,
}

/// Every event's series, in the order first seen.
#[derive(Default)]
pub struct Monitor {
    events: Mutex<IndexMap<&'static str, Series>>,
}

impl Monitor {
    /// Records `ms` for `event` at `now_secs`: a second already sampled keeps its worst.
    pub fn add(&self, event: &'static str, now_secs: u64, ms: u64) {
        let mut events = self.events.lock();
        let s = events.entry(event).or_default();
        s.max = s.max.max(ms);
        match s.samples.back_mut() {
            Some((t, worst)) if *t == now_secs => *worst = (*worst).max(ms),
            _ => {
                if s.samples.len() == HISTORY_LEN {
                    s.samples.pop_front();
                }
                s.samples.push_back((now_secs, ms));
            }
        }
    }

    /// Every event with samples: name and series.
    pub fn all(&self) -> Vec<(&'static str, Series)> {
        self.events
            .lock()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    pub fn get(&self, event: &[u8]) -> Option<Series> {
        let events = self.events.lock();
        events
            .iter()
            .find(|(k, _)| k.as_bytes() == event)
            .map(|(_, v)| v.clone())
    }

    /// LATENCY RESET: the named events (all when none); how many had samples.
    pub fn reset(&self, names: &[&[u8]]) -> usize {
        let mut events = self.events.lock();
        if names.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        let before = events.len();
        events.retain(|k, _| !names.contains(&k.as_bytes()));
        before - events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_bounded_and_reset() {
        let m = Monitor::default();
        m.add("command", 10, 5);
        m.add("command", 10, 9);
        m.add("command", 10, 7);
        m.add("command", 11, 3);
        let s = m.get(b"command").unwrap();
        assert_eq!(s.samples, [(10, 9), (11, 3)]);
        assert_eq!(s.max, 9);
        for t in 0..500 {
            m.add("fast-command", 100 + t, 1);
        }
        assert_eq!(m.get(b"fast-command").unwrap().samples.len(), HISTORY_LEN);
        assert_eq!(m.reset(&[b"command", b"nosuch"]), 1);
        assert_eq!(m.reset(&[]), 1);
        assert!(m.all().is_empty());
    }
}
