import Foundation
import Glibc
import SockTestCore
import SockTestLua
import TestSupport
import XCTest

/// Scripts are untrusted input (SPEC 3a, issue 16): what a script cannot reach, and what it
/// cannot break. Each test is one way in that used to work.
final class SandboxTests: XCTestCase {
    /// Runs `source` as "sandbox.lua" in a fresh host; its asserts are the test.
    func run(_ source: String, allow: Allowances = [], limits: LuaHost.Limits = LuaHost.Limits(),
             file: StaticString = #filePath, line: UInt = #line) throws {
        let host = try LuaHost(switch: Switch(), limits: limits, modulePaths: [Repo.luaTests + "/lib"], allow: allow)
        XCTAssertNoThrow(try host.load(string: source, name: "sandbox.lua"), file: file, line: line)
    }

    func testWhatEscapesIsNotThere() throws {
        try run("""
            assert(io == nil and debug == nil, "no io, no debug")
            assert(os.execute == nil and os.exit == nil and os.remove == nil and os.rename == nil and os.tmpname == nil)
            assert(os.clock and os.time and os.date and os.getenv and os.difftime, "clocks, dates, environment")
            assert(package.loadlib == nil and package.cpath == "", "no C code")
            assert(#package.searchers == 2, "preload and Lua source only")
            local ok, err = pcall(require, "socket.core")
            assert(not ok and err:find("module 'socket.core' not found"), err)
            assert(not package.path:find("/usr/"), "only the module path: " .. package.path)
            """)
    }

    func testBytecodeIsRefused() throws {
        // A mutated string.dump used to crash the process (Lua does not verify bytecode).
        try run("""
            local code = string.dump(function(a) return a + 1 end)
            local mutated = code:sub(1, 40) .. string.rep("\\255", 20) .. code:sub(61)
            for _, mode in ipairs({"b", "bt", "t"}) do
              local f, err = load(mutated, "x", mode)
              assert(f == nil and err:find("binary chunks are not allowed"), tostring(err))
            end
            local f, err = load(function() return nil end)
            assert(f, err)                                  -- source still loads, from a function too
            assert(load("return 1 + 1", "=x", "b")() == 2, "mode cannot ask for binary")
            assert(load("return x", "=x", "t", {x = 7})() == 7, "env still works")
            """)
    }

    func testAllowancesOpenWhatTheyName() throws {
        try run("assert(io and io.open and os.execute and os.remove)", allow: [.io, .os])
        try run("assert(debug and debug.sethook and package.loadlib)", allow: [.debug, .c])
        try run("assert(load(string.dump(function() return 5 end), 'b', 'b')() == 5)", allow: [.bytecode])
        XCTAssertEqual(try Allowances(parsing: "io,os"), [.io, .os])
        XCTAssertEqual(try Allowances(parsing: "all"), .all)
        XCTAssertThrowsError(try Allowances(parsing: "io,network"))
    }

    func testFilesAreReadWithoutWaiting() throws {
        let dir = NSTemporaryDirectory() + "sandbox-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o700)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(mkfifo(dir + "/fifo.lua", 0o600), 0)
        let start = now()
        try run("""
            local f, err = loadfile("\(dir)/fifo.lua")
            assert(f == nil and err:find("not a regular file"), tostring(err))
            f, err = loadfile("\(dir)")
            assert(f == nil and err:find("is a directory"), tostring(err))
            f, err = loadfile()
            assert(f == nil and err:find("standard input"), tostring(err))
            assert(not pcall(dofile), "dofile() would read stdin")
            local ok, e = pcall(dofile, "\(dir)/fifo.lua")
            assert(not ok and e:find("not a regular file"), tostring(e))
            """)
        XCTAssertLessThan(now() - start, 2, "nothing waited for a writer")
    }

    func testACoroutineRunsOnItsFiltersBudget() throws {
        // The budget used to live per thread: a coroutine made in a filter ran without one.
        var limits = LuaHost.Limits()
        limits.instructionsPerFilter = 1_000_000
        let (sw, host) = try makeHost(limits: limits)
        try host.load(string: """
            socktest.set("socket", function()
              coroutine.wrap(function() while true do end end)()
            end)
            """, name: "co.lua")
        let start = now()
        XCTAssertThrowsError(try sw.socket(family: AF_INET, type: stream)) { XCTAssertEqual($0 as? Errno, .canceled) }
        XCTAssertLessThan(now() - start, 2)
        XCTAssertTrue(host.scriptErrors.first?.contains("co.lua:2: filter exceeded its instruction budget") ?? false, "\(host.scriptErrors)")
    }

    func testMetamethodsCheckTheirArguments() throws {
        // getmetatable(st.stats()[1]).__tostring("abc") used to read a string as a table: SIGSEGV.
        let (sw, host) = try makeHost()
        let fd = try sw.socket(family: AF_INET, type: stream)
        defer { try? sw.close(fd) }
        try host.load(string: """
            local st = require("socktest")
            local stat = st.stats()[1]
            local _, entry = next(st.sockets())
            for _, object in ipairs({stat, entry}) do
              local tostring_ = getmetatable(object).__tostring
              assert(tostring_(object):find("inet4"))
              for _, v in ipairs({"abc", 1, print, {}, true, setmetatable({}, getmetatable(entry == object and stat or entry))}) do
                local ok, err = pcall(tostring_, v)
                assert(not ok and err:find("bad argument #1 to 'tostring' %(socktest%.%a+ expected"), tostring(err))
              end
              local ok = pcall(tostring_)
              assert(not ok)
            end
            """, name: "meta.lua")
    }

    func testAFinalizerAtShutdownCannotSetAFilter() throws {
        // A __gc that sets a filter at exit used to hand the switch the dying runtime: SIGABRT.
        // In the sandbox a table cannot have a finalizer at all (Lua runs them with hooks off,
        // so one that loops could not be stopped); with --allow debug it can, and the binding
        // refuses while the state closes.
        let (_, sandboxed) = try makeHost()
        XCTAssertThrowsError(try sandboxed.load(string: "setmetatable({}, {__gc = function() end})", name: "gc.lua")) {
            XCTAssertTrue(($0 as? LuaError)?.message.contains("gc.lua:1: a __gc metamethod is not allowed") ?? false, "\($0)")
        }
        let sw = Switch()
        var host: LuaHost? = try LuaHost(switch: sw, allow: [.debug])
        try host!.load(string: """
            setmetatable({}, {__gc = function() socktest.set("connect", function() return "EPERM" end) end})
            """)
        host = nil
        XCTAssertFalse(sw.hasFilter(.connect), "the finalizer's filter was refused")
    }

    func testAFinalizerAtShutdownStillClosesItsSockets() throws {
        let sw = Switch()
        var host: LuaHost? = try LuaHost(switch: sw)
        try host!.load(string: """
            local net = require("socktest.net")
            listener = assert(net.listen("tcp", "127.0.0.1:0"))
            """)
        XCTAssertEqual(sw.sockets().count, 1)
        host = nil
        XCTAssertEqual(sw.sockets().count, 0, "the listener's __gc closed it")
    }

    func testCallsActOnTrackedSocketsOnly() throws {
        // st.close(1) used to close the tool's stdout (the report was lost, exit 0).
        try run("""
            local st = require("socktest")
            for _, f in ipairs({"close", "read", "getsockname", "getpeername", "listen", "accept"}) do
              local v, name, number = st[f](1)
              assert(v == nil and name == "EBADF" and number == st.errno.EBADF, f .. ": " .. tostring(name))
            end
            assert(st.write(2, "x") == nil and st.connect(0, "127.0.0.1:1") == nil and st.bind(1, "127.0.0.1:0") == nil)
            assert(st.getsockopt(1, st.SOL_SOCKET, st.SO_ERROR) == nil)
            """)
        XCTAssertNotEqual(fcntl(1, F_GETFD), -1, "stdout is still open")
        XCTAssertNotEqual(fcntl(0, F_GETFD), -1, "stdin is still open")
    }

    func testNamesWithANulByteAreRefused() throws {
        // "ECONNREFUSED\0junk" used to be taken as ECONNREFUSED.
        let (sw, host) = try makeHost()
        try host.load(string: #"socktest.set("socket", function() return "ECONNREFUSED\0junk" end)"#, name: "nul.lua")
        XCTAssertThrowsError(try sw.socket(family: AF_INET, type: stream)) { XCTAssertEqual($0 as? Errno, .canceled) }
        XCTAssertTrue(host.scriptErrors.first?.contains("invalid errno: string contains a NUL byte") ?? false, "\(host.scriptErrors)")
        try run(#"""
            assert(not pcall(socktest.delay, 1, "EINTR\0x"))
            assert(not pcall(socktest.set, "socket\0", nil))
            local ok, err = pcall(socktest.connect, 3, "127.0.0.1:1\0junk")
            assert(not ok and err:find("NUL"), err)
            """#)
    }

    func testErrorObjectsThatAreNotStringsGetAPlace() throws {
        let (_, host) = try makeHost()
        XCTAssertThrowsError(try host.load(string: "\nerror({})", name: "obj.lua")) {
            XCTAssertTrue(($0 as? LuaError)?.message.hasPrefix("obj.lua:2: (error object is a table value)") ?? false, "\($0)")
        }
        let (sw, filterHost) = try makeHost()
        try filterHost.load(string: "socktest.set('socket', function()\n  error(true)\nend)", name: "obj.lua")
        XCTAssertThrowsError(try sw.socket(family: AF_INET, type: stream))
        XCTAssertTrue(filterHost.scriptErrors.first?.hasPrefix("obj.lua:2: (error object is a boolean value)") ?? false,
                      "\(filterHost.scriptErrors)")
    }

    func testAFloodOfFilterErrorsKeepsTheFirstFew() throws {
        // Every error used to be kept to the end (~81 MB per 200k).
        let (sw, host) = try makeHost()
        try host.load(string: "socktest.set('socket', function(so) error(('x'):rep(1000) .. tostring(so)) end)", name: "flood.lua")
        for _ in 0..<2_000 { _ = try? sw.socket(family: AF_INET, type: stream) }
        XCTAssertEqual(host.scriptErrorCount, 2_000)
        XCTAssertEqual(host.scriptErrors.count, 20)
    }

    func testDataReadCountsAgainstTheMemoryCap() throws {
        // Strings from st.read were not counted: 40 × 16 MiB held reached 693 MB resident.
        var limits = LuaHost.Limits()
        limits.memoryBytes = 16 << 20
        try run("""
            local net = require("socktest.net")
            local ln = assert(net.listen("tcp", "127.0.0.1:0"))
            local c = assert(net.dial("tcp", ln:addr()))
            local s = assert(ln:accept())
            assert(c:write("hello"))
            local ok, err = pcall(s.read, s, 16 << 20)
            assert(not ok and err:find("not enough memory: 16777216 more bytes would exceed the script's 16 MiB"), tostring(err))
            assert(s:read(5) == "hello", "a read that fits still works")
            c:close(); s:close(); ln:close()
            """, limits: limits)
    }

    func testScopedIPv6AddressesKeepTheirScope() throws {
        // fe80::1%lo used to read [fe80::1]:1, and scoped addresses were refused.
        let (sw, host) = try makeHost()
        try host.load(string: """
            local st = require("socktest")
            seen = nil
            st.set("connect", function(so) seen = so.addr; return "ECONNREFUSED" end)
            local fd = assert(st.socket(st.AF_INET6, st.SOCK_STREAM))
            assert(select(2, st.connect(fd, "[fe80::1%lo]:1")) == "ECONNREFUSED")
            assert(seen == "[fe80::1%lo]:1", seen)
            assert(select(2, st.connect(fd, "[fe80::1%1]:1")) == "ECONNREFUSED")
            assert(seen == "[fe80::1%lo]:1", "an index prints as its interface: " .. seen)
            assert(not pcall(st.connect, fd, "[fe80::1%nosuchif]:1"), "an unknown interface is refused")
            st.close(fd)
            """, name: "scope.lua")
        XCTAssertEqual(sw.sockets(), [:])
    }
}
