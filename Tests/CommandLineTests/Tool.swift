import Foundation
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
    /// at most 60 s.
    @discardableResult
    static func run(_ arguments: [String], in directory: String = repo, environment: [String: String] = [:],
                    program: String = executable) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let killer = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: killer)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: stdout, as: UTF8.self),
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
