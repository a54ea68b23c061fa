import Glibc

/// Seconds on the monotonic clock: the one clock for measuring durations (workloads,
/// `socktest.now`, the benchmarks, the supervisor's timeouts). Not wall time: it never jumps.
package func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
