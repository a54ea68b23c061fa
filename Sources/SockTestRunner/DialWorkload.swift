import Glibc
import SockTestCore

/// Connection attempts to an address, through the switch. One operation is an attempt: socket,
/// connect (non-blocking with a timeout, completed with getsockopt(SO_ERROR), or blocking), close.
/// Without `addr` it dials a listener of its own on 127.0.0.1 (outside the switch).
package struct DialWorkload: Workload {
    package static let name = "dial"
    package static let summary = "connection attempts to an address"
    package static let options = [
        WorkloadOption("addr", "HOST:PORT", "where to connect (default: its own listener on 127.0.0.1)"),
        WorkloadOption("n", "N", "attempts in all (default 10)"),
        WorkloadOption("concurrency", "N", "attempts at a time (default 1)"),
        WorkloadOption("timeout", "SECONDS", "how long a non-blocking connect may take (default 5)"),
        WorkloadOption("blocking", "BOOL", "use a blocking connect instead (default false)"),
    ]

    let address: SocketAddress?
    let attempts: Int, concurrency: Int, timeout: Double, blocking: Bool

    package init(_ options: inout OptionReader) throws(UsageError) {
        address = try options.address("addr")
        attempts = try options.int("n", default: 10, in: 1...1_000_000)
        concurrency = try options.int("concurrency", default: 1, in: 1...256)
        timeout = try options.seconds("timeout", default: 5)
        blocking = try options.bool("blocking", default: false)
    }

    package func run(on sw: Switch) -> WorkloadResult {
        let target = address.map { (address: $0, stop: {}) } ?? Self.ownListener()
        let outcomes = OutcomeCollector()
        parallel(attempts, concurrency: concurrency) { [self] _ in
            let start = monotonicSeconds()
            switch LoopbackIO.dial(sw, target.address, blocking: blocking, timeout: timeout) {
            case .success(let fd):
                outcomes.success(seconds: monotonicSeconds() - start)
                try? sw.close(fd)
            case .failure(let error):
                outcomes.failure(error.name, seconds: monotonicSeconds() - start)
            }
        }
        target.stop()
        var options = ["n": "\(attempts)", "concurrency": "\(concurrency)", "timeout": "\(timeout)",
                       "blocking": "\(blocking)"]
        options["addr"] = address?.description ?? "\(target.address) (own listener)"
        return outcomes.result(name: Self.name, options: options, operation: "connection attempt")
    }

    /// A raw listener on 127.0.0.1 that accepts and closes, and how to stop it.
    private static func ownListener() -> (address: SocketAddress, stop: @Sendable () -> Void) {
        let fd = socket(AF_INET, LoopbackIO.stream, 0)
        let any = SocketAddress("127.0.0.1:0")!
        _ = any.withSockaddr { bind(fd, $0, $1) }
        listen(fd, 512)
        let address = (try? Switch().getsockname(fd)).flatMap { $0 } ?? any
        let stopping = Locked(false)
        let thread = WorkerThread.start {
            while !stopping.withLock({ $0 }) {
                if LoopbackIO.readable(fd, ms: 20) {
                    let conn = accept(fd, nil, nil)
                    if conn >= 0 { close(conn) }
                }
            }
        }
        return (address, {
            stopping.withLock { $0 = true }
            thread?.join()          // no thread: connections wait in the backlog, as refused ones would not
            close(fd)
        })
    }
}
