import SockTestCore

/// The lock that makes one `lua_State` usable from many threads: whoever holds it may touch the
/// state. It is Lua's own `lua_lock` model: the guard is let go around everything that blocks
/// (a system call, a delay) and taken again before Lua is touched, so other threads' filters run
/// meanwhile, each on a Lua thread (coroutine) of its own.
///
/// A bare mutex, not `Locked`: a binding must let go of a guard that an outer frame took (the
/// script's `st.accept` lets go while it waits), which a closure-scoped lock cannot do.
typealias LuaGuard = PThreadMutex
