import CLua
import SockTestCore

/// The switch's calls as Lua functions. Each reads its arguments with the guard held, lets the
/// guard go for the call itself (it may block, and it runs filters that need the guard), takes
/// it again and pushes the results. Failures return nil, "ENAME", errno. Every call but socket
/// acts only on sockets the switch tracks: `st.close(1)` is EBADF, not the tool's stdout.
enum SwitchBindings {
    static let functions: [(String, LuaFunction)] = [
        ("socket", socket), ("bind", bind), ("connect", connect), ("listen", listen), ("accept", accept),
        ("getsockopt", getsockopt), ("close", close), ("getsockname", getsockname),
        ("getpeername", getpeername),
    ] + DataPathBindings.functions

    /// Runs `call` on the switch without the guard, then pushes its results or nil, "ENAME".
    static func perform<R>(
        _ args: LuaArguments, _ call: (Switch) throws(Errno) -> R, push: (R) -> Int32
    ) -> Int32 {
        let rt = args.runtime
        let result = rt.unlocked { Result { () throws(Errno) in try call(rt.sw) } }
        switch result {
        case .success(let value): return push(value)
        case .failure(let err): return args.fail(err)
        }
    }

    /// The descriptor at argument i, when the switch tracks it (a socket the script or the
    /// program under test opened); nil otherwise.
    static func tracked(_ args: LuaArguments, _ i: Int32) throws(LuaRaise) -> Int32? {
        let fd = try args.int32(i)
        return args.runtime.sw.identity(of: SocketKey(space: 0, fd: fd)) != nil ? fd : nil
    }

    /// For calls whose success is just `true`.
    static func performTrue(_ args: LuaArguments, _ call: (Switch) throws(Errno) -> Void) -> Int32 {
        perform(args, call) { _ in
            args.push(true)
            return 1
        }
    }

    /// socket(family, type [, protocol]) → fd
    private static let socket: LuaFunction = { L in
        binding(L, "socket") { args throws(LuaRaise) in
            let family = try args.int32(1), type = try args.int32(2), proto = try args.int32(3, default: 0)
            return perform(args, { sw throws(Errno) in try sw.socket(family: family, type: type, protocol: proto) }) {
                args.push($0); return 1
            }
        }
    }

    /// bind(fd, addr) → true
    private static let bind: LuaFunction = { L in
        binding(L, "bind") { args throws(LuaRaise) in
            let fd = try tracked(args, 1), address = try args.address(2)
            guard let fd else { return args.fail(.badFileDescriptor) }
            return performTrue(args, { sw throws(Errno) in try sw.bind(fd, to: address) })
        }
    }

    /// connect(fd, addr) → true
    private static let connect: LuaFunction = { L in
        binding(L, "connect") { args throws(LuaRaise) in
            let fd = try tracked(args, 1), address = try args.address(2)
            guard let fd else { return args.fail(.badFileDescriptor) }
            return performTrue(args, { sw throws(Errno) in try sw.connect(fd, to: address) })
        }
    }

    /// listen(fd [, backlog]) → true
    private static let listen: LuaFunction = { L in
        binding(L, "listen") { args throws(LuaRaise) in
            let fd = try tracked(args, 1), backlog = try args.int32(2, default: 128)
            guard let fd else { return args.fail(.badFileDescriptor) }
            return performTrue(args, { sw throws(Errno) in try sw.listen(fd, backlog: backlog) })
        }
    }

    /// accept(fd [, flags]) → fd, peer_addr
    private static let accept: LuaFunction = { L in
        binding(L, "accept") { args throws(LuaRaise) in
            let fd = try tracked(args, 1), flags = try args.int32(2, default: 0)
            guard let fd else { return args.fail(.badFileDescriptor) }
            return perform(args, { sw throws(Errno) in try sw.accept4(fd, flags: flags) }) {
                args.push($0.fd)
                args.push($0.peer)
                return 2
            }
        }
    }

    /// getsockopt(fd, level, opt) → value
    private static let getsockopt: LuaFunction = { L in
        binding(L, "getsockopt") { args throws(LuaRaise) in
            let fd = try tracked(args, 1), level = try args.int32(2), option = try args.int32(3)
            guard let fd else { return args.fail(.badFileDescriptor) }
            return perform(args, { sw throws(Errno) in try sw.getsockoptInt(fd, level: level, option: option) }) {
                args.push($0); return 1
            }
        }
    }

    /// close(fd) → true
    private static let close: LuaFunction = { L in
        binding(L, "close") { args throws(LuaRaise) in
            guard let fd = try tracked(args, 1) else { return args.fail(.badFileDescriptor) }
            return performTrue(args, { sw throws(Errno) in try sw.close(fd) })
        }
    }

    /// getsockname(fd) → addr (unfiltered)
    private static let getsockname: LuaFunction = { L in
        binding(L, "getsockname") { args throws(LuaRaise) in
            guard let fd = try tracked(args, 1) else { return args.fail(.badFileDescriptor) }
            return perform(args, { sw throws(Errno) in try sw.getsockname(fd) }) { args.push($0); return 1 }
        }
    }

    /// getpeername(fd) → addr (unfiltered)
    private static let getpeername: LuaFunction = { L in
        binding(L, "getpeername") { args throws(LuaRaise) in
            guard let fd = try tracked(args, 1) else { return args.fail(.badFileDescriptor) }
            return perform(args, { sw throws(Errno) in try sw.getpeername(fd) }) { args.push($0); return 1 }
        }
    }
}
