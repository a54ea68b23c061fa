import Glibc
import SockTestCore

/// A TCP echo server on 127.0.0.1 and clients doing round trips, all through the switch.
/// One operation is a client session: dial, `rounds` round trips, close.
/// The server behaves as a robust server should: it backs off on EMFILE/ENFILE, skips aborted
/// connections, and keeps accepting.
package struct EchoWorkload: Workload {
    package static let name = "echo"
    package static let summary = "a TCP echo server on 127.0.0.1 and clients doing round trips"
    package static let options = [
        WorkloadOption("clients", "N", "client sessions in all (default 8)"),
        WorkloadOption("rounds", "N", "round trips per session (default 10)"),
        WorkloadOption("concurrency", "N", "sessions at a time (default 4)"),
    ]

    let clients: Int, rounds: Int, concurrency: Int

    package init(_ options: inout OptionReader) throws(UsageError) {
        clients = try options.int("clients", default: 8, in: 1...100_000)
        rounds = try options.int("rounds", default: 10, in: 1...100_000)
        concurrency = try options.int("concurrency", default: 4, in: 1...256)
    }

    package func run(on sw: Switch) -> WorkloadResult {
        let outcomes = OutcomeCollector()
        let options = ["clients": "\(clients)", "rounds": "\(rounds)", "concurrency": "\(concurrency)"]
        let server: EchoServer
        do {
            server = try EchoServer(sw)
        } catch {
            // No server, no sessions: say so rather than count a session that never ran.
            var result = outcomes.result(name: Self.name, options: options, operation: "client session")
            result.setupError = "the echo server could not start: \(error)"
            return result
        }
        parallel(clients, concurrency: concurrency) { i in
            let start = monotonicSeconds()
            if let error = session(sw, server.address, client: i) {
                outcomes.failure(error, seconds: monotonicSeconds() - start)
            } else {
                outcomes.success(seconds: monotonicSeconds() - start)
            }
        }
        server.stop()
        return outcomes.result(name: Self.name, options: options, operation: "client session")
    }

    /// One client session; nil on success, else what went wrong.
    private func session(_ sw: Switch, _ address: SocketAddress, client: Int) -> String? {
        let fd: Int32
        switch LoopbackIO.dial(sw, address, blocking: true, timeout: 0) {
        case .success(let s): fd = s
        case .failure(let error): return error.name
        }
        defer { try? sw.close(fd) }
        LoopbackIO.setReadTimeout(fd, seconds: 10)
        for round in 0..<rounds {
            let message = Array("client \(client) round \(round)\n".utf8)
            if let error = LoopbackIO.writeAll(sw, fd, message) { return error }
            switch LoopbackIO.readExactly(sw, fd, message.count) {
            case .success(let echoed) where echoed == message: continue
            case .success: return "EMISMATCH"
            case .failure(let error): return error.name
            }
        }
        return nil
    }
}

/// The echo server: an accept loop and a thread per connection, at most `maxHandlers` at once
/// (finished ones are joined as it goes, so 40,000 sessions do not pile up 40,000 threads).
/// Each connection is served by `serve` (it closes the connection when done); by default a
/// blocking echo.
final class EchoServer: Sendable {
    static let maxHandlers = 512
    let sw: Switch
    let listener: Int32
    let address: SocketAddress
    private let serve: @Sendable (Switch, Int32) -> Void
    private let stopping = Locked(false)
    private let handlers = Locked<[WorkerThread]>([])
    private let acceptor = Locked<WorkerThread?>(nil)

    /// Which of the server's set-up calls failed, and how: "bind: EADDRINUSE".
    struct SetupError: Error, CustomStringConvertible {
        let call: String, errno: Errno
        var description: String { "\(call): \(errno.name)" }
    }

    init(_ sw: Switch, serve: @escaping @Sendable (Switch, Int32) -> Void = EchoServer.echo) throws(SetupError) {
        self.sw = sw
        self.serve = serve
        var call = "socket"
        do {
            listener = try sw.socket(family: AF_INET, type: LoopbackIO.stream)
        } catch {
            throw SetupError(call: call, errno: error)
        }
        do {
            call = "bind"
            try sw.bind(listener, to: SocketAddress("127.0.0.1:0")!)
            call = "listen"
            try sw.listen(listener, backlog: 128)
            call = "getsockname"
            address = try sw.getsockname(listener)!
        } catch {
            try? sw.close(listener)
            throw SetupError(call: call, errno: error)
        }
        guard let thread = WorkerThread.start({ [self] in acceptLoop() }) else {
            try? sw.close(listener)
            throw SetupError(call: "pthread_create", errno: .resourceTemporarilyUnavailable)
        }
        acceptor.withLock { $0 = thread }
    }

    private func acceptLoop() {
        while !stopping.withLock({ $0 }) {
            guard LoopbackIO.readable(listener, ms: 50) else { continue }
            do {
                let conn = try sw.accept(listener).fd
                while reapHandlers() >= Self.maxHandlers { usleep(1_000) }
                guard let handler = WorkerThread.start({ [self] in serve(sw, conn) }) else {
                    try? sw.close(conn)         // no thread to serve it: the client sees the close
                    usleep(10_000)
                    continue
                }
                handlers.withLock { $0.append(handler) }
            } catch .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .noMemory {
                usleep(10_000)      // out of descriptors or memory: back off, then retry
            } catch {
                continue            // aborted connection, interrupted, refused by a filter: skip it
            }
        }
    }

    /// Joins the handlers that have finished; how many still run.
    private func reapHandlers() -> Int {
        handlers.withLock { handlers in
            handlers.removeAll { handler in
                guard handler.isDone else { return false }
                handler.join()
                return true
            }
            return handlers.count
        }
    }

    private static func echo(_ sw: Switch, _ conn: Int32) {
        defer { try? sw.close(conn) }
        LoopbackIO.setReadTimeout(conn, seconds: 10)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            guard let n = buffer.withUnsafeMutableBytes({ raw in try? sw.read(conn, into: raw) }) else { return }
            if n == 0 || LoopbackIO.writeAll(sw, conn, Array(buffer[..<n])) != nil { return }
        }
    }

    func stop() {
        stopping.withLock { $0 = true }
        acceptor.withLock { $0 }?.join()
        for handler in handlers.withLock({ $0 }) { handler.join() }
        try? sw.close(listener)
    }
}
