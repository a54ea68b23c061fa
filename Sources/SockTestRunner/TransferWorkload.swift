import Glibc
import SockTestCore

/// A larger payload over loopback, so bandwidth, stalls, resets and short transfers show: each
/// client sends `bytes` to an echo server on 127.0.0.1 in writes of `chunk` bytes while it reads
/// them back, then checks every byte. One operation is a transfer. Clients and server are
/// non-blocking with an idle timeout of their own (no byte moved for `timeout` seconds:
/// ETIMEDOUT), as a careful program is: they handle short transfers and EAGAIN, never spin.
package struct TransferWorkload: Workload {
    package static let name = "transfer"
    package static let summary = "a payload to an echo server on 127.0.0.1 and back, with throughput"
    package static let options = [
        WorkloadOption("bytes", "BYTES", "payload per client (default 1m; 64k, 1m suffixes)"),
        WorkloadOption("chunk", "BYTES", "the most one read or write asks for (default 64k)"),
        WorkloadOption("clients", "N", "transfers in all (default 1)"),
        WorkloadOption("concurrency", "N", "transfers at a time (default 4)"),
        WorkloadOption("timeout", "SECONDS", "fail when no byte moves for this long (default 10)"),
    ]

    let bytes: Int, chunk: Int, clients: Int, concurrency: Int, timeout: Double

    package init(_ options: inout OptionReader) throws(UsageError) {
        bytes = try options.size("bytes", default: 1 << 20, in: 1...(1 << 34))
        chunk = try options.size("chunk", default: 64 << 10, in: 1...(16 << 20))
        clients = try options.int("clients", default: 1, in: 1...10_000)
        concurrency = try options.int("concurrency", default: 4, in: 1...256)
        timeout = try options.seconds("timeout", default: 10)
    }

    package func run(on sw: Switch) -> WorkloadResult {
        let outcomes = OutcomeCollector()
        let options = ["bytes": "\(bytes)", "chunk": "\(chunk)", "clients": "\(clients)",
                       "concurrency": "\(concurrency)", "timeout": "\(timeout)"]
        let (chunk, timeout) = (chunk, timeout)
        let server: EchoServer
        do {
            server = try EchoServer(sw) { sw, conn in Self.echo(sw, conn, chunk: chunk, timeout: timeout) }
        } catch {
            var result = outcomes.result(name: Self.name, options: options, operation: "transfer")
            result.setupError = "the echo server could not start: \(error)"
            return result
        }
        let moved = Locked(0)
        let start = monotonicSeconds()
        parallel(clients, concurrency: concurrency) { [self] _ in
            let begun = monotonicSeconds()
            let (received, error) = transfer(sw, server.address)
            moved.withLock { $0 += received }
            if let error {
                outcomes.failure(error, seconds: monotonicSeconds() - begun)
            } else {
                outcomes.success(seconds: monotonicSeconds() - begun)
            }
        }
        let seconds = monotonicSeconds() - start
        server.stop()
        var result = outcomes.result(name: Self.name, options: options, operation: "transfer")
        result.moved(moved.withLock { $0 }, in: seconds)
        return result
    }

    /// The byte at `offset` of every payload: a pattern that shows a lost, doubled or shifted
    /// piece (251 is prime, so no power-of-two chunk lines up with it).
    static func pattern(_ offset: Int) -> UInt8 { UInt8(offset % 251) }

    /// One transfer: bytes received back (checked), and nil or what went wrong.
    private func transfer(_ sw: Switch, _ address: SocketAddress) -> (Int, String?) {
        let fd: Int32
        switch LoopbackIO.dial(sw, address, blocking: true, timeout: 0) {
        case .success(let s): fd = s
        case .failure(let error): return (0, error.name)
        }
        defer { try? sw.close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var out = [UInt8](repeating: 0, count: chunk)
        var buffer = [UInt8](repeating: 0, count: chunk)
        var sent = 0, received = 0, shut = false
        var idleSince = monotonicSeconds()
        while true {
            if !shut && sent == bytes {
                do throws(Errno) { try sw.shutdown(fd, how: Int32(SHUT_WR)) } catch { return (received, error.name) }
                shut = true
            }
            let events = Int16(POLLIN) | (sent < bytes ? Int16(POLLOUT) : 0)
            guard let ready = Self.wait(fd, events, idleSince: idleSince, timeout: timeout) else { return (received, "ETIMEDOUT") }
            // Reads first: an end of stream or a reset shows as itself, not as a failed write.
            if ready & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
                switch buffer.withUnsafeMutableBytes({ raw in Self.attempt { () throws(Errno) in try sw.read(fd, into: raw) } }) {
                case .success(0?):
                    return (received, received == bytes ? nil : "EOF")
                case .success(let k?):
                    for i in 0..<k where buffer[i] != Self.pattern(received + i) { return (received + i, "EMISMATCH") }
                    received += k
                    idleSince = monotonicSeconds()
                    if received > bytes { return (received, "EMISMATCH") }
                case .success(nil): break
                case .failure(let error): return (received, error.name)
                }
            }
            if sent < bytes && ready & Int16(POLLOUT | POLLERR | POLLHUP) != 0 {
                let n = min(chunk, bytes - sent)
                for i in 0..<n { out[i] = Self.pattern(sent + i) }
                switch out.withUnsafeBytes({ raw in Self.attempt { () throws(Errno) in
                    try sw.send(fd, from: UnsafeRawBufferPointer(rebasing: raw[..<n]), flags: LoopbackIO.noSignal)
                } }) {
                case .success(let k?): sent += k; if k > 0 { idleSince = monotonicSeconds() }
                case .success(nil): break
                case .failure(let error): return (received, error.name)
                }
            }
        }
    }

    /// The server's side of one connection: echoes what it reads, non-blocking, holding at most
    /// one chunk; on end of stream it sends what it holds, then its own end (before the close:
    /// a close with unread bytes sends a RST, and the client is to see the end first).
    private static func echo(_ sw: Switch, _ conn: Int32, chunk: Int, timeout: Double) {
        defer { try? sw.close(conn) }
        defer { try? sw.shutdown(conn, how: Int32(SHUT_WR)) }
        _ = fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) | O_NONBLOCK)
        var buffer = [UInt8](repeating: 0, count: chunk)
        var held = 0, start = 0, ended = false
        var idleSince = monotonicSeconds()
        while !(ended && held == 0) {
            let events = held > 0 ? Int16(POLLOUT) : Int16(POLLIN)
            guard let ready = wait(conn, events, idleSince: idleSince, timeout: timeout) else { return }
            if ready == 0 { continue }
            if held > 0 {
                switch buffer.withUnsafeBytes({ raw in attempt { () throws(Errno) in
                    try sw.send(conn, from: UnsafeRawBufferPointer(rebasing: raw[start..<start + held]), flags: LoopbackIO.noSignal)
                } }) {
                case .success(let k?): start += k; held -= k; if k > 0 { idleSince = monotonicSeconds() }
                case .success(nil): break
                case .failure: return
                }
                continue
            }
            switch buffer.withUnsafeMutableBytes({ raw in attempt { () throws(Errno) in try sw.read(conn, into: raw) } }) {
            case .success(0?): ended = true
            case .success(let k?): (start, held, idleSince) = (0, k, monotonicSeconds())
            case .success(nil): break
            case .failure: return
            }
        }
    }

    /// A non-blocking call: its count, nil when it would block (EAGAIN, EINTR), or the error.
    private static func attempt(_ call: () throws(Errno) -> Int) -> Result<Int?, StepFailure> {
        do throws(Errno) {
            return .success(try call())
        } catch .resourceTemporarilyUnavailable, .interrupted {
            return .success(nil)
        } catch {
            return .failure(StepFailure(error.name))
        }
    }

    /// Waits (at most 50 ms at a time) for `events`: the events that came (0: none yet), or nil
    /// once nothing has moved for `timeout`.
    private static func wait(_ fd: Int32, _ events: Int16, idleSince: Double, timeout: Double) -> Int16? {
        let left = idleSince + timeout - monotonicSeconds()
        guard left > 0 else { return nil }
        var p = pollfd(fd: fd, events: events, revents: 0)
        return poll(&p, 1, Int32(min(left, 0.05) * 1000) + 1) == 1 ? p.revents : 0
    }
}
