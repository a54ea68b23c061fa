import Glibc
import SockTestCore
import SockTestLua
import XCTest

/// The Swift API: a host over a switch; Swift code calls the switch and the script's filters apply.
final class EmbeddingTests: XCTestCase {
    func testScriptFiltersApplyToSwiftCalls() throws {
        let (sw, host) = try makeHost()
        try host.load(string: """
            local st = require("socktest")
            st.set("connect", function(so)
              if so.family == st.AF_INET6 then return "ENETUNREACH" end
            end)
            """, name: "v6down.lua")
        let fd6 = try sw.socket(family: AF_INET6, type: stream)
        XCTAssertThrowsError(try sw.connect(fd6, to: SocketAddress("[::1]:9")!)) {
            XCTAssertEqual($0 as? Errno, .networkUnreachable)
        }
        let fd4 = try sw.socket(family: AF_INET, type: stream)
        XCTAssertThrowsError(try sw.connect(fd4, to: SocketAddress("127.0.0.1:9")!)) {
            XCTAssertEqual($0 as? Errno, .connectionRefused, "IPv4 reaches the system")
        }
        XCTAssertEqual(host.filterCounts[.connect]?.seen, 2)
        XCTAssertEqual(host.filterCounts[.connect]?.failed, 1)
        try sw.close(fd6)
        try sw.close(fd4)
    }

    func testClosingTheHostRemovesItsFilters() throws {
        let sw = Switch()
        var host: LuaHost? = try LuaHost(switch: sw)
        try host!.load(string: #"socktest.set("socket", function() return "EMFILE" end)"#)
        XCTAssertThrowsError(try sw.socket(family: AF_INET, type: stream))
        host = nil
        let fd = try sw.socket(family: AF_INET, type: stream)
        try sw.close(fd)
    }

    func testSameSeedSameDecisions() throws {
        func decisions(seed: UInt64) throws -> String {
            let (sw, host) = try makeHost(seed: seed)
            try host.load(string: """
                local hit = socktest.chance(0.5)
                socktest.set("socket", function() if hit() then return "EMFILE" end end)
                """)
            var out = ""
            for _ in 0..<64 {
                if let fd = try? sw.socket(family: AF_INET, type: stream) {
                    out += "."
                    try sw.close(fd)
                } else {
                    out += "x"
                }
            }
            return out
        }
        XCTAssertEqual(try decisions(seed: 7), try decisions(seed: 7))
        XCTAssertNotEqual(try decisions(seed: 7), try decisions(seed: 8))
        XCTAssertTrue(try decisions(seed: 7).contains("x"))
    }
}
