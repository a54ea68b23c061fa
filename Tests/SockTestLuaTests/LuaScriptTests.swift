import SockTestCore
import SockTestLua
import TestSupport
import XCTest

/// Runs every Lua-level test in Tests/lua: each script must run without error, leave no script
/// error behind, and close every socket it opened.
final class LuaScriptTests: XCTestCase {
    func runScript(_ name: String) throws {
        let (sw, host) = try makeHost()
        let before = openSockets() - Unanswered.holeSockets
        do {
            try host.load(file: "\(Repo.luaTests)/\(name).lua")
        } catch {
            XCTFail("\(name).lua: \(error)")
        }
        XCTAssertEqual(host.scriptErrors, [], name)
        XCTAssertEqual(sw.sockets(), [:], "\(name).lua left sockets open")
        // The black hole of a connect no peer answers stays open for the process (two sockets a family).
        XCTAssertEqual(openSockets() - Unanswered.holeSockets, before, "\(name).lua leaked sockets")
    }

    func testModule() throws { try runScript("module") }
    func testCalls() throws { try runScript("calls") }
    func testFilters() throws { try runScript("filters") }
    func testHelpers() throws { try runScript("helpers") }
    func testNet() throws { try runScript("net") }
    func testRecipes() throws { try runScript("recipes") }
    func testFuzz() throws { try runScript("fuzz") }
    func testDataPath() throws { try runScript("datapath") }

    func testEveryScriptInTheFolderHasATest() throws {
        let names = try FileManagerLite.list(Repo.luaTests).filter { $0.hasSuffix(".lua") }
        XCTAssertEqual(Set(names), ["module.lua", "calls.lua", "filters.lua", "helpers.lua", "net.lua", "recipes.lua", "fuzz.lua", "datapath.lua"])
    }
}

enum FileManagerLite {
    static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw Errno(rawValue: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

import Glibc
