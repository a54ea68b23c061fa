import Foundation
import XCTest

/// `socktest-lua run`, `check` and `--help`, driven as a user would.
final class RunCommandTests: XCTestCase {
    func testHelpTeaches() throws {
        let top = try Tool.run(["--help"])
        XCTAssertEqual(top.status, 0)
        for word in ["run", "check", "recipes", "Exit status"] { XCTAssertTrue(top.stdout.contains(word), word) }
        let run = try Tool.run(["run", "--help"])
        XCTAssertEqual(run.status, 0)
        for word in ["--workload", "--recipe", "--seed", "--json", "echo:", "clients=N", "dial:", "addr=HOST:PORT", "Examples"] {
            XCTAssertTrue(run.stdout.contains(word), "run --help lacks \(word)")
        }
        let check = try Tool.run(["check", "--help"]), recipes = try Tool.run(["recipes", "--help"])
        for (name, help) in [("--help", top.stdout), ("run --help", run.stdout), ("check --help", check.stdout),
                             ("recipes --help", recipes.stdout)] {
            Self.assertReadable(help, name)
        }
    }

    /// Help laid out for an 80-column terminal: no line wider, and no prose line broken a second
    /// time (a long line followed by a stub of a word or two: the parser re-wrapping text that
    /// was already wrapped wider).
    static func assertReadable(_ help: String, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        for (i, text) in lines.enumerated() {
            if !text.hasPrefix("USAGE:") {      // the parser keeps the usage synopsis on one line
                XCTAssertLessThanOrEqual(text.count, 80, "\(name): too wide: \(text)", file: file, line: line)
            }
            guard i > 0, !text.isEmpty, !text.hasPrefix(" "), lines[i - 1].count >= 70 else { continue }
            XCTAssertGreaterThan(text.split(separator: " ").count, 2, "\(name): re-wrapped: \(lines[i - 1]) / \(text)",
                                 file: file, line: line)
        }
    }

    func testInjectedFaultsShowUpInTheReport() throws {
        let result = try Tool.run(["run", "scripts/examples/first-steps.lua", "--workload", "echo:clients=12", "--seed", "5", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = result.json
        let workload = try XCTUnwrap(json["workload"] as? [String: Any])
        let filters = try XCTUnwrap(json["filters"] as? [String: [String: Int]])
        XCTAssertEqual(workload["total"] as? Int, 12)
        // every(4) refuses 3 of the 12 connects; each refused client session fails with it.
        XCTAssertEqual(filters["connect"]?["failed"], 3)
        XCTAssertEqual((workload["failed"] as? [String: Int])?["ECONNREFUSED"], 3)
        XCTAssertEqual(workload["succeeded"] as? Int, 9)
        XCTAssertEqual(filters["accept"]?["failed"], 1, "nth(2) fails one accept; the server retries")
        let stats = try XCTUnwrap(json["stats"] as? [[String: Any]])
        XCTAssertTrue((stats.first?["text"] as? String)?.hasPrefix("(inet4, stream, default): opened=") ?? false)
        XCTAssertEqual((json["leaks"] as? [Any])?.count, 0)
        XCTAssertEqual(json["exit_status"] as? Int, 0)
        for key in ["p50", "p90", "p99", "max"] {
            XCTAssertNotNil((workload["latency_ms"] as? [String: Double])?[key])
        }

        let text = try Tool.run(["run", "scripts/examples/first-steps.lua", "--workload", "echo:clients=12", "--seed", "5"])
        XCTAssertEqual(text.status, 0)
        for line in ["12 client sessions: 9 succeeded, 3 failed", "ECONNREFUSED: 3", "latency ms: p50",
                     "connect    seen=12 failed=3", "leaks: none", "closefailed=0"] {
            XCTAssertTrue(text.stdout.contains(line), "report lacks '\(line)':\n\(text.stdout)")
        }
    }

    func testDialWorkloadSeesDelaysAndRefusals() throws {
        let script = try Tool.script("slow.lua", """
            local st = require("socktest")
            local n = 0
            st.set("connect", function(so)
              n = n + 1
              if n % 2 == 0 then return "ECONNREFUSED" end
              return st.delay(0.1)
            end)
            """)
        let result = try Tool.run(["run", script, "--workload", "dial:n=6,concurrency=3", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let workload = try XCTUnwrap(result.json["workload"] as? [String: Any])
        XCTAssertEqual(workload["succeeded"] as? Int, 3)
        XCTAssertEqual((workload["failed"] as? [String: Int])?["ECONNREFUSED"], 3)
        XCTAssertGreaterThanOrEqual((workload["latency_ms"] as? [String: Double])?["max"] ?? 0, 100)
        let filters = try XCTUnwrap(result.json["filters"] as? [String: [String: Int]])
        XCTAssertEqual(filters["connect"]?["delayed"], 3)
    }

    func testSelfDrivenScriptAndLeaks() throws {
        let ok = try Tool.run(["run", "scripts/examples/self-driven.lua"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("connected after 2 attempts"))
        XCTAssertTrue(ok.stdout.contains("leaks: none"))

        let leaky = try Tool.script("leaky.lua", """
            local net = require("socktest.net")
            local ln = assert(net.listen("tcp", "127.0.0.1:0"))
            """)
        let result = try Tool.run(["run", leaky, "--json"])
        XCTAssertEqual(result.status, 0)
        let leaks = try XCTUnwrap(result.json["leaks"] as? [[String: Any]])
        XCTAssertEqual(leaks.count, 1)
        XCTAssertEqual(leaks.first?["text"] as? String, "(inet4, stream, default): syscallerr=<nil>, socketerr=<nil>")
    }

    func testSameSeedSameRun() throws {
        let script = try Tool.script("flaky.lua", """
            local hit = socktest.chance(0.3)
            socktest.set("socket", function() if hit() then return "EMFILE" end end)
            """)
        func failures(_ seed: String) throws -> Int {
            let r = try Tool.run(["run", script, "--workload", "dial:n=40", "--seed", seed, "--json"])
            return ((r.json["workload"] as? [String: Any])?["failed"] as? [String: Int])?["EMFILE"] ?? -1
        }
        let a = try failures("11")
        XCTAssertEqual(a, try failures("11"))
        XCTAssertGreaterThan(a, 0)
    }

    /// The report starts on a line of its own even after a program whose output has no final
    /// newline (it used to read `200{"command":...`), whether stdout is a pipe or a file.
    func testTheReportStartsOnItsOwnLineAfterAProgramsOutput() throws {
        let json = try Tool.run(["run", "--recipe", "refuse:port=9", "--json", "--", "printf", "200"])
        XCTAssertEqual(json.status, 0, json.stderr)
        XCTAssertEqual(json.stdout.split(separator: "\n").first, "200", json.stdout)
        XCTAssertEqual(json.json["command"] as? [String], ["printf", "200"], "the last line is the JSON: \(json.stdout)")
        let text = try Tool.run(["run", "--recipe", "refuse:port=9", "--", "printf", "200"])
        XCTAssertTrue(text.stdout.hasPrefix("200\n"), text.stdout)
        // Into a file: its last byte is read back, so a program that ended its line gets no blank one.
        let file = Tool.scratchPath("out")
        for (program, expected) in [("printf 200", "200\n{"), ("echo 200", "200\n{"), ("true", "{")] {
            let r = try Tool.run(["-c", "'\(Tool.executable)' run --recipe refuse:port=9 --json -- \(program) > '\(file)'"],
                                 program: "/bin/sh")
            XCTAssertEqual(r.status, 0, r.stderr)
            let written = try String(contentsOfFile: file, encoding: .utf8)
            XCTAssertTrue(written.hasPrefix(expected), "\(program): \(written)")
        }
    }
}

/// Exit statuses and messages for bad input: 1 for script errors, 2 for usage errors.
final class BadInputTests: XCTestCase {
    func assertScriptFails(_ source: String, _ patterns: [String], workload: String? = "dial:n=1",
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let script = try Tool.script("bad.lua", source)
        var args = ["run", script]
        if let workload { args += ["--workload", workload] }
        let result = try Tool.run(args)
        XCTAssertEqual(result.status, 1, result.stderr, file: file, line: line)
        for pattern in patterns {
            XCTAssertTrue(result.stderr.contains(pattern), "stderr lacks '\(pattern)':\n\(result.stderr)", file: file, line: line)
        }
        XCTAssertTrue(result.stdout.contains("stats:"), "the report is still printed", file: file, line: line)
    }

    func testScriptErrorsExit1WithFileLineAndTraceback() throws {
        try assertScriptFails("local x = = 1", ["bad.lua:1: unexpected symbol"])
        try assertScriptFails("\nerror('boom')", ["bad.lua:2: boom", "stack traceback:"])
        try assertScriptFails("assert(1 == 2, 'math is broken')", ["bad.lua:1: math is broken"])
        try assertScriptFails("socktest.set('conect', nil)", ["bad.lua:1: bad argument #1 to 'set' (unknown filter type 'conect'"])
        try assertScriptFails("socktest.connect('x', '127.0.0.1:1')", ["bad argument #1 to 'connect' (integer expected, got string)"])
    }

    func testFilterErrorsExit1() throws {
        try assertScriptFails("socktest.set('connect', function(so)\n  return so.nope.x\nend)",
                              ["bad.lua:2: attempt to index a nil value", "stack traceback:"])
        try assertScriptFails("socktest.set('connect', function() return true end)",
                              ["bad.lua:1: filter for 'connect' returned a boolean"])
        try assertScriptFails("socktest.set('connect', function() return 'ENOPE' end)",
                              ["unknown errno name 'ENOPE'"])
        try assertScriptFails("socktest.set('connect', function()\n  while true do end\nend)",
                              ["bad.lua:2: filter exceeded its instruction budget"])
        try assertScriptFails("socktest.set('connect', function()\n  local t = {}\n  while true do t[#t+1] = ('x'):rep(4096) .. #t end\nend)",
                              ["ran out of memory"])
    }

    func testUsageErrorsExit2() throws {
        let cases: [([String], String)] = [
            (["run", "no-such-script.lua"], "no such script: no-such-script.lua"),
            (["run", "scripts/examples/first-steps.lua", "--frobnicate"], "Unknown option '--frobnicate'"),
            (["run", "scripts/examples/first-steps.lua", "--workload", "pingpong"], "unknown workload 'pingpong'"),
            (["run", "scripts/examples/first-steps.lua", "--workload", "echo:client=3"], "workload 'echo': unknown option 'client'"),
            (["run", "scripts/examples/first-steps.lua", "--workload", "dial:n=zero"], "option 'n' must be a whole number"),
            (["run", "scripts/examples/first-steps.lua", "--workload", "dial:addr=example.com:80"], "option 'addr' must be HOST:PORT"),
            (["run", "scripts/examples/first-steps.lua", "--seed", "-3"], "seed"),
            (["run", "--recipe", "no-such-recipe"], "unknown recipe 'no-such-recipe'"),
            (["run"], "nothing to run"),
            (["check", "missing.lua"], "no such script: missing.lua"),
            (["frob"], "Unexpected argument 'frob'"),
        ]
        for (args, message) in cases {
            let result = try Tool.run(args)
            XCTAssertEqual(result.status, 2, "\(args): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(message), "\(args): stderr lacks '\(message)':\n\(result.stderr)")
        }
    }

    func testCheckCompilesWithoutRunning() throws {
        let good = try Tool.script("good.lua", "error('would fail if it ran')")
        let ok = try Tool.run(["check", good])
        XCTAssertEqual(ok.status, 0)
        XCTAssertTrue(ok.stdout.contains("good.lua: ok"))
        let bad = try Tool.script("bad.lua", "\nlocal = 3")
        let fail = try Tool.run(["check", bad])
        XCTAssertEqual(fail.status, 1)
        XCTAssertTrue(fail.stderr.contains("bad.lua:2:"), fail.stderr)
    }

    func testExamplesAllRun() throws {
        for example in ["first-steps", "after-filters", "delays", "self-driven"] {
            let r = try Tool.run(["run", "scripts/examples/\(example).lua", "--workload", "echo:clients=4", "--seed", "1"])
            XCTAssertEqual(r.status, 0, "\(example): \(r.stderr)")
        }
    }
}
