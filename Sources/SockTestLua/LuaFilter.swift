import CLua
import SockTestCore

/// Calls seen, failed, delayed and rewritten by one filter type, and its script errors.
public struct FilterCounts: Sendable, Equatable {
    public var seen = 0
    public var failed = 0
    public var delayed = 0
    public var rewritten = 0
    public var errors = 0
    /// Read and write calls answered with st.short, st.eof, st.reset, st.drop (SPEC §7).
    public var shortened = 0
    public var ended = 0
    public var reset = 0
    public var dropped = 0
    public init() {}
}

/// A Lua function set with `socktest.set`, as a switch `Filter`.
///
/// Before the call: take the guard, run the function on a slot's Lua thread with the status
/// object, read what it returned, let the guard go. Then, without the guard: wait out a delay,
/// or hand the switch an after-filter that does the same around the after-function.
///
/// What a filter may return: nothing (the call proceeds), an errno name or number (the call
/// fails with it), a function (the after-filter), or `socktest.delay(s [, errno])`; a read or
/// write filter also `socktest.short(n)`, `eof()` (read), `drop()` (write) or `reset()`. An
/// after-filter may return nothing, an errno, or a delay. Anything else, and any error in the
/// function (including a blown instruction budget or memory cap), is a script error: it is
/// recorded with file, line and traceback, and the call fails with ECANCELED ("operation
/// canceled"); a descriptor the call created is closed.
struct LuaFilter: Sendable {
    let runtime: LuaRuntime
    let type: FilterType
    let function: LuaRef

    var filter: Filter {
        { call throws(Errno) in try self.before(call) }
    }

    private enum Verdict {
        case proceed
        case fail(Errno)
        /// The after-filter function waits on the slot's stack (`Slot.afterIndex`).
        case after
        case delay(Double, Errno?)
        case answer(DataAction)
        case scriptError(String)
    }

    private func before(_ call: Call) throws(Errno) -> AfterFilter? {
        _ = ChainedDelay.take()         // none left over from a filter that raised after noting one
        let (verdict, slot) = withUnsafePointer(to: call) { call in
            runtime.withLua { rt in
                let slot = rt.checkoutSlot()
                slot.status.pointee = StatusObject.Target(call: UnsafeMutablePointer(mutating: call))
                let verdict = run(rt, slot, .function(function))
                if case .after = verdict { slot.status.pointee.call = nil } else { rt.checkin(slot) }
                rt.see(type)
                return (verdict, slot)
            }
        }
        switch verdict {
        case .proceed:
            return nil
        case .after:
            // A chain's delay or answer beside its after-filters (`also`), acted on here too.
            if let action = DataAction.pending(), call.type.movesData { count(answered: action) }
            if let delay = ChainedDelay.take() { try settle(.delay(delay, nil)) }
            return { call throws(Errno) in try self.after(slot, &call) }
        case .answer(let action):
            count(answered: action)
            DataAction.request(action)
            return nil
        case .delay(let seconds, .timedOut?) where call.type == .connect && runtime.sw.isNonBlocking(call):
            // A non-blocking connect does not wait: "wait, then time out" is a peer that never
            // answers — EINPROGRESS now, ETIMEDOUT later (Unanswered).
            count { $0.delayed += 1; $0.failed += 1 }
            FilterNote.delayed(seconds)
            Unanswered.request(seconds)
            return nil
        default:
            try settle(verdict)
            return nil
        }
    }

    private func after(_ slot: Slot, _ call: inout Call) throws(Errno) {
        let (outcome, moved) = (call.status, call.transferred)
        let verdict = withUnsafeMutablePointer(to: &call) { call in
            runtime.withLua { rt in
                slot.status.pointee = StatusObject.Target(call: call, after: true)
                defer {
                    lua_settop(slot.thread, Slot.statusIndex)     // drops the after-function
                    rt.checkin(slot)
                }
                return run(rt, slot, .after)
            }
        }
        if call.status != outcome || call.transferred != moved { count { $0.rewritten += 1 } }
        try settle(verdict)
    }

    /// Acts on a verdict outside the guard: waits, fails, or reports a script error.
    private func settle(_ verdict: Verdict) throws(Errno) {
        switch verdict {
        case .proceed, .after, .answer:
            return
        case .fail(let err):
            count { $0.failed += 1 }
            throw err
        case .delay(let seconds, let err):
            count { $0.delayed += 1 }
            FilterNote.delayed(seconds)     // for a trace or a recorded schedule
            Waiting.willWait()
            pause(seconds)
            if let err {
                count { $0.failed += 1 }
                throw err
            }
        case .scriptError(let message):
            count { $0.errors += 1 }
            FilterNote.scriptError()
            runtime.record(scriptError: message)
            throw .canceled
        }
    }

    /// What `run` calls: the filter function, or the after-filter function its call returned.
    private enum Callee {
        case function(LuaRef)
        case after
    }

    /// Runs the callee with the status object on the slot's thread (guard held) and reads its
    /// result. A function returned by a filter stays on the thread's stack, at
    /// `Slot.afterIndex`, until its after-filter has run.
    private func run(_ rt: LuaRuntime, _ slot: Slot, _ callee: Callee) -> Verdict {
        let T = slot.thread
        switch callee {
        case .function(let function): rt.push(function, on: T)
        case .after: lua_pushvalue(T, Slot.afterIndex)    // a copy: the original names it in errors
        }
        lua_pushvalue(T, Slot.statusIndex)
        let isAfter: Bool = if case .after = callee { true } else { false }
        let budget = st_setbudget(T, rt.limits.instructionsPerFilter)
        let doing = rt.monitor.doing.load(ordering: .relaxed)
        rt.monitor.doing.store(1 + type.rawValue + (isAfter ? FilterType.allCases.count : 0), ordering: .relaxed)
        let status = st_pcall_with(T, Slot.handlerIndex, 1, 1)
        rt.monitor.doing.store(doing, ordering: .relaxed)
        st_restorebudget(T, budget)
        var origin: String {
            let at: String
            switch callee {
            case .function(let function): at = rt.origin(of: function)
            case .after:
                lua_pushvalue(T, Slot.afterIndex)
                at = rt.origin(poppingFrom: T)
            }
            return "\(at): " + (isAfter ? "after-filter for '\(type.name)'" : "filter for '\(type.name)'")
        }
        guard status == LUA_OK else {
            return .scriptError(rt.popError(T, status, origin: origin))
        }
        switch lua_type(T, -1) {
        case LUA_TNIL:
            st_pop(T, 1)
            return .proceed
        case LUA_TSTRING, LUA_TNUMBER:
            defer { st_pop(T, 1) }
            do throws(LuaArguments.ErrnoValueError) {
                return .fail(try LuaArguments.errno(T, -1))
            } catch {
                return .scriptError("\(origin) returned an invalid errno: \(error.message)")
            }
        case LUA_TFUNCTION where !isAfter:
            return .after       // left in place: the result sits at Slot.afterIndex
        default:
            defer { st_pop(T, 1) }
            if let delay = Delay.from(T, -1) { return .delay(delay.seconds, delay.err) }
            if let action = SocktestModule.action(T, -1) {
                if !isAfter && action.applies(to: type) { return .answer(action) }
                let which: String
                switch action {
                case .short: which = "socktest.short(n) answers a read or write filter"
                case .eof: which = "socktest.eof() answers a read filter"
                case .reset: which = "socktest.reset() answers a read or write filter"
                case .drop: which = "socktest.drop() answers a write filter"
                }
                return .scriptError("\(origin) returned \(action): \(which)" + (isAfter ? ", before the call, not after it" : " only"))
            }
            let data = type.movesData && !isAfter ? ", socktest.short(n)" + (type == .read ? ", socktest.eof()" : ", socktest.drop()") + ", socktest.reset()" : ""
            let expected = isAfter
                ? "nothing, an errno name or number, or socktest.delay(...)"
                : "nothing, an errno name or number, an after-filter function, socktest.delay(...)\(data)"
            let got = String(cString: st_typename(T, -1))
            return .scriptError("\(origin) returned a \(got); expected \(expected)")
        }
    }

    private func count(answered action: DataAction) {
        count {
            switch action {
            case .short: $0.shortened += 1
            case .eof: $0.ended += 1
            case .reset: $0.reset += 1; $0.failed += 1
            case .drop: $0.dropped += 1
            }
        }
    }

    private func count(_ update: (inout FilterCounts) -> Void) {
        runtime.counts.withLock { update(&$0[type.rawValue]) }
    }
}
