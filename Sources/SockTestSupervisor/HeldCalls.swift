import CSupervisor
import Glibc
import SockTestCore

/// Calls of the program the supervisor was holding (a filter's delay, a call made on the
/// program's behalf that waited) when a signal came. The kernel then abandons the notification
/// (answering it fails with ENOENT), the program's handler runs at once, and a restartable call
/// is made again — the same call from the same thread with the same arguments — as a new
/// notification. That one resumes the first instead of running it again: the filter ran once,
/// the call is counted once, and the restarted call gets the outcome the first one would have
/// had, when it would have had it.
///
/// A call registers when it is about to wait (`hold`); its outcome is kept for a restart when
/// answering finds the notification gone (`abandoned`). An outcome nobody claims (the program
/// took EINTR and went on) is dropped after `kept` seconds.
final class HeldCalls: @unchecked Sendable {
    /// The same call from the same thread: a restart has the same arguments.
    struct Key: Hashable {
        let tid: Int32
        let op: Int32
        let a0, a1, a2, a3, a4, a5: UInt64

        init(_ n: st_notification) {
            tid = n.pid
            op = n.op
            (a0, a1, a2, a3, a4, a5) = n.args
        }
    }

    /// How a held call was answered, to be given again to its restart.
    enum Outcome {
        case proceed
        case result(Result<Int32, Errno>)
    }

    final class Entry: @unchecked Sendable {
        let key: Key
        fileprivate var outcome: Outcome?
        fileprivate var decided = 0.0
        /// Whether its filter ran (set on the thread answering it, before any outcome).
        var filtered = false
        /// Answered, or gone before its filter ran: nothing to resume.
        fileprivate var closed = false
        init(_ key: Key) { self.key = key }
    }

    static let kept = 10.0
    // Under `mutex`, their exclusivity check.
    @exclusivity(unchecked) private var entries: [Key: Entry] = [:]
    @exclusivity(unchecked) private var holds = 0
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// The call `n` is about to wait: a restart of it from now on resumes it.
    func hold(_ n: st_notification) -> Entry {
        locked {
            holds &+= 1
            if holds % 1024 == 0 && !entries.isEmpty {      // now and then: drop unclaimed outcomes
                let now = monotonicSeconds()
                entries = entries.filter { $0.value.outcome == nil || now - $0.value.decided < Self.kept }
            }
            let entry = Entry(Key(n))
            entries[entry.key] = entry
            return entry
        }
    }

    /// The held call was answered: nothing to keep.
    func answered(_ entry: Entry) {
        locked {
            if entries[entry.key] === entry { entries[entry.key] = nil }
            entry.closed = true
            pthread_cond_broadcast(cond)
        }
    }

    /// The held call's notification was gone when it was answered: `outcome` waits for its restart.
    func abandoned(_ entry: Entry, _ outcome: Outcome) {
        locked {
            entry.outcome = outcome
            entry.decided = monotonicSeconds()
            if entries[entry.key] == nil { entries[entry.key] = entry }
            pthread_cond_broadcast(cond)
        }
    }

    enum Resumption {
        /// Not a restart: a call of its own.
        case none
        /// A restart, interrupted in turn while it waited: nothing to answer.
        case gone
        /// A restart: answer it with the held call's outcome.
        case resume(Entry, Outcome)
    }

    /// Whether `n` restarts a held call; if so, waits (while `valid` says the notification is
    /// still there) for the held call's outcome.
    func resume(_ n: st_notification, while valid: () -> Bool, willWait: () -> Void) -> Resumption {
        let key = Key(n)
        let found: Entry? = locked {
            // Most calls: nothing is held at all (no hashing then).
            guard !entries.isEmpty, let entry = entries[key] else { return nil }
            // An outcome nobody claimed in time belongs to a call the program gave up on.
            if entry.outcome != nil && monotonicSeconds() - entry.decided >= Self.kept {
                entries[key] = nil
                return nil
            }
            return entry
        }
        guard let entry = found else { return .none }
        if locked({ entry.outcome == nil }) { willWait() }
        return locked { () -> Resumption in
            while entry.outcome == nil {
                if entry.closed { return .none }
                var deadline = timespec()
                clock_gettime(CLOCK_REALTIME, &deadline)
                deadline.tv_nsec += 100_000_000
                if deadline.tv_nsec >= 1_000_000_000 { deadline.tv_sec += 1; deadline.tv_nsec -= 1_000_000_000 }
                pthread_cond_timedwait(cond, mutex, &deadline)
                if entry.outcome == nil && !valid() { return .gone }
            }
            return .resume(entry, entry.outcome!)
        }
    }
}
