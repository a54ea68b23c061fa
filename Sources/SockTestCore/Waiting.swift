import Glibc
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

    // MARK: Waits that can be cut short

    private static let wakeUp = WakeUp()

    /// Sleeps `seconds` (a filter's delay), or until `wakeAll` ends every such sleep: a
    /// supervised program that has exited has no calls left to delay.
    public static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        wakeUp.sleep(until: monotonicSeconds() + seconds)
    }

    /// Ends every `sleep` in progress (not later ones).
    package static func wakeAll() { wakeUp.wakeAll() }

    private final class WakeUp: @unchecked Sendable {
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        private var generation = 0

        init() {
            pthread_mutex_init(mutex, nil)
            var attributes = pthread_condattr_t()
            pthread_condattr_init(&attributes)
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
            pthread_cond_init(cond, &attributes)
            pthread_condattr_destroy(&attributes)
        }

        func sleep(until deadline: Double) {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            let started = generation
            var when = timespec(tv_sec: Int(deadline), tv_nsec: Int((deadline - deadline.rounded(.down)) * 1e9))
            while generation == started && monotonicSeconds() < deadline {
                pthread_cond_timedwait(cond, mutex, &when)
            }
        }

        func wakeAll() {
            pthread_mutex_lock(mutex)
            generation += 1
            pthread_cond_broadcast(cond)
            pthread_mutex_unlock(mutex)
        }
    }
}
