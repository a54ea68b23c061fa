import Glibc
import SockTestCore

/// A failed step, by the name of its error ("ECONNREFUSED", "ETIMEDOUT", "EOF", ...).
struct StepFailure: Error {
    let name: String
    init(_ name: String) { self.name = name }
}

/// Socket steps the workloads share, all through the switch.
enum LoopbackIO {
    static let stream = Int32(SOCK_STREAM.rawValue)
    static let noSignal = Int32(MSG_NOSIGNAL)

    /// Connects a new socket to `address`. Non-blocking with a timeout: connect, wait until
    /// writable, then read SO_ERROR through the switch (so getsockopt filters apply). Blocking:
    /// a plain connect. Returns the socket, or the error's name ("ETIMEDOUT" when the wait ran out).
    static func dial(_ sw: Switch, _ address: SocketAddress, blocking: Bool, timeout: Double) -> Result<Int32, StepFailure> {
        let type = blocking ? stream : stream | Int32(SOCK_NONBLOCK.rawValue)
        let fd: Int32
        do { fd = try sw.socket(family: address.family, type: type) } catch { return .failure(StepFailure(error.name)) }
        func fail(_ name: String) -> Result<Int32, StepFailure> {
            try? sw.close(fd)
            return .failure(StepFailure(name))
        }
        do {
            try sw.connect(fd, to: address)
        } catch .nowInProgress where !blocking {
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&p, 1, Int32(timeout * 1000)) == 1 else { return fail("ETIMEDOUT") }
            do {
                let soerr = try sw.getsockoptInt(fd, level: SOL_SOCKET, option: SO_ERROR)
                if soerr != 0 { return fail(Errno(rawValue: soerr).name) }
            } catch {
                return fail(error.name)
            }
        } catch {
            return fail(error.name)
        }
        if !blocking { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) }
        return .success(fd)
    }

    /// Bounds how long a read may wait on `fd`.
    static func setReadTimeout(_ fd: Int32, seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Writes all of `bytes`; nil, or the error's name.
    static func writeAll(_ sw: Switch, _ fd: Int32, _ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                do throws(Errno) {
                    // send, not write: MSG_NOSIGNAL, so a reset connection is EPIPE, not a SIGPIPE
                    // that ends the tool.
                    sent += try sw.send(fd, from: UnsafeRawBufferPointer(rebasing: raw[sent...]), flags: noSignal)
                } catch {
                    return error.name
                }
            }
            return nil
        }
    }

    /// Reads exactly `count` bytes; the bytes, or the error's name ("EOF" at end of stream).
    static func readExactly(_ sw: Switch, _ fd: Int32, _ count: Int) -> Result<[UInt8], StepFailure> {
        var buffer = [UInt8](repeating: 0, count: count)
        let failure: StepFailure? = buffer.withUnsafeMutableBytes { raw in
            var got = 0
            while got < count {
                do throws(Errno) {
                    let n = try sw.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[got...]))
                    if n == 0 { return StepFailure("EOF") }
                    got += n
                } catch {
                    return StepFailure(error == .resourceTemporarilyUnavailable ? "ETIMEDOUT" : error.name)
                }
            }
            return nil
        }
        return failure.map { .failure($0) } ?? .success(buffer)
    }

    /// Waits up to `ms` for `fd` to be readable.
    static func readable(_ fd: Int32, ms: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, ms) == 1
    }
}
