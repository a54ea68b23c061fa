import Foundation
import Glibc
import XCTest

/// Runs the built `socktest-lua` as a user would and captures what it printed.
struct Tool {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        /// The report: the last line of stdout (a supervised program's own output comes first).
        var json: [String: Any] {
            let line = stdout.split(separator: "\n").last.map(String.init) ?? ""
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        }
        /// With `--json`: what the program printed before the report, trailing newlines aside
        /// (into a pipe the tool always starts the report on a fresh line, so one may be its).
        var programOutput: String {
            var lines = stdout.split(separator: "\n", omittingEmptySubsequences: false)
            while lines.last == "" { lines.removeLast() }
            return lines.dropLast().joined(separator: "\n").trimmingCharacters(in: .newlines)
        }
        /// The report's statistics for IPv4 sockets: a program's libc may open others of its own
        /// (AF_UNIX sockets for user lookups), which the switch counts under their own cookies.
        var inet4Stats: [String: Any]? {
            (json["stats"] as? [[String: Any]])?.first { $0["family"] as? Int == Int(AF_INET) }
        }
    }

    static let repo: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    /// The executable sits next to the test bundle in the build folder.
    static let executable: String = {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (me as NSString).deletingLastPathComponent
        if dir.hasSuffix(".xctest") || dir.contains(".xctest/") {
            dir = (dir.components(separatedBy: ".xctest").first! as NSString).deletingLastPathComponent
        }
        return dir + "/socktest-lua"
    }()

    /// Runs the tool (or `program`) with `arguments` in `directory` (the repository by default);
    /// at most 60 s, then it is killed. Spawned, read and reaped here with plain system calls:
    /// Foundation's Process and Pipe were seen to close a reused descriptor number under a later
    /// run's pipe (EBADF in readDataToEndOfFile, swiftlang/swift#57827).
    @discardableResult
    static func run(_ arguments: [String], in directory: String = repo, environment: [String: String] = [:],
                    program: String = executable) throws -> Result {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // Nothing else the test process holds: a descriptor CI's runner left open would shift
        // every number a program's socket gets, and the documented outputs show those numbers.
        // (Looked up at run time: Swift does not import glibc's _GNU_SOURCE declarations.)
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        // (glibc before 2.34 has no such action: there the tests run as before.)
        if let closeFrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
        }
        // Python programs the tests run print into a pipe, and some leave with os._exit: unbuffered,
        // so nothing they printed is lost, whatever the environment the tests run in.
        // HOME, SHELL, USER and LOGNAME as in a login shell: CI runs with none, and a program
        // without them looks its user up, which opens sockets of its own (libc asks nscd over
        // AF_UNIX): Python's site does for HOME, and bash for SHELL, 16 times in a pyenv shim.
        // (A user with no passwd entry gets none of them, as from a login.)
        let login = getpwuid(getuid()).map { user in
            ["HOME": String(cString: user.pointee.pw_dir), "SHELL": String(cString: user.pointee.pw_shell),
             "USER": String(cString: user.pointee.pw_name), "LOGNAME": String(cString: user.pointee.pw_name)]
        } ?? [:]
        let env = ProcessInfo.processInfo.environment.merging(login) { old, _ in old }.merging(["PYTHONUNBUFFERED": "1"]) { $1 }
            .merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        // env -C: the working directory (posix_spawn's chdir action is not imported by Swift).
        let argv = (["/usr/bin/env", "-C", directory, program] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, envp)
        Glibc.close(outPipe[1])
        Glibc.close(errPipe[1])
        guard spawned == 0 else {
            Glibc.close(outPipe[0])
            Glibc.close(errPipe[0])
            throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO)
        }
        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0),
                   pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
        let deadline = Date().addingTimeInterval(60)
        var buffer = [UInt8](repeating: 0, count: 65536)
        var killed = false
        while fds.contains(where: { $0.fd >= 0 }) {
            if Date() > deadline && !killed { kill(pid, SIGKILL); killed = true }
            guard poll(&fds, nfds_t(fds.count), 200) >= 0 || errno == EINTR else { break }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = Glibc.read(fds[i].fd, &buffer, buffer.count)
                if n > 0 {
                    if i == 0 { stdout += buffer[..<n] } else { stderr += buffer[..<n] }
                } else if n == 0 || errno != EINTR {
                    Glibc.close(fds[i].fd)
                    fds[i].fd = -1
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // As Process reports it: the exit code, or the number of the signal that killed it.
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
        return Result(status: code, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// A handle of its own on /dev/null for a child's output. Not `FileHandle.nullDevice`: one
    /// shared descriptor, which a Process may close behind the others' backs (a test process
    /// once had a pipe closed under it, EBADF, as a descriptor number was reused).
    static func devNull() -> FileHandle {
        FileHandle(forWritingAtPath: "/dev/null")!
    }

    /// One folder per test process for what the tests write (scripts, programs they build);
    /// removed when the process exits.
    static let scratch: String = {
        var template = Array((NSTemporaryDirectory() + "socktest-tests-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fatalError("cannot make a scratch folder in \(NSTemporaryDirectory())")
        }
        atexit { try? FileManager.default.removeItem(atPath: Tool.scratch) }
        return String(cString: made)
    }()

    /// A fresh path in `scratch`, named after `name`.
    static func scratchPath(_ name: String) -> String { scratch + "/" + name + "-" + UUID().uuidString }

    /// Writes a script into a fresh folder in `scratch` and returns its path.
    static func script(_ name: String, _ source: String) throws -> String {
        let dir = scratchPath("script")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + name
        try source.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
