import Glibc
import SockTestCore
import SockTestLua
import TestSupport
import XCTest

/// Read and write filters in Lua over the switch's own calls (SPEC §7): what each answer is
/// counted as, answers in the wrong place, `so.data` against the memory cap. Tests/lua/datapath.lua
/// checks what the calls then do.
final class DataPathFilterTests: XCTestCase {
    /// A connected pair on loopback: the switch's client socket and a raw peer, not tracked
    /// (accepted with the system's accept from the switch's listener, closed at once).
    private func pair(_ sw: Switch) throws -> (client: Int32, peer: Int32) {
        let listener = try sw.socket(family: AF_INET, type: stream)
        defer { try? sw.close(listener) }
        try sw.bind(listener, to: SocketAddress("127.0.0.1:0")!)
        try sw.listen(listener, backlog: 4)
        let client = try sw.socket(family: AF_INET, type: stream)
        try sw.connect(client, to: try XCTUnwrap(try sw.getsockname(listener)))
        let peer = accept(listener, nil, nil)
        XCTAssertGreaterThanOrEqual(peer, 0)
        addTeardownBlock { Glibc.close(peer) }
        return (client, peer)
    }

    private func write(_ sw: Switch, _ fd: Int32, count: Int) throws -> Int {
        try [UInt8](repeating: 42, count: count).withUnsafeBytes { buffer throws(Errno) in try sw.write(fd, from: buffer) }
    }

    private func read(_ sw: Switch, _ fd: Int32, count: Int) throws -> Int {
        var buffer = [UInt8](repeating: 0, count: count)
        return try buffer.withUnsafeMutableBytes { buffer throws(Errno) in try sw.read(fd, into: buffer) }
    }

    func testEachAnswerIsCountedForItsFilter() throws {
        let (sw, host) = try makeHost()
        defer { host.close() }
        let (client, peer) = try pair(sw)
        try host.load(string: """
            local st = require("socktest")
            local writes, reads = 0, 0
            st.set("write", function()
              writes = writes + 1
              if writes <= 2 then return st.short(1) end
              if writes == 3 then return st.drop() end
              return function(after) after.n = 0 end      -- a rewrite: the caller is told 0
            end)
            st.set("read", function()
              reads = reads + 1
              if reads == 1 then return st.eof() end
              return st.reset()
            end)
            """, name: "answers.lua")
        XCTAssertEqual(try write(sw, client, count: 10), 1)
        XCTAssertEqual(try write(sw, client, count: 10), 1)
        XCTAssertEqual(try write(sw, client, count: 10), 10, "dropped: success, nothing sent")
        XCTAssertEqual(try write(sw, client, count: 10), 0, "the lowered count")
        XCTAssertEqual(try read(sw, client, count: 10), 0, "eof")
        XCTAssertThrowsError(try read(sw, client, count: 10)) { XCTAssertEqual($0 as? Errno, .connectionReset) }
        let writes = try XCTUnwrap(host.filterCounts[.write]), reads = try XCTUnwrap(host.filterCounts[.read])
        XCTAssertEqual([writes.seen, writes.shortened, writes.dropped, writes.rewritten, writes.failed], [4, 2, 1, 1, 0])
        XCTAssertEqual([reads.seen, reads.ended, reads.reset, reads.failed], [2, 1, 1, 1], "a reset fails its call")
        XCTAssertEqual(host.scriptErrors, [])
        // The peer got the two short writes and the last (told 0, really sent), then the reset.
        var buffer = [UInt8](repeating: 0, count: 64)
        XCTAssertEqual(Glibc.read(peer, &buffer, 64), 12)
        try sw.close(client)
    }

    /// An answer a call cannot take is a script error naming the filter and where the answer
    /// belongs; the call fails with ECANCELED.
    func testAMisplacedAnswerIsAScriptError() throws {
        let cases: [(type: String, source: String, message: String)] = [
            ("write", "return socktest.eof()", "filter for 'write' returned eof: socktest.eof() answers a read filter only"),
            ("read", "return socktest.drop()", "filter for 'read' returned drop: socktest.drop() answers a write filter only"),
            ("shutdown", "return socktest.short(1)", "filter for 'shutdown' returned short 1: socktest.short(n) answers a read or write filter only"),
            ("connect", "return socktest.reset()", "filter for 'connect' returned reset: socktest.reset() answers a read or write filter only"),
            ("write", "return function() return socktest.short(1) end",
             "after-filter for 'write' returned short 1: socktest.short(n) answers a read or write filter, before the call, not after it"),
            ("write", "return {}",
             "filter for 'write' returned a table; expected nothing, an errno name or number, an after-filter function, socktest.delay(...), socktest.short(n), socktest.drop(), socktest.reset()"),
        ]
        for c in cases {
            let (sw, host) = try makeHost()
            defer { host.close() }
            let (client, _) = try pair(sw)
            try host.load(string: "socktest.set('\(c.type)', function(so) \(c.source) end)", name: "misplaced.lua")
            let call: () throws -> Void = switch c.type {
            case "write": { _ = try self.write(sw, client, count: 4) }
            case "read": { _ = try self.read(sw, client, count: 4) }
            case "shutdown": { try sw.shutdown(client, how: Int32(SHUT_WR)) }
            default: { try sw.connect(client, to: SocketAddress("127.0.0.1:9")!) }
            }
            XCTAssertThrowsError(try call(), c.source) { XCTAssertEqual($0 as? Errno, .canceled, c.source) }
            XCTAssertEqual(host.scriptErrors.count, 1, c.source)
            XCTAssertTrue(host.scriptErrors.first?.contains("misplaced.lua:1: " + c.message) ?? false,
                          "\(host.scriptErrors) lacks \(c.message)")
            try sw.close(client)
        }
    }

    /// `so.data` copies the caller's bytes into the script, so it counts against the memory cap:
    /// a program's 8 MiB write read by a filter under a 4 MiB cap is a script error, not 8 MiB more.
    func testDataCountsAgainstTheMemoryCap() throws {
        var limits = LuaHost.Limits()
        limits.memoryBytes = 4 << 20
        let (sw, host) = try makeHost(limits: limits)
        defer { host.close() }
        let (client, peer) = try pair(sw)
        try host.load(string: "socktest.set('write', function(so) local d = so.data end)", name: "data.lua")
        XCTAssertEqual(fcntl(client, F_SETFL, O_NONBLOCK), 0)
        XCTAssertThrowsError(try write(sw, client, count: 8 << 20)) { XCTAssertEqual($0 as? Errno, .canceled) }
        XCTAssertTrue(host.scriptErrors.first?.contains("not enough memory") ?? false, "\(host.scriptErrors)")
        // A small write's data is fine.
        try host.load(string: "socktest.set('write', function(so) assert(so.data == '**') end)")
        XCTAssertEqual(try write(sw, client, count: 2), 2)
        var buffer = [UInt8](repeating: 0, count: 8)
        XCTAssertEqual(Glibc.read(peer, &buffer, 8), 2, "the canceled write sent nothing")
        XCTAssertEqual(host.scriptErrors.count, 1)
        try sw.close(client)
    }

    /// A read its filter delays waits without the Lua state: another thread's read and write,
    /// filtered by the same script, go on meanwhile.
    func testADelayedReadHoldsNoOtherCall() throws {
        let (sw, host) = try makeHost()
        defer { host.close() }
        let (slow, slowPeer) = try pair(sw)
        let (fast, fastPeer) = try pair(sw)
        try host.load(string: """
            socktest.set("read", function(so) if so.fd == \(slow) then return socktest.delay(1) end end)
            socktest.set("write", function(so) return socktest.short(1) end)
            """, name: "slow.lua")
        XCTAssertEqual(Glibc.write(slowPeer, "s", 1), 1)
        XCTAssertEqual(Glibc.write(fastPeer, "f", 1), 1)
        let started = now()
        let waiter = WorkerThread {
            var buffer = [UInt8](repeating: 0, count: 8)
            _ = try? buffer.withUnsafeMutableBytes { buffer throws(Errno) in try sw.read(slow, into: buffer) }
        }
        usleep(100_000)     // the slow read is waiting in its delay
        XCTAssertEqual(try read(sw, fast, count: 8), 1)
        XCTAssertEqual(try write(sw, fast, count: 8), 1)
        XCTAssertLessThan(now() - started, 0.5, "the other calls did not wait for the delayed read")
        waiter.join()
        XCTAssertGreaterThanOrEqual(now() - started, 1, "the slow read waited out its delay")
        XCTAssertEqual(host.filterCounts[.read]?.delayed, 1)
        try sw.close(slow)
        try sw.close(fast)
    }
}
