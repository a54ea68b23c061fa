import Foundation
import XCTest

/// socktest-bench runs every case and reports ns per iteration and ratios (tiny counts here:
/// this checks the harness, not the numbers — those are for scripts/bench).
final class BenchTests: XCTestCase {
    func testBenchReportsEveryCase() throws {
        let bench = (Tool.executable as NSString).deletingLastPathComponent + "/socktest-bench"
        // Its own temporary folder, to see that the programs and script it writes are removed.
        let tmp = Tool.scratchPath("tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let result = try Tool.run(["--w1", "200", "--w2", "50", "--external-w1", "200", "--external-w2", "50",
                                     "--w3", "1", "--external-w3", "1", "--repetitions", "1", "--external", "--json"],
                                  environment: ["TMPDIR": tmp], program: bench)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), [], "left in its temporary folder")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let cases = try XCTUnwrap(json["cases"] as? [[String: Any]])
        let names = Set(cases.compactMap { $0["name"] as? String })
        for workload in ["W1", "W2"] {
            for name in ["raw", "switch, no filter", "switch, no-op Swift filter on every call",
                         "floor: raw + a bare Lua call per call",
                         "floor: switch + a guarded, budgeted Lua call per call", "switch, Lua filter on every call",
                         "switch, Lua after-filter on every call", "raw, 2 threads", "switch, Lua filter, 2 threads",
                         "switch, Lua filter on every call, --trace to /dev/null",
                         "program, native", "program, socktest-lua run (no-op connect filter)",
                         "program, floor: trap + continue", "program, floor: trap + calls made on its behalf",
                         "program, floor: trap + continue + the books' system calls"] {
                XCTAssertTrue(names.contains("\(workload) \(name)"), "missing \(workload) \(name)")
            }
        }
        // The data path: in-process, and a program with and without data-path filters beside the
        // floor that traps the same calls.
        for name in ["raw", "switch, no data-path filter", "switch, no-op Lua filter on read and write",
                     "program, native", "program, socktest-lua run (no-op connect filter)",
                     "program, socktest-lua run (no-op read and write filters)", "program, floor: trap + continue",
                     "program, floor: trap + continue, data path trapped"] {
            XCTAssertTrue(names.contains("W3 \(name)"), "missing W3 \(name)")
        }
        // The filter path with the trace off (a nil check) beside the same with it on.
        for name in ["W0 switch, Lua filter", "W0 switch, Lua filter, --trace to /dev/null"] {
            XCTAssertTrue(names.contains(name), "missing \(name)")
        }
        for c in cases {
            XCTAssertGreaterThan(c["nsPerIteration"] as? Double ?? 0, 0)
            XCTAssertGreaterThan(c["ratio"] as? Double ?? 0, 0)
        }
        XCTAssertEqual(cases.first { $0["name"] as? String == "W1 raw" }?["ratio"] as? Double, 1)
        // External cases: their ratio to the trap floor of the same rounds, as the targets are set.
        for workload in ["W1", "W2"] {
            let ratio = { (name: String) in cases.first { $0["name"] as? String == "\(workload) program, \(name)" }?["toFloor"] as? Double }
            XCTAssertEqual(ratio("floor: trap + continue"), 1)
            XCTAssertGreaterThan(ratio("socktest-lua run (no-op connect filter)") ?? 0, 0)
            XCTAssertNil(cases.first { $0["name"] as? String == "\(workload) raw" }?["toFloor"], "in-process cases have no trap floor")
        }
        // The text form: every case named whole, its numbers in aligned columns.
        let text = try Tool.run(["--w1", "200", "--w2", "50", "--external-w1", "200", "--external-w2", "50",
                                 "--w3", "1", "--external-w3", "1", "--repetitions", "1", "--external"], program: bench)
        XCTAssertEqual(text.status, 0, text.stderr)
        let rows = text.stdout.split(separator: "\n").dropFirst()
        XCTAssertEqual(rows.count, cases.count)
        for name in names { XCTAssertTrue(rows.contains { $0.hasPrefix(name + " ") }, "\(name) is not printed whole") }
        XCTAssertEqual(Set(rows.map(\.count)).count, 1, "columns not aligned:\n\(text.stdout)")
        let help = try Tool.run(["--help"], program: bench)
        XCTAssertEqual(help.status, 0)
        RunCommandTests.assertReadable(help.stdout, "socktest-bench --help")
    }
}
