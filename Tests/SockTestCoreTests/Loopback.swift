import Glibc
import SockTestCore
import XCTest

/// Helpers for tests on real loopback sockets.
enum Loopback {
    static let stream = Int32(SOCK_STREAM.rawValue)
    static let nonblock = Int32(SOCK_NONBLOCK.rawValue)
    static let cloexec = Int32(SOCK_CLOEXEC.rawValue)

    static func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) != -1 }

    /// A raw (unswitched) listening TCP socket on 127.0.0.1 and its address.
    static func rawListener() -> (fd: Int32, address: SocketAddress) {
        let fd = Glibc.socket(AF_INET, stream, 0)
        precondition(fd >= 0)
        let any = SocketAddress("127.0.0.1:0")!
        precondition(any.withSockaddr { Glibc.bind(fd, $0, $1) } == 0)
        precondition(Glibc.listen(fd, 16) == 0)
        let address = try! Switch().getsockname(fd)!
        return (fd, address)
    }

    /// An address on 127.0.0.1 where nothing listens (a port bound, then released).
    static func closedPort() -> SocketAddress {
        let (fd, address) = rawListener()
        Glibc.close(fd)
        return address
    }

    /// Waits until `fd` is writable (a non-blocking connect finished), at most 2 s.
    static func waitWritable(_ fd: Int32) {
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        XCTAssertEqual(poll(&p, 1, 2000), 1)
    }
}

extension Switch {
    /// The one stat for `cookie`, or nil when the switch counted nothing for it.
    func stat(_ cookie: Cookie) -> Stat? { stats().first { $0.cookie == cookie } }
}

let tcp4 = Cookie(family: AF_INET, type: Loopback.stream, protocol: 0)
