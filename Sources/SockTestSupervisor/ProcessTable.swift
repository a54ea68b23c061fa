import CSupervisor
import Glibc
import SockTestCore

/// The supervised processes: which process (thread group) a calling thread belongs to, a pidfd
/// per process, and what the supervisor must remember about each to keep the switch's table
/// true while the kernel makes the program's calls itself:
/// - the sockets it is creating (a socket() or accept() let through, whose descriptor the
///   supervisor sees only when the program first uses it: `Creation`);
/// - a generation, moved on by calls that can change what a descriptor number names without
///   the supervisor seeing it (close_range, dup2, dup3, exec): a descriptor known from an older
///   generation is checked again before it is trusted.
final class ProcessTable: Sendable {
    /// A socket being made in a process: socket() (with its cookie) or accept() on a listener.
    struct Creation {
        enum Kind {
            case socket, accept(listener: UInt64, fd: Int32)
            /// The listener an accept() was made on (0 for a socket()).
            var listener: UInt64 { if case .accept(let listener, _) = self { listener } else { 0 } }
        }
        let kind: Kind
        let cookie: Cookie
        /// Made on the program's behalf: the socket is known already.
        var identity: UInt64 = 0
        /// Tells creations apart (set when added).
        var serial: UInt64 = 0
        /// The thread that made the call (set when added).
        var tid: Int32 = 0
        /// Its thread has made another trapped call since: the call is over (its socket exists,
        /// or the kernel refused it). One still in the kernel (a blocked accept) has no socket yet.
        var finished = false
    }

    /// A class, not a struct: read and changed in place under the lock (a struct of five
    /// collections was copied, and each collection retained, at every look-up). Its fields are
    /// only touched under that lock, which is their exclusivity check.
    private final class Process {
        @exclusivity(unchecked) var pidfd: Int32 = -1
        @exclusivity(unchecked) var generation: UInt64 = 0
        @exclusivity(unchecked) var creations: [Creation] = []
        /// The generation each tracked descriptor was last confirmed in.
        @exclusivity(unchecked) var confirmed = DescriptorMarks()
        /// Descriptors found naming no tracked socket (a file, a pipe), with the generation they
        /// were seen in: a data-path call on one goes on at once.
        @exclusivity(unchecked) var untracked = DescriptorMarks()
        @exclusivity(unchecked) var parent: Int32?
        /// Listeners' local addresses, read once (accepted sockets share them).
        @exclusivity(unchecked) var listenerAddresses: [UInt64: SocketAddress] = [:]
        /// Closes of descriptors that named no tracked socket, checked because creations were
        /// owed, since a creation was last matched or the process scanned (`checkedInVain`), and how
        /// many such checks call for a scan: more the more descriptors the last scan listed.
        @exclusivity(unchecked) var checksInVain = 0
        @exclusivity(unchecked) var checksBeforeScan = ProcessTable.fewestChecksBeforeScan
        /// Closes let through whose thread has made no trapped call since, by thread: the number
        /// may still be open in /proc for a moment, and is free right after.
        @exclusivity(unchecked) var closesInFlight: [Int32: Int32] = [:]

        /// Whether a mark (`confirmed`, `untracked`) is from the current generation.
        func isCurrent(_ seen: UInt64?) -> Bool { seen == generation }

        /// Thread `tid` is making a trapped call: its earlier calls are over.
        func callsOver(of tid: Int32) {
            if !closesInFlight.isEmpty { closesInFlight[tid] = nil }
            for i in creations.indices where creations[i].tid == tid { creations[i].finished = true }
        }
    }

    private struct State {
        var tgidOfThread: [Int32: Int32] = [:]
        private(set) var processes: [Int32: Process] = [:]
        var opened = 0
        var serial: UInt64 = 0
        /// The process last looked up: calls come from one process many at a time, and a look-up
        /// is made several times per call.
        private var recent: (tgid: Int32, process: Process)?

        mutating func process(_ tgid: Int32) -> Process? {
            if let recent, recent.tgid == tgid { return recent.process }
            guard let found = processes[tgid] else { return nil }
            recent = (tgid, found)
            return found
        }

        mutating func setProcess(_ tgid: Int32, _ process: Process?) {
            processes[tgid] = process
            recent = nil
        }

        mutating func removeAllProcesses() {
            processes.removeAll()
            recent = nil
        }
    }
    private let state = Locked(State())
    /// Called once for each process first seen (not the program's first process).
    nonisolated(unsafe) var onNewProcess: (@Sendable (Int32) -> Void)?

    /// Unmatched creations a process may owe before the oldest are dropped (calls the kernel
    /// refused leave theirs behind).
    static let creationsKept = 64

    init(root: Int32) {
        state.withLock { $0.setProcess(root, Process()) }
    }

    /// The process of thread `tid`, which is making a trapped call (so its earlier calls are
    /// over); nil when it is already gone.
    func process(of tid: Int32) -> Int32? {
        let known = state.withLock { s -> Int32? in
            guard let tgid = s.tgidOfThread[tid] else { return nil }
            s.process(tgid)?.callsOver(of: tid)
            return tgid
        }
        if let known { return known }
        guard let tgid = Self.tgid(of: tid) else { return nil }
        let isNew = state.withLock { s -> Bool in
            s.tgidOfThread[tid] = tgid
            guard s.process(tgid) == nil else { return false }
            s.setProcess(tgid, Process())
            return true
        }
        if isNew { onNewProcess?(tgid) }
        return tgid
    }

    /// The processes seen so far that are still running.
    var live: [Int32] {
        state.withLock { s in s.processes.keys.filter { kill($0, 0) == 0 || errno != ESRCH } }
    }

    // MARK: Generations

    /// A call that may change what `tgid`'s descriptor numbers name is about to run.
    func doubt(_ tgid: Int32) {
        state.withLock { $0.process(tgid)?.generation += 1 }
    }

    func isConfirmed(_ key: SocketKey) -> Bool { withProcess(of: key) { $0.isCurrent($0.confirmed[key.fd]) } ?? false }

    /// `key` names a tracked socket (so it is no longer "not ours", if it was).
    func confirm(_ key: SocketKey) {
        withProcess(of: key) { p in
            p.confirmed[key.fd] = p.generation
            p.untracked[key.fd] = nil
        }
    }

    /// `body` on `key`'s process under the lock; nil when the process is not known.
    private func withProcess<R>(of key: SocketKey, _ body: (Process) -> R) -> R? {
        state.withLock { s in s.process(key.space).map(body) }
    }

    func unconfirm(_ key: SocketKey) {
        state.withLock { _ = $0.process(key.space)?.confirmed[key.fd] = nil }
    }

    // MARK: Descriptors that are not tracked sockets

    // A number names the same object until it is closed (close is always trapped) or replaced
    // by close_range, dup2, dup3 or exec (which move the generation on).

    func isUntracked(_ key: SocketKey) -> Bool { withProcess(of: key) { $0.isCurrent($0.untracked[key.fd]) } ?? false }

    func markUntracked(_ key: SocketKey) { withProcess(of: key) { $0.untracked[key.fd] = $0.generation } }

    /// `key` is being closed by thread `tid`: the number may name a socket next.
    func closing(_ key: SocketKey, by tid: Int32) {
        withProcess(of: key) { p in
            p.untracked[key.fd] = nil
            p.closesInFlight[tid] = key.fd
        }
    }

    /// Whether a close of `key` was let through and may not have run yet.
    func isClosing(_ key: SocketKey) -> Bool {
        state.withLock { s in s.process(key.space)?.closesInFlight.values.contains(key.fd) ?? false }
    }

    // MARK: Creations

    func creating(_ creation: Creation, in tgid: Int32, by tid: Int32) {
        state.withLock { s in
            guard let p = s.process(tgid) else { return }
            var creation = creation
            s.serial += 1
            creation.serial = s.serial
            creation.tid = tid
            p.creations.append(creation)
            if p.creations.count > Self.creationsKept { p.creations.removeFirst() }
        }
    }

    /// Takes the creation `serial` when it is still owed (another receiver may have taken it).
    func takeCreation(in tgid: Int32, serial: UInt64) -> Creation? {
        state.withLock { s in
            guard let process = s.process(tgid), let index = process.creations.firstIndex(where: { $0.serial == serial }) else { return nil }
            process.checksInVain = 0     // what it owes is being shown: no scan needed
            return process.creations.remove(at: index)
        }
    }

    /// The serial the next creation will follow: creations up to it were made before now.
    var lastSerial: UInt64 { state.withLock { $0.serial } }

    /// Thread `tid` has made another call since: its creations up to `serial` are over, and
    /// those still unmatched after a scan were refused by the kernel (an accept's EAGAIN).
    func dropCreations(in tgid: Int32, by tid: Int32, upTo serial: UInt64) {
        state.withLock { s in
            guard let p = s.process(tgid) else { return }
            p.creations.removeAll { $0.tid == tid && $0.serial <= serial && $0.finished }
            if p.creations.isEmpty { p.checksInVain = 0 }
        }
    }

    /// A close in `tgid` was checked because it owes creations, and named no tracked socket:
    /// true when enough such checks were made that the creations it owes should be matched
    /// against its descriptors at once (a server whose open connections make no trapped call
    /// would otherwise have every file close checked). A scan lists every descriptor, so the
    /// more there were, the more checks wait for the next: a scan costs about what they did.
    func checkedInVain(in tgid: Int32) -> Bool {
        state.withLock { s in
            guard let p = s.process(tgid) else { return false }
            p.checksInVain += 1
            return p.checksInVain >= p.checksBeforeScan
        }
    }

    /// `tgid`'s descriptors were scanned: `count` of them.
    func scanned(_ tgid: Int32, descriptors count: Int) {
        state.withLock { s in
            guard let p = s.process(tgid) else { return }
            p.checksInVain = 0
            p.checksBeforeScan = max(Self.fewestChecksBeforeScan, count / 8)
        }
    }

    static let fewestChecksBeforeScan = 8

    /// The creations `tgid` owes.
    func creations(in tgid: Int32) -> [Creation] {
        state.withLock { $0.process(tgid)?.creations ?? [] }
    }

    /// The process `tgid` was forked from (read once).
    func parent(of tgid: Int32) -> Int32? {
        if let known = state.withLock({ $0.process(tgid)?.parent }) { return known }
        guard let parent = ProcFile.field("PPid", of: "/proc/\(tgid)/status").flatMap({ Int32($0) }) else { return nil }
        state.withLock { _ = $0.process(tgid)?.parent = parent }
        return parent
    }

    /// Whether `tgid` owes creations (with `accepting`, accept() ones).
    func hasCreations(in tgid: Int32, accepting: Bool = false) -> Bool {
        state.withLock { s in
            guard let list = s.process(tgid)?.creations else { return false }
            guard accepting else { return !list.isEmpty }
            return list.contains { if case .accept = $0.kind { true } else { false } }
        }
    }

    func listenerAddress(_ identity: UInt64, in tgid: Int32, read: () -> SocketAddress?) -> SocketAddress? {
        if let known = state.withLock({ $0.process(tgid)?.listenerAddresses[identity] }) { return known }
        guard let address = read() else { return nil }
        state.withLock { _ = $0.process(tgid)?.listenerAddresses[identity] = address }
        return address
    }

    // MARK: Descriptors

    // Pidfds: one per process, opened on first use. Every 256 new ones, those of exited
    // processes (a pidfd polls readable once its process is gone) are closed, so a server that
    // forks a child per connection does not run the supervisor out of descriptors.

    /// Our copy of `tgid`'s descriptor `fd` (pidfd_getfd), made under the lock: another thread
    /// closing the exited processes' pidfds cannot close the one in use and let its number name
    /// another process's pidfd meanwhile.
    func copyDescriptor(_ fd: Int32, of tgid: Int32) -> Int32? {
        state.withLock { s in
            var pidfd = s.process(tgid)?.pidfd ?? -1, opened = false
            if pidfd < 0 {
                pidfd = st_pidfd_open(tgid)
                guard pidfd >= 0 else { return nil }
                // Stored in the table (a record made here if it had none), to be closed with it.
                let process = s.process(tgid) ?? Process()
                process.pidfd = pidfd
                s.setProcess(tgid, process)
                s.opened += 1
                opened = true
            }
            let copy = st_pidfd_getfd(pidfd, fd)
            // Once per 256 opened, not at every copy while the count stays a multiple of 256.
            if opened && s.opened % 256 == 0 { Self.forgetExited(&s) }
            return copy >= 0 ? copy : nil
        }
    }

    private static func forgetExited(_ s: inout State) {
        for (tgid, process) in s.processes where process.pidfd >= 0 {
            var p = pollfd(fd: process.pidfd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 0) > 0 else { continue }
            Glibc.close(process.pidfd)
            s.setProcess(tgid, nil)
            s.tgidOfThread = s.tgidOfThread.filter { $0.value != tgid }
        }
    }

    func closeAll() {
        state.withLock { s in
            for process in s.processes.values where process.pidfd >= 0 { Glibc.close(process.pidfd) }
            s.removeAllProcesses()
        }
    }

    /// Tgid from /proc/TID/status.
    private static func tgid(of tid: Int32) -> Int32? {
        ProcFile.field("Tgid", of: "/proc/\(tid)/status").flatMap { Int32($0) }
    }
}

/// A generation per descriptor number of one process, as a dictionary would keep them, but in an
/// array indexed by number: descriptors are small, dense numbers, and these marks are read and
/// set at nearly every trapped call. Numbers past `dense` (a program that raised its limit a
/// long way) go to a dictionary.
struct DescriptorMarks {
    private var dense: [UInt64] = []        // generation + 1; 0 for none
    private var sparse: [Int32: UInt64] = [:]
    static let denseLimit: Int32 = 1 << 16

    subscript(fd: Int32) -> UInt64? {
        get {
            guard fd >= 0 && fd < Self.denseLimit else { return sparse[fd] }
            let i = Int(fd)
            return i < dense.count && dense[i] != 0 ? dense[i] - 1 : nil
        }
        set {
            guard fd >= 0 && fd < Self.denseLimit else { sparse[fd] = newValue; return }
            let i = Int(fd)
            if i >= dense.count {
                guard newValue != nil else { return }
                dense.append(contentsOf: repeatElement(0, count: min(max(i + 1, dense.count * 2, 64), Int(Self.denseLimit)) - dense.count))
            }
            dense[i] = newValue.map { $0 + 1 } ?? 0
        }
    }
}
