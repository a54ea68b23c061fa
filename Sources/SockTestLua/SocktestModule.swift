import CLua
import Glibc
import SockTestCore

/// The `socktest` module: a table of functions and constants, the global `socktest` and
/// `require("socktest")`; its Lua parts (lua/socktest.lua, net.lua, recipe.lua) build on it.
enum SocktestModule {
    static let functions: [(String, LuaFunction)] = [
        ("delay", delay), ("short", short), ("eof", eof), ("reset", reset), ("drop", drop), ("stats", stats), ("sockets", sockets), ("random", random),
        ("sleep", sleep), ("now", now),
    ] + SwitchBindings.functions

    /// What only the module's own Lua reaches (`raw` in lua/*.lua).
    static let rawFunctions: [(String, LuaFunction)] = [("set", set), ("fail", fail), ("also", also)] + NetHandles.functions

    static let constants: [(String, Int32)] = [
        ("AF_INET", AF_INET), ("AF_INET6", AF_INET6), ("AF_UNIX", AF_UNIX),
        ("SOCK_STREAM", Int32(SOCK_STREAM.rawValue)), ("SOCK_DGRAM", Int32(SOCK_DGRAM.rawValue)),
        ("SOCK_RAW", Int32(SOCK_RAW.rawValue)), ("SOCK_SEQPACKET", Int32(SOCK_SEQPACKET.rawValue)),
        ("SOCK_NONBLOCK", Int32(SOCK_NONBLOCK.rawValue)), ("SOCK_CLOEXEC", Int32(SOCK_CLOEXEC.rawValue)),
        ("IPPROTO_TCP", Int32(IPPROTO_TCP)), ("IPPROTO_UDP", Int32(IPPROTO_UDP)),
        ("SOL_SOCKET", SOL_SOCKET), ("SO_ERROR", SO_ERROR), ("SO_TYPE", SO_TYPE),
        ("SHUT_RD", Int32(SHUT_RD)), ("SHUT_WR", Int32(SHUT_WR)), ("SHUT_RDWR", Int32(SHUT_RDWR)),
    ]

    static let delayType = "socktest.delay"
    static let actionType = "socktest.answer"
    static let statType = "socktest.stat"
    static let socketType = "socktest.socket"

    /// Builds the module in a fresh state (guard not needed: nobody else has the state yet),
    /// after the sandbox has trimmed the standard libraries.
    static func install(_ rt: LuaRuntime, allow: Allowances) throws(LuaError) {
        let L = rt.L
        try rt.runChunk(LuaSources.sandbox, name: "=socktest.sandbox") {
            Sandbox.pushAllowances(L, allow)
            st_pushswiftfunction(L, Sandbox.readSource, rt.context)
            st_pushswiftfunction(L, fail, rt.context)
            return 3
        }
        StatusObject.register(rt)
        NetHandles.register(L)
        for (type, tostring) in [(delayType, delayToString), (actionType, actionToString), (statType, statToString),
                                 (socketType, socketToString)] {
            luaL_newmetatable(L, type)
            st_pushswiftfunction(L, tostring, rt.context)
            lua_setfield(L, -2, "__tostring")
            st_pop(L, 1)
        }

        lua_createtable(L, 0, Int32(functions.count + constants.count + 8))
        for (name, function) in functions {
            st_pushswiftfunction(L, function, rt.context)
            lua_setfield(L, -2, name)
        }
        for (name, value) in constants { setField(L, name, Int64(value)) }
        setField(L, "errno") { pushErrnoTable(L) }
        // This process (the tool): `so.pid ~= st.pid` tells a supervised program's call.
        setField(L, "pid", Int64(getpid()))
        setField(L, "filter_types") {
            lua_createtable(L, Int32(FilterType.allCases.count), 0)
            for type in FilterType.allCases {
                lua_pushstring(L, type.name)
                lua_rawseti(L, -2, lua_Integer(type.rawValue + 1))
            }
        }

        // package.loaded.socktest = module; _G.socktest = module
        lua_getfield(L, st_registryindex(), LUA_LOADED_TABLE)
        lua_pushvalue(L, -2)
        lua_setfield(L, -2, "socktest")
        st_pop(L, 1)
        lua_setglobal(L, "socktest")

        try rt.runChunk(LuaSources.socktest, name: "=socktest") { () throws(LuaError) -> Int32 in
            lua_getglobal(L, "socktest")
            lua_createtable(L, 0, Int32(rawFunctions.count + 1))
            for (name, function) in rawFunctions {
                st_pushswiftfunction(L, function, rt.context)
                lua_setfield(L, -2, name)
            }
            lua_createtable(L, 0, 2)
            for (module, source) in [("socktest.net", LuaSources.net), ("socktest.recipe", LuaSources.recipe)] {
                try rt.load(Array(source.utf8), chunkName: "=" + module)
                lua_setfield(L, -2, module)
            }
            lua_setfield(L, -2, "modules")
            return 2
        }
    }

    /// `errno.ECONNREFUSED == 111` and `errno[111] == "ECONNREFUSED"` for every errno.
    private static func pushErrnoTable(_ L: LuaState) {
        lua_createtable(L, 140, 140)
        for (name, value) in Errno.byName {
            setField(L, name, Int64(value))
            lua_pushstring(L, Errno(rawValue: value).name)   // the canonical name, not an alias
            lua_rawseti(L, -2, lua_Integer(value))
        }
    }

    // MARK: - Functions

    /// raw.set(type, filter | nil, fname): fname is the Lua function the script called (set,
    /// add), for its argument errors.
    private static let set: LuaFunction = { L in
        binding(L, "set") { args throws(LuaRaise) in
            let args = LuaArguments(L: args.L, name: (try? args.string(3)) ?? "set")
            let name = try args.string(1)
            guard let type = FilterType(name: name) else {
                let known = FilterType.allCases.map(\.name).joined(separator: ", ")
                throw args.argError(1, "unknown filter type '\(name)' (expected one of: \(known))")
            }
            let rt = args.runtime
            if args.isNil(2) {
                rt.sw.set(type, nil)
                return 0
            }
            guard st_isfunction(L, 2) != 0 else { throw args.argError(2, "function or nil expected, got \(args.typeName(2))") }
            st_where(L)                 // "x.lua:3: ", for the watchdog's message
            let at = String(cString: st_tostring(L, -1)).dropLast(2)
            rt.monitor.setAt.withLock { $0[type.rawValue] = at.isEmpty ? "?" : String(at) }
            lua_settop(L, 2)
            let function = rt.ref(L!)
            rt.filtersSet.withLock { _ = $0.insert(type) }
            rt.sw.set(type, LuaFilter(runtime: rt, type: type, function: function).filter)
            return 0
        }
    }

    /// raw.fail(message): raises "script.lua:12: message" at the innermost line of the script
    /// (the trampoline's st_where skips the module's own chunks). The module's Lua raises its
    /// errors with it, not error(msg, level): a level counts frames, and a tail call removes the
    /// script's frame, so `return st.every(0)` would have no file:line.
    /// also(kind, verdict): a chain of filters (socktest.add) decided a delay or an answer while
    /// earlier filters returned after-filters: the call still runs, so it is noted here for the
    /// filter host to act on beside them (the chain returns the after-filters). false when the
    /// verdict cannot go with them: a delay that fails the call, or an answer this call does not
    /// take (the chain returns it as it is, and the host says what is wrong with it).
    private static let also: LuaFunction = { L in
        binding(L, "also") { args throws(LuaRaise) in
            let type = FilterType(name: try args.string(1))
            var noted = false
            if let delay = Delay.from(L!, 2), delay.err == nil {
                ChainedDelay.note(delay.seconds)
                noted = true
            } else if let answer = action(L!, 2), let type, answer.applies(to: type) {
                DataAction.request(answer)
                noted = true
            }
            lua_pushboolean(L, noted ? 1 : 0)
            return 1
        }
    }

    private static let fail: LuaFunction = { L in
        binding(L, "fail") { args throws(LuaRaise) in throw LuaRaise(try args.string(1)) }
    }

    /// delay(seconds [, errno]): a value a filter returns to wait, then run (or fail) the call.
    private static let delay: LuaFunction = { L in
        binding(L, "delay") { args throws(LuaRaise) in
            let seconds = try args.seconds(1)
            let err = args.isNil(2) ? nil : try args.errno(2)
            let raw = lua_newuserdatauv(L, MemoryLayout<Delay>.size, 0)!
            raw.storeBytes(of: Delay(seconds: seconds, errno: err?.rawValue ?? 0), as: Delay.self)
            luaL_setmetatable(L, delayType)
            return 1
        }
    }

    /// short(n), eof(), reset(), drop(): what a read or write filter returns to answer its call
    /// (SPEC §7). Userdata, as a delay is, so that no table or string is taken for one.
    private static let short: LuaFunction = { L in
        binding(L, "short") { args throws(LuaRaise) in
            let n = try args.integer(1)
            guard n >= 1 else { throw args.argError(1, "at least 1 byte expected, got \(n)") }
            return push(L!, .short(Int(clamping: n)))
        }
    }
    private static let eof: LuaFunction = { L in binding(L, "eof") { _ throws(LuaRaise) in push(L!, .eof) } }
    private static let reset: LuaFunction = { L in binding(L, "reset") { _ throws(LuaRaise) in push(L!, .reset) } }
    private static let drop: LuaFunction = { L in binding(L, "drop") { _ throws(LuaRaise) in push(L!, .drop) } }

    private static func push(_ L: LuaState, _ action: DataAction) -> Int32 {
        let raw = lua_newuserdatauv(L, MemoryLayout<DataAction>.size, 0)!
        raw.initializeMemory(as: DataAction.self, repeating: action, count: 1)
        luaL_setmetatable(L, actionType)
        return 1
    }

    /// The answer at `index`, if it is one.
    static func action(_ L: LuaState, _ index: Int32) -> DataAction? {
        luaL_testudata(L, index, actionType)?.load(as: DataAction.self)
    }

    private static let actionToString: LuaFunction = { L in
        binding(L, "tostring") { args throws(LuaRaise) in
            guard let action = action(L!, 1) else { throw args.argError(1, "socktest answer expected") }
            switch action {
            case .short(let n): args.push("socktest.short(\(n))")
            default: args.push("socktest.\(action)()")
            }
            return 1
        }
    }

    private static let delayToString: LuaFunction = { L in
        binding(L, "tostring") { args throws(LuaRaise) in
            guard let delay = Delay.from(L!, 1) else { throw args.argError(1, "socktest.delay expected") }
            args.push("socktest.delay(\(delay.seconds)\(delay.err.map { ", \($0.name)" } ?? ""))")
            return 1
        }
    }

    /// stats(): an array of stat tables, ordered by cookie: Go's counters, and the bytes the
    /// data-path calls moved (`read_bytes`, `written_bytes`; not in Go's text form).
    private static let stats: LuaFunction = { L in
        binding(L, "stats") { args throws(LuaRaise) in
            let stats = args.runtime.sw.stats()
            lua_createtable(L, Int32(stats.count), 0)
            for (i, stat) in stats.enumerated() {
                lua_createtable(L, 0, Int32(5 + Stat.Counter.allCases.count))
                setField(L!, "family", Int64(stat.family))
                setField(L!, "type", Int64(stat.type))
                setField(L!, "protocol", Int64(stat.protocol))
                for counter in Stat.Counter.allCases { setField(L!, counter.name, Int64(clamping: stat[counter])) }
                setField(L!, "read_bytes", Int64(clamping: stat.readBytes))
                setField(L!, "written_bytes", Int64(clamping: stat.writtenBytes))
                luaL_setmetatable(L, statType)
                lua_rawseti(L, -2, lua_Integer(i + 1))
            }
            return 1
        }
    }

    private static let statToString: LuaFunction = { L in
        binding(L, "tostring") { args throws(LuaRaise) in
            try args.table(1, ofType: statType)
            let field = { (name: String) in rawInteger(L!, 1, name) ?? 0 }
            var stat = Stat(cookie: Cookie(family: Int32(truncatingIfNeeded: field("family")),
                                           type: Int32(truncatingIfNeeded: field("type")),
                                           protocol: Int32(truncatingIfNeeded: field("protocol"))))
            for counter in Stat.Counter.allCases { stat[counter] = UInt64(clamping: field(counter.name)) }
            args.push(stat.description)
            return 1
        }
    }

    /// sockets(): every socket the switch tracks → status table (fd, pid, family, type, protocol,
    /// cookie, err, socket_err). This process's sockets are keyed by fd; a supervised program's
    /// by "PID:FD" — learned first where no trapped call has shown them yet, so a recipe that
    /// counts open sockets counts a program's too. `pid` is the holder's, as `so.pid` is the caller's.
    private static let sockets: LuaFunction = { L in
        binding(L, "sockets") { args throws(LuaRaise) in
            let table = args.runtime.sw.allSockets(refresh: true)
            lua_createtable(L, 0, Int32(table.count))
            for (key, status) in table.sorted(by: { $0.key < $1.key }) {
                pushStatusTable(L!, status, key: key)
                if key.space == 0 {
                    lua_rawseti(L, -2, lua_Integer(key.fd))
                } else {
                    lua_setfield(L, -2, "\(key.space):\(key.fd)")
                }
            }
            return 1
        }
    }

    static func pushStatusTable(_ L: LuaState, _ status: Status, key: SocketKey) {
        lua_createtable(L, 0, 8)
        setField(L, "fd", Int64(key.fd))
        setField(L, "pid", Int64(key.space == 0 ? getpid() : key.space))
        setField(L, "family", Int64(status.cookie.family))
        setField(L, "type", Int64(status.cookie.type))
        setField(L, "protocol", Int64(status.cookie.protocol))
        setField(L, "cookie", Int64(bitPattern: status.cookie.rawValue))
        setField(L, "err", status.err?.name)
        setField(L, "socket_err", status.socketErr?.name)
        luaL_setmetatable(L, socketType)
    }

    private static let socketToString: LuaFunction = { L in
        binding(L, "tostring") { args throws(LuaRaise) in
            try args.table(1, ofType: socketType)
            let cookie = Cookie(rawValue: UInt64(bitPattern: rawInteger(L!, 1, "cookie") ?? 0))
            let status = Status(cookie: cookie,
                                err: rawString(L!, 1, "err").flatMap(Errno.init(name:)),
                                socketErr: rawString(L!, 1, "socket_err").flatMap(Errno.init(name:)))
            args.push(status.description)
            return 1
        }
    }

    /// random(): a number in [0, 1) from the run's seeded generator.
    private static let random: LuaFunction = { L in
        binding(L, "random") { args throws(LuaRaise) in
            lua_pushnumber(L, args.runtime.nextRandom())
            return 1
        }
    }

    /// now(): seconds on a monotonic clock, for measuring in scripts.
    private static let now: LuaFunction = { L in
        binding(L, "now") { _ throws(LuaRaise) in
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            lua_pushnumber(L, Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9)
            return 1
        }
    }

    /// sleep(seconds): waits without holding the Lua state.
    private static let sleep: LuaFunction = { L in
        binding(L, "sleep") { args throws(LuaRaise) in
            let seconds = try args.seconds(1)
            args.runtime.unlocked { pause(seconds) }
            return 0
        }
    }
}

/// What `socktest.delay` returns, stored in its userdata.
struct Delay {
    var seconds: Double
    var errno: Int32
    var err: Errno? { errno == 0 ? nil : Errno(rawValue: errno) }

    static func from(_ L: LuaState, _ index: Int32) -> Delay? {
        luaL_testudata(L, index, SocktestModule.delayType)?.load(as: Delay.self)
    }
}

/// Sleeps for `seconds`, resuming after signals.
func pause(_ seconds: Double) { Waiting.sleep(seconds) }
