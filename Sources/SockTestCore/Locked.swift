import Glibc

/// A value behind a lock, with `Mutex`'s `withLock` shape.
///
/// Why not `Synchronization.Mutex`: on Linux it locks with a raw futex that ThreadSanitizer
/// cannot see, so every guarded access is reported as a race (measured with Swift 6.3.1: four
/// threads incrementing a `Mutex<[Int: Int]>` gave three "Swift access race" reports and an exact
/// count). This wraps `pthread_mutex_t`, which TSan understands, so `swift test
/// --sanitize=thread` stays meaningful.
///
/// The mutex and the value share one allocation, out of line: an access touches two cache lines
/// at most and costs no dynamic exclusivity check (the mutex is the check).
package final class Locked<Value>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let value: UnsafeMutablePointer<Value>

    package init(_ value: Value) {
        let offset = MemoryLayout<pthread_mutex_t>.stride.roundedUp(to: MemoryLayout<Value>.alignment)
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: offset + MemoryLayout<Value>.size,
            alignment: max(MemoryLayout<pthread_mutex_t>.alignment, MemoryLayout<Value>.alignment))
        mutex = raw.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        PThreadMutex.initialize(mutex)
        self.value = (raw + offset).bindMemory(to: Value.self, capacity: 1)
        self.value.initialize(to: value)
    }

    deinit {
        value.deinitialize(count: 1)
        pthread_mutex_destroy(mutex)
        UnsafeMutableRawPointer(mutex).deallocate()
    }

    /// Inlinable: specialized where it is used (a generic call into another module cost each of
    /// the supervisor's many short critical sections a metadata look-up).
    @inlinable
    package func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        PThreadMutex.lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }
}

/// A pthread mutex. Like `Mutex` it is not recursive. Debug builds make it error-checking:
/// locking it again on the same thread stops the process with a message instead of
/// deadlocking. Release builds use the plain kind, whose lock and unlock cost about half
/// (measured with callgrind: 85 instructions per pair error-checking), or with `spinning`
/// glibc's adaptive kind, which spins briefly before it sleeps: for a lock held for about a
/// microsecond by threads that often want it at once (the Lua guard), so the waiter mostly
/// gets it without a futex call. It costs ~10 instructions more per pair when free.
/// `lock` and `unlock` may sit in different frames (the Lua guard needs that); prefer
/// `Locked` everywhere else.
package final class PThreadMutex: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    package init(spinning: Bool = false) { Self.initialize(mutex, spinning: spinning) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    package func lock() { Self.lock(mutex) }

    package func unlock() { pthread_mutex_unlock(mutex) }

    static func initialize(_ mutex: UnsafeMutablePointer<pthread_mutex_t>, spinning: Bool = false) {
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        #if DEBUG
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        #else
        if spinning { pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP)) }
        #endif
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    @usableFromInline
    static func lock(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, rc == EDEADLK ? "recursive lock of a non-recursive mutex" : "pthread_mutex_lock: \(rc)")
    }
}

extension Int {
    func roundedUp(to alignment: Int) -> Int { (self + alignment - 1) / alignment * alignment }
}
