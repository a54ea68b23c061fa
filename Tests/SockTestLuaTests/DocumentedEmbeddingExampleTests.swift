import Glibc
import SockTestCore
import SockTestLua
import XCTest

/// docs/lua-api.md's embedding example, as it stands there (DocumentationTests checks that it
/// does), and what it prints.
final class DocumentedEmbeddingExampleTests: XCTestCase {
    func testTheEmbeddingExample() throws {
        var printed: [String] = []
        func print(_ items: Any...) { printed.append(items.map { "\($0)" }.joined(separator: " ")) }

        let sw = Switch()
        let host = try LuaHost(switch: sw, seed: 42)
        try host.load(string: """
            socktest.set("connect", function(so) return "ECONNREFUSED" end)
            """, name: "refuse.lua")                  // or load(file: "refuse.lua")
        // Code under test that calls sw.socket / sw.connect / ... now sees the script's filters.
        let fd = try sw.socket(family: AF_INET, type: Int32(SOCK_STREAM.rawValue))
        do { try sw.connect(fd, to: SocketAddress("127.0.0.1:9")!) } catch { print(error.name) } // ECONNREFUSED
        try sw.close(fd)
        print(host.scriptErrors, host.filterCounts[.connect]!.failed)   // [] 1
        host.close()                                   // removes the script's filters from the switch

        XCTAssertEqual(printed, ["ECONNREFUSED", "[] 1"])
        XCTAssertFalse(sw.hasFilter(.connect), "close removed the filter")
    }
}
