import CLua
import SockTestCore

/// Calls seen, failed, delayed and rewritten by one filter type, and its script errors.
public struct FilterCounts: Sendable, Equatable {
    public var seen = 0
    public var failed = 0
    public var delayed = 0
    public var rewritten = 0
    public var errors = 0
    public init() {}
}

/// A Lua function set with `socktest.set`, as a switch `Filter`.
///
/// Before the call: take the guard, run the function on a slot's Lua thread with the status
/// object, read what it returned, let the guard go. Then, without the guard: wait out a delay,
/// or hand the switch an after-filter that does the same around the after-function.
///
/// What a filter may return: nothing (the call proceeds), an errno name or number (the call
/// fails with it), a function (the after-filter), or `socktest.delay(s [, errno])`. An
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
        case after(LuaRef)
        case delay(Double, Errno?)
        case scriptError(String)
    }

    private func before(_ call: Call) throws(Errno) -> AfterFilter? {
        let (verdict, slot) = withUnsafePointer(to: call) { call in
            runtime.withLua { rt in
                let slot = rt.checkoutSlot()
                slot.status.pointee = StatusObject.Target(call: UnsafeMutablePointer(mutating: call))
                let verdict = run(rt, slot, function, phase: .before)
                if case .after = verdict { slot.status.pointee.call = nil } else { rt.checkin(slot) }
                rt.see(type)
                return (verdict, slot)
            }
        }
        switch verdict {
        case .proceed:
            return nil
        case .after(let after):
            return { call throws(Errno) in try self.after(slot, after, &call) }
        default:
            try settle(verdict)
            return nil
        }
    }

    private func after(_ slot: Slot, _ after: LuaRef, _ call: inout Call) throws(Errno) {
        let outcome = call.status
        let verdict = withUnsafeMutablePointer(to: &call) { call in
            runtime.withLua { rt in
                slot.status.pointee = StatusObject.Target(call: call, after: true)
                defer { rt.checkin(slot) }
                return run(rt, slot, after, phase: .after)
            }
        }
        if call.status != outcome { count { $0.rewritten += 1 } }
        try settle(verdict)
    }

    /// Acts on a verdict outside the guard: waits, fails, or reports a script error.
    private func settle(_ verdict: Verdict) throws(Errno) {
        switch verdict {
        case .proceed, .after:
            return
        case .fail(let err):
            count { $0.failed += 1 }
            throw err
        case .delay(let seconds, let err):
            count { $0.delayed += 1 }
            pause(seconds)
            if let err {
                count { $0.failed += 1 }
                throw err
            }
        case .scriptError(let message):
            count { $0.errors += 1 }
            runtime.record(scriptError: message)
            throw .canceled
        }
    }

    /// Runs `function(so)` on the slot's thread (guard held) and reads its result.
    private enum Phase { case before, after }

    private func run(_ rt: LuaRuntime, _ slot: Slot, _ function: LuaRef, phase: Phase) -> Verdict {
        let T = slot.thread
        rt.push(function, on: T)
        lua_pushvalue(T, Slot.statusIndex)
        st_setbudget(T, rt.limits.instructionsPerFilter)
        let status = st_pcall_with(T, Slot.handlerIndex, 1, 1)
        var what: String { phase == .before ? "filter for '\(type.name)'" : "after-filter for '\(type.name)'" }
        guard status == LUA_OK else {
            return .scriptError(rt.popError(T, status, origin: "\(rt.origin(of: function)): \(what)"))
        }
        defer { st_pop(T, 1) }
        switch lua_type(T, -1) {
        case LUA_TNIL:
            return .proceed
        case LUA_TSTRING, LUA_TNUMBER:
            do throws(LuaArguments.ErrnoValueError) {
                return .fail(try LuaArguments.errno(T, -1))
            } catch {
                return .scriptError("\(rt.origin(of: function)): \(what) returned an invalid errno: \(error.message)")
            }
        case LUA_TFUNCTION where phase == .before:
            lua_pushvalue(T, -1)
            let after = rt.ref(T)
            return .after(after)
        default:
            if let delay = Delay.from(T, -1) { return .delay(delay.seconds, delay.err) }
            let expected = phase == .before
                ? "nothing, an errno name or number, an after-filter function, or socktest.delay(...)"
                : "nothing, an errno name or number, or socktest.delay(...)"
            let got = String(cString: st_typename(T, -1))
            return .scriptError("\(rt.origin(of: function)): \(what) returned a \(got); expected \(expected)")
        }
    }

    private func count(_ update: (inout FilterCounts) -> Void) {
        runtime.counts.withLock { update(&$0[type.rawValue]) }
    }
}
