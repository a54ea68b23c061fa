import Glibc

/// The wrapped calls. Each describes its call and its system call; `run` does the rest.
extension Switch {
    /// Wraps socket(2).
    public func socket(family: Int32, type: Int32, protocol proto: Int32 = 0) throws(Errno) -> Int32 {
        var call = Call(.socket, fd: nil, status: Status(cookie: Cookie(family: family, type: type, protocol: proto)))
        return try run(&call) { _ throws(Errno) in try Sys.socket(family, type, proto) }
    }

    /// Wraps bind(2).
    public func bind(_ fd: Int32, to address: SocketAddress) throws(Errno) {
        var call = Call(.bind, fd: fd, status: Status(cookie: Cookie(rawValue: 0)), address: address)
        _ = try run(&call) { _ throws(Errno) in try Sys.bind(fd, address) }
    }

    /// Wraps connect(2). A non-blocking socket throws `.nowInProgress` (EINPROGRESS); read
    /// SO_ERROR with `getsockoptInt` once it is writable to complete the connect.
    public func connect(_ fd: Int32, to address: SocketAddress) throws(Errno) {
        var call = Call(.connect, fd: fd, status: Status(cookie: Cookie(rawValue: 0)), address: address)
        _ = try run(&call) { _ throws(Errno) in
            let unanswered = Unanswered.take()     // a before-filter's wish: a peer that never answers
            if unanswered > 0 { return try Unanswered.connect(fd, family: address.family, seconds: unanswered) }
            return try Sys.connect(fd, address)
        }
    }

    /// Wraps listen(2).
    public func listen(_ fd: Int32, backlog: Int32) throws(Errno) {
        var call = Call(.listen, fd: fd, status: Status(cookie: Cookie(rawValue: 0)), backlog: backlog)
        _ = try run(&call) { _ throws(Errno) in try Sys.listen(fd, backlog) }
    }

    /// Wraps accept(2): the new descriptor and the peer's address.
    public func accept(_ fd: Int32) throws(Errno) -> (fd: Int32, peer: SocketAddress?) {
        try accept4(fd, flags: 0)
    }

    /// Wraps accept4(2). The accepted socket carries the listening socket's cookie.
    public func accept4(_ fd: Int32, flags: Int32) throws(Errno) -> (fd: Int32, peer: SocketAddress?) {
        var call = Call(.accept, fd: fd, status: Status(cookie: Cookie(rawValue: 0)), flags: flags)
        let newFD = try run(&call) { call throws(Errno) in
            let (newFD, peer) = try Sys.accept(fd, flags)
            call.address = peer
            return newFD
        }
        return (newFD, call.address)
    }

    /// Wraps getsockopt(2) for an integer option. For SO_ERROR the value returned is the socket
    /// error as an after-filter left it, so a filter can fail a non-blocking connect late.
    public func getsockoptInt(_ fd: Int32, level: Int32, option: Int32) throws(Errno) -> Int32 {
        var call = Call(.getsockopt, fd: fd, status: Status(cookie: Cookie(rawValue: 0)), level: level, option: option)
        let value = try run(&call) { call throws(Errno) in
            let value = try Sys.getsockoptInt(fd, level, option)
            call.observe(optionValue: value)
            return value
        }
        return call.optionResult(value)
    }

    /// Wraps close(2). A successful close removes the socket from the table; a failed one leaves it.
    public func close(_ fd: Int32) throws(Errno) {
        var call = Call(.close, fd: fd, status: Status(cookie: Cookie(rawValue: 0)))
        _ = try run(&call) { _ throws(Errno) in try Sys.close(fd) }
    }

    /// getsockname(2), unfiltered.
    public func getsockname(_ fd: Int32) throws(Errno) -> SocketAddress? { try Sys.getsockname(fd) }

    /// getpeername(2), unfiltered.
    public func getpeername(_ fd: Int32) throws(Errno) -> SocketAddress? { try Sys.getpeername(fd) }

    /// read(2), unfiltered (data-path calls are not filter types yet): bytes read, 0 at end of stream.
    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try Sys.read(fd, buffer)
    }

    /// write(2), unfiltered: bytes written.
    public func write(_ fd: Int32, from buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try Sys.write(fd, buffer)
    }
}
