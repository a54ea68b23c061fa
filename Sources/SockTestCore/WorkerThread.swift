import Glibc

/// The one thread helper. Threads that block in system calls (a workload's clients, a server's
/// connections, a supervisor's held calls) get threads of their own rather than a pool sized to
/// the cores.
package final class WorkerThread: @unchecked Sendable {
    private var handle = pthread_t()

    /// Runs `body` on a new thread; `join` waits for it. Stops the process if no thread can be
    /// made (a workload without its threads would measure nothing).
    package init(_ body: @escaping @Sendable () -> Void) {
        let rc = Self.start(&handle, detached: false, body)
        precondition(rc == 0, "pthread_create: \(rc)")
    }

    package func join() { pthread_join(handle, nil) }

    /// Runs `body` on a new thread nobody joins. When no thread can be made (a program under
    /// test at its thread limit), it runs `body` here instead, so the work is never lost.
    package static func detach(_ body: @escaping @Sendable () -> Void) {
        var handle = pthread_t()
        if start(&handle, detached: true, body) != 0 { body() }
    }

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private static func start(_ handle: inout pthread_t, detached: Bool, _ body: @escaping @Sendable () -> Void) -> Int32 {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&handle, &attributes, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        if rc != 0 { Unmanaged<Box>.fromOpaque(box).release() }
        return rc
    }
}
