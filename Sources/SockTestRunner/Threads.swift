import Glibc
import SockTestCore

/// Runs `body` on a new thread; `join` waits for it. Workloads block in system calls, so they
/// get threads of their own rather than a pool sized to the cores.
final class WorkerThread: @unchecked Sendable {
    private var handle = pthread_t()
    private let body: @Sendable () -> Void
    private let done = Locked(false)

    private init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    /// A running thread, or nil when the system has no thread to give (pthread_create EAGAIN:
    /// a thread limit reached); the caller decides what to do without it.
    static func start(_ body: @escaping @Sendable () -> Void) -> WorkerThread? {
        let thread = WorkerThread(body)
        let me = Unmanaged.passRetained(thread).toOpaque()
        let rc = pthread_create(&thread.handle, nil, { raw in
            let thread = Unmanaged<WorkerThread>.fromOpaque(raw!).takeRetainedValue()
            thread.body()
            thread.done.withLock { $0 = true }
            return nil
        }, me)
        guard rc == 0 else {
            Unmanaged<WorkerThread>.fromOpaque(me).release()
            return nil
        }
        return thread
    }

    /// Whether `body` has returned (`join` then does not wait).
    var isDone: Bool { done.withLock { $0 } }

    func join() { pthread_join(handle, nil) }
}

/// Runs `body(i)` for i in 0..<count on `concurrency` threads and waits for all.
func parallel(_ count: Int, concurrency: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let next = Locked(0)
    let work: @Sendable () -> Void = {
        while true {
            let i = next.withLock { n in defer { n += 1 }; return n }
            guard i < count else { return }
            body(i)
        }
    }
    let workers = (0..<max(1, min(concurrency, count))).compactMap { _ in WorkerThread.start(work) }
    if workers.isEmpty { work() }       // no thread to be had: do it all here
    workers.forEach { $0.join() }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

