import SockTestCore

/// What a workload saw: how many operations succeeded, how many failed with which error, and
/// how long the operations took.
package struct WorkloadResult: Sendable, Codable {
    package var name: String
    package var options: [String: String]
    package var total = 0
    package var succeeded = 0
    /// Error name ("ECONNREFUSED", "ETIMEDOUT", "EOF", ...) → count.
    package var failed: [String: Int] = [:]
    package var latencyMs: Percentiles
    /// What one operation is, for the report ("client session", "connection attempt").
    package var operation: String
    /// Why no operation ran, when the workload could not start (its server could not listen):
    /// then `total` is 0, not a count of operations that never happened.
    package var setupError: String?
    /// A workload that moves data (transfer): the bytes that made the whole trip, in all, and
    /// the seconds the workload took; nil for the others.
    package var bytes: Int?
    package var seconds: Double?

    /// bytes / seconds.
    package var bytesPerSecond: Double?

    enum CodingKeys: String, CodingKey {
        case name, options, total, succeeded, failed, operation, bytes, seconds
        case latencyMs = "latency_ms"
        case setupError = "setup_error"
        case bytesPerSecond = "bytes_per_second"
    }

    /// Sets bytes, seconds and bytesPerSecond.
    package mutating func moved(_ bytes: Int, in seconds: Double) {
        self.bytes = bytes
        self.seconds = seconds
        bytesPerSecond = seconds > 0 ? Double(bytes) / seconds : nil
    }
}

/// Latency percentiles (nearest rank), in milliseconds.
package struct Percentiles: Sendable, Codable, Equatable {
    package var p50 = 0.0, p90 = 0.0, p99 = 0.0, max = 0.0

    package init(seconds samples: [Double]) {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return }
        func rank(_ p: Double) -> Double {
            let index = Int((p * Double(sorted.count)).rounded(.up)) - 1
            return sorted[Swift.max(0, Swift.min(sorted.count - 1, index))] * 1000
        }
        p50 = rank(0.50)
        p90 = rank(0.90)
        p99 = rank(0.99)
        max = sorted.last! * 1000
    }
}

/// Collects outcomes from many threads.
final class OutcomeCollector: Sendable {
    private struct State {
        var succeeded = 0
        var failed: [String: Int] = [:]
        var latencies: [Double] = []
    }
    private let state = Locked(State())

    func success(seconds: Double) {
        state.withLock { $0.succeeded += 1; $0.latencies.append(seconds) }
    }

    func failure(_ error: String, seconds: Double) {
        state.withLock { $0.failed[error, default: 0] += 1; $0.latencies.append(seconds) }
    }

    func result(name: String, options: [String: String], operation: String) -> WorkloadResult {
        state.withLock { s in
            WorkloadResult(name: name, options: options, total: s.succeeded + s.failed.values.reduce(0, +),
                           succeeded: s.succeeded, failed: s.failed,
                           latencyMs: Percentiles(seconds: s.latencies), operation: operation)
        }
    }
}
