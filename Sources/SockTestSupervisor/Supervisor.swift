import CSupervisor
import Glibc
import SockTestCore

/// How the supervised program ended.
package enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// The status the tool exits with: the program's own, or 128 + signal.
    package var exitStatus: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }

    package var description: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "killed by signal \(signal) (\(String(cString: strsignal(signal))))"
        }
    }
}

/// Why a program could not be supervised. `unavailable` when the kernel lacks a feature.
package struct SupervisorError: Error, CustomStringConvertible, Sendable {
    package let message: String
    package let unavailable: Bool
    package var description: String { message }
}

/// Runs an unmodified program (and all its threads and children) with its socket calls going
/// through a `Switch`, using seccomp user notification: no LD_PRELOAD, static binaries too.
///
/// The calls the books and the script's filters need stop in the kernel and come to the
/// supervisor: socket, connect, listen, accept, accept4 and close always (what the table and
/// the statistics must see), the calls that can change what a descriptor number names
/// (close_range, dup2, dup3, exec) and exit_group (the process's sockets are read off /proc
/// before it goes); bind, getsockopt and the data path (SPEC §7: reads, writes, shutdown) only
/// when the script set a filter for them. Each call runs its before-filter; then the kernel
/// makes it in the program's own context ("continue") — unless an after-filter needs the
/// outcome (or a data-path filter answered short, eof, reset or drop), when the supervisor
/// makes it on the program's behalf on a copy of the program's socket (pidfd_getfd), puts a
/// new descriptor into the program with SECCOMP_IOCTL_NOTIF_ADDFD, and answers with the
/// result. See `Supervisor+Calls.swift` and `Supervisor+Data.swift`.
///
/// A call is answered on the thread that received it; one about to wait (a filter's delay or
/// sleep, an accept or connect made on the program's behalf that blocks) first hands the
/// receiving of calls to another thread, so one waiting call does not stall the rest.
package final class Supervisor: @unchecked Sendable {
    let sw: Switch
    let listener: Int32
    /// The program's process id (and process group).
    package let pid: pid_t
    let processes: ProcessTable
    let books: ProgramBooks
    let heldCalls = HeldCalls()
    private let execStatus: Int32
    /// The sentinel's pipe (see `st_spawn_sentinel`): the program dies with the tool.
    private let sentinel: Int32
    private let sentinelPid: pid_t
    private let command: String
    private let problems = Locked<[String]>([])

    /// Starts `command` (resolved on PATH) under supervision. It runs from the first
    /// instruction with its socket calls trapped. The filter types set on `sw` now decide
    /// whether bind, getsockopt and the data path are trapped: a filter for them set later (from
    /// inside another filter) sees no calls when none was set when the program started.
    ///
    /// `arguments` are the command's bytes as given (not always UTF-8), when the caller has
    /// them; `command` is their text, for messages.
    package init(switch sw: Switch, command: [String], arguments: [[CChar]]? = nil) throws(SupervisorError) {
        precondition(!command.isEmpty)
        self.sw = sw
        self.command = command[0]
        guard st_user_notif_available() != 0 else {
            throw SupervisorError(message: "this kernel lacks seccomp user notification (SECCOMP_RET_USER_NOTIF, Linux 5.0+)", unavailable: true)
        }
        try Self.probePidfdGetfd()
        guard let path = Self.resolve(command[0]) else {
            let what = access(command[0], F_OK) == 0 ? "not an executable program" : "no such program"
            throw SupervisorError(message: "\(what): \(command[0])", unavailable: false)
        }
        st_become_subreaper()                   // orphaned grandchildren come to us to be reaped

        var listener: Int32 = -1, execStatus: Int32 = -1, stage: Int32 = 0, err: Int32 = 0
        // Arguments and environment byte for byte.
        let argv = (arguments ?? command.map { Array($0.utf8CString) }).map { bytes in bytes.withUnsafeBufferPointer { strdup($0.baseAddress!) } } + [nil]
        defer { argv.forEach { free($0) } }
        let pid = st_spawn_supervised(path, argv, environ, Self.trapped(for: sw), &listener, &execStatus, &stage, &err)
        if pid < 0 {
            let unavailable = stage == Int32(ST_STAGE_SECCOMP.rawValue) || stage == Int32(ST_STAGE_NO_NEW_PRIVS.rawValue)
            let what = unavailable ? "the kernel refused the seccomp listener" : "could not start \(command[0])"
            throw SupervisorError(message: "\(what): \(String(cString: strerror(err)))", unavailable: unavailable)
        }
        self.pid = pid
        self.listener = listener
        self.execStatus = execStatus
        processes = ProcessTable(root: pid)
        books = ProgramBooks(switch: sw, processes: processes)
        var sentinelPid: pid_t = 0
        sentinel = st_spawn_sentinel(pid, &sentinelPid)
        self.sentinelPid = sentinelPid
        processes.onNewProcess = { [sentinel] tgid in
            // Told of every process: one may leave the group (setsid) after its first call.
            if sentinel >= 0 { _ = st_sentinel_watch(sentinel, tgid) }
            if getpgid(tgid) != pid { st_forward_also(tgid) }
        }
        _ = st_notif_sync_wakeup(listener)      // 6.6+: wake the program on our CPU (halves a round trip)
    }

    /// The calls to trap: what the books need, and the filter types the script set.
    static func trapped(for sw: Switch) -> UInt32 {
        var ops: [st_op] = [ST_OP_SOCKET, ST_OP_CONNECT, ST_OP_LISTEN, ST_OP_ACCEPT, ST_OP_ACCEPT4, ST_OP_CLOSE,
                            ST_OP_CLOSE_RANGE, ST_OP_DUP2, ST_OP_DUP3, ST_OP_EXECVE, ST_OP_EXECVEAT, ST_OP_EXIT_GROUP]
        let optional: [(FilterType, st_op)] = [(.bind, ST_OP_BIND), (.getsockopt, ST_OP_GETSOCKOPT), (.shutdown, ST_OP_SHUTDOWN)]
        ops += optional.filter { sw.hasFilter($0.0) }.map(\.1)
        // Reads and writes both for either filter: a read after a reset the switch made must
        // be answered (0, as after a real one) even when only writes are filtered.
        if sw.hasFilter(.read) || sw.hasFilter(.write) { ops += dataOps }
        return ops.reduce(0) { $0 | (1 << $1.rawValue) }
    }

    static let dataOps: [st_op] = [ST_OP_READ, ST_OP_READV, ST_OP_RECVFROM, ST_OP_RECVMSG, ST_OP_RECVMMSG,
                                   ST_OP_WRITE, ST_OP_WRITEV, ST_OP_SENDTO, ST_OP_SENDMSG, ST_OP_SENDMMSG]

    /// What the supervisor could not do as the script asked (each says which call and why).
    package var scriptProblems: [String] { problems.withLock { $0 } }

    func problem(_ message: String) {
        problems.withLock { list in
            if list.count < 100 && !list.contains(message) { list.append(message) }
        }
    }

    /// Serves the program's calls until it exits, then stops what it left running. Returns
    /// how it ended; throws when the program could not be started (its exec failed).
    package func run() throws(SupervisorError) -> Termination {
        let receivers = Receivers(listener: listener, heldCalls: heldCalls) { [self] n, lead in
            handle(n, st_op(rawValue: UInt32(bitPattern: n.op)), lead)
        }
        receivers.start()
        sw.supervise(books)
        defer { sw.supervise(nil) }
        var stage: Int32 = 0, err: Int32 = 0
        if st_exec_outcome(execStatus, &stage, &err) != 0 {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            receivers.stop(within: 2)
            Glibc.close(listener)
            processes.closeAll()
            throw SupervisorError(message: "cannot run \(command): \(String(cString: strerror(err)))", unavailable: false)
        }
        st_forward_signals(pid)                 // Ctrl-C reaches the program; we wait for it
        var terminal: pid_t = -1
        let foreground = st_take_terminal(pid, &terminal) == 0   // a job in the foreground, as a shell runs it
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}     // Ctrl-C is forwarded, not ours
        kill(-pid, SIGKILL)                                          // nothing of the group outlives it
        superviseStrays()                                            // a daemon it started, to its end
        Waiting.wakeAll()                                            // no call is left to delay
        reapGroup()
        if foreground { var ignored: pid_t = 0; _ = st_take_terminal(terminal, &ignored) }
        receivers.stop(within: 2)
        Glibc.close(listener)
        processes.closeAll()
        endSentinel()
        return Self.termination(status)
    }

    /// Processes of the program that left its group (a daemon calls setsid) and outlive it: they
    /// came to us as orphans (we are a subreaper). They stay supervised until they exit; Ctrl-C
    /// reaches them too.
    private func superviseStrays() {
        while true {
            let strays = Self.children().filter { $0 != sentinelPid }
            if strays.isEmpty { return }
            for stray in strays {
                st_forward_also(stray)
                var status: Int32 = 0
                _ = waitpid(stray, &status, WNOHANG)
            }
            usleep(20_000)
        }
    }

    /// Our children (as a subreaper, orphaned descendants of the program too).
    private static func children() -> [pid_t] {
        var out: [pid_t] = []
        guard let dir = opendir("/proc/self/task") else { return out }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard Int32(tid) != nil, let text = ProcFile.read("/proc/self/task/\(tid)/children") else { continue }
            out += text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pid_t($0) }
        }
        return out
    }

    private func endSentinel() {
        guard sentinel >= 0 else { return }
        _ = st_sentinel_disarm(sentinel)
        Glibc.close(sentinel)
        var status: Int32 = 0
        while waitpid(sentinelPid, &status, 0) < 0 && errno == EINTR {}
    }

    private func reapGroup() {
        var status: Int32 = 0
        let deadline = monotonicSeconds() + 2
        while monotonicSeconds() < deadline {
            let reaped = waitpid(-pid, &status, WNOHANG)
            if reaped < 0 { break }             // ECHILD: nobody left
            if reaped == 0 { usleep(5_000) }
        }
    }

    // MARK: - Setup helpers

    private static func termination(_ status: Int32) -> Termination {
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    private static func probePidfdGetfd() throws(SupervisorError) {
        let pidfd = st_pidfd_open(getpid())
        guard pidfd >= 0 else {
            throw SupervisorError(message: "this kernel lacks pidfd_open (Linux 5.3+): \(String(cString: strerror(errno)))", unavailable: true)
        }
        defer { Glibc.close(pidfd) }
        let copy = st_pidfd_getfd(pidfd, pidfd)
        guard copy >= 0 else {
            throw SupervisorError(message: "this kernel lacks pidfd_getfd (Linux 5.6+): \(String(cString: strerror(errno)))", unavailable: true)
        }
        Glibc.close(copy)
    }

    /// `name` as execvp would find it: a path when it has a slash, else the first executable
    /// match on PATH.
    static func resolve(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            var info = stat()
            if access(candidate, X_OK) == 0 && stat(candidate, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG {
                return candidate
            }
        }
        return nil
    }

}
