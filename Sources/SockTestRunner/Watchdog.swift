import Glibc
import SockTestCore
import SockTestLua

/// Stops Lua code that holds the Lua state too long without returning.
///
/// The instruction budget stops a filter looping in Lua, but not one stuck inside a single C
/// call (`string.find` with a pathological pattern runs for hours and is never counted), nor
/// the script's top level, which runs without a budget. Every `period` this thread reads the
/// guard's hold count: held without a break for `deadline` seconds, the Lua code is
/// interrupted (it stops at its next hook tick, a script error with file:line); still held
/// `grace` seconds later, it is inside one C call that nothing can stop, and `stuck` is called
/// with the message to end the run.
final class Watchdog: @unchecked Sendable {
    private let monitor: HoldMonitor
    private let deadline: Double, grace: Double, period: Double
    private let stuck: @Sendable (String) -> Void
    private let stopping = Locked(false)
    private var thread: WorkerThread?

    init(_ monitor: HoldMonitor, deadline: Double, grace: Double = 2, period: Double = 0.05,
         stuck: @escaping @Sendable (String) -> Void) {
        self.monitor = monitor
        self.deadline = deadline
        self.grace = grace
        self.period = period
        self.stuck = stuck
        thread = WorkerThread.start { [self] in watch() }
    }

    func stop() {
        stopping.withLock { $0 = true }
        thread?.join()
    }

    private func watch() {
        var seen: UInt64?, since = monotonicSeconds(), interrupted = false
        while !stopping.withLock({ $0 }) {
            usleep(UInt32(period * 1e6))
            let hold = monitor.currentHold, now = monotonicSeconds()
            guard let hold, hold == seen else {
                (seen, since, interrupted) = (hold, now, false)
                continue
            }
            if !interrupted && now - since >= deadline {
                monitor.interrupt()
                interrupted = true
            } else if interrupted && now - since >= deadline + grace {
                stuck("\(monitor.activity) has held the Lua state for \(Int(now - since)) s without returning: "
                      + "it is stuck in one C call (a pathological pattern match?) or runs without the budget's hook, "
                      + "and did not stop when interrupted; the run is stopped")
                return
            }
        }
    }
}
