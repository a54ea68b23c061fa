import CLua
import Glibc
import SockTestCore

/// The switch's data-path calls as Lua functions (SPEC §7): `read`, `recv`, `write`, `send`,
/// `shutdown`. Each goes through the switch, so the script's read, write and shutdown filters
/// apply; like every call but socket, each acts only on a socket the switch tracks.
enum DataPathBindings {
    static let functions: [(String, LuaFunction)] = [
        ("read", read), ("recv", recv), ("write", write), ("send", send), ("shutdown", shutdown),
    ]

    /// read(fd [, n]) → up to n bytes (default 4096); "" at end of stream.
    private static let read: LuaFunction = { L in
        binding(L, "read") { args throws(LuaRaise) in
            try receive(args, sender: false) { sw, fd, buffer throws(Errno) in (try sw.read(fd, into: buffer), nil) }
        }
    }

    /// recv(fd [, n]) → up to n bytes (default 4096), and the sender of a datagram (nil on a
    /// stream, as recvfrom(2) tells none).
    private static let recv: LuaFunction = { L in
        binding(L, "recv") { args throws(LuaRaise) in
            try receive(args, sender: true) { sw, fd, buffer throws(Errno) in try sw.receive(fd, into: buffer) }
        }
    }

    /// What read and recv share: the arguments, a buffer the size asked for, the results
    /// (recv's with the sender).
    private static func receive(
        _ args: LuaArguments, sender: Bool,
        _ call: (Switch, Int32, UnsafeMutableRawBufferPointer) throws(Errno) -> (Int, SocketAddress?)
    ) throws(LuaRaise) -> Int32 {
        let fd = try SwitchBindings.tracked(args, 1), size = try args.int32(2, default: 4096)
        guard size > 0, size <= 1 << 24 else { throw args.argError(2, "size must be within 1-16777216") }
        guard let fd else { return args.fail(.badFileDescriptor) }
        try args.ensureRoom(Int(size))      // what is read is the script's to hold
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(size), alignment: 1)
        defer { buffer.deallocate() }
        return SwitchBindings.perform(args, { sw throws(Errno) in try call(sw, fd, buffer) }) { n, from in
            lua_pushlstring(args.L, buffer.baseAddress, n)
            if sender { args.push(from) }
            return sender ? 2 : 1
        }
    }

    /// write(fd, s) → bytes written (fewer than #s is a short write). A peer that is gone is
    /// nil, "EPIPE": SIGPIPE does not kill the tool (`QuietPipe`).
    private static let write: LuaFunction = { L in
        binding(L, "write") { args throws(LuaRaise) in
            try transmit(args, plain: true, to: nil)
        }
    }

    /// send(fd, s [, addr]) → bytes sent: send(2), or sendto(2) to addr.
    private static let send: LuaFunction = { L in
        binding(L, "send") { args throws(LuaRaise) in
            try transmit(args, plain: false, to: args.isNil(3) ? nil : try args.address(3))
        }
    }

    private static func transmit(_ args: LuaArguments, plain: Bool, to address: SocketAddress?) throws(LuaRaise) -> Int32 {
        let fd = try SwitchBindings.tracked(args, 1), bytes = try args.bytes(2)
        guard let fd else { return args.fail(.badFileDescriptor) }
        return SwitchBindings.perform(args, { sw throws(Errno) in
            try QuietPipe.run { () throws(Errno) in
                plain ? try sw.write(fd, from: bytes) : try sw.send(fd, from: bytes, to: address)
            }
        }) {
            args.push(Int64($0)); return 1
        }
    }

    /// shutdown(fd, how) → true; how: SHUT_RD, SHUT_WR, SHUT_RDWR or "r", "w", "rw" (another
    /// integer goes to the system, which refuses it: EINVAL).
    private static let shutdown: LuaFunction = { L in
        binding(L, "shutdown") { args throws(LuaRaise) in
            let fd = try SwitchBindings.tracked(args, 1), how = try shutdownHow(args, 2)
            guard let fd else { return args.fail(.badFileDescriptor) }
            return SwitchBindings.performTrue(args, { sw throws(Errno) in try sw.shutdown(fd, how: how) })
        }
    }

    private static let hows: [(String, Int32)] = [("r", Int32(SHUT_RD)), ("w", Int32(SHUT_WR)), ("rw", Int32(SHUT_RDWR))]

    private static func shutdownHow(_ args: LuaArguments, _ i: Int32) throws(LuaRaise) -> Int32 {
        guard lua_type(args.L, i) == LUA_TSTRING else {
            guard lua_type(args.L, i) == LUA_TNUMBER else {
                throw args.argError(i, "socktest.SHUT_RD, SHUT_WR, SHUT_RDWR, \"r\", \"w\" or \"rw\" expected, got \(args.typeName(i))")
            }
            return try args.int32(i)
        }
        let text = try args.string(i)
        guard let how = hows.first(where: { $0.0 == text })?.1 else {
            throw args.argError(i, "unknown how '\(text)' (expected \"r\", \"w\" or \"rw\")")
        }
        return how
    }
}
