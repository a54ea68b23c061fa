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

    /// Wraps read(2): bytes read, 0 at end of stream. On a socket in the table the read filter
    /// runs; on any other descriptor this is a plain read.
    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try receive(fd, into: buffer, flags: 0, plain: true).count
    }

    /// Wraps recvfrom(2): bytes received and, for a datagram, the sender.
    public func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0) throws(Errno) -> (count: Int, from: SocketAddress?) {
        try receive(fd, into: buffer, flags: flags, plain: false)
    }

    private func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: Int32,
                         plain: Bool) throws(Errno) -> (count: Int, from: SocketAddress?) {
        let data = CallData { count in Array(UnsafeRawBufferPointer(rebasing: buffer.prefix(count))) }
        defer { data.invalidate() }
        var call = Call(.read, fd: fd, status: Status(cookie: Cookie(rawValue: 0)), flags: flags,
                        size: min(buffer.count, Sys.maxTransfer), data: data)
        let n = try run(&call) { call throws(Errno) in
            Int32(clamping: try call.perform(reset: { Sys.resetStream(fd) }) { limit throws(Errno) in
                let part = UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(limit))
                if plain { return try Sys.read(fd, part) }
                let (n, from) = try Sys.receive(fd, part, flags)
                call.address = from
                return n
            })
        }
        return (Int(n), call.address)
    }

    /// Wraps write(2): bytes written. On a socket in the table the write filter runs.
    public func write(_ fd: Int32, from buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try send(fd, from: buffer, flags: 0, to: nil, plain: true)
    }

    /// Wraps send(2), or sendto(2) with an address: bytes sent.
    public func send(_ fd: Int32, from buffer: UnsafeRawBufferPointer, flags: Int32 = 0, to address: SocketAddress? = nil) throws(Errno) -> Int {
        try send(fd, from: buffer, flags: flags, to: address, plain: false)
    }

    private func send(_ fd: Int32, from buffer: UnsafeRawBufferPointer, flags: Int32, to address: SocketAddress?,
                      plain: Bool) throws(Errno) -> Int {
        let data = CallData { count in Array(buffer.prefix(count)) }
        defer { data.invalidate() }
        var call = Call(.write, fd: fd, status: Status(cookie: Cookie(rawValue: 0)), address: address, flags: flags,
                        size: min(buffer.count, Sys.maxTransfer), data: data)
        return Int(try run(&call) { call throws(Errno) in
            Int32(clamping: try call.perform(reset: { Sys.resetStream(fd) }) { limit throws(Errno) in
                let part = UnsafeRawBufferPointer(rebasing: buffer.prefix(limit))
                return plain ? try Sys.write(fd, part) : try Sys.send(fd, part, flags, to: address)
            })
        })
    }

    /// Wraps shutdown(2).
    public func shutdown(_ fd: Int32, how: Int32) throws(Errno) {
        var call = Call(.shutdown, fd: fd, status: Status(cookie: Cookie(rawValue: 0)), how: how)
        _ = try run(&call) { _ throws(Errno) in try Sys.shutdown(fd, how) }
    }
}
