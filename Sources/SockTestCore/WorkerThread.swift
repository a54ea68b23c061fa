import Glibc

/// The one thread helper. Threads that block in system calls (a workload's clients, a server's
/// connections, a supervisor's held calls) get threads of their own rather than a pool sized to
/// the cores.
package final class WorkerThread: @unchecked Sendable {
    private var handle = pthread_t()
    private let body: @Sendable () -> Void
    private let done = Locked(false)

    private init(body: @escaping @Sendable () -> Void) { self.body = body }

    /// Runs `body` on a new thread; `join` waits for it. Stops the process if no thread can be
    /// made: for tests and benchmarks, which cannot go on without it.
    package convenience init(_ body: @escaping @Sendable () -> Void) {
        self.init(body: body)
        let rc = Self.spawn(self, &handle, detached: false)
        precondition(rc == 0, "pthread_create: \(rc)")
    }

    /// A running thread, or nil when the system has no thread to give (pthread_create EAGAIN:
    /// a thread limit reached); the caller decides what to do without it.
    package static func start(_ body: @escaping @Sendable () -> Void) -> WorkerThread? {
        let thread = WorkerThread(body: body)
        return spawn(thread, &thread.handle, detached: false) == 0 ? thread : nil
    }

    /// Runs `body` on a new thread nobody joins. When no thread can be made (a program under
    /// test at its thread limit), it runs `body` here instead, so the work is never lost.
    package static func detach(_ body: @escaping @Sendable () -> Void) {
        let thread = WorkerThread(body: body)
        var handle = pthread_t()
        if spawn(thread, &handle, detached: true) != 0 { body() }
    }

    /// Whether `body` has returned (`join` then does not wait).
    package var isDone: Bool { done.withLock { $0 } }

    package func join() { pthread_join(handle, nil) }

    private static func spawn(_ thread: WorkerThread, _ handle: inout pthread_t, detached: Bool) -> Int32 {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        let me = Unmanaged.passRetained(thread).toOpaque()
        let rc = pthread_create(&handle, &attributes, { raw in
            let thread = Unmanaged<WorkerThread>.fromOpaque(raw!).takeRetainedValue()
            thread.body()
            thread.done.withLock { $0 = true }
            return nil
        }, me)
        if rc != 0 { Unmanaged<WorkerThread>.fromOpaque(me).release() }
        return rc
    }
}
