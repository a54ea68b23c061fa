import CLua
import Glibc

/// The floor for "a Lua filter on every call": the raw calls, each preceded by nothing but a
/// protected call of an empty Lua function with one userdata argument, from C's side of the API
/// (no switch, no guard, no status object, no instruction budget). Whatever a Lua filter costs
/// beyond this is the switch's and the host's own work.
final class LuaFloor: @unchecked Sendable {
    private let L: OpaquePointer
    private let function: lua_Integer
    private let argument: lua_Integer

    init() {
        L = luaL_newstate()
        let loaded = luaL_loadstring(L, "return function(so) end") == LUA_OK && lua_pcallk(L, 0, 1, 0, 0, nil) == LUA_OK
        precondition(loaded, "cannot set up the bare Lua call")
        function = lua_Integer(luaL_ref(L, st_registryindex()))
        _ = lua_newuserdatauv(L, 8, 0)
        argument = lua_Integer(luaL_ref(L, st_registryindex()))
    }

    deinit { lua_close(L) }

    /// One filter's worth of Lua: push the function and its argument, call, drop the result.
    func call() {
        lua_rawgeti(L, st_registryindex(), function)
        lua_rawgeti(L, st_registryindex(), argument)
        _ = lua_pcallk(L, 1, 1, 0, 0, nil)
        st_pop(L, 1)
    }

    /// The raw calls with a Lua call before each.
    var calls: InProcess.Calls {
        let raw = InProcess.raw
        return InProcess.Calls(
            listen: raw.listen,
            socket: { self.call(); return raw.socket() },
            connect: { self.call(); raw.connect($0, $1) },
            accept: { self.call(); return raw.accept($0) },
            close: { self.call(); raw.close($0) })
    }
}
