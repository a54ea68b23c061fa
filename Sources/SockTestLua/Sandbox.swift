import CLua
import SockTestCore

/// What a script may reach beyond the sandbox (docs/sandbox.md). Recipes are shared between
/// people, so by default a script gets the base library (source-only `load`, `loadfile` and
/// `dofile` of regular files), string, table, math, utf8, coroutine, os.clock/time/date/
/// difftime/getenv, print, and `require` of the socktest modules and of Lua source on its module
/// path. Each allowance is asked for on the command line (`run --allow io,os`).
public struct Allowances: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The io library: read and write any file the user can, run programs (io.popen).
    public static let io = Allowances(rawValue: 1 << 0)
    /// All of os: execute programs, exit the tool, remove and rename files.
    public static let os = Allowances(rawValue: 1 << 1)
    /// package.loadlib and C modules on package.cpath: native code, outside any sandbox.
    public static let c = Allowances(rawValue: 1 << 2)
    /// Binary chunks for load: Lua does not verify them, a bad one crashes the tool.
    public static let bytecode = Allowances(rawValue: 1 << 3)
    /// The debug library: it can remove the instruction budget (the watchdog still stops a
    /// script that holds the Lua state too long) and read or change any local or upvalue.
    public static let debug = Allowances(rawValue: 1 << 4)

    public static let named: [(String, Allowances)] = [
        ("io", .io), ("os", .os), ("c", .c), ("bytecode", .bytecode), ("debug", .debug),
    ]
    public static let all: Allowances = [.io, .os, .c, .bytecode, .debug]

    /// "io,os" or "all"; nil with the unknown name.
    public init(parsing list: String) throws(UnknownName) {
        var set: Allowances = []
        for name in list.split(separator: ",") {
            if name == "all" { set = Self.all; continue }
            guard let found = Self.named.first(where: { $0.0 == name }) else { throw UnknownName(name: String(name)) }
            set.insert(found.1)
        }
        self = set
    }

    public struct UnknownName: Error {
        public let name: String
        public var message: String {
            "unknown allowance '\(name)' (known: \(Allowances.named.map(\.0).joined(separator: ", ")), all)"
        }
    }
}

/// Opens the standard libraries the allowances permit; `lua/sandbox.lua` then trims them.
enum Sandbox {
    static func openLibraries(_ L: LuaState, _ allow: Allowances) {
        var libraries: [(String, lua_CFunction)] = [
            ("_G", luaopen_base), (LUA_LOADLIBNAME, luaopen_package), (LUA_COLIBNAME, luaopen_coroutine),
            (LUA_TABLIBNAME, luaopen_table), (LUA_STRLIBNAME, luaopen_string), (LUA_MATHLIBNAME, luaopen_math),
            (LUA_UTF8LIBNAME, luaopen_utf8), (LUA_OSLIBNAME, luaopen_os),
        ]
        if allow.contains(.io) { libraries.append((LUA_IOLIBNAME, luaopen_io)) }
        if allow.contains(.debug) { libraries.append((LUA_DBLIBNAME, luaopen_debug)) }
        for (name, open) in libraries {
            luaL_requiref(L, name, open, 1)
            st_pop(L, 1)
        }
    }

    /// The table sandbox.lua reads: allowance name → true.
    static func pushAllowances(_ L: LuaState, _ allow: Allowances) {
        lua_createtable(L, 0, 5)
        for (name, value) in Allowances.named where allow.contains(value) {
            lua_pushboolean(L, 1)
            lua_setfield(L, -2, name)
        }
    }

    /// readsource(path) → the file's text, or nil, message, errno name. Never blocks.
    static let readSource: LuaFunction = { L in
        binding(L, "readsource") { args throws(LuaRaise) in
            let path = try args.string(1)
            let bytes: [UInt8]
            do throws(SourceFile.Failure) {
                bytes = try SourceFile.read(path)
            } catch {
                args.pushNil()
                args.push(error.message)
                args.push(error.err.name)
                return 3
            }
            try args.ensureRoom(bytes.count)
            _ = bytes.withUnsafeBufferPointer { lua_pushlstring(L, $0.baseAddress, $0.count) }
            return 1
        }
    }
}
