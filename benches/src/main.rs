//! Benchmark driver: will run the comparison workloads (libevent bench.c,
//! oneshot re-arm, many timers, thundering herd) against every mechanism.
//! Until the kevent core lands it reports what the running kernel offers.

fn main() {
    let kevent = if kevent::is_supported() {
        "present"
    } else {
        "absent"
    };
    println!("kevent-benches: kevent {kevent}; comparison workloads not written yet (issue 6)");
}
