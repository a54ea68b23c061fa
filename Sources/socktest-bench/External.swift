import ArgumentParser
import Foundation

/// External-program mode: the C workload program run natively, under `socktest-lua run` with a
/// no-op connect filter, under three floors (`notify-floor.c`: the same calls trapped and
/// answered "continue" at once; the same after the system calls socktest-lua's books make; and
/// socket, connect and accept made on the program's behalf, with nothing else), and under
/// `strace --seccomp-bpf` with an injection rule that never fires (the nearest peer), when strace
/// is installed.
enum External {
    static let here: String = {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (me as NSString).deletingLastPathComponent
    }()

    static func measure(_ workload: Workload, iterations: Int, repetitions: Int) throws -> [CaseResult] {
        let scratch = try makeScratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let program = try buildProgram("workload", into: scratch)
        let floor = try buildProgram("notify-floor", into: scratch)
        let script = scratch + "/noop.lua"
        try #"socktest.set("connect", function(so) end)"#.write(toFile: script, atomically: true, encoding: .utf8)
        let arg = workload.rawValue.lowercased()
        let data = scratch + "/noop-data.lua"
        try "socktest.set(\"read\", function(so) end)\nsocktest.set(\"write\", function(so) end)\n"
            .write(toFile: data, atomically: true, encoding: .utf8)
        var cases: [(String, [String])] = [
            ("program, native", [program, arg, "\(iterations)"]),
            ("program, socktest-lua run (no-op connect filter)", [here + "/socktest-lua", "run", script, "--", program, arg, "\(iterations)"]),
            ("program, floor: trap + continue", [floor, program, arg, "\(iterations)"]),
        ]
        if workload == .w3 {
            // The data path trapped: a no-op read and write filter, and its floor.
            cases += [
                ("program, socktest-lua run (no-op read and write filters)", [here + "/socktest-lua", "run", data, "--", program, arg, "\(iterations)"]),
                ("program, floor: trap + continue, data path trapped", [floor, "--data", program, arg, "\(iterations)"]),
            ]
        } else {
            cases.append(("program, floor: trap + calls made on its behalf", [floor, "--on-behalf", program, arg, "\(iterations)"]))
            // The system calls exact books make (learn a socket by its inode, settle a connect
            // let through), in C: what any tool that keeps them pays, without a switch or Lua.
            cases.append(("program, floor: trap + continue + the books' system calls", [floor, "--books", program, arg, "\(iterations)"]))
        }
        if let strace = which("strace"), workload != .w3 {
            // strace 6.1 caps when= at 65535: a rule for call 65535+ never fires in these runs.
            cases.append(("program, strace --seccomp-bpf (no-op inject)", [
                strace, "-f", "-qq", "-o", "/dev/null", "--seccomp-bpf",
                "-e", "trace=socket,connect,accept,accept4,close",
                "-e", "inject=connect:error=ECONNREFUSED:when=65535", program, arg, "\(min(iterations, 60_000))"]))
        }
        return try interleaved(workload, cases.map(\.0), baseline: { _ in 0 }, repetitions: repetitions) { i in
            try run(cases[i].1)
        }.withRatios(toFloor: "program, floor: trap + continue")
    }

    /// Runs a command; the program's first output line is its ns per iteration.
    static func run(_ argv: [String]) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard let first = text.split(separator: "\n").first, let ns = Double(first) else {
            throw ValidationError("\(argv.joined(separator: " ")) printed no timing (status \(p.terminationStatus))")
        }
        return ns
    }

    /// A fresh folder of this run's own in the temporary folder.
    static func makeScratch() throws -> String {
        var template = Array((NSTemporaryDirectory() + "socktest-bench-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw ValidationError("cannot make a folder in \(NSTemporaryDirectory()): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    /// Builds scripts/bench-programs/NAME.c into `folder`.
    static func buildProgram(_ name: String, into folder: String) throws -> String {
        let source = try findSource(name + ".c")
        let out = folder + "/" + name
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-O2", "-o", out, source]
        try cc.run()
        cc.waitUntilExit()
        guard cc.terminationStatus == 0 else { throw ValidationError("cc failed on \(source)") }
        return out
    }

    /// scripts/bench-programs/FILE of the checkout this binary sits in (up to six folders up),
    /// or of the working directory (a build kept elsewhere, `--scratch-path`).
    static func findSource(_ file: String) throws -> String {
        var dirs: [String] = []
        var dir = here
        for _ in 0..<6 {
            dirs.append(dir)
            dir = (dir as NSString).deletingLastPathComponent
        }
        dirs.append(FileManager.default.currentDirectoryPath)
        for dir in dirs {
            let candidate = dir + "/scripts/bench-programs/" + file
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        throw ValidationError("scripts/bench-programs/\(file) not found above \(here) nor in the working directory")
    }

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}
