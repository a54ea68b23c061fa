import Glibc

/// The lock that makes one `lua_State` usable from many threads: whoever holds it may touch the
/// state. It is Lua's own `lua_lock` model: the guard is let go around everything that blocks
/// (a system call, a delay) and taken again before Lua is touched, so other threads' filters run
/// meanwhile, each on a Lua thread (coroutine) of its own.
///
/// Not `Mutex`/`Locked`: those lock for the extent of a closure, while a binding must let go of a
/// guard that an outer frame took (the script's `st.accept` lets go while it waits).
final class LuaGuard: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() {
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, rc == EDEADLK ? "the Lua guard was taken twice on one thread" : "lock: \(rc)")
    }

    func unlock() { pthread_mutex_unlock(mutex) }
}
