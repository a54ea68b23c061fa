import Glibc

/// A value behind a lock, with `Mutex`'s `withLock` shape.
///
/// Why not `Synchronization.Mutex`: on Linux it locks with a raw futex that ThreadSanitizer
/// cannot see, so every guarded access is reported as a race (measured with Swift 6.3.1: four
/// threads incrementing a `Mutex<[Int: Int]>` gave three "Swift access race" reports and an exact
/// count). This wraps `pthread_mutex_t`, which TSan understands, so `swift test
/// --sanitize=thread` stays meaningful.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex = PThreadMutex()
    /// Out of line, so an access costs no dynamic exclusivity check: the mutex is the check.
    private let value: UnsafeMutablePointer<Value>

    public init(_ value: Value) {
        self.value = .allocate(capacity: 1)
        self.value.initialize(to: value)
    }

    deinit {
        value.deinitialize(count: 1)
        value.deallocate()
    }

    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&value.pointee)
    }
}

/// An error-checking pthread mutex. Like `Mutex` it is not recursive: locking it again on the
/// same thread stops the process with a message instead of deadlocking. `lock` and `unlock` may
/// sit in different frames (the Lua guard needs that); prefer `Locked` everywhere else.
public final class PThreadMutex: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init() {
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

    public func lock() {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, rc == EDEADLK ? "recursive lock of a non-recursive mutex" : "pthread_mutex_lock: \(rc)")
    }

    public func unlock() { pthread_mutex_unlock(mutex) }
}
