import Glibc

/// Watches (and, replaying, decides) the calls that meet a filter: what `run --trace`,
/// `--record` and `--replay` are built on. A switch made without one pays a nil check per
/// filtered call and nothing else.
///
/// `serial` names the socket's entry in the switch's table (0 for socket(), which has none): it
/// changes when a descriptor number is reused for another socket, so a tap can keep per-socket
/// state without seeing closes.
package protocol CallTap: AnyObject, Sendable {
    /// Before the filter: `.filter` runs it, `.apply` replaces it with a recorded verdict.
    /// `token` comes back with the call's report (the tap's name for the call, say).
    func decide(_ call: Call, serial: UInt64) -> (decision: TapDecision, token: AnyObject & Sendable)
    /// The call is done as far as the switch will know: `verdict` is what the filters did,
    /// `result` what the caller got (`nil`: the kernel made the call in a supervised
    /// program's context, "continued", and its outcome is not seen).
    func filtered(_ call: Call, token: AnyObject & Sendable, verdict: Verdict, result: Result<Int32, Errno>?)
}

package enum TapDecision: Sendable {
    case filter
    case apply(Verdict)
}

/// Carried from `admit` to `complete` for a tapped call, with what the after-filter did: kept
/// here rather than in `complete`'s locals, so that an untapped call pays for none of it.
package final class TapMark: @unchecked Sendable {
    var verdict: Verdict
    let token: AnyObject & Sendable
    /// The outcome before the after-filter ran (to see a rewrite).
    var before: Status?

    init(_ verdict: Verdict, _ token: AnyObject & Sendable) {
        self.verdict = verdict
        self.token = token
    }

    @inline(never)
    func willRunAfterFilter(_ status: Status) {
        before = status
        FilterNote.reset()
    }

    @inline(never)
    func ranAfterFilter() { FilterNote.take(into: &verdict) }
}

extension Switch {
    /// `admit`'s filter step with a tap: the filter (or the replayed verdict), with what it did
    /// reported. A supervised program's call with no after-filter is reported here, as
    /// continued: the supervisor lets the kernel make every such call.
    @inline(never)
    func admitTapped(_ call: inout Call, _ box: FilterBox, serial: UInt64, tap: any CallTap) throws(Errno) -> Admitted {
        var verdict = Verdict()
        var after: AfterFilter?
        let (decision, token) = tap.decide(call, serial: serial)
        do throws(Errno) {
            switch decision {
            case .filter:
                FilterNote.reset()
                defer {
                    FilterNote.take(into: &verdict)
                    if call.type.movesData {
                        call.takeAction()
                        verdict.action = call.action
                    }
                }
                do throws(Errno) {
                    after = try FilterScope.run { () throws(Errno) in try box.filter(call) }
                } catch {
                    verdict.fail = error
                    throw error
                }
            case .apply(let recorded):
                after = try Self.apply(recorded, &verdict)
                if let action = recorded.action, action.applies(to: call.type) {
                    call.action = action
                    verdict.action = action
                }
            }
        } catch {
            tap.filtered(call, token: token, verdict: verdict, result: .failure(error))
            throw error
        }
        if call.space != 0 && after == nil && call.action == nil {
            tap.filtered(call, token: token, verdict: verdict, result: nil)
            return Admitted(serial: serial, after: nil)
        }
        return Admitted(serial: serial, after: after, mark: .passRetained(TapMark(verdict, token)))
    }

    /// A recorded verdict, acted out: the delay waited, the failure thrown, the rewrite done
    /// by an after-filter.
    private static func apply(_ recorded: Verdict, _ verdict: inout Verdict) throws(Errno) -> AfterFilter? {
        if let delay = recorded.delay {
            verdict.delay = delay
            Waiting.willWait()
            sleepSeconds(delay)
        }
        if let err = recorded.fail, recorded.rewrite == nil {
            verdict.fail = err
            throw err
        }
        guard let rewrite = recorded.rewrite else { return nil }
        return { call throws(Errno) in
            if rewrite.field == "socket_err" { call.status.socketErr = rewrite.to } else { call.status.err = rewrite.to }
        }
    }

    /// `complete`'s report for a tapped call: the verdict with what the after-filter did
    /// (failed the call with `afterFailed`, or rewrote its outcome).
    @inline(never)
    func reportTapped(_ call: Call, _ mark: TapMark, afterFailed: Errno? = nil, result: Result<Int32, Errno>?) {
        guard let tap else { return }
        var verdict = mark.verdict
        if let afterFailed {
            verdict.fail = afterFailed
            FilterNote.take(into: &verdict)
        } else if let before = mark.before {
            if before.err != call.status.err {
                verdict.rewrite = .init(field: "err", from: before.err, to: call.status.err)
            } else if before.socketErr != call.status.socketErr {
                verdict.rewrite = .init(field: "socket_err", from: before.socketErr, to: call.status.socketErr)
            }
        }
        tap.filtered(call, token: mark.token, verdict: verdict, result: result)
    }
}

/// Sleeps `seconds`, resuming after signals.
func sleepSeconds(_ seconds: Double) {
    guard seconds > 0 else { return }
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
}
