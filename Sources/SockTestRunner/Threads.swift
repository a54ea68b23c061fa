import Glibc
import SockTestCore

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
