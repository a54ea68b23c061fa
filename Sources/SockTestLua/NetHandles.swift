import CLua
import SockTestCore

/// The userdata behind socktest.net's listeners and connections (lua/net.lua defines their
/// methods): a descriptor, whether it is still open, and (user value 1) the remote address.
/// Made in Swift so they are real userdata with `__name`, which Lua code cannot make; the
/// functions here are reached only by the module's own Lua (`raw`).
enum NetHandles {
    static let typeNames = ["socktest.net.conn", "socktest.net.listener"]

    struct Handle {
        var fd: Int32
        var open: Bool
    }

    static let functions: [(String, LuaFunction)] = [
        ("metatable", metatable), ("handle", handle), ("fd", fd), ("detach", detach), ("remote", remote),
    ]

    /// Creates the metatables (runtime set up, guard held).
    static func register(_ L: LuaState) {
        for name in typeNames {
            luaL_newmetatable(L, name)
            st_pop(L, 1)
        }
    }

    /// metatable(name) → the metatable of a handle type, for net.lua to fill in.
    private static let metatable: LuaFunction = { L in
        binding(L, "metatable") { args throws(LuaRaise) in
            let name = try args.string(1)
            guard typeNames.contains(name) else { throw args.argError(1, "unknown handle type '\(name)'") }
            st_getmetatable(L, name)
            return 1
        }
    }

    /// handle(name, fd [, remote]) → a new open handle.
    private static let handle: LuaFunction = { L in
        binding(L, "handle") { args throws(LuaRaise) in
            let name = try args.string(1), fd = try args.int32(2)
            guard typeNames.contains(name) else { throw args.argError(1, "unknown handle type '\(name)'") }
            let remote = args.isNil(3) ? nil : try args.string(3)
            let raw = lua_newuserdatauv(L, MemoryLayout<Handle>.size, 1)!
            raw.bindMemory(to: Handle.self, capacity: 1).initialize(to: Handle(fd: fd, open: true))
            if let remote { args.push(remote) } else { args.pushNil() }
            lua_setiuservalue(L, -2, 1)
            luaL_setmetatable(L, name)
            return 1
        }
    }

    /// The handle at argument 1, or "bad argument #1 to 'read' (socktest.net.conn expected,
    /// got number)" naming the method the script called (argument 2).
    private static func handle(_ args: LuaArguments) throws(LuaRaise) -> UnsafeMutablePointer<Handle> {
        for name in typeNames {
            if let raw = luaL_testudata(args.L, 1, name) { return raw.assumingMemoryBound(to: Handle.self) }
        }
        let method = (try? args.string(2)) ?? "?"
        throw LuaRaise("bad argument #1 to '\(method)' (socktest.net handle expected, got \(args.typeName(1)))")
    }

    /// fd(h, method) → the descriptor, or nil once closed.
    private static let fd: LuaFunction = { L in
        binding(L, "fd") { args throws(LuaRaise) in
            let h = try handle(args)
            if h.pointee.open { args.push(h.pointee.fd) } else { args.pushNil() }
            return 1
        }
    }

    /// detach(h, method) → the descriptor, marking the handle closed; nil if it was.
    private static let detach: LuaFunction = { L in
        binding(L, "detach") { args throws(LuaRaise) in
            let h = try handle(args)
            if h.pointee.open { args.push(h.pointee.fd) } else { args.pushNil() }
            h.pointee.open = false
            return 1
        }
    }

    /// remote(h) → the address dialled or accepted from, or nil.
    private static let remote: LuaFunction = { L in
        binding(L, "remote") { args throws(LuaRaise) in
            _ = try handle(args)
            lua_getiuservalue(L, 1, 1)
            return 1
        }
    }
}
