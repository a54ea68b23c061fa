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

    package static func close(_ fd: Int32) throws(Errno) -> Int32 {
        try value(retryOnInterrupt: false) { Glibc.close(fd) }
    }
}
