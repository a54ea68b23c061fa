import CLua
import SockTestCore

/// A Swift function callable from Lua, as C sees it. Reached only through `st_trampoline`.
typealias LuaFunction = @convention(c) (LuaState?) -> Int32

/// An error a binding reports; the trampoline raises it once the Swift frame is gone.
struct LuaRaise: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Bindings that still run while lua_close runs finalizers.
private let closingAllowed: Set<String> = ["close", "fd", "detach", "remote", "tostring"]

/// Runs a binding's body. On error pushes the message and returns ST_RAISE: Swift never raises.
@inline(__always)
func binding(_ L: LuaState?, _ name: String, _ body: (LuaArguments) throws(LuaRaise) -> Int32) -> Int32 {
    let args = LuaArguments(L: L!, name: name)
    do throws(LuaRaise) {
        // A finalizer run by lua_close must not reach the switch: the runtime is going away.
        // Closing a socket still works, so a finalizer can release what it holds.
        if args.runtime.isClosing && !closingAllowed.contains(name) {
            throw LuaRaise("socktest is closed (the script has ended)")
        }
        return try body(args)
    } catch {
        lua_pushstring(L, error.message)
        return ST_RAISE
    }
}

/// The arguments of one call from Lua, checked lauxlib style
/// ("bad argument #1 to 'connect' (integer expected, got string)"), and its results.
struct LuaArguments {
    let L: LuaState
    let name: String

    var runtime: LuaRuntime { LuaRuntime.from(st_context(L)) }
    var count: Int32 { lua_gettop(L) }

    func typeName(_ i: Int32) -> String { String(cString: st_typename(L, i)) }

    func argError(_ i: Int32, _ message: String) -> LuaRaise {
        LuaRaise("bad argument #\(i) to '\(name)' (\(message))")
    }

    func isNil(_ i: Int32) -> Bool { st_isnoneornil(L, i) != 0 }

    func integer(_ i: Int32) throws(LuaRaise) -> Int64 {
        var isNumber: Int32 = 0
        let value = st_tointegerx(L, i, &isNumber)
        guard isNumber != 0 else {
            let got = lua_type(L, i) == LUA_TNUMBER ? "number has no integer representation" : "integer expected, got \(typeName(i))"
            throw argError(i, got)
        }
        return value
    }

    func int32(_ i: Int32) throws(LuaRaise) -> Int32 {
        let value = try integer(i)
        guard let small = Int32(exactly: value) else { throw argError(i, "value out of range") }
        return small
    }

    func int32(_ i: Int32, default value: Int32) throws(LuaRaise) -> Int32 {
        isNil(i) ? value : try int32(i)
    }

    func number(_ i: Int32) throws(LuaRaise) -> Double {
        var isNumber: Int32 = 0
        let value = st_tonumberx(L, i, &isNumber)
        guard isNumber != 0 else { throw argError(i, "number expected, got \(typeName(i))") }
        return value
    }

    /// A string argument without NUL bytes (every name and address the module takes).
    /// A wait in seconds (delay, sleep): within 0-3600, so a typo cannot hold a call for a day.
    func seconds(_ i: Int32) throws(LuaRaise) -> Double {
        let seconds = try number(i)
        guard seconds >= 0, seconds <= 3600 else { throw argError(i, "seconds must be within 0-3600") }
        return seconds
    }

    func string(_ i: Int32) throws(LuaRaise) -> String {
        do throws(StringValueError) {
            return try LuaArguments.string(L, i)
        } catch {
            throw argError(i, error.message)
        }
    }

    struct StringValueError: Error { let message: String }

    /// The text of a Lua string without NUL bytes: "EINTR\0junk" is not EINTR.
    static func string(_ L: LuaState, _ i: Int32) throws(StringValueError) -> String {
        guard lua_type(L, i) == LUA_TSTRING else {
            throw StringValueError(message: "string expected, got \(String(cString: st_typename(L, i)))")
        }
        var length = 0
        let pointer = lua_tolstring(L, i, &length)!
        guard strlen(pointer) == length else { throw StringValueError(message: "string contains a NUL byte") }
        return String(cString: pointer)
    }

    /// Raises when holding `bytes` more would take the Lua state past its memory cap: what a
    /// binding hands the script (data read from a socket, a source file) counts against it,
    /// though Swift allocates it while the cap is not enforced.
    func ensureRoom(_ bytes: Int) throws(LuaRaise) {
        let state = st_alloc_state_of(L)!.pointee
        guard state.limit > 0, state.used + bytes > state.limit else { return }
        throw LuaRaise("not enough memory: \(bytes) more bytes would exceed the script's \(state.limit >> 20) MiB")
    }

    /// The bytes of a string argument (may hold NULs), in place: valid until the binding
    /// returns, guard held or not — the argument stays on this call's stack, so the collector
    /// keeps it, and a Lua string neither changes nor moves.
    func bytes(_ i: Int32) throws(LuaRaise) -> UnsafeRawBufferPointer {
        guard lua_type(L, i) == LUA_TSTRING else { throw argError(i, "string expected, got \(typeName(i))") }
        var length = 0
        let pointer = lua_tolstring(L, i, &length)!
        return UnsafeRawBufferPointer(start: pointer, count: length)
    }

    /// Checks that argument i is a table the module made with metatable `type` (a stat, a
    /// socket entry): a metamethod called with anything else raises instead of reading it.
    func table(_ i: Int32, ofType type: String) throws(LuaRaise) {
        var ours = false
        if lua_type(L, i) == LUA_TTABLE, lua_getmetatable(L, i) != 0 {
            st_getmetatable(L, type)
            ours = lua_rawequal(L, -1, -2) != 0
            st_pop(L, 2)
        }
        guard ours else { throw argError(i, "\(type) expected, got \(typeName(i))") }
    }

    func address(_ i: Int32) throws(LuaRaise) -> SocketAddress {
        let text = try string(i)
        guard let address = SocketAddress(text) else {
            throw argError(i, "invalid address '\(text)': expected HOST:PORT, [HOST]:PORT or a unix path")
        }
        return address
    }

    /// An errno given as a name ("ECONNREFUSED") or a number (111).
    func errno(_ i: Int32) throws(LuaRaise) -> Errno {
        do throws(ErrnoValueError) {
            return try LuaArguments.errno(L, i)
        } catch {
            throw argError(i, error.message)
        }
    }

    struct ErrnoValueError: Error { let message: String }

    /// The errno a value names, for arguments and for filter results alike.
    static func errno(_ L: LuaState, _ i: Int32) throws(ErrnoValueError) -> Errno {
        switch lua_type(L, i) {
        case LUA_TSTRING:
            let name: String
            do throws(StringValueError) { name = try string(L, i) } catch { throw ErrnoValueError(message: error.message) }
            guard let err = Errno(name: name) else { throw ErrnoValueError(message: "unknown errno name '\(name)'") }
            return err
        case LUA_TNUMBER:
            var isInteger: Int32 = 0
            let value = st_tointegerx(L, i, &isInteger)
            guard isInteger != 0, (1...4095).contains(value) else {
                throw ErrnoValueError(message: "errno number out of range (1-4095)")
            }
            return Errno(rawValue: Int32(value))
        default:
            throw ErrnoValueError(message: "errno name or number expected, got \(String(cString: st_typename(L, i)))")
        }
    }

    // MARK: - Results

    func push(_ value: Int64) { lua_pushinteger(L, value) }
    func push(_ value: Int32) { lua_pushinteger(L, lua_Integer(value)) }
    func push(_ value: String) { lua_pushstring(L, value) }
    func push(_ value: Bool) { lua_pushboolean(L, value ? 1 : 0) }
    func pushNil() { lua_pushnil(L) }
    func push(_ address: SocketAddress?) {
        if let address { push(address.description) } else { pushNil() }
    }

    /// The Lua convention for an operational failure (luaL_fileresult's): nil, "ENAME", errno.
    func fail(_ err: Errno) -> Int32 {
        lua_pushnil(L)
        lua_pushstring(L, err.name)
        lua_pushinteger(L, lua_Integer(err.rawValue))
        return 3
    }
}

/// Sets `t[name] = value` for the table on top of the stack, for tables the host made (no
/// metamethods, so nothing can raise).
func setField(_ L: LuaState, _ name: String, _ push: () -> Void) {
    push()
    lua_setfield(L, -2, name)
}

func setField(_ L: LuaState, _ name: String, _ value: Int64) { setField(L, name) { lua_pushinteger(L, value) } }
func setField(_ L: LuaState, _ name: String, _ value: String?) {
    setField(L, name) { if let value { lua_pushstring(L, value) } else { lua_pushnil(L) } }
}

/// Reads `t[name]` of the table at `index` without metamethods (rawget), as an integer.
func rawInteger(_ L: LuaState, _ index: Int32, _ name: String) -> Int64? {
    lua_pushstring(L, name)
    lua_rawget(L, index < 0 ? index - 1 : index)
    defer { st_pop(L, 1) }
    var isInteger: Int32 = 0
    let value = st_tointegerx(L, -1, &isInteger)
    return isInteger != 0 ? value : nil
}

func rawString(_ L: LuaState, _ index: Int32, _ name: String) -> String? {
    lua_pushstring(L, name)
    lua_rawget(L, index < 0 ? index - 1 : index)
    defer { st_pop(L, 1) }
    guard lua_type(L, -1) == LUA_TSTRING, let text = st_tostring(L, -1) else { return nil }
    return String(cString: text)
}
