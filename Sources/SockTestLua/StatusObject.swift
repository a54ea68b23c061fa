import CLua
import SockTestCore

/// The status object a filter sees (`so`): a userdata of type "socktest.status" that reads the
/// call in flight. One per slot, reused call after call (no allocation per call). Fields:
/// op, fd, family, type, protocol, cookie, err, socket_err, addr, backlog, level, opt, flags.
/// `err` and `socket_err` may be assigned in an after-filter (nil, an errno name or a number);
/// everything else is read-only. Outside its call the object reads as nil.
enum StatusObject {
    static let typeName = "socktest.status"

    /// Pushes a new status object bound to slot `index`.
    static func push(_ L: LuaState, slot index: Int) {
        let raw = lua_newuserdatauv(L, MemoryLayout<Int>.size, 0)!
        raw.storeBytes(of: index, as: Int.self)
        luaL_setmetatable(L, typeName)
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

    private static func slot(_ args: LuaArguments) -> Slot? {
        guard let raw = luaL_testudata(args.L, 1, typeName) else { return nil }
        return args.runtime.slot(raw.load(as: Int.self))
    }

    private static let index: LuaFunction = { L in
        binding(L, "index") { args throws(LuaRaise) in
            guard let call = slot(args)?.call, lua_type(args.L, 2) == LUA_TSTRING else {
                args.pushNil()
                return 1
            }
            let cookie = call.status.cookie
            switch try args.string(2) {
            case "op": args.push(call.type.name)
            case "fd": if let fd = call.fd { args.push(fd) } else { args.pushNil() }
            case "family": args.push(cookie.family)
            case "type": args.push(cookie.type)
            case "protocol": args.push(cookie.protocol)
            case "cookie": args.push(Int64(bitPattern: cookie.rawValue))
            case "err": if let err = call.status.err { args.push(err.name) } else { args.pushNil() }
            case "socket_err": if let err = call.status.socketErr { args.push(err.name) } else { args.pushNil() }
            case "addr": args.push(call.address)
            case "backlog": if let v = call.backlog { args.push(v) } else { args.pushNil() }
            case "level": if let v = call.level { args.push(v) } else { args.pushNil() }
            case "opt": if let v = call.option { args.push(v) } else { args.pushNil() }
            case "flags": if let v = call.flags { args.push(v) } else { args.pushNil() }
            default: args.pushNil()
            }
            return 1
        }
    }

    private static let newIndex: LuaFunction = { L in
        binding(L, "newindex") { args throws(LuaRaise) in
            let key = lua_type(args.L, 2) == LUA_TSTRING ? try args.string(2) : args.typeName(2)
            guard key == "err" || key == "socket_err" else {
                throw LuaRaise("status field '\(key)' is read-only (only err and socket_err can be set)")
            }
            guard let slot = slot(args), slot.call != nil else {
                throw LuaRaise("status object used outside its call")
            }
            guard slot.phase == .after else {
                throw LuaRaise("'\(key)' can only be set in an after-filter (a filter fails a call by returning an errno)")
            }
            var value: Errno?
            if !args.isNil(3) {
                do throws(LuaArguments.ErrnoValueError) {
                    value = try LuaArguments.errno(args.L, 3)
                } catch {
                    throw LuaRaise("cannot set '\(key)': \(error.message)")
                }
            }
            if key == "err" { slot.call!.status.err = value } else { slot.call!.status.socketErr = value }
            return 0
        }
    }

    private static let toString: LuaFunction = { L in
        binding(L, "tostring") { args throws(LuaRaise) in
            args.push(slot(args)?.call?.status.description ?? "socktest.status (outside its call)")
            return 1
        }
    }
}
