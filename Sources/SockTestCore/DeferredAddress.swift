import Glibc

/// The address of a supervised program's connect or bind, read from its memory the first time
/// something asks (a filter's `so.addr`, a trace): a filter that never looks costs no read. The
/// supervisor invalidates it once the call is answered, when the memory is no longer the call's.
public final class DeferredAddress: @unchecked Sendable {
    private var fetch: (() -> SocketAddress?)?
    private var value: SocketAddress?
    private var lock = pthread_mutex_t()

    package init(_ fetch: @escaping () -> SocketAddress?) {
        self.fetch = fetch
        pthread_mutex_init(&lock, nil)
    }

    deinit { pthread_mutex_destroy(&lock) }

    /// The address (read once); nil when the memory cannot be read, holds no address the tool
    /// knows, or the call is done and it was never asked for.
    public var address: SocketAddress? {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if let fetch {
            value = fetch()
            self.fetch = nil
        }
        return value
    }

    package func invalidate() {
        pthread_mutex_lock(&lock)
        fetch = nil
        pthread_mutex_unlock(&lock)
    }
}
