import Glibc
import SockTestCore
import SockTestLua
import TestSupport
import XCTest

/// Bad scripts never crash or hang the host: each gives an error naming file and line, the call
/// that triggered it fails with ECANCELED, and no descriptor leaks.
final class BadScriptTests: XCTestCase {
    func assertLoadFails(_ source: String, _ pattern: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (_, host) = try makeHost()
        XCTAssertThrowsError(try host.load(string: source, name: "bad.lua"), file: file, line: line) { error in
            let message = (error as? LuaError)?.message ?? ""
            XCTAssertTrue(message.contains(pattern), "\(message) does not contain \(pattern)", file: file, line: line)
        }
    }

    func testLoadErrorsNameFileAndLine() throws {
        try assertLoadFails("local x = = 1", "bad.lua:1:")
        try assertLoadFails("\n\nerror('boom')", "bad.lua:3: boom")
        try assertLoadFails("\nlocal t = nil\nt.x = 1", "stack traceback:")
        try assertLoadFails("socktest.set('conect', function() end)", "bad.lua:1: bad argument #1 to 'set' (unknown filter type 'conect'")
        try assertLoadFails("socktest.set('connect', 42)", "bad argument #2 to 'set' (function or nil expected, got number)")
        try assertLoadFails("socktest.socket('inet', 1)", "bad argument #1 to 'socket' (integer expected, got string)")
        try assertLoadFails("return socktest.delay(1, 'ENOPE')", "unknown errno name 'ENOPE'")
        let (_, host) = try makeHost()
        XCTAssertThrowsError(try host.load(file: "/nonexistent/x.lua")) {
            XCTAssertTrue(($0 as? LuaError)?.message.contains("cannot open /nonexistent/x.lua") ?? false, "\($0)")
        }
    }

    /// Sets `source` as the socket filter of a fresh host, makes one socket call, and checks the
    /// call failed with ECANCELED, leaked nothing, and recorded one error containing `patterns`.
    func assertFilterFails(_ source: String, _ patterns: [String], limits: LuaHost.Limits = LuaHost.Limits(),
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let (sw, host) = try makeHost(limits: limits)
        try host.load(string: source, name: "filter.lua")
        let before = openSockets()
        XCTAssertThrowsError(try sw.socket(family: AF_INET, type: stream), file: file, line: line) {
            XCTAssertEqual($0 as? Errno, .canceled, file: file, line: line)
        }
        XCTAssertEqual(openSockets(), before, "socket leaked", file: file, line: line)
        XCTAssertEqual(sw.sockets(), [:], file: file, line: line)
        XCTAssertEqual(host.scriptErrors.count, 1, file: file, line: line)
        for pattern in patterns {
            XCTAssertTrue(host.scriptErrors.first?.contains(pattern) ?? false,
                          "\(host.scriptErrors) does not contain \(pattern)", file: file, line: line)
        }
        // The host is still usable afterwards.
        try host.load(string: "socktest.set('socket', nil)")
        try sw.close(try sw.socket(family: AF_INET, type: stream))
    }

    func testRuntimeErrorsInFiltersAndAfterFilters() throws {
        try assertFilterFails("socktest.set('socket', function(so)\n  local x = nil\n  return x.y\nend)",
                              ["filter.lua:3: attempt to index a nil value", "stack traceback:"])
        try assertFilterFails("socktest.set('socket', function(so)\n  return function(after)\n    error('late')\n  end\nend)",
                              ["filter.lua:3: late", "stack traceback:"])
    }

    func testWrongReturnValues() throws {
        try assertFilterFails("socktest.set('socket', function() return true end)",
                              ["filter.lua:1: filter for 'socket' returned a boolean"])
        try assertFilterFails("socktest.set('socket', function() return 'ENOSUCH' end)",
                              ["filter.lua:1: filter for 'socket' returned an invalid errno: unknown errno name 'ENOSUCH'"])
        try assertFilterFails("socktest.set('socket', function() return 0 end)", ["errno number out of range"])
        try assertFilterFails("socktest.set('socket', function()\n  return function() return function() end end\nend)",
                              ["filter.lua:2: after-filter for 'socket' returned a function"])
    }

    func testMisuseOfTheStatusObject() throws {
        try assertFilterFails("socktest.set('socket', function(so) so.family = 1 end)",
                              ["filter.lua:1: status field 'family' is read-only"])
        try assertFilterFails("socktest.set('socket', function(so) so.err = 'EMFILE' end)",
                              ["'err' can only be set in an after-filter"])
        try assertFilterFails("socktest.set('socket', function(so) return function(a) a.err = 'EWHAT' end end)",
                              ["cannot set 'err': unknown errno name 'EWHAT'"])
    }

    func testEndlessLoopIsStopped() throws {
        var limits = LuaHost.Limits()
        limits.instructionsPerFilter = 1_000_000
        let start = now()
        try assertFilterFails("socktest.set('socket', function()\n  while true do end\nend)",
                              ["filter.lua:2: filter exceeded its instruction budget"], limits: limits)
        XCTAssertLessThan(now() - start, 2)
    }

    func testUnboundedAllocationIsStopped() throws {
        var limits = LuaHost.Limits()
        limits.memoryBytes = 16 << 20
        try assertFilterFails("socktest.set('socket', function()\n  local t = {}\n  while true do t[#t + 1] = ('x'):rep(1000) .. #t end\nend)",
                              ["filter.lua:1: filter for 'socket': ran out of memory"], limits: limits)
    }

    func testAfterFilterErrorClosesTheAcceptedDescriptor() throws {
        let (sw, host) = try makeHost()
        try host.load(string: "socktest.set('accept', function() return function() error('oops') end end)", name: "a.lua")
        let listener = try sw.socket(family: AF_INET, type: stream)
        try sw.bind(listener, to: SocketAddress("127.0.0.1:0")!)
        try sw.listen(listener, backlog: 2)
        let client = Glibc.socket(AF_INET, stream, 0)
        XCTAssertEqual(try sw.getsockname(listener)!.withSockaddr { Glibc.connect(client, $0, $1) }, 0)
        let before = openSockets()
        XCTAssertThrowsError(try sw.accept(listener)) { XCTAssertEqual($0 as? Errno, .canceled) }
        XCTAssertEqual(openSockets(), before)
        XCTAssertEqual(Set(sw.sockets().keys), [listener])
        Glibc.close(client)
        try sw.close(listener)
    }
}

/// Lua-side memory stays flat when filters are replaced again and again.
final class LuaMemoryTests: XCTestCase {
    func testReplacingFiltersKeepsMemoryFlat() throws {
        let (sw, host) = try makeHost()
        let cycle = """
            for i = 1, 1000 do
              local big = {}
              for j = 1, 10 do big[j] = j end
              socktest.set("socket", function(so) return function(after) return big[1] and nil end end)
            end
            collectgarbage()
            """
        func round() throws {
            try host.load(string: cycle)
            // Each filter in use once, so after-filter references are made and dropped too.
            try sw.close(try sw.socket(family: AF_INET, type: stream))
            try host.load(string: "collectgarbage()")
        }
        for _ in 0..<3 { try round() }
        let settled = host.memoryInUse
        for _ in 0..<10 { try round() }
        XCTAssertLessThan(host.memoryInUse - settled, 32 * 1024, "memory grew: \(settled) → \(host.memoryInUse)")
    }
}
