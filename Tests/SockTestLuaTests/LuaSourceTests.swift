import Foundation
import XCTest

/// The Lua parts of the module are real .lua files (Sources/SockTestLua/lua), embedded at build
/// time; here every one of them, and every Lua file the project ships, passes `luac -p`.
final class LuaSourceTests: XCTestCase {
    func testEveryLuaFileCompilesWithLuac() throws {
        let luac = ["/usr/bin/luac5.4", "/usr/bin/luac"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let luac else { return XCTFail("luac5.4 is missing: apt-get install lua5.4 (scripts/test does)") }
        var files: [String] = []
        for folder in ["Sources/SockTestLua/lua", "scripts/recipes", "scripts/examples", "Tests/lua", "Tests/lua/lib"] {
            let path = Repo.root + "/" + folder
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where name.hasSuffix(".lua") {
                files.append(path + "/" + name)
            }
        }
        XCTAssertGreaterThanOrEqual(files.filter { $0.contains("/SockTestLua/lua/") }.count, 4)
        for file in files {     // one at a time: Debian's luac 5.4.4 -p frees twice with several files
            let process = Process()
            process.executableURL = URL(fileURLWithPath: luac)
            process.arguments = ["-p", file]
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "\(file): \(message)")
        }
    }
}
