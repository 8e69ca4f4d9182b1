//! The workloads. Each takes a mechanism, or `None` for the loop without
//! one (the upper bound, where one exists), and returns what it measured.

mod herd;
mod inode;
mod pairs;
mod pipes;
mod procsig;
mod timers;

pub use herd::herd;
pub use inode::inode_creates;
#[cfg(test)]
pub use pairs::libevent_bench;
pub use pairs::{libevent_bench_on, raise_fd_limit, Sockets};
pub use pipes::pipes;
pub use procsig::{proc_exits, signals, SignalSend};
pub use timers::many_timers;
