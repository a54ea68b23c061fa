import CLua
import Synchronization
import SockTestCore

/// What a watchdog on another thread needs to see that Lua code does not return, and to stop
/// it: the guard's hold count, what runs, and the flag the budget hook reads. It outlives the
/// runtime whenever a watchdog holds it, so a finalizer that hangs in lua_close is seen too;
/// it owns the memory the allocator and the hook share for that reason.
public final class HoldMonitor: Sendable {
    /// Takings and lettings-go of the guard: odd while held. Only the holder writes it.
    let holds = Atomic<UInt64>(0)
    /// What holds the Lua state: 0 the script's top level, else 1 + the filter type (plus the
    /// number of types for an after-filter). Relaxed: a hint for the message.
    let doing = Atomic<Int>(0)
    /// Per filter type, where the script set its filter ("x.lua:3").
    let setAt = Locked<[String]>(Array(repeating: "?", count: FilterType.allCases.count))
    /// The allocator's and the hook's shared state (st_alloc_state).
    nonisolated(unsafe) let shared: UnsafeMutablePointer<st_alloc_state>

    init(memoryLimit: Int) {
        shared = .allocate(capacity: 1)
        shared.initialize(to: st_alloc_state(used: 0, limit: memoryLimit, peak: 0, enforce: 0,
                                             budget: nil, interrupted: 0))
    }

    deinit { shared.deallocate() }

    @inline(__always)
    func countHold() { holds.store(holds.load(ordering: .relaxed) &+ 1, ordering: .relaxed) }

    /// A number that stays the same while one piece of Lua code runs without returning or
    /// calling the switch; nil while nobody holds the Lua state. Compare two readings.
    public var currentHold: UInt64? {
        let count = holds.load(ordering: .relaxed)
        return count & 1 == 1 ? count : nil
    }

    /// What holds the Lua state now: "filter for 'connect' (set at x.lua:3)", or "the script's
    /// top level".
    public var activity: String {
        let doing = self.doing.load(ordering: .relaxed)
        let types = FilterType.allCases.count
        guard doing > 0, let type = FilterType(rawValue: (doing - 1) % types) else { return "the script's top level" }
        return "\(doing > types ? "after-filter" : "filter") for '\(type.name)' (set at \(setAt.withLock { $0[type.rawValue] }))"
    }

    /// Lua code running now stops with an error ("stopped: ...") at its next hook tick. Code
    /// stuck inside one C function (a pattern match) does not: the caller then ends the run.
    public func interrupt() { st_interrupt(shared) }
}
