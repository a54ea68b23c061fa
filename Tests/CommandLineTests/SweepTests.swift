import Foundation
import Glibc
import XCTest

/// `socktest-lua sweep` (SPEC §9) against Tests/programs/acceptor.c: a server that crashes when
/// accept fails with EMFILE and hangs when it fails with ENOBUFS (buggy), or retries (good).
final class SweepTests: XCTestCase {
    /// A folder to run the sweep in (its replay schedules land in socktest-sweep/ there).
    func folder() throws -> String {
        let dir = Tool.scratchPath("sweep")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// (errno, mode) → outcome, from `sweep --json`.
    func outcomes(_ r: Tool.Result) throws -> [String: String] {
        let runs = try XCTUnwrap(r.json["runs"] as? [[String: Any]], r.stdout + r.stderr)
        var outcomes: [String: String] = [:]
        for run in runs {
            XCTAssertEqual(run["call"] as? String, "accept")
            outcomes["\(run["errno"]!) \(run["mode"]!)"] = run["outcome"] as? String
        }
        return outcomes
    }

    /// Processes whose command line names `path` (a program the sweep should have reaped).
    func processes(running path: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            return String(decoding: cmdline, as: UTF8.self).contains(path) ? pid : nil
        }
    }

    func testSweepFindsTheCrashOnAcceptEMFILEAndTheHangTheSameWithOneJobOrFour() throws {
        let program = try build("acceptor")
        let dir = try folder()
        let junit = dir + "/sweep.xml"
        let one = try Tool.run(["sweep", "--calls", "accept", "--timeout", "2", "--jobs", "1", "--json", "--junit", junit,
                                "--", program, "buggy"], in: dir)
        XCTAssertEqual(one.status, 1, "a run crashed: \(one.stderr)")
        let byErrno = try outcomes(one)
        // Every errno of the auto table for accept, transient; persistent without EINTR, EAGAIN.
        XCTAssertEqual(Set(byErrno.keys), [
            "EMFILE transient", "ENFILE transient", "ECONNABORTED transient", "ENOBUFS transient",
            "EAGAIN transient", "EINTR transient",
            "EMFILE persistent", "ENFILE persistent", "ECONNABORTED persistent", "ENOBUFS persistent",
        ])
        XCTAssertEqual(byErrno["EMFILE transient"], "crashed SIGSEGV")
        XCTAssertEqual(byErrno["EMFILE persistent"], "crashed SIGSEGV")
        XCTAssertEqual(byErrno["ENOBUFS transient"], "hung")
        XCTAssertEqual(byErrno["ENOBUFS persistent"], "hung")
        XCTAssertEqual(byErrno["ECONNABORTED transient"], "survived", "one failed accept is retried")
        XCTAssertEqual(byErrno["ENFILE persistent"], "exited 1", "it gives up after 100 tries")
        XCTAssertEqual(processes(running: program), [], "nothing left behind by the hung runs")

        let four = try Tool.run(["sweep", "--calls", "accept", "--timeout", "2", "--jobs", "4", "--json",
                                 "--", program, "buggy"], in: dir)
        XCTAssertEqual(try outcomes(four), byErrno, "the same classification with --jobs 4")

        // JUnit an XML parser accepts: one testcase per run, the crashed and hung ones failures
        // carrying the program's last output.
        let check = try Tool.run(["-c", """
            import sys, xml.etree.ElementTree as E
            root = E.parse(sys.argv[1]).getroot()
            cases = root.findall(".//testcase")
            failures = [c.find("failure") for c in cases if c.find("failure") is not None]
            print(len(cases), len(failures), sum("accept: Too many open files" in (f.text or "") for f in failures))
            """, junit], program: "/usr/bin/python3")
        XCTAssertEqual(check.stdout, "10 4 2\n", check.stderr)

        // The text names call and errno, with a replay command that crashes the program again.
        let text = try Tool.run(["sweep", "--calls", "accept", "--errnos", "EMFILE", "--mode", "transient",
                                 "--", program, "buggy"], in: dir)
        XCTAssertEqual(text.status, 1)
        let lines = text.stdout.split(separator: "\n").map(String.init)
        let crashed = try XCTUnwrap(lines.firstIndex(of: "crashed SIGSEGV: 1 run"), text.stdout)
        XCTAssertTrue(lines[crashed + 1].hasPrefix("  accept inet4 stream"), text.stdout)
        XCTAssertTrue(lines[crashed + 1].hasSuffix("EMFILE  transient"), text.stdout)
        let replay = lines[crashed + 2].trimmingCharacters(in: .whitespaces)
        XCTAssertTrue(replay.hasPrefix("replay: socktest-lua run --replay '{"), replay)
        let bin = (Tool.executable as NSString).deletingLastPathComponent
        let again = try Tool.run(["-c", String(replay.dropFirst("replay: ".count))], in: dir,
                                 environment: ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")],
                                 program: "/bin/sh")
        XCTAssertEqual(again.status, 128 + SIGSEGV, "the replay crashes it again: \(again.stderr)")
        XCTAssertTrue(again.stderr.contains("accept: Too many open files"), again.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["sweep.xml"], "a sweep leaves no files")
    }

    func testACorrectProgramSurvivesEveryRun() throws {
        let program = try build("acceptor")
        let r = try Tool.run(["sweep", "--calls", "accept", "--mode", "transient", "--jobs", "2", "--json",
                              "--", program, "good"], in: try folder())
        XCTAssertEqual(r.status, 0, r.stderr)
        let byErrno = try outcomes(r)
        XCTAssertEqual(byErrno.count, 6)
        XCTAssertEqual(Set(byErrno.values), ["survived"], "\(byErrno)")
    }

    func testReadsAreSweptWhenAskedForAndOnlyThen() throws {
        let dir = try folder()
        let program = dir + "/reader.py"
        try """
            import socket
            l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
            c = socket.create_connection(l.getsockname()); s, _ = l.accept()
            s.sendall(b"hello")
            print(c.recv(10))
            """.write(toFile: program, atomically: true, encoding: .utf8)
        let reads = try Tool.run(["sweep", "--calls", "read", "--mode", "transient", "--json", "--", "python3", program], in: dir)
        let runs = try XCTUnwrap(reads.json["runs"] as? [[String: Any]], reads.stdout + reads.stderr)
        var byErrno: [String: String] = [:]
        for run in runs where run["call"] as? String == "read" { byErrno["\(run["errno"]!)"] = run["outcome"] as? String }
        XCTAssertEqual(byErrno["ECONNRESET"], "exited 1", "\(runs)")
        XCTAssertEqual(byErrno["EINTR"], "survived", "Python retries EINTR itself: \(runs)")
        XCTAssertEqual(Set(byErrno.keys), ["ECONNRESET", "ETIMEDOUT", "EAGAIN", "EINTR"])
        // Without --calls the data path is not swept (nor trapped).
        let plain = try Tool.run(["sweep", "--mode", "transient", "--max-runs", "50", "--json", "--", "python3", program], in: dir)
        let calls = Set((plain.json["runs"] as? [[String: Any]] ?? []).compactMap { $0["call"] as? String })
        XCTAssertFalse(calls.isEmpty, plain.stdout + plain.stderr)
        XCTAssertTrue(calls.isDisjoint(with: ["read", "write", "shutdown"]), "\(calls)")
    }

    func testStrictAndMaxRuns() throws {
        let program = try build("acceptor")
        let dir = try folder()
        // A correct program that gives up (exit 1) when accept keeps failing: not a failure of
        // the sweep, unless --strict.
        let lenient = try Tool.run(["sweep", "--calls", "accept", "--errnos", "ENFILE", "--mode", "persistent",
                                    "--", program, "good"], in: dir)
        XCTAssertEqual(lenient.status, 0, lenient.stdout + lenient.stderr)
        XCTAssertTrue(lenient.stdout.contains("exited 1: 1 run"), lenient.stdout)
        let strict = try Tool.run(["sweep", "--calls", "accept", "--errnos", "ENFILE", "--mode", "persistent", "--strict",
                                   "--", program, "good"], in: dir)
        XCTAssertEqual(strict.status, 1, strict.stdout)
        XCTAssertTrue(strict.stdout.contains("replay: socktest-lua run --replay"), "a strict failure gets its replay command")

        let bounded = try Tool.run(["sweep", "--calls", "accept", "--mode", "transient", "--max-runs", "2", "--json",
                                    "--", program, "good"], in: dir)
        XCTAssertEqual((bounded.json["runs"] as? [Any])?.count, 2, bounded.stdout)
        XCTAssertEqual(bounded.json["planned"] as? Int, 6)
        let text = try Tool.run(["sweep", "--calls", "accept", "--mode", "transient", "--max-runs", "2",
                                 "--", program, "good"], in: dir)
        XCTAssertTrue(text.stdout.contains("only the first 2 of 6 runs were made (--max-runs 2)"), text.stdout)
    }

    func testAKilledSweepLeavesNoRunBehind() throws {
        let program = try build("acceptor")
        for signo in [SIGKILL, SIGINT] { try killSweep(program, with: signo) }
    }

    /// Starts a sweep whose run hangs, kills it with `signo`, and checks that its run and the
    /// program died with it; after SIGINT, that its scratch folder is gone too.
    func killSweep(_ program: String, with signo: Int32) throws {
        let tmp = try folder()
        let sweep = Process()
        sweep.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": tmp]) { $1 }
        sweep.executableURL = URL(fileURLWithPath: Tool.executable)
        sweep.arguments = ["sweep", "--calls", "accept", "--errnos", "ENOBUFS", "--mode", "transient", "--timeout", "60",
                           "--", program, "buggy"]
        sweep.currentDirectoryURL = URL(fileURLWithPath: try folder())
        sweep.standardOutput = Tool.devNull()
        sweep.standardError = Tool.devNull()
        try sweep.run()
        // The discovery run ends; the run that fails accept with ENOBUFS hangs (pause()).
        let deadline = Date().addingTimeInterval(20)
        var hung = false
        while Date() < deadline && !hung {
            usleep(100_000)
            hung = processes(running: program).count >= 1 && sweep.isRunning
        }
        XCTAssertTrue(hung, "the hanging run started")
        usleep(500_000)
        kill(sweep.processIdentifier, signo)
        sweep.waitUntilExit()
        var left = processes(running: program)
        for _ in 0..<50 where !left.isEmpty {
            usleep(100_000)
            left = processes(running: program)
        }
        XCTAssertEqual(left, [], "the run and its program died with the sweep (\(signo))")
        if signo == SIGINT {
            XCTAssertEqual(sweep.terminationStatus, 128 + SIGINT)
            let kept = try FileManager.default.contentsOfDirectory(atPath: tmp).filter { $0.hasPrefix("socktest-sweep-") }
            XCTAssertEqual(kept, [], "Ctrl-C removes the sweep's scratch folder")
        }
    }

    func testUsageErrors() throws {
        for (arguments, message) in [
            (["sweep", "--calls", "accept"], "COMMAND"),
            (["sweep", "--mode", "sometimes", "--", "true"], "--mode"),
            (["sweep", "--calls", "conect", "--", "true"], "conect"),
            (["sweep", "--errnos", "EMFILE,ENOPE", "--", "true"], "ENOPE"),
            (["sweep", "--jobs", "0", "--", "true"], "--jobs"),
        ] {
            let r = try Tool.run(arguments)
            XCTAssertEqual(r.status, 2, "\(arguments)")
            XCTAssertTrue(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
    }
}
