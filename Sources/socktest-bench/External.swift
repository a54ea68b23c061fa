import ArgumentParser
import Foundation

/// External-program mode: the C workload program run natively, under `socktest-lua run` with a
/// no-op connect filter, and under `strace --seccomp-bpf` with an injection rule that never
/// fires (the nearest peer), when strace is installed.
enum External {
    static let here: String = {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (me as NSString).deletingLastPathComponent
    }()

    static func measure(_ workload: Workload, iterations: Int, repetitions: Int) throws -> [CaseResult] {
        let program = try buildProgram()
        let script = NSTemporaryDirectory() + "socktest-bench-noop.lua"
        try #"socktest.set("connect", function(so) end)"#.write(toFile: script, atomically: true, encoding: .utf8)
        let arg = workload == .w1 ? "w1" : "w2"
        var cases: [(String, [String])] = [
            ("program, native", [program, arg, "\(iterations)"]),
            ("program, socktest-lua run (no-op connect filter)", [here + "/socktest-lua", "run", script, "--", program, arg, "\(iterations)"]),
        ]
        if let strace = which("strace") {
            // strace 6.1 caps when= at 65535: a rule for call 65535+ never fires in these runs.
            cases.append(("program, strace --seccomp-bpf (no-op inject)", [
                strace, "-f", "-qq", "-o", "/dev/null", "--seccomp-bpf",
                "-e", "trace=socket,connect,accept,accept4,close",
                "-e", "inject=connect:error=ECONNREFUSED:when=65535", program, arg, "\(min(iterations, 60_000))"]))
        }
        var samples = Array(repeating: [Double](), count: cases.count)
        for _ in 0..<repetitions {
            for (i, c) in cases.enumerated() { samples[i].append(try run(c.1)) }
        }
        let native = median(samples[0])
        return cases.enumerated().map { i, c in
            CaseResult(workload: workload, name: "\(workload.rawValue) \(c.0)", nsPerIteration: median(samples[i]),
                       ratio: median(samples[i]) / native, samples: samples[i])
        }
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

    static func buildProgram() throws -> String {
        let source = try findSource()
        let out = NSTemporaryDirectory() + "socktest-bench-workload"
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-O2", "-o", out, source]
        try cc.run()
        cc.waitUntilExit()
        guard cc.terminationStatus == 0 else { throw ValidationError("cc failed on \(source)") }
        return out
    }

    static func findSource() throws -> String {
        var dir = here
        for _ in 0..<6 {
            let candidate = dir + "/scripts/bench-programs/workload.c"
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            dir = (dir as NSString).deletingLastPathComponent
        }
        throw ValidationError("scripts/bench-programs/workload.c not found above \(here)")
    }

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}
