import Glibc
import SockTestCore

/// Runs `body` on a new thread; `join` waits for it. Workloads block in system calls, so they
/// get threads of their own rather than a pool sized to the cores.
final class WorkerThread: @unchecked Sendable {
    private var handle = pthread_t()
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let me = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&handle, nil, { raw in
            let thread = Unmanaged<WorkerThread>.fromOpaque(raw!).takeRetainedValue()
            thread.body()
            return nil
        }, me)
        precondition(rc == 0, "pthread_create: \(rc)")
    }

    func join() { pthread_join(handle, nil) }
}

/// Runs `body(i)` for i in 0..<count on `concurrency` threads and waits for all.
func parallel(_ count: Int, concurrency: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let next = Locked(0)
    let workers = (0..<max(1, min(concurrency, count))).map { _ in
        WorkerThread {
            while true {
                let i = next.withLock { n in defer { n += 1 }; return n }
                guard i < count else { return }
                body(i)
            }
        }
    }
    workers.forEach { $0.join() }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

