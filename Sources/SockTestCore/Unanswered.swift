import CSysShims
import Glibc

/// A connect that no peer answers: a non-blocking connect returns EINPROGRESS at once and the
/// socket stays unwritable — for poll and epoll too — until it times out with ETIMEDOUT, as one
/// to a host behind a firewall that drops SYNs. So a program's own deadline (a poll timeout, a
/// connect timeout of its own) fires at its own time.
///
/// The socket is really connected to a black hole: a listener of the tool's on the loopback
/// address whose accept queue is full, so the kernel drops further SYNs; TCP_USER_TIMEOUT ends
/// the attempt. The kernel checks it when it would retransmit the SYN (after 1, 3, 7, 15 s...),
/// so the connect fails at the first of those at or after the time asked for.
public enum Unanswered {
    /// From a before-filter of connect: leave the call unanswered for `seconds`.
    public static func request(_ seconds: Double) { st_unanswered_set(max(seconds, 0.001)) }

    /// What the filter just asked (and clears it).
    package static func take() -> Double { st_unanswered_take() }

    /// Connects `fd` (a TCP socket of `family`) to the black hole, to fail after `seconds`;
    /// the connect's own result (EINPROGRESS for a non-blocking socket).
    package static func connect(_ fd: Int32, family: Int32, seconds: Double) throws(Errno) -> Int32 {
        guard let hole = hole(family) else { throw Errno.timedOut }
        var timeout = UInt32(clamping: Int(seconds * 1000))
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, &timeout, socklen_t(MemoryLayout<UInt32>.size))
        return try Sys.connect(fd, hole)
    }

    private static let holes = Locked<[Int32: SocketAddress]>([:])

    /// How many sockets the black holes made so far hold open (a listener and its filler each).
    package static var holeSockets: Int { holes.withLock { $0.count * 2 } }

    /// The black hole of a family (IPv4 127.0.0.1, IPv6 ::1), made once: a listener with a
    /// backlog of 0 and one connection of its own queued, which fills it.
    private static func hole(_ family: Int32) -> SocketAddress? {
        holes.withLock { holes in
            if let known = holes[family] { return known }
            guard family == AF_INET || family == AF_INET6,
                  let any = SocketAddress(family == AF_INET ? "127.0.0.1:0" : "[::1]:0") else { return nil }
            let stream = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            guard let listener = try? Sys.socket(family, stream, 0) else { return nil }
            guard (try? Sys.bind(listener, any)) != nil, (try? Sys.listen(listener, 0)) != nil,
                  let address = (try? Sys.getsockname(listener)) ?? nil,
                  let filler = try? Sys.socket(family, stream, 0), (try? Sys.connect(filler, address)) != nil else {
                _ = try? Sys.close(listener)
                return nil
            }
            holes[family] = address     // both stay open for the life of the process
            return address
        }
    }
}
