import Foundation
import Glibc
import XCTest

/// External programs see what they would see natively (SPEC §5): calls whose outcome depends on
/// the program's own context (credentials, network namespace, root, umask) or on the kernel's
/// argument checks give the same result under `run` as natively, line for line; the table knows
/// a socket by its kernel object, so reused numbers, duplicated and passed descriptors, and
/// racing threads keep the books true. Tests/programs/faithful.c makes the calls.
final class FaithfulTests: XCTestCase {
    /// Before-filters only: the kernel makes every call ("continue").
    static let beforeOnly = """
        for _, t in ipairs{"socket", "bind", "connect", "listen", "accept", "getsockopt", "close"} do
          socktest.set(t, function(so) end)
        end
        """
    /// An after-filter on every call: the tool would make the calls on the program's behalf,
    /// which it may only do where the program's context is its own.
    static let afterEverywhere = """
        for _, t in ipairs{"socket", "bind", "connect", "listen", "accept", "getsockopt", "close"} do
          socktest.set(t, function(so) return function(after) end end)
        end
        """

    static let program: String = {
        let out = Tool.scratchPath("faithful")
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-O2", "-pthread", "-o", out, Tool.repo + "/Tests/programs/faithful.c"]
        try? cc.run()
        cc.waitUntilExit()
        return cc.terminationStatus == 0 ? out : ""
    }()

    func requireRoot() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root (credentials, namespaces, chroot): run the suite as root") }
    }

    /// The program's output natively and under each script; asserts they are the same, and
    /// returns the supervised runs (tool output after the program's own lines).
    @discardableResult
    func assertSameAsNative(_ arguments: [String], scripts: [String] = [beforeOnly, afterEverywhere],
                            prepare: () throws -> Void = {}, file: StaticString = #filePath, line: UInt = #line) throws -> [Tool.Result] {
        XCTAssertFalse(Self.program.isEmpty, "cc failed for faithful.c", file: file, line: line)
        try prepare()
        let native = try Tool.run(arguments, program: Self.program)
        XCTAssertEqual(native.status, 0, native.stderr, file: file, line: line)
        var runs: [Tool.Result] = []
        for source in scripts {
            try prepare()
            let r = try Tool.run(["run", try Tool.script("faithful.lua", source), "--json", "--", Self.program] + arguments)
            let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast(2).joined(separator: "\n")
            XCTAssertEqual(lines, native.stdout.trimmingCharacters(in: .newlines), "under:\n\(source)\n\(r.stderr)", file: file, line: line)
            XCTAssertEqual(r.status, native.status, file: file, line: line)
            runs.append(r)
        }
        return runs
    }

    func folder(mode: mode_t) throws -> String {
        let dir = Tool.scratchPath("dir")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, mode)
        return dir
    }

    func testAProgramThatDroppedPrivilegesGetsItsOwnRefusals() throws {
        try requireRoot()
        let rootOnly = try folder(mode: 0o700)
        let server = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(server) }
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        let path = rootOnly + "/root.sock"
        withUnsafeMutableBytes(of: &sun.sun_path) { raw in raw.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &sun) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
        XCTAssertTrue(bound && listen(server, 4) == 0)
        let runs = try assertSameAsNative(["drop", path, rootOnly])
        XCTAssertTrue(try Tool.run(["drop", path, rootOnly], program: Self.program).stdout.contains("raw socket: EPERM"),
                      "natively, nobody may not open a raw socket")
        // The after-filters could not run as the program would: the tool says so, naming the call.
        XCTAssertTrue(runs[1].stderr.contains("socket() in pid") && runs[1].stderr.contains("uid"), runs[1].stderr)
        XCTAssertFalse(runs[0].stderr.contains("did not run"), "before-filters alone need nothing made on the program's behalf")
    }

    func testAProgramInItsOwnNetworkNamespaceReachesItsOwnLoopback() throws {
        try requireRoot()
        let (_, port) = try Loopback.listener(self)
        let runs = try assertSameAsNative(["netns", "\(port)"])
        XCTAssertTrue(runs[0].stdout.hasPrefix("connect host port from a new namespace: ENETUNREACH"), runs[0].stdout)
        XCTAssertTrue(runs[1].stderr.contains("network namespace"), runs[1].stderr)
    }

    func testUnshareNRunsTestsInAPrivateNamespace() throws {
        try requireRoot()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { throw XCTSkip("no unshare(1)") }
        let (_, port) = try Loopback.listener(self)
        let program = """
            import socket
            s = socket.socket()
            print(s.connect_ex(("127.0.0.1", \(port))))
            """
        let native = try Tool.run(["-n", "python3", "-c", program], program: "/usr/bin/unshare")
        for source in [Self.beforeOnly, Self.afterEverywhere] {
            let r = try Tool.run(["run", try Tool.script("f.lua", source), "--", "/usr/bin/unshare", "-n", "python3", "-c", program])
            XCTAssertEqual(r.stdout.split(separator: "\n").first, native.stdout.split(separator: "\n").first, r.stderr)
        }
        XCTAssertEqual(native.stdout.split(separator: "\n").first, "\(ENETUNREACH)")
    }

    func testAChrootedProgramBindsInsideItsJail() throws {
        try requireRoot()
        let jail = try folder(mode: 0o755)
        try assertSameAsNative(["chroot", jail], prepare: {
            for name in ["jail.sock", "rel.sock"] { unlink(jail + "/" + name) }
        })
        XCTAssertTrue(FileManager.default.fileExists(atPath: jail + "/jail.sock"), "bound inside the jail")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/jail.sock"), "not in the real root")
    }

    func testAProgramsUmaskShapesItsSocketFiles() throws {
        let dir = try folder(mode: 0o755)
        let runs = try assertSameAsNative(["umask", dir + "/s.sock"], prepare: { unlink(dir + "/s.sock") })
        XCTAssertTrue(runs[0].stdout.contains("mode: 700"), runs[0].stdout)
    }

    func testOddArgumentsGetTheKernelsErrors() throws {
        let (_, port) = try Loopback.listener(self)
        let runs = try assertSameAsNative(["args", "\(port)"])
        XCTAssertTrue(runs[1].stdout.contains("connect len 200: EINVAL"))
        XCTAssertTrue(runs[1].stdout.contains("accept NULL len: EFAULT"))
        XCTAssertTrue(runs[1].stdout.contains("accept len -1: EINVAL"))
    }

    /// A close filter failing every close of a socket must not fail the close of a file that
    /// reuses a socket's number behind the switch's back.
    func testANumberReusedForAFileIsNotTakenForTheSocket() throws {
        let failCloses = #"socktest.set("close", function(so) return "EIO" end)"#
        for mode in ["closerange", "exec"] {
            let runs = try assertSameAsNative([mode], scripts: [failCloses])
            XCTAssertTrue(runs[0].stdout.hasPrefix("same number: yes\nclose the file: ok"), "\(mode): \(runs[0].stdout)")
        }
    }

    func testRacingThreadsKeepTheBooksBalanced() throws {
        let closedPort = try Loopback.closedPort()
        let script = try Tool.script("race.lua", #"socktest.set("connect", function(so) end)"#)
        for round in 1...20 {
            let r = try Tool.run(["run", script, "--json", "--", Self.program, "race", "\(closedPort)", "8", "100"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let stats = try XCTUnwrap(r.inet4Stats, r.stdout)
            let opened = stats["opened"] as? Int ?? -1, accepted = stats["accepted"] as? Int ?? -1
            let closed = stats["closed"] as? Int ?? -1, leaks = (r.json["leaks"] as? [Any])?.count ?? -1
            XCTAssertEqual(opened, 800, "round \(round)")
            XCTAssertEqual(opened + accepted - closed - leaks, 0, "round \(round): \(stats)")
            XCTAssertEqual(stats["connectfailed"] as? Int, 800, "every connect was refused by the kernel")
        }
    }

    func testADupdAndAPassedSocketAreFilteredAsTheOriginal() throws {
        let (_, port) = try Loopback.listener(self)
        let native = try Tool.run(["copies", "\(port)"], program: Self.program)
        XCTAssertEqual(native.stdout, "connect through a dup: ok\nconnect through a passed descriptor: ok\n")
        let refuse = try Tool.script("refuse.lua", """
            socktest.set("connect", function(so) if so.addr == "127.0.0.1:\(port)" then return "ECONNREFUSED" end end)
            """)
        let r = try Tool.run(["run", refuse, "--json", "--", Self.program, "copies", "\(port)"])
        XCTAssertTrue(r.stdout.hasPrefix("connect through a dup: ECONNREFUSED\nconnect through a passed descriptor: ECONNREFUSED\n"), r.stdout)
        let stats = try XCTUnwrap(r.inet4Stats, r.stdout)
        XCTAssertEqual(stats["opened"] as? Int, 2, "two sockets, whatever their descriptors")
        XCTAssertEqual(stats["closed"] as? Int, 2)
        XCTAssertEqual((r.json["leaks"] as? [Any])?.count, 0)
    }
}

/// Loopback listeners for the tests, in this test process (a test's own address: never another).
enum Loopback {
    /// A listener on 127.0.0.1 nobody accepts from (the backlog holds the connections); closed at
    /// the end of the test.
    static func listener(_ test: XCTestCase) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let port = try bindLoopback(fd)
        XCTAssertEqual(listen(fd, 256), 0)
        test.addTeardownBlock { Glibc.close(fd) }
        return (fd, port)
    }

    /// A port on 127.0.0.1 that nothing listens on (bound, then closed: connects are refused).
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(fd) }
        return try bindLoopback(fd)
    }

    private static func bindLoopback(_ fd: Int32) throws -> Int {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0 }
        }
        guard ok else { throw XCTSkip("cannot bind 127.0.0.1") }
        return Int(UInt16(bigEndian: sin.sin_port))
    }
}
