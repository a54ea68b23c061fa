import CSupervisor
import Glibc
import SockTestCore

/// The threads that receive and answer the program's calls, leader/followers style. One thread
/// at a time — the leader — waits for calls (a single waiter is what the kernel's synchronous
/// wake-up favours). It answers each call itself and stays leader: no hand-off, no thread
/// switch. Only when a call is about to wait — an accept with no client queued, a connect
/// still blocked after 50 ms, a filter's delay or sleep (`Waiting`) — does it pass the
/// lead (`Lead.pass`) to a parked follower (or start one), so no other call waits behind it;
/// afterwards it parks as a follower.
final class Receivers: @unchecked Sendable {
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let condMutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    // Touched only under `condMutex`, which is their exclusivity check (a dynamic one, at every
    // call, cost a thread-local look-up).
    @exclusivity(unchecked) private var leading = false
    @exclusivity(unchecked) private var parked = 0
    @exclusivity(unchecked) private var running = 0
    @exclusivity(unchecked) private var stopping = false
    @exclusivity(unchecked) private var leader: pthread_t?

    private let listener: Int32
    private let heldCalls: HeldCalls
    private let handle: @Sendable (st_notification, Lead) -> Void

    /// `handle` answers one call; it calls `lead.pass()` before anything that may wait.
    init(listener: Int32, heldCalls: HeldCalls, handle: @escaping @Sendable (st_notification, Lead) -> Void) {
        self.listener = listener
        self.heldCalls = heldCalls
        self.handle = handle
        pthread_mutex_init(condMutex, nil)
        pthread_cond_init(cond, nil)
        st_install_wakeup_signal()
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(condMutex)
        cond.deallocate()
        condMutex.deallocate()
    }

    func start() { spawn() }

    private func spawn() {
        locked { running += 1 }
        WorkerThread.detach { [self] in loop() }
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(condMutex)
        defer { pthread_mutex_unlock(condMutex) }
        return body()
    }

    private func loop() {
        let lead = Lead(self)
        lead.heldCalls = heldCalls
        Waiting.observe { [unowned lead] in lead.pass() }      // a filter about to wait
        defer {
            Waiting.stopObserving()
            locked { running -= 1; pthread_cond_broadcast(cond) }
        }
        while true {
            // Become the leader, or park until the lead is free.
            let stop: Bool = locked {
                while leading && !stopping {
                    parked += 1
                    pthread_cond_wait(cond, condMutex)
                    parked -= 1
                }
                if stopping { return true }
                leading = true
                leader = pthread_self()
                return false
            }
            if stop { return }
            var n = st_notification()
            guard st_notif_recv(listener, &n) == 0 else {
                let gone: Bool = errno != EINTR && {
                    var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
                    return poll(&p, 1, 0) > 0 && p.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0
                }()
                locked { leading = false; leader = nil; pthread_cond_signal(cond) }
                if gone { return }
                continue
            }
            lead.held = true
            lead.call = n
            handle(n, lead)
            lead.call = nil
            lead.heldEntry = nil
            lead.addfdFoundCallGone = false
            if lead.held {          // answered without waiting: lead on (taken again at the top)
                locked { leading = false; leader = nil }
            }
        }
    }

    /// Passes the lead on: wakes a parked follower, or starts one.
    fileprivate func passLead() {
        let needThread: Bool = locked {
            leading = false
            leader = nil
            if parked > 0 { pthread_cond_signal(cond); return false }
            return !stopping
        }
        if needThread { spawn() }
    }

    /// Stops the receivers once the program is gone: the leader blocked waiting for a call is
    /// interrupted, followers leave, and calls being answered finish (at most `seconds`).
    func stop(within seconds: Double) {
        let deadline = monotonicSeconds() + seconds
        while monotonicSeconds() < deadline {
            let remaining: Int = locked {
                stopping = true
                pthread_cond_broadcast(cond)
                // Under the lock: a leader clears `leader` under it before it can exit, so the
                // thread signalled is alive (a detached thread's handle dies with it).
                if running > 0, let leader { pthread_kill(leader, SIGUSR2) }
                return running
            }
            if remaining == 0 { return }
            usleep(2_000)
        }
    }
}

/// The lead held by a receiver thread while it answers a call.
///
/// Its fields are only touched on that thread (`@exclusivity(unchecked)`: no dynamic check).
final class Lead: @unchecked Sendable {
    private unowned let receivers: Receivers
    @exclusivity(unchecked) fileprivate var held = false
    /// This thread's alarm (nil if the system had no timer for it: then `briefly` passes the
    /// lead at once).
    private var alarm: UnsafeMutableRawPointer?

    /// On the receiver thread it serves.
    fileprivate init(_ receivers: Receivers) {
        self.receivers = receivers
        if st_alarm_create(&alarm) != 0 { alarm = nil }
    }

    deinit { if let alarm { st_alarm_delete(alarm) } }

    /// The call being answered, and its entry among the held calls once it waits.
    @exclusivity(unchecked) var call: st_notification?
    @exclusivity(unchecked) var heldEntry: HeldCalls.Entry?
    /// ADDFD found the call gone (ENOENT from the ioctl itself, not an errno a filter chose).
    @exclusivity(unchecked) var addfdFoundCallGone = false
    @exclusivity(unchecked) var heldCalls: HeldCalls?

    /// Before waiting: let another thread take the next calls, and let a restart of this call
    /// (after a signal) resume it. Once per call; later calls of it do nothing.
    func pass(holding: Bool = true) {
        if holding, heldEntry == nil, let call, let heldCalls { heldEntry = heldCalls.hold(call) }
        guard held else { return }
        held = false
        receivers.passLead()
    }

    /// Runs `body`, a blocking call that usually returns at once, keeping the lead; if it is
    /// still blocked after `seconds`, it is cut short (it fails with EINTR) — then pass the
    /// lead and wait for it some other way.
    func briefly<R, E: Error>(_ seconds: Double, _ body: () throws(E) -> R) throws(E) -> R {
        guard held, let alarm else {
            pass()
            return try body()
        }
        st_alarm_set(alarm, Int(seconds * 1e9))
        defer { st_alarm_set(alarm, 0) }
        return try body()
    }
}
