//! The table of descriptors' knotes ([`FdState`]), indexed by descriptor
//! number, as FreeBSD keeps a kqueue's descriptor knotes in an array
//! indexed by descriptor (`kq_knlist`) and only other knotes in a hash.
//!
//! Every `kevent()` of a web server looks a descriptor up once or twice,
//! and a server with a connection per request inserts and removes one per
//! request: through a hash map that was about 150 instructions per
//! connection (`kqueue/bench/profile.sh kq-delete`), through the index a
//! few. The states sit densely in `slots` (a removal moves the last one
//! into the hole); `index` maps a descriptor number to its slot, 4 bytes
//! per number up to the highest registered below [`DIRECT`]. Numbers at or
//! above it (a process whose RLIMIT_NOFILE was raised past the default
//! `fs.nr_open`) go to a hash map, so that one high number does not grow
//! the index.

use std::os::fd::RawFd;

use crate::queue::Map;
use crate::translate::FdState;

/// Numbers below this are indexed directly (`fs.nr_open`'s default).
const DIRECT: usize = 1 << 20;

/// The descriptors of a queue's table and their states.
#[derive(Default)]
pub struct FdTable {
    /// Slot + 1 per descriptor number below [`DIRECT`]; 0: none.
    index: Vec<u32>,
    /// The states of the indexed numbers, with their numbers.
    slots: Vec<(RawFd, FdState)>,
    /// Numbers at or above [`DIRECT`].
    high: Map<RawFd, FdState>,
}

/// Where a number's state is kept.
enum Place {
    Index(usize),
    High,
}

fn place(fd: RawFd) -> Option<Place> {
    match usize::try_from(fd) {
        Ok(i) if i < DIRECT => Some(Place::Index(i)),
        Ok(_) => Some(Place::High),
        // Never a descriptor: no state.
        Err(_) => None,
    }
}

impl FdTable {
    /// The slot of `fd`, if it has a state and is indexed.
    #[inline]
    fn slot(&self, i: usize) -> Option<usize> {
        match self.index.get(i) {
            Some(&s) if s != 0 => Some(s as usize - 1),
            _ => None,
        }
    }

    /// The state of `fd`.
    #[inline]
    pub fn get(&self, fd: &RawFd) -> Option<&FdState> {
        match place(*fd)? {
            Place::Index(i) => self.slot(i).map(|s| &self.slots[s].1),
            Place::High => self.high.get(fd),
        }
    }

    /// The state of `fd`, to change in place.
    #[inline]
    pub fn get_mut(&mut self, fd: &RawFd) -> Option<&mut FdState> {
        match place(*fd)? {
            Place::Index(i) => self.slot(i).map(|s| &mut self.slots[s].1),
            Place::High => self.high.get_mut(fd),
        }
    }

    /// Whether `fd` has a state.
    #[inline]
    pub fn contains_key(&self, fd: &RawFd) -> bool {
        self.get(fd).is_some()
    }

    /// Sets the state of `fd` (a descriptor number: never negative).
    #[inline]
    pub fn insert(&mut self, fd: RawFd, state: FdState) {
        match place(fd).expect("a descriptor number") {
            Place::Index(i) => {
                if let Some(s) = self.slot(i) {
                    self.slots[s].1 = state;
                    return;
                }
                if self.index.len() <= i {
                    // Doubling: numbers come in order of opening.
                    let len = (i + 1).max(self.index.len() * 2).min(DIRECT);
                    self.index.resize(len, 0);
                }
                self.slots.push((fd, state));
                // At most DIRECT slots: the count fits.
                self.index[i] = self.slots.len() as u32;
            }
            Place::High => {
                self.high.insert(fd, state);
            }
        }
    }

    /// Forgets the state of `fd`, if it has one.
    #[inline]
    pub fn remove(&mut self, fd: &RawFd) {
        match place(*fd) {
            Some(Place::Index(i)) => {
                let Some(s) = self.slot(i) else {
                    return;
                };
                self.index[i] = 0;
                self.slots.swap_remove(s);
                if let Some(&(moved, _)) = self.slots.get(s) {
                    self.index[moved as usize] = s as u32 + 1;
                }
            }
            Some(Place::High) => {
                self.high.remove(fd);
            }
            None => {}
        }
    }

    /// The number of descriptors with a state.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.len() + self.high.len()
    }

    /// No descriptor has a state.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{KState, Knote};

    fn state(udata: usize) -> FdState {
        FdState {
            read: Some(Knote {
                udata,
                flags: 0,
                enabled: true,
                fflags: 0,
                data: 0,
                born: 0,
            }),
            write: None,
            kernel: Some(KState::default()),
            parked: false,
        }
    }

    fn udata(t: &FdTable, fd: RawFd) -> Option<usize> {
        t.get(&fd).map(|s| s.read.unwrap().udata)
    }

    #[test]
    fn insert_get_replace_remove() {
        let mut t = FdTable::default();
        assert!(t.is_empty());
        assert_eq!(udata(&t, 3), None);
        t.insert(3, state(30));
        t.insert(0, state(0));
        t.insert(7, state(70));
        assert_eq!(t.len(), 3);
        assert_eq!(
            (udata(&t, 0), udata(&t, 3), udata(&t, 7)),
            (Some(0), Some(30), Some(70))
        );
        assert_eq!(udata(&t, 4), None);
        assert_eq!(udata(&t, 1000), None);
        // Replacing keeps one slot.
        t.insert(3, state(31));
        assert_eq!((t.len(), udata(&t, 3)), (3, Some(31)));
        t.get_mut(&7).unwrap().read.as_mut().unwrap().udata = 71;
        assert_eq!(udata(&t, 7), Some(71));
        // Removing a state moves the last slot into its place.
        t.remove(&0);
        assert_eq!((t.len(), udata(&t, 0)), (2, None));
        assert_eq!((udata(&t, 3), udata(&t, 7)), (Some(31), Some(71)));
        t.remove(&0);
        t.remove(&7);
        t.remove(&3);
        assert!(t.is_empty());
        assert!(!t.contains_key(&3));
        t.insert(3, state(32));
        assert_eq!(udata(&t, 3), Some(32));
    }

    #[test]
    fn negative_and_high_numbers() {
        let mut t = FdTable::default();
        assert_eq!(udata(&t, -1), None);
        t.remove(&-1);
        let high = DIRECT as RawFd + 5;
        t.insert(high, state(5));
        t.insert(2, state(2));
        assert_eq!(
            (udata(&t, high), udata(&t, 2), t.len()),
            (Some(5), Some(2), 2)
        );
        // The high number did not grow the index.
        assert!(t.index.len() <= 4);
        t.remove(&high);
        assert_eq!((udata(&t, high), t.len()), (None, 1));
        assert!(t.contains_key(&2));
    }

    #[test]
    fn many_in_and_out_of_order() {
        let mut t = FdTable::default();
        for fd in (0..500).rev() {
            t.insert(fd, state(fd as usize));
        }
        for fd in (0..500).step_by(3) {
            t.remove(&fd);
        }
        for fd in 0..500 {
            let want = (fd % 3 != 0).then_some(fd as usize);
            assert_eq!(udata(&t, fd), want, "fd {fd}");
        }
        assert_eq!(t.len(), 500 - 167);
    }
}
