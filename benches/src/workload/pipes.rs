//! Eric Dumazet's epoll_bench (LKML, 2007), in its manner: many pipes and
//! almost no work per event, so that the mechanism's cost dominates and the
//! bound (no mechanism) sits far above it.

use std::collections::VecDeque;
use std::io;
use std::time::Instant;

use super::pairs::{read_pending, write_byte, FdPairs, Run};
use crate::mechanism::Readiness;

/// xorshift64*, with a fixed seed: every mechanism sees the same sequence
/// of pipes (as long as it reports them in the same order).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % n
    }
}

const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// `pipes` pipes with `tokens` bytes circulating among them: each event
/// reads one byte from a ready pipe (all of them for edge-triggered
/// mechanisms, each byte an event, see [`read_pending`]) and writes one
/// byte to a pipe chosen pseudo-randomly; it stops once `events` events
/// were handled. The tokens never leave the pipes, so a wait always finds
/// one.
///
/// Without a mechanism (`None`, the bound) the loop keeps its own list
/// of the pipes that hold a byte.
pub fn pipes(
    mut mech: Option<&mut (dyn Readiness + 'static)>,
    pipes: usize,
    tokens: usize,
    events: usize,
) -> io::Result<Run> {
    assert!(pipes > 0 && tokens > 0, "pipes and tokens");
    // A pipe holds at least a page: no write can find it full.
    assert!(tokens <= 4096, "at most 4,096 tokens");
    let p = FdPairs::pipes(pipes)?;
    let drain = mech.as_ref().is_some_and(|m| m.edge());
    if let Some(m) = mech.as_deref_mut() {
        for (i, &(r, _)) in p.0.iter().enumerate() {
            m.watch(r, i)?;
        }
    }
    let mut rng = Rng(SEED);
    let mut direct: VecDeque<usize> = VecDeque::with_capacity(tokens);
    for _ in 0..tokens {
        let i = rng.below(pipes);
        write_byte(p.0[i].1);
        direct.push_back(i);
    }
    let mut ready = Vec::with_capacity(256);
    let mut fired = 0;
    let calls = mech.as_ref().map_or(0, |m| m.syscalls());
    let start = Instant::now();
    // Each run one window of the exact instruction profile.
    crate::insn_mark::start();
    while fired < events {
        ready.clear();
        match mech.as_deref_mut() {
            Some(m) => m.wait(&mut ready)?,
            None => ready.extend(direct.pop_front()),
        }
        for &i in &ready {
            for _ in 0..read_pending(p.0[i].0, drain) {
                fired += 1;
                let next = rng.below(pipes);
                write_byte(p.0[next].1);
                if mech.is_none() {
                    direct.push_back(next);
                }
            }
        }
        if let Some(m) = mech.as_deref_mut() {
            m.rearm(&ready)?;
        }
    }
    crate::insn_mark::stop();
    let elapsed = start.elapsed();
    Ok(Run {
        elapsed,
        events: fired,
        syscalls: mech.map_or(0, |m| m.syscalls()) - calls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_fixed_and_in_range() {
        let a: Vec<_> = {
            let mut r = Rng(SEED);
            (0..1000).map(|_| r.below(7)).collect()
        };
        let mut r = Rng(SEED);
        assert!(a.iter().all(|&x| x < 7));
        assert_eq!(a, (0..1000).map(|_| r.below(7)).collect::<Vec<_>>());
        // Every pipe gets tokens (not stuck on a few).
        assert!((0..7).all(|k| a.contains(&k)));
    }
}
