import Foundation
import XCTest

/// The one binary to carry (`scripts/package`): unpacked into a folder outside the checkout and
/// run with an empty environment (`env -i`: no PATH, so no Swift, and no SOCKTEST_LUA_PATH), it
/// runs a recipe against a workload and lists its recipes from beside itself. The release build
/// goes to .build-package in the checkout, so a second run only relinks what changed.
final class PackageTests: XCTestCase {
    func testThePackagedBinaryRunsInACleanEnvironment() throws {
        let build = Process()
        build.executableURL = URL(fileURLWithPath: Tool.repo + "/scripts/package")
        build.currentDirectoryURL = URL(fileURLWithPath: Tool.repo)
        // The build's progress goes to a file (a pipe nobody drains would fill and stall it).
        let log = Tool.scratchPath("package.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let out = Pipe()
        build.standardOutput = out
        build.standardError = FileHandle(forWritingAtPath: log)
        try build.run()
        let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        build.waitUntilExit()
        let progress = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssertEqual(build.terminationStatus, 0, String(progress.suffix(3000)))
        let tarball = printed.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(tarball.hasSuffix("socktest-lua-linux-x86_64.tar.gz"), printed)

        let place = Tool.scratchPath("unpacked")
        try FileManager.default.createDirectory(atPath: place, withIntermediateDirectories: true)
        XCTAssertFalse(place.hasPrefix(Tool.repo), "unpacked outside the checkout")
        XCTAssertEqual(try Tool.run(["-xzf", tarball, "-C", place], program: "/bin/tar").status, 0)
        let bin = place + "/socktest-lua/bin/socktest-lua"

        let linked = try Tool.run([bin], program: "/usr/bin/ldd")
        for library in ["swift", "lua", "Foundation", "dispatch", "icu"] {
            XCTAssertFalse(linked.stdout.lowercased().contains(library.lowercased()), "loads \(library):\n\(linked.stdout)")
        }

        let run = try Tool.run(["-i", bin, "run", "--recipe", "refuse", "--workload", "echo", "--json"], in: "/",
                               program: "/usr/bin/env")
        XCTAssertEqual(run.status, 0, run.stderr)
        let workload = run.json["workload"] as? [String: Any]
        XCTAssertEqual(workload?["failed"] as? [String: Int], ["ECONNREFUSED": 8])

        let recipes = try Tool.run(["-i", bin, "recipes"], in: "/", program: "/usr/bin/env")
        XCTAssertEqual(recipes.status, 0, recipes.stderr)
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Tool.repo + "/scripts/recipes")
            .filter { $0.hasSuffix(".lua") }.map { String($0.dropLast(4)) }.sorted()
        XCTAssertEqual(recipes.stdout.split(separator: "\n").map { String($0.split(separator: " ")[0]) }, shipped)

        let annotations = try FileManager.default.contentsOfDirectory(atPath: place + "/socktest-lua/share/socktest-lua/annotations")
        XCTAssertEqual(Set(annotations), Set(try FileManager.default.contentsOfDirectory(atPath: Tool.repo + "/scripts/annotations")))
    }
}
