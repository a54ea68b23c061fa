import CLua
import SockTestCore
import Glibc

/// The status object a filter sees (`so`): a userdata of type "socktest.status" that reads the
/// call in flight in place (the caller's own `Call`, never a copy). One per slot, reused call
/// after call (no allocation per call). Fields: `Field`. `err` and `socket_err` (nil, an errno
/// name or a number) and `n` (a read's or write's byte count, lowered) may be assigned in an
/// after-filter; everything else is read-only. Outside its call the object reads as nil.
package enum StatusObject {
    static let typeName = "socktest.status"

    /// Every field a script can read, as it spells it: the one list `__index` answers from, that
    /// `socktest-lua check` knows (`so.famly` is a mistake) and the annotations are tested against.
    package enum Field: String, CaseIterable, Sendable {
        case op, fd, family, type, `protocol`, cookie, err
        case socketErr = "socket_err"
        case addr, backlog, level, opt, flags, pid
        case localAddr = "local_addr"
        case nonblocking
        // The data path (SPEC §7): read, write, shutdown.
        case size, n
        case readTotal = "read_total"
        case writtenTotal = "written_total"
        case how, data
    }

    /// The userdata's memory: which call it reads, and whether that call has run (an
    /// after-filter, which may write `err` and `socket_err`). Set and cleared under the guard.
    struct Target {
        var call: UnsafeMutablePointer<Call>?
        var after = false
    }

    /// Pushes a new status object, reading nothing yet; its memory.
    static func push(_ L: LuaState) -> UnsafeMutablePointer<Target> {
        let raw = lua_newuserdatauv(L, MemoryLayout<Target>.size, 0)!
        let target = raw.bindMemory(to: Target.self, capacity: 1)
        target.initialize(to: Target())
        luaL_setmetatable(L, typeName)
        return target
    }

    /// Creates the metatable (runtime set up, guard held).
    static func register(_ rt: LuaRuntime) {
        let L = rt.L
        luaL_newmetatable(L, typeName)
        for (name, function) in [("__index", index), ("__newindex", newIndex), ("__tostring", toString)] as [(String, LuaFunction)] {
            st_pushswiftfunction(L, function, rt.context)
            lua_setfield(L, -2, name)
        }
        st_pop(L, 1)
    }

    private static func target(_ args: LuaArguments) -> UnsafeMutablePointer<Target>? {
        luaL_testudata(args.L, 1, typeName)?.assumingMemoryBound(to: Target.self)
    }

    private static let index: LuaFunction = { L in
        binding(L, "index") { args throws(LuaRaise) in
            guard let call = target(args)?.pointee.call, lua_type(args.L, 2) == LUA_TSTRING else {
                args.pushNil()
                return 1
            }
            let cookie = call.pointee.status.cookie
            guard let field = Field(rawValue: try args.string(2)) else {
                args.pushNil()
                return 1
            }
            switch field {
            case .op: args.push(call.pointee.type.name)
            case .fd: if let fd = call.pointee.fd { args.push(fd) } else { args.pushNil() }
            case .family: args.push(cookie.family)
            case .type: args.push(cookie.type)
            case .protocol: args.push(cookie.protocol)
            case .cookie: args.push(Int64(bitPattern: cookie.rawValue))
            case .err: if let err = call.pointee.status.err { args.push(err.name) } else { args.pushNil() }
            case .socketErr: if let err = call.pointee.status.socketErr { args.push(err.name) } else { args.pushNil() }
            case .addr: args.push(address(args, call.pointee))
            case .backlog: if let v = call.pointee.backlog { args.push(v) } else { args.pushNil() }
            case .level: if let v = call.pointee.level { args.push(v) } else { args.pushNil() }
            case .opt: if let v = call.pointee.option { args.push(v) } else { args.pushNil() }
            case .flags: if let v = call.pointee.flags { args.push(v) } else { args.pushNil() }
            case .pid: args.push(call.pointee.space == 0 ? getpid() : call.pointee.space)
            // Asked of the system only when a script reads it (getsockname, on the program's
            // socket through the supervisor for an external program).
            case .localAddr: args.push(args.runtime.sw.localAddress(of: call.pointee))
            case .nonblocking: args.push(args.runtime.sw.isNonBlocking(call.pointee))
            case .size: if let v = call.pointee.size { args.push(Int64(v)) } else { args.pushNil() }
            case .n: if let v = call.pointee.transferred { args.push(Int64(v)) } else { args.pushNil() }
            case .readTotal, .writtenTotal:
                guard call.pointee.type.movesData else { args.pushNil(); break }
                args.push(Int64(clamping: field == .readTotal ? call.pointee.readTotal : call.pointee.writtenTotal))
            case .how: if let v = call.pointee.how { args.push(v) } else { args.pushNil() }
            case .data:
                // Copied out of the caller's buffer only now, and held by the script: it counts
                // against the memory cap as a read's result does.
                // The room first: a write's bytes are gathered only if they fit.
                if call.pointee.type == .write { try args.ensureRoom(call.pointee.size ?? 0) }
                guard let bytes = call.pointee.bytes() else { args.pushNil(); break }
                try args.ensureRoom(bytes.count)
                _ = bytes.withUnsafeBufferPointer { lua_pushlstring(args.L, $0.baseAddress, $0.count) }
            }
            return 1
        }
    }

    /// `addr`: connect and bind the address given, accept the peer; read and write the address
    /// sent to or received from (a datagram's), else the connected peer's, asked of the system
    /// only when a script reads it; shutdown the peer's.
    private static func address(_ args: LuaArguments, _ call: Call) -> SocketAddress? {
        if let address = call.address { return address }
        guard FilterType.dataPath.contains(call.type) else { return nil }
        return args.runtime.sw.peerAddress(of: call)
    }

    private static let newIndex: LuaFunction = { L in
        binding(L, "newindex") { args throws(LuaRaise) in
            let key = lua_type(args.L, 2) == LUA_TSTRING ? try args.string(2) : args.typeName(2)
            guard key == "err" || key == "socket_err" || key == "n" else {
                throw LuaRaise("status field '\(key)' is read-only (only err, socket_err and n can be set)")
            }
            guard let target = target(args), let call = target.pointee.call else {
                throw LuaRaise("status object used outside its call")
            }
            guard target.pointee.after else {
                let how = key == "n" ? "a filter shortens a call by returning socktest.short(n)" : "a filter fails a call by returning an errno"
                throw LuaRaise("'\(key)' can only be set in an after-filter (\(how))")
            }
            if key == "n" {
                call.pointee.transferred = try lowered(args, call.pointee)
                return 0
            }
            var value: Errno?
            if !args.isNil(3) {
                do throws(LuaArguments.ErrnoValueError) {
                    value = try LuaArguments.errno(args.L, 3)
                } catch {
                    throw LuaRaise("cannot set '\(key)': \(error.message)")
                }
            }
            if key == "err" { call.pointee.status.err = value } else { call.pointee.status.socketErr = value }
            return 0
        }
    }

    /// The value assigned to `so.n`: an integer from 0 to the bytes the call moved (the caller is
    /// told fewer; a count cannot be raised past what really moved).
    private static func lowered(_ args: LuaArguments, _ call: Call) throws(LuaRaise) -> Int {
        guard call.type.movesData else { throw LuaRaise("'n' can only be set for a read or write, not \(call.type.name)") }
        if let err = call.status.err { throw LuaRaise("cannot set 'n': the call fails (\(err.name))") }
        guard let moved = call.transferred else { throw LuaRaise("cannot set 'n': the call failed and moved no bytes") }
        var isInteger: Int32 = 0
        let value = st_tointegerx(args.L, 3, &isInteger)
        guard isInteger != 0 else { throw LuaRaise("cannot set 'n': integer expected, got \(args.typeName(3))") }
        guard value >= 0, value <= moved else {
            throw LuaRaise("cannot set 'n' to \(value): it may only be lowered, within 0-\(moved) (the bytes the call moved)")
        }
        return Int(value)
    }

    private static let toString: LuaFunction = { L in
        binding(L, "tostring") { args throws(LuaRaise) in
            args.push(target(args)?.pointee.call?.pointee.status.description ?? "socktest.status (outside its call)")
            return 1
        }
    }
}
