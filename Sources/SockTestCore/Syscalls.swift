import CSysShims
import Glibc

/// Thin wrappers over the socket system calls. Each returns the call's value or throws its
/// `Errno`; EINTR is retried here and only here. Public so the supervisor makes its calls on a
/// program's behalf the same way (never for close, whose descriptor is gone after
/// EINTR on Linux, nor connect, which goes on asynchronously after EINTR).
package enum Sys {
    @inline(__always)
    package static func value<T: FixedWidthInteger>(
        retryOnInterrupt: Bool = true, _ body: () -> T
    ) throws(Errno) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let err = Errno(rawValue: errno)
            if retryOnInterrupt && err == .interrupted { continue }
            throw err
        }
    }

    package static func socket(_ family: Int32, _ type: Int32, _ proto: Int32) throws(Errno) -> Int32 {
        try value { Glibc.socket(family, type, proto) }
    }

    package static func bind(_ fd: Int32, _ address: SocketAddress) throws(Errno) -> Int32 {
        try value { address.withSockaddr { Glibc.bind(fd, $0, $1) } }
    }

    package static func connect(_ fd: Int32, _ address: SocketAddress) throws(Errno) -> Int32 {
        try value(retryOnInterrupt: false) { address.withSockaddr { Glibc.connect(fd, $0, $1) } }
    }

    package static func listen(_ fd: Int32, _ backlog: Int32) throws(Errno) -> Int32 {
        try value { Glibc.listen(fd, backlog) }
    }

    package static func accept(_ fd: Int32, _ flags: Int32) throws(Errno) -> (Int32, SocketAddress?) {
        var peer: SocketAddress?
        let newFD = try value {
            SocketAddress.receiving { st_accept4(fd, $0, $1, flags) } into: { peer = $0 }
        }
        return (newFD, peer)
    }

    package static func getsockoptInt(_ fd: Int32, _ level: Int32, _ option: Int32) throws(Errno) -> Int32 {
        var result: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try value { Glibc.getsockopt(fd, level, option, &result, &length) }
        return result
    }

    package static func getsockname(_ fd: Int32) throws(Errno) -> SocketAddress? {
        var address: SocketAddress?
        _ = try value { SocketAddress.receiving { Glibc.getsockname(fd, $0, $1) } into: { address = $0 } }
        return address
    }

    package static func getpeername(_ fd: Int32) throws(Errno) -> SocketAddress? {
        var address: SocketAddress?
        _ = try value { SocketAddress.receiving { Glibc.getpeername(fd, $0, $1) } into: { address = $0 } }
        return address
    }

    package static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try value { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    package static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try value { Glibc.write(fd, buffer.baseAddress, buffer.count) }
    }

    /// The most one read or write moves (the kernel's MAX_RW_COUNT: INT_MAX rounded down to a
    /// page), which also keeps every byte count in an Int32.
    package static let maxTransfer = 0x7fff_f000

    /// recvfrom(2): bytes received and, for a datagram socket, the sender.
    package static func receive(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ flags: Int32) throws(Errno) -> (Int, SocketAddress?) {
        var from: SocketAddress?
        // One call moves at most MAX_RW_COUNT (INT_MAX rounded down to a page): an Int32 holds it.
        let n = try value {
            SocketAddress.receiving {
                Int32(truncatingIfNeeded: Glibc.recvfrom(fd, buffer.baseAddress, buffer.count, flags, $0, $1))
            } into: { from = $0 }
        }
        return (Int(n), from)
    }

    /// recvmsg(2) without ancillary data: bytes received, the sender (a datagram's) and the
    /// message's flags (MSG_TRUNC, ...).
    package static func receiveMessage(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ flags: Int32) throws(Errno) -> (Int, SocketAddress?, Int32) {
        var from: SocketAddress?
        var received: Int32 = 0
        let n = try value {
            SocketAddress.receiving({ name, length in
                var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
                return withUnsafeMutablePointer(to: &iov) { iovPointer in
                    var message = msghdr()
                    message.msg_name = UnsafeMutableRawPointer(name)
                    message.msg_namelen = length.pointee
                    message.msg_iov = iovPointer
                    message.msg_iovlen = 1
                    let r = Glibc.recvmsg(fd, &message, flags)
                    length.pointee = message.msg_namelen
                    received = message.msg_flags
                    return Int32(truncatingIfNeeded: r)
                }
            }, into: { from = $0 })
        }
        return (Int(n), from, received)
    }

    /// sendto(2), or send(2) without an address: bytes sent.
    package static func send(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ flags: Int32, to address: SocketAddress?) throws(Errno) -> Int {
        guard let address else { return try value { Glibc.send(fd, buffer.baseAddress, buffer.count, flags) } }
        return try value { address.withSockaddr { Glibc.sendto(fd, buffer.baseAddress, buffer.count, flags, $0, $1) } }
    }

    package static func shutdown(_ fd: Int32, _ how: Int32) throws(Errno) -> Int32 {
        try value { Glibc.shutdown(fd, how) }
    }

    /// Resets a connected TCP socket: connect(2) with AF_UNSPEC disconnects it, which sends the
    /// peer an RST and leaves ECONNRESET pending, read here so that the next call does not see
    /// it again (the call that reset fails with it instead). Later writes fail EPIPE, as on a
    /// socket the peer reset. Unprivileged, and works on any descriptor of the socket.
    package static func reset(_ fd: Int32) {
        var unspec = sockaddr(sa_family: sa_family_t(AF_UNSPEC), sa_data: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        _ = Glibc.connect(fd, &unspec, socklen_t(MemoryLayout<sockaddr>.size))
        _ = try? getsockoptInt(fd, SOL_SOCKET, SO_ERROR)
    }

    /// A reset answered to a call: a stream socket is reset (`reset`); other sockets have no
    /// connection to reset, and are left as they are (the call fails ECONNRESET all the same).
    package static func resetStream(_ fd: Int32) {
        if (try? getsockoptInt(fd, SOL_SOCKET, SO_TYPE)) == Int32(SOCK_STREAM.rawValue) { reset(fd) }
    }

    package static func close(_ fd: Int32) throws(Errno) -> Int32 {
        try value(retryOnInterrupt: false) { Glibc.close(fd) }
    }
}
