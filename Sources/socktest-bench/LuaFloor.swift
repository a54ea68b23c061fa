import CLua
import Glibc
import SockTestCore
import SockTestLua

/// The floors for "a Lua filter on every call": an empty Lua function with one userdata
/// argument, called from C's side of the API.
///
/// - `bare`: before each raw call, a protected call and nothing else (no switch, no lock, no
///   status object, no instruction budget).
/// - `guarded`: as a filter on every call type of a switch, the least any Lua filter must do —
///   take a lock (one `lua_State`, many threads), set the instruction budget (a script's endless
///   loop must stop), make the protected call, drop the result — with no status object to fill,
///   no slots, no verdict to read.
///
/// Whatever `switch, Lua filter` costs beyond `guarded` is the host's own work; whatever
/// `guarded` costs beyond `switch, no-op Swift filter` is Lua's and the lock's.
final class LuaFloor: @unchecked Sendable {
    private let L: OpaquePointer
    private let function: lua_Integer
    private let argument: lua_Integer
    private let lock = PThreadMutex(spinning: true)
    /// The instruction budget a `LuaHost` gives a filter call.
    private let budget = LuaHost.Limits().instructionsPerFilter

    /// What the host's allocator and budget hook share (the budget running now).
    private let shared = UnsafeMutablePointer<st_alloc_state>.allocate(capacity: 1)

    init() {
        shared.initialize(to: st_alloc_state(used: 0, limit: 0, peak: 0, enforce: 0, budget: nil, interrupted: 0))
        L = st_newstate(shared)
        st_install_hook(L)
        let loaded = luaL_loadstring(L, "return function(so) end") == LUA_OK && lua_pcallk(L, 0, 1, 0, 0, nil) == LUA_OK
        precondition(loaded, "cannot set up the bare Lua call")
        function = lua_Integer(luaL_ref(L, st_registryindex()))
        _ = lua_newuserdatauv(L, 8, 0)
        argument = lua_Integer(luaL_ref(L, st_registryindex()))
    }

    deinit {
        lua_close(L)
        shared.deallocate()
    }

    /// One filter's worth of Lua: push the function and its argument, call, drop the result.
    func call() {
        lua_rawgeti(L, st_registryindex(), function)
        lua_rawgeti(L, st_registryindex(), argument)
        _ = lua_pcallk(L, 1, 1, 0, 0, nil)
        st_pop(L, 1)
    }

    /// `call` under the lock, within the instruction budget.
    func guardedCall() {
        lock.lock()
        let previous = st_setbudget(L, budget)
        call()
        st_restorebudget(L, previous)
        lock.unlock()
    }

    /// The raw calls with a Lua call before each.
    var bare: InProcess.Calls {
        let raw = InProcess.raw
        return InProcess.Calls(
            listen: raw.listen,
            socket: { self.call(); return raw.socket() },
            connect: { self.call(); raw.connect($0, $1) },
            accept: { self.call(); return raw.accept($0) },
            close: { self.call(); raw.close($0) })
    }

    /// A switch with `guardedCall` as the filter of every call type.
    func guarded() -> Switch {
        let sw = Switch()
        for type in FilterType.allCases { sw.set(type) { _ throws(Errno) in self.guardedCall(); return nil } }
        return sw
    }
}
