import CSysShims
import Foundation
import SockTestCore

/// One run of a program in a process group of its own, its output in files, bounded by a
/// timeout: past it the whole group is killed and waited for. What a sweep runs (the tool
/// itself, supervising the program under test, which dies with it).
package struct ChildRun {
    enum Ending: Equatable {
        case exited(Int32)
        case signaled(Int32)
        /// Past the timeout: killed.
        case hung
    }

    let ending: Ending
    let stdout: String
    let stderr: String
    let seconds: Double

    /// Runs `program` with `arguments`; stdin is /dev/null. `scratch` is a folder for the
    /// output files, which are removed before this returns.
    static func run(_ program: String, _ arguments: [String], timeout: Double, scratch: String) throws -> ChildRun {
        let id = UUID().uuidString
        let outPath = scratch + "/\(id).out", errPath = scratch + "/\(id).err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so a hung run is killed whole; default signal dispositions.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)

        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let started = monotonicSeconds()
        // The child dies with this process, even killed with SIGKILL (`dieWithParent`).
        var environment = ProcessInfo.processInfo.environment
        environment[parentVariable] = String(getpid())
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        let rc = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw UsageError("cannot run \(program): \(Errno(rawValue: rc).message)") }

        var status: Int32 = 0
        var ending: Ending?
        let deadline = started + timeout
        while ending == nil {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid {
                ending = Self.ending(of: status)
            } else if done < 0 && errno != EINTR {
                ending = .exited(-1)
            } else if monotonicSeconds() > deadline {
                kill(-pid, SIGKILL)         // the group: the tool, and whatever it did not reap yet
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                ending = .hung
            } else {
                usleep(5_000)
            }
        }
        return ChildRun(ending: ending!, stdout: Self.read(outPath), stderr: Self.read(errPath),
                        seconds: monotonicSeconds() - started)
    }

    private static func ending(of status: Int32) -> Ending {
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    private static func read(_ path: String) -> String {
        String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    }

    static let parentVariable = "SOCKTEST_LUA_SWEEP_PARENT"

    /// In a tool a sweep started: dies with the sweep (a sweep killed with SIGKILL or Ctrl-C
    /// leaves no run behind; the run's program dies with it in turn). The variable is removed
    /// so that the program under test does not inherit it.
    package static func dieWithParentIfSwept() {
        guard let value = ProcessInfo.processInfo.environment[parentVariable], let parent = Int32(value) else { return }
        unsetenv(parentVariable)
        if st_die_with_parent(parent) != 0 { exit(1) }
    }

    /// The path of the running executable.
    static var executable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
