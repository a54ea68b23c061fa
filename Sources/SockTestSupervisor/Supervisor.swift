import CSupervisor
import Glibc
import SockTestCore

/// How the supervised program ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// The status the tool exits with: the program's own, or 128 + signal.
    public var exitStatus: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "killed by signal \(signal) (\(String(cString: strsignal(signal))))"
        }
    }
}

/// Why a program could not be supervised. `unavailable` when the kernel lacks a feature.
public struct SupervisorError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let unavailable: Bool
    public var description: String { message }
}

/// Runs an unmodified program (and all its threads and children) with its socket calls going
/// through a `Switch`, using seccomp user notification: no LD_PRELOAD, static binaries too.
///
/// The program's socket, bind, connect, listen, accept, accept4, getsockopt and close stop in
/// the kernel and come to the supervisor. For a socket the switch tracks, the supervisor runs
/// the call through the switch's pipeline, making the system call itself on a copy of the
/// program's socket (pidfd_getfd) — so after-filters see the real outcome — and answers with
/// the result; new descriptors are put into the program with SECCOMP_IOCTL_NOTIF_ADDFD, accept's
/// peer address is written into the program's memory. Calls on other descriptors are let
/// through untouched. A call is answered on the thread that received it; one about to wait (an
/// accept with no client queued, a connect still blocked after 50 ms, a filter's delay or sleep)
/// first hands the receiving of calls to another thread, so one waiting call does not stall
/// the rest.
public final class Supervisor: @unchecked Sendable {
    let sw: Switch
    let listener: Int32
    /// The program's process id (and process group).
    public let pid: pid_t
    let processes: ProcessTable

    /// Starts `command` (resolved on PATH) under supervision. It runs from the first
    /// instruction with its socket calls trapped.
    public init(switch sw: Switch, command: [String]) throws(SupervisorError) {
        precondition(!command.isEmpty)
        self.sw = sw
        guard st_user_notif_available() != 0 else {
            throw SupervisorError(message: "this kernel lacks seccomp user notification (SECCOMP_RET_USER_NOTIF, Linux 5.0+)", unavailable: true)
        }
        try Self.probePidfdGetfd()
        guard let path = Self.resolve(command[0]) else {
            let what = access(command[0], F_OK) == 0 ? "not an executable program" : "no such program"
            throw SupervisorError(message: "\(what): \(command[0])", unavailable: false)
        }
        st_become_subreaper()                   // orphaned grandchildren come to us to be reaped

        var listener: Int32 = -1, stage: Int32 = 0, err: Int32 = 0
        let argv = command.map { strdup($0) } + [nil]
        let envp = Self.environment().map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let pid = st_spawn_supervised(path, argv, envp, &listener, &stage, &err)
        let reason = String(cString: strerror(err))
        if pid < 0 {
            let unavailable = stage == Int32(ST_STAGE_SECCOMP.rawValue) || stage == Int32(ST_STAGE_NO_NEW_PRIVS.rawValue)
            let what = unavailable ? "the kernel refused the seccomp listener" : "could not start \(command[0])"
            throw SupervisorError(message: "\(what): \(reason)", unavailable: unavailable)
        }
        if stage == Int32(ST_STAGE_EXEC.rawValue) {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            Glibc.close(listener)
            throw SupervisorError(message: "cannot run \(command[0]): \(reason)", unavailable: false)
        }
        self.pid = pid
        self.listener = listener
        processes = ProcessTable(switch: sw, root: pid)
        _ = st_notif_sync_wakeup(listener)      // 6.6+: wake the program on our CPU (halves a round trip)
        st_forward_signals(pid)                 // Ctrl-C reaches the program; we wait for it
    }

    /// Serves the program's calls until it exits, then stops what it left running. Returns
    /// how it ended.
    public func run() -> Termination {
        let receivers = Receivers(listener: listener) { [self] n, lead in
            handle(n, st_op(rawValue: UInt32(bitPattern: n.op)), lead)
        }
        receivers.start()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}     // Ctrl-C is forwarded, not ours
        kill(-pid, SIGKILL)                                          // nothing of the program outlives it
        reapGroup()
        receivers.stop(within: 2)
        Glibc.close(listener)
        processes.closeAll()
        return Self.termination(status)
    }

    private func reapGroup() {
        var status: Int32 = 0
        let deadline = now() + 2
        while now() < deadline {
            let reaped = waitpid(-1, &status, WNOHANG)
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

    private static func environment() -> [String] {
        var out: [String] = []
        var p = environ
        while let entry = p.pointee {
            out.append(String(cString: entry))
            p += 1
        }
        return out
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A detached thread running `body` once.
struct DetachedThread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    @discardableResult
    init(_ body: @escaping @Sendable () -> Void) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        defer { pthread_attr_destroy(&attributes) }
        var handle = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&handle, &attributes, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(box).takeRetainedValue().body()   // no thread: run it here
        }
    }
}
