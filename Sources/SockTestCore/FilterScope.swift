import Glibc

/// Marks the threads that are running a filter. A switch call made from inside a filter (a
/// filter that itself calls socket or close) runs without filters: no recursion, no deadlock on
/// whatever the filter holds. It is counted like any other call.
enum FilterScope {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    static var isActive: Bool { pthread_getspecific(key) != nil }

    static func run<R>(_ body: () throws(Errno) -> R) throws(Errno) -> R {
        let outer = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(key, outer) }
        return try body()
    }
}
