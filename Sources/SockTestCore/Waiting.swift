import CSysShims

/// Code about to wait in the middle of a switch call — a filter's delay, a filter that sleeps
/// or makes a blocking call of its own — says so with `willWait()`. Whoever runs calls on that
/// thread may want to know first: the external-program supervisor answers a program's calls on
/// the thread that received them, and hands the receiving of the next ones to another thread
/// before one waits.
public enum Waiting {
    /// This thread is about to wait. One thread-local load when nobody observes it.
    public static func willWait() { st_will_wait() }

    /// Calls `observer` each time code on this thread says it will wait, until `stopObserving`
    /// on this thread.
    package static func observe(_ observer: @escaping () -> Void) {
        stopObserving()
        let box = Unmanaged.passRetained(Observer(observer)).toOpaque()
        st_set_wait_observer({ context in
            Unmanaged<Observer>.fromOpaque(context!).takeUnretainedValue().body()
        }, box)
    }

    package static func stopObserving() {
        guard let context = st_wait_observer_get_context() else { return }
        st_set_wait_observer(nil, nil)
        Unmanaged<Observer>.fromOpaque(context).release()
    }

    private final class Observer {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}
