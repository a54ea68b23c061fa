import Foundation
import Glibc
import XCTest

/// `run --trace`, `--record`, `--replay` and the report's warnings (SPEC §8).
final class TraceTests: XCTestCase {
    /// A self-driven workload whose filtered calls are known in advance: the bind is delayed,
    /// the second connect refused, the first close told EIO by an after-filter.
    static let knownWorkload = """
        local st = require("socktest")
        local net = require("socktest.net")
        local n = 0
        st.set("bind", function() return st.delay(0.05) end)
        st.set("connect", function() n = n + 1; if n == 2 then return "ECONNREFUSED" end end)
        st.set("accept", function() end)
        local first = st.once()
        st.set("close", function()
          if first() then return function(so) so.err = "EIO" end end
        end)
        local l = assert(net.listen("tcp", "127.0.0.1:0"))
        local a = assert(net.dial("tcp", l:addr()))
        local b, err = net.dial("tcp", l:addr())
        assert(b == nil and err == "ECONNREFUSED", tostring(err))
        local c = assert(l:accept())
        c:close(); a:close(); l:close()
        """

    /// (call, verdict, result) of each filtered call, in order: socket() and listen() have no
    /// filter, so no line. The refused dial closes its socket (the close that gets EIO).
    static let expected: [(String, String, String)] = [
        ("bind", "delay 0.05", "ok"),
        ("connect", "pass", "ok"),
        ("connect", "fail ECONNREFUSED", "ECONNREFUSED"),
        ("close", "rewrite nil->EIO", "EIO"),
        ("accept", "pass", "fd"),
        ("close", "pass", "ok"),
        ("close", "pass", "ok"),
        ("close", "pass", "ok"),
    ]

    func testTraceLinesMatchAKnownWorkloadsCallsOneForOne() throws {
        let script = try Tool.script("known.lua", Self.knownWorkload)
        let text = try Tool.run(["run", script, "--trace", "--seed", "1"])
        XCTAssertEqual(text.status, 0, text.stderr)
        // "0.001234 pid 42 connect fd 4 127.0.0.1:40000 fail ECONNREFUSED -> ECONNREFUSED"
        let lines = text.stderr.split(separator: "\n").filter { $0.first?.isNumber == true }
        XCTAssertEqual(lines.count, Self.expected.count, text.stderr)
        for (line, (call, verdict, result)) in zip(lines, Self.expected) {
            let words = line.split(separator: " ").map(String.init)
            XCTAssertNotNil(Double(words[0]), String(line))
            XCTAssertEqual(words[1...2], ["pid", "\(words[2])"])
            XCTAssertNotNil(Int32(words[2]))
            XCTAssertEqual(words[3], call, String(line))
            XCTAssertTrue(line.contains(" \(verdict) -> \(result)"), "\(line) should say \(verdict) -> \(result)")
        }
        XCTAssertTrue(lines[1].contains("127.0.0.1:"), "a connect shows its address")

        let file = Tool.scratchPath("trace") + ".jsonl"
        let json = try Tool.run(["run", script, "--trace=\(file)", "--json", "--seed", "1"])
        XCTAssertEqual(json.status, 0, json.stderr)
        defer { unlink(file) }
        let objects = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map { line in
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
        }
        XCTAssertEqual(objects.count, Self.expected.count)
        var lastTime = 0.0
        for (object, (call, verdict, result)) in zip(objects, Self.expected) {
            for key in ["time", "pid", "call", "fd", "addr", "verdict", "result"] { XCTAssertNotNil(object[key], key) }
            XCTAssertEqual(object["call"] as? String, call)
            XCTAssertEqual(object["verdict"] as? String, verdict)
            XCTAssertTrue((object["result"] as? String ?? "").hasPrefix(result), "\(object)")
            let time = try XCTUnwrap(object["time"] as? Double)
            XCTAssertGreaterThanOrEqual(time, lastTime, "lines are written as calls complete")
            lastTime = time
        }
        // One line per call each filter saw: the report's counts agree.
        let filters = try XCTUnwrap(json.json["filters"] as? [String: [String: Int]])
        for (type, counts) in filters {
            XCTAssertEqual(objects.filter { $0["call"] as? String == type }.count, counts["seen"], type)
        }
    }

    func testTraceIsSilentWhenOff() throws {
        let script = try Tool.script("known.lua", Self.knownWorkload)
        let r = try Tool.run(["run", script, "--seed", "1"])
        XCTAssertEqual(r.status, 0)
        XCTAssertFalse(r.stderr.contains(" -> "), r.stderr)
    }

    /// connect site → verdict, from a JSON trace.
    func connectVerdicts(_ path: String) throws -> [String: String] {
        var verdicts: [String: String] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard object["call"] as? String == "connect", let site = object["site"] as? [String: Any] else { continue }
            let key = "\(site["addr"]!)#\(site["conn"]!)/\(site["nth"]!)"
            XCTAssertNil(verdicts[key], "one connect per site")
            verdicts[key] = object["verdict"] as? String
        }
        return verdicts
    }

    func testRecordedFaultsOfAMultiThreadedProgramReplayPerConnection() throws {
        let (_, port) = try listener()
        let client = try build("client", static: true)
        let script = try Tool.script("chance.lua", """
            local st = require("socktest")
            local hit = st.chance(0.3)
            st.set("connect", function(so)
              if so.family == st.AF_INET and hit() then return "ECONNREFUSED" end
            end)
            """)
        let schedule = Tool.scratchPath("schedule") + ".json"
        let trace = Tool.scratchPath("trace") + ".jsonl"
        defer { unlink(schedule); unlink(trace) }
        let recorded = try Tool.run(["run", script, "--record", schedule, "--trace=\(trace)", "--json", "--",
                                     client, "\(port)", "40", "4"])
        let faults = try connectVerdicts(trace)
        XCTAssertEqual(faults.count, 40, recorded.stderr)
        let refused = faults.values.filter { $0 == "fail ECONNREFUSED" }.count
        XCTAssertGreaterThan(refused, 0, "chance(0.3) of 40 refused some")
        XCTAssertLessThan(refused, 40)
        XCTAssertEqual(recorded.status, Int32(refused), "the client exits with its failed connects")
        XCTAssertEqual(recorded.json["replay"] as? String, "socktest-lua run --replay \(schedule)")
        let file = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: schedule))) as? [String: Any])
        XCTAssertEqual((file["decisions"] as? [Any])?.count, refused, "one decision per fault")
        XCTAssertEqual(file["seed"] as? Int, recorded.json["seed"] as? Int)

        for round in 1...5 {
            let replayed = try Tool.run(["run", "--replay", schedule, "--trace=\(trace)", "--json"])
            XCTAssertEqual(try connectVerdicts(trace), faults, "round \(round): the same fault on each connection")
            XCTAssertEqual(replayed.status, recorded.status, "round \(round): \(replayed.stderr)")
            XCTAssertEqual(replayed.json["warnings"] as? [String], [], "every recorded decision met its call")
            XCTAssertEqual(replayed.json["replayed"] as? [String: Int], ["decisions": refused, "unmet": 0])
        }
    }

    func testReplaySaysWhichRecordedDecisionsMetNoCall() throws {
        let (_, port) = try listener()
        let client = try build("client", static: true)
        let script = try Tool.script("every.lua", """
            local hit = socktest.every(2)
            socktest.set("connect", function(so) if so.family == socktest.AF_INET and hit() then return "ECONNREFUSED" end end)
            """)
        let schedule = Tool.scratchPath("schedule") + ".json"
        defer { unlink(schedule) }
        let recorded = try Tool.run(["run", script, "--record", schedule, "--", client, "\(port)", "8"])
        XCTAssertEqual(recorded.status, 4)
        XCTAssertTrue(recorded.stdout.hasSuffix("replay: socktest-lua run --replay \(schedule)\n"), recorded.stdout)
        // The same schedule against a run that makes only 4 connects: decisions for the 6th
        // and 8th connections meet nothing.
        let replayed = try Tool.run(["run", "--replay", schedule, "--json", "--", client, "\(port)", "4"])
        XCTAssertEqual(replayed.status, 2, "the 2nd and 4th refused as recorded")
        let warnings = try XCTUnwrap(replayed.json["warnings"] as? [String])
        XCTAssertEqual(warnings.count, 2, "\(warnings)")
        XCTAssertTrue(warnings.allSatisfy { $0.hasPrefix("recorded decision met no call: connect inet4 stream") }, "\(warnings)")
        XCTAssertTrue(warnings[0].contains("#6)") && warnings[1].contains("#8)"), "\(warnings)")
        let text = try Tool.run(["run", "--replay", schedule, "--", client, "\(port)", "4"])
        XCTAssertTrue(text.stdout.contains("  replayed 4 recorded decisions, 2 met their call"), text.stdout)
    }

    func testSeedWithReplayIsAUsageError() throws {
        let schedule = try Tool.script("s.json", #"{"version": 1, "seed": 3, "recipes": ["refuse"], "decisions": []}"#)
        let r = try Tool.run(["run", "--replay", schedule, "--seed", "4", "--workload", "dial:n=1"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--seed and --replay"), r.stderr)
        let missing = try Tool.run(["run", "--replay", "/nonexistent/schedule.json"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/schedule.json"), missing.stderr)
        let broken = try Tool.run(["run", "--replay", try Tool.script("b.json", #"{"seed": 1}"#)])
        XCTAssertEqual(broken.status, 2)
        XCTAssertTrue(broken.stderr.contains("not a schedule"), broken.stderr)
    }

    func testANeverFiredFilterAndAnUnmatchedPortAreWarnedAbout() throws {
        let quiet = try Tool.script("quiet.lua", """
            socktest.set("accept", function(so) if so.family == socktest.AF_INET6 then return "EMFILE" end end)
            """)
        let r = try Tool.run(["run", quiet, "--recipe", "refuse:port=9", "--workload", "echo:clients=2,rounds=1", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let warnings = try XCTUnwrap(r.json["warnings"] as? [String])
        XCTAssertTrue(warnings.contains("filter for 'accept' injected nothing (saw 2 calls)"), "\(warnings)")
        XCTAssertTrue(warnings.contains("filter for 'connect' injected nothing (saw 2 calls)"), "\(warnings)")
        XCTAssertTrue(warnings.contains("recipe refuse: port=9 matched no call"), "\(warnings)")

        let text = try Tool.run(["run", quiet, "--recipe", "refuse:port=9", "--workload", "echo:clients=2,rounds=1"])
        XCTAssertTrue(text.stdout.contains("warnings:\n"), text.stdout)
        XCTAssertTrue(text.stdout.contains("  recipe refuse: port=9 matched no call"), text.stdout)

        // A filter that did inject, and a port that was used, are not warned about.
        let (_, port) = try listener()
        let used = try Tool.run(["run", "--recipe", "refuse:port=\(port)", "--workload", "dial:addr=127.0.0.1:\(port),n=2", "--json"])
        XCTAssertEqual(used.json["warnings"] as? [String], [], used.stdout)
    }
}
