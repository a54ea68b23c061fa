import Glibc
import SockTestCore

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
