import Glibc
import SockTestCore
import SockTestLua
import XCTest

/// One Lua state, many threads: filters never run at once in it, and a delay or a blocking call
/// never holds it.
final class LuaConcurrencyTests: XCTestCase {
    func testDelaysDoNotHoldTheLuaState() throws {
        let (sw, host) = try makeHost()
        try host.load(string: #"socktest.set("socket", function() return socktest.delay(0.3) end)"#)
        let threads = 8
        let start = now()
        onThreads(threads) { _ in
            let fd = try! sw.socket(family: AF_INET, type: stream)
            try! sw.close(fd)
        }
        let elapsed = now() - start
        XCTAssertGreaterThanOrEqual(elapsed, 0.3)
        XCTAssertLessThan(elapsed, 0.6, "\(threads) delays of 0.3 s ran one after another")
        XCTAssertEqual(host.filterCounts[.socket]?.delayed, threads)
    }

    func testABlockedAcceptDoesNotStallOtherFilters() throws {
        let (sw, host) = try makeHost()
        try host.load(string: """
            socktest.set("accept", function(so) end)
            socktest.set("socket", function(so) end)
            """)
        let listener = try sw.socket(family: AF_INET, type: stream)
        try sw.bind(listener, to: SocketAddress("127.0.0.1:0")!)
        try sw.listen(listener, backlog: 4)
        let address = try sw.getsockname(listener)!
        let accepted = Locked<Int32?>(nil)
        let acceptor = WorkerThread { [sw] in
            let fd = try? sw.accept(listener).fd
            accepted.withLock { $0 = fd }
        }
        usleep(100_000)  // the acceptor is now blocked in accept(2), past its filter
        // Other threads' filters still run.
        let start = now()
        for _ in 0..<20 {
            let fd = try sw.socket(family: AF_INET, type: stream)
            try sw.close(fd)
        }
        XCTAssertLessThan(now() - start, 0.5)
        XCTAssertNil(accepted.withLock { $0 }, "accept is still waiting")
        let client = try sw.socket(family: AF_INET, type: stream)
        try sw.connect(client, to: address)
        acceptor.join()
        let conn = try XCTUnwrap(accepted.withLock { $0 })
        for fd in [conn, client, listener] { try sw.close(fd) }
        XCTAssertEqual(host.filterCounts[.socket]?.seen, 22)
    }

    func testFiltersFromManyThreadsKeepExactCounts() throws {
        let (sw, host) = try makeHost()
        try host.load(string: """
            local n = 0
            socktest.set("socket", function(so) n = n + 1; if n % 2 == 0 then return "EMFILE" end end)
            socktest.set("close", function(so) return function(after) end end)
            function count() return n end
            """)
        onThreads(8) { _ in
            for _ in 0..<500 {
                if let fd = try? sw.socket(family: AF_INET, type: stream) { try! sw.close(fd) }
            }
        }
        let stat = try XCTUnwrap(sw.stats().first)
        XCTAssertEqual(stat[.opened], 2000)
        XCTAssertEqual(stat[.closed], 2000)
        XCTAssertEqual(host.filterCounts[.socket]?.seen, 4000)
        XCTAssertEqual(host.filterCounts[.socket]?.failed, 2000)
        XCTAssertEqual(host.scriptErrors, [])
    }
}
