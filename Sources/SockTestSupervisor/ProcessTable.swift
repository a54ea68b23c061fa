import CSupervisor
import Glibc
import SockTestCore

/// The supervised processes: which process (thread group) a calling thread belongs to, a pidfd
/// per process, and fork inheritance: the first time a process shows up, it inherits the
/// tracked sockets of its parent (what fork copied), so a pre-forking server's workers see the
/// master's listener as tracked.
final class ProcessTable: Sendable {
    private struct State {
        var tgidOfThread: [Int32: Int32] = [:]
        /// Descriptors being created per process: answered to the program, not yet booked.
        var creating: [Int32: Int] = [:]
        var pidfds: [Int32: Int32] = [:]
        var known: Set<Int32> = []
    }
    private let state = Locked(State())
    private let sw: Switch

    init(switch sw: Switch, root: Int32) {
        self.sw = sw
        state.withLock { _ = $0.known.insert(root) }
    }

    /// The process of thread `tid`; nil when it is already gone.
    func process(of tid: Int32) -> Int32? {
        if let tgid = state.withLock({ $0.tgidOfThread[tid] }) { return tgid }
        guard let (tgid, ppid) = Self.ids(of: tid) else { return nil }
        let inherit = state.withLock { s -> Bool in
            s.tgidOfThread[tid] = tgid
            guard !s.known.contains(tgid) else { return false }
            s.known.insert(tgid)
            return s.known.contains(ppid)
        }
        if inherit { sw.inherit(tgid, from: ppid) { fd in st_same_file(ppid, fd, tgid, fd) == 1 } }
        return tgid
    }

    /// Brackets the creation of a descriptor in `tgid` (socket, accept): the program may get
    /// it (ADDFD answers at once) a moment before the switch has booked it.
    func creating(in tgid: Int32, _ body: () -> Void) {
        state.withLock { $0.creating[tgid, default: 0] += 1 }
        defer { state.withLock { s in s.creating[tgid]! -= 1; if s.creating[tgid] == 0 { s.creating[tgid] = nil } } }
        body()
    }

    /// Whether the switch tracks `key`: when it does not but a descriptor is being created in that
    /// process, waits (at most 10 ms) for the creation to be booked before answering no.
    func isTracked(_ key: SocketKey) -> Bool {
        if sw.isTracked(key) { return true }
        let deadline = now() + 0.01
        while state.withLock({ $0.creating[key.space] != nil }) && now() < deadline { sched_yield() }
        return sw.isTracked(key)
    }

    /// A pidfd for the process, opened once. Every 256 new ones, those of exited processes
    /// (a pidfd polls readable once its process is gone) are closed, so a server that forks
    /// a child per connection does not run the supervisor out of descriptors.
    func pidfd(_ tgid: Int32) -> Int32? {
        state.withLock { s in
            if let fd = s.pidfds[tgid] { return fd }
            let fd = st_pidfd_open(tgid)
            guard fd >= 0 else { return nil }
            s.pidfds[tgid] = fd
            if s.pidfds.count % 256 == 0 { Self.forgetExited(&s) }
            return fd
        }
    }

    private static func forgetExited(_ s: inout State) {
        for (tgid, fd) in s.pidfds {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 0) > 0 else { continue }
            Glibc.close(fd)
            s.pidfds[tgid] = nil
            s.tgidOfThread = s.tgidOfThread.filter { $0.value != tgid }
        }
    }

    func closeAll() {
        state.withLock { s in
            for fd in s.pidfds.values { Glibc.close(fd) }
            s.pidfds.removeAll()
        }
    }

    /// Tgid and PPid from /proc/TID/status.
    private static func ids(of tid: Int32) -> (Int32, Int32)? {
        let fd = open("/proc/\(tid)/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 2048)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return nil }
        var tgid: Int32?, ppid: Int32?
        for line in String(decoding: buffer[..<n], as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("Tgid:") { tgid = Int32(line.dropFirst(5).trimmingSpaces) }
            if line.hasPrefix("PPid:") { ppid = Int32(line.dropFirst(5).trimmingSpaces) }
        }
        guard let tgid, let ppid else { return nil }
        return (tgid, ppid)
    }
}

extension Substring {
    var trimmingSpaces: Substring { drop { $0 == " " || $0 == "\t" } }
}
