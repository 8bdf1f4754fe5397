//! Busy polling while commands keep coming, for a server confined to one CPU.
//!
//! A worker that has nothing to run sleeps in `epoll_wait`. The client whose request arrives
//! then pays for waking it: on loopback the sender's `send` runs the receive path, and that
//! path wakes the sleeping worker (an inter-processor interrupt and a scheduler round trip).
//! With one request in flight per connection (`redis-benchmark -P 1`), that wake-up is
//! paid on most requests, by the client.
//!
//! A [`Spin`] task keeps its worker polling the I/O driver without sleeping (each turn is a
//! `yield_now`, after which tokio polls the driver with a zero timeout) for as long as
//! commands keep being processed, and parks after [`WINDOW_NS`] without one, so an idle
//! server uses no CPU. The next batch a connection reads wakes it again ([`Spin::poke`]).
//!
//! It is started only when the process may run on a single CPU (`taskset -c N`, a one-CPU
//! container) and has one worker: there the spinning replaces idle time. With
//! more CPUs, the workers share them with the clients and spinning would take their time.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use tokio::sync::Notify;

/// How long the spinner goes on after the last command it saw.
pub const WINDOW_NS: u64 = 50_000;

#[derive(Default)]
pub struct Spin {
    parked: AtomicBool,
    wake: Notify,
}

impl Spin {
    /// Called when a connection has read a batch: restarts a parked spinner.
    #[inline]
    pub fn poke(&self) {
        if self.parked.load(std::sync::atomic::Ordering::Relaxed) && self.parked.swap(false, SeqCst)
        {
            self.wake.notify_one();
        }
    }

    /// True while the spinner waits for the next batch.
    pub fn is_parked(&self) -> bool {
        self.parked.load(SeqCst)
    }

    /// The spinner: `activity` is a counter that moves with every command processed and `now`
    /// a nanosecond clock. Runs until the runtime stops.
    pub async fn run(self: Arc<Self>, activity: impl Fn() -> u64, now: impl Fn() -> u64) {
        loop {
            let mut seen = activity();
            let mut quiet_since = now();
            loop {
                tokio::task::yield_now().await;
                let a = activity();
                let t = now();
                if a != seen {
                    seen = a;
                    quiet_since = t;
                } else if t.saturating_sub(quiet_since) > WINDOW_NS {
                    break;
                }
            }
            let woken = self.wake.notified();
            self.parked.store(true, SeqCst);
            // A batch read between the last look and `parked` did not poke: look again.
            if activity() != seen {
                self.parked.store(false, SeqCst);
                continue;
            }
            woken.await;
        }
    }
}

/// Whether this process should spin: it may run on one CPU only, with one worker thread
/// (`workers`: the `io-threads` given, if any).
pub fn worth_it(workers: Option<usize>) -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() == 1) && workers.unwrap_or(1) == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    #[tokio::test(flavor = "current_thread")]
    async fn spins_while_active_and_parks_when_quiet() {
        let spin = Arc::new(Spin::default());
        let count = Arc::new(AtomicU64::new(0));
        let clock = Arc::new(AtomicU64::new(0));
        let (c, k) = (count.clone(), clock.clone());
        tokio::spawn(
            spin.clone()
                .run(move || c.load(Relaxed), move || k.load(Relaxed)),
        );
        let turns = |n| async move {
            for _ in 0..n {
                tokio::task::yield_now().await;
            }
        };
        // Commands keep coming, time passes well beyond the window: it keeps spinning.
        for i in 1..50 {
            count.store(i, Relaxed);
            clock.store(i * WINDOW_NS / 2, Relaxed);
            turns(3).await;
            assert!(!spin.is_parked(), "turn {i}");
        }
        // Quiet for longer than the window: it parks.
        clock.fetch_add(WINDOW_NS + 1, Relaxed);
        turns(3).await;
        assert!(spin.is_parked());
        // A poke restarts it; it parks again once quiet.
        spin.poke();
        assert!(!spin.is_parked());
        turns(3).await;
        assert!(!spin.is_parked());
        clock.fetch_add(WINDOW_NS + 1, Relaxed);
        turns(3).await;
        assert!(spin.is_parked());
    }
}
