import Foundation
import Glibc
import XCTest

/// Recipes on external programs mean what they mean on the built-in workloads (SPEC §5, §6):
/// Tests/programs/echo.py is the echo workload as a program of its own (a server that backs
/// off on EMFILE and skips aborted connections, clients doing round trips), run under the
/// recipes; small Python and Go programs for the client-side recipes. Loopback only.
final class ProgramRecipeTests: XCTestCase {
    static let echo = Tool.repo + "/Tests/programs/echo.py"

    /// What echo.py reported: sessions that succeeded, failed (errno → count), and the errors
    /// its server's accept saw.
    struct Echo {
        let result: Tool.Result
        let succeeded: Int
        let failed: [String: Int]
        let acceptErrors: [String: Int]
        var filters: [String: [String: Int]] { result.json["filters"] as? [String: [String: Int]] ?? [:] }
    }

    /// Runs echo.py on `port` under `recipes` (none: natively, without the tool).
    func echo(_ recipes: [String], port: Int, _ options: [String] = [],
              file: StaticString = #filePath, line: UInt = #line) throws -> Echo {
        let program = ["python3", Self.echo, "\(port)"] + options
        let result = recipes.isEmpty
            ? try Tool.run(program, program: "/usr/bin/env")
            : try Tool.run(["run", "--json", "--seed", "5"] + recipes.flatMap { ["--recipe", $0] } + ["--"] + program)
        XCTAssertEqual(result.status, 0, "\(recipes): \(result.stdout)\(result.stderr)", file: file, line: line)
        let summary = result.stdout.split(separator: "\n").first { $0.hasPrefix("echo ") }.map { String($0.dropFirst(5)) } ?? ""
        let json = (try? JSONSerialization.jsonObject(with: Data(summary.utf8))) as? [String: Any] ?? [:]
        XCTAssertNotNil(json["succeeded"], "echo.py said nothing: \(result.stdout)\(result.stderr)", file: file, line: line)
        return Echo(result: result, succeeded: json["succeeded"] as? Int ?? -1,
                    failed: json["failed"] as? [String: Int] ?? [:],
                    acceptErrors: json["accept_errors"] as? [String: Int] ?? [:])
    }

    /// A recipe added later gets a test on a program here too (the recipe list is RecipeTests').
    func testEveryShippedRecipeIsTriedOnAProgram() throws {
        let source = try [#filePath, Tool.repo + "/Tests/CommandLineTests/DataPathRecipeTests.swift"]
            .map { try String(contentsOfFile: $0, encoding: .utf8) }.joined()
        for name in RecipeTests.names {
            XCTAssertTrue(source.contains("\"\(name):") || source.contains("\"\(name)\""), "no program test runs \(name)")
        }
    }

    func testAcceptEmfileOnTheServersPortTheServerBacksOffAndEveryClientIsServed() throws {
        let port = try freePort()
        let native = try echo([], port: port)
        XCTAssertEqual(native.succeeded, 8)
        XCTAssertEqual(native.acceptErrors, [:])

        let hit = try echo(["accept-emfile:every=2,port=\(port)"], port: port)
        XCTAssertEqual(hit.succeeded, 8, "the connections stayed queued: \(hit.result.stdout)")
        XCTAssertEqual(hit.failed, [:])
        let failed = try XCTUnwrap(hit.filters["accept"]?["failed"], hit.result.stdout)
        XCTAssertGreaterThan(failed, 0, "the recipe found the server's listener by its port")
        XCTAssertEqual(hit.acceptErrors, ["EMFILE": failed], "the server saw each failure the report counts")

        let elsewhere = try echo(["accept-emfile:every=2,port=\(try freePort())"], port: port)
        XCTAssertEqual(elsewhere.acceptErrors, [:], "another port: this server is left alone")
    }

    func testSocketExhaustionCountsTheProgramsOpenSockets() throws {
        let port = try freePort()
        // The listener holds the one socket allowed: every client's socket() fails (as on echo).
        let one = try echo(["socket-exhaustion:after=1"], port: port, ["clients=4", "concurrency=1"])
        XCTAssertEqual(one.failed, ["EMFILE": 4], one.result.stdout)
        XCTAssertEqual(one.filters["socket"]?["failed"], 4)
        // Three allowed: the listener, one client at a time and (until its handler closes it) the
        // server's accepted socket: closed sockets free their slots, so every session gets through.
        let three = try echo(["socket-exhaustion:after=3"], port: port, ["clients=4", "concurrency=1"])
        XCTAssertEqual(three.succeeded, 4, three.result.stdout)
        XCTAssertEqual(three.filters["socket"]?["failed"], 0)
        // Of the kind it aims at: UDP sockets are neither failed nor counted (unless type= says).
        let program = """
            import socket
            held = [socket.socket(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)]
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                try: held.append(socket.socket(socket.AF_INET, kind)); print("ok", end=" ")
                except OSError as e: print(e.errno, end=" ")
            """
        for (recipe, expected) in [("socket-exhaustion:after=1", "ok \(EMFILE)"),
                                   ("socket-exhaustion:after=1,type=udp", "\(EMFILE) ok")] {
            let r = try Tool.run(["run", "--recipe", recipe, "--", "python3", "-c", program])
            XCTAssertEqual(r.stdout.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) },
                           expected, "\(recipe): \(r.stdout)\(r.stderr)")
        }
    }

    func testAcceptAbortedTheServerSkipsTheAbortedClientsAndGoesOn() throws {
        let port = try freePort()
        // As on the echo workload (RecipeTests): every third accept aborted, one client at a time.
        let r = try echo(["accept-aborted:every=3,port=\(port)"], port: port, ["clients=6", "concurrency=1"])
        XCTAssertEqual(r.acceptErrors, ["ECONNABORTED": 2], r.result.stdout)
        XCTAssertEqual(r.filters["accept"]?["failed"], 2)
        XCTAssertEqual(r.succeeded, 4, "the server went on: \(r.result.stdout)")
        XCTAssertEqual(r.failed.values.reduce(0, +), 2, "the aborted clients saw their connection go")
    }

    func testAddrInUseTheServerSaysWhichAndExits() throws {
        let port = try freePort()
        let r = try Tool.run(["run", "--recipe", "addr-in-use:port=\(port)", "--json", "--", "python3", Self.echo, "\(port)"])
        XCTAssertEqual(r.status, 3, "the server could not start: \(r.stdout)\(r.stderr)")
        XCTAssertTrue(r.stderr.contains("listen: EADDRINUSE"), r.stderr)
        XCTAssertEqual((r.json["filters"] as? [String: [String: Int]])?["bind"]?["failed"], 1)
        let other = try echo(["addr-in-use:port=\(try freePort())"], port: port, ["clients=2"])
        XCTAssertEqual(other.succeeded, 2, "another port: the server starts")
    }

    func testRefuseAndSlowConnectOnTheClients() throws {
        let port = try freePort()
        let refused = try echo(["refuse:every=2,port=\(port)"], port: port)
        XCTAssertEqual(refused.failed, ["ECONNREFUSED": 4], refused.result.stdout)
        XCTAssertEqual(refused.succeeded, 4)

        let start = Date()
        let slow = try echo(["slow-connect:latency=0.2,jitter=0"], port: port, ["clients=4", "concurrency=1"])
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.8, "four connects, one after the other, 0.2 s each")
        XCTAssertEqual(slow.succeeded, 4, "slower, not failed")
        XCTAssertEqual(slow.filters["connect"]?["delayed"], 4)
    }

    /// curl against a listener that completes the handshake and never answers: natively it
    /// connects at once and gives up after its own --max-time (exit 28); slow-connect shows in
    /// curl's own time_connect; refuse makes it "Failed to connect" (exit 7).
    func testCurlSeesSlowAndRefusedConnects() throws {
        let (_, port) = try listener()
        let curl = ["curl", "-s", "-o", "/dev/null", "--max-time", "1", "-w", "%{time_connect}\\n", "http://127.0.0.1:\(port)/"]
        func connectTime(_ r: Tool.Result) -> Double { Double(r.stdout.split(separator: "\n").first ?? "") ?? -1 }
        let native = try Tool.run(curl, program: "/usr/bin/env")
        XCTAssertEqual(native.status, 28, native.stderr)
        XCTAssertLessThan(connectTime(native), 0.2)
        let slow = try Tool.run(["run", "--recipe", "slow-connect:latency=0.3,jitter=0", "--"] + curl)
        XCTAssertEqual(slow.status, 28, slow.stderr)
        XCTAssertGreaterThanOrEqual(connectTime(slow), 0.3, slow.stdout)
        let refused = try Tool.run(["run", "--recipe", "refuse:port=\(port)", "--"] + curl)
        XCTAssertEqual(refused.status, 7, "curl: Failed to connect: \(refused.stdout)\(refused.stderr)")
    }

    func testUnreachableIPv6IsDownIPv4Works() throws {
        let (_, port) = try listener()
        let program = """
            import socket
            ln6 = socket.socket(socket.AF_INET6); ln6.bind(("::1", 0)); ln6.listen(1)
            got = []
            for family, kind, address in ((socket.AF_INET6, socket.SOCK_STREAM, ln6.getsockname()[:2]),
                                          (socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", \(port))),
                                          (socket.AF_INET6, socket.SOCK_DGRAM, ("::1", 9))):
                s = socket.socket(family, kind); got.append(str(s.connect_ex(address))); s.close()
            print(" ".join(got))
            """
        let r = try Tool.run(["run", "--recipe", "unreachable", "--", "python3", "-c", program])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").first, "\(ENETUNREACH) 0 0",
                       "IPv6 TCP unreachable; IPv4 and a UDP connect (a lookup) untouched: \(r.stdout)")
    }

    func testFlakyTheSameSeedGivesTheProgramTheSameFailures() throws {
        let port = try freePort()
        let a = try echo(["flaky:p=0.5,errors=ECONNRESET|EIO"], port: port, ["clients=20", "concurrency=1", "rounds=1"])
        let b = try echo(["flaky:p=0.5,errors=ECONNRESET|EIO"], port: port, ["clients=20", "concurrency=1", "rounds=1"])
        XCTAssertEqual(a.failed, b.failed, "seed 5 both times")
        XCTAssertEqual(Set(a.failed.keys), ["ECONNRESET", "EIO"], a.result.stdout)
        XCTAssertEqual(a.succeeded + a.failed.values.reduce(0, +), 20)
    }

    func testConnectTimeoutABlockingConnectWaitsThenTimesOut() throws {
        let (_, port) = try listener()
        let program = """
            import socket, time
            s = socket.socket(); start = time.time()
            print(s.connect_ex(("127.0.0.1", \(port))), round(time.time() - start, 1))
            """
        let r = try Tool.run(["run", "--recipe", "connect-timeout:wait=0.3", "--", "python3", "-c", program])
        XCTAssertEqual(r.status, 0, r.stderr)
        let words = r.stdout.split(separator: "\n").first?.split(separator: " ") ?? []
        XCTAssertEqual(words.first.map(String.init), "\(ETIMEDOUT)", r.stdout)
        XCTAssertGreaterThanOrEqual(Double(words.last ?? "") ?? 0, 0.3, "it waited first: \(r.stdout)")
    }

    /// The status object has the calling process (`pid`) and the socket's own address
    /// (`local_addr`); `st.sockets()` lists the program's sockets as "PID:FD" with their pid.
    func testTheLuaAPIShowsTheProgramsSockets() throws {
        let script = try Tool.script("show.lua", """
            socktest.set("accept", function(so)
              print("accept", so.pid, so.fd, so.local_addr)
            end)
            socktest.set("socket", function(so)
              for key, s in pairs(socktest.sockets()) do print("socket", so.pid, key, s.pid, s.fd) end
            end)
            """)
        let program = """
            import os, socket, threading
            ln = socket.socket(); ln.bind(("127.0.0.1", 0)); ln.listen(1)
            print("me", os.getpid(), ln.fileno(), "%s:%d" % ln.getsockname(), flush=True)
            c = socket.socket(); c.connect(ln.getsockname()); a, _ = ln.accept()
            """
        let r = try Tool.run(["run", script, "--", "python3", "-c", program])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let me = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("me ") }?.split(separator: " ").map(String.init))
        let (pid, fd, address) = (me[1], me[2], me[3])
        XCTAssertTrue(lines.contains(["accept", pid, fd, address]), "accept's status: \(r.stdout)")
        XCTAssertTrue(lines.contains(["socket", pid, "\(pid):\(fd)", pid, fd]),
                      "the second socket() saw the listener the kernel made: \(r.stdout)")
    }
}

/// Recipes aim at what a user means: TCP over IPv4 and IPv6 unless told otherwise, so the UDP
/// and unix sockets a program's libraries use (DNS, nscd, Go's address sorting) are left alone.
final class RecipeTargetingTests: XCTestCase {
    /// A Python program that connects a TCP socket to `port`, a UDP socket to 127.0.0.1:9 and
    /// a unix stream socket to a listener of its own; prints what each got ("tcp 0 udp 0 unix 111").
    static func kinds(port: Int) -> [String] {
        let program = """
            import os, socket, tempfile
            path = os.path.join(tempfile.mkdtemp(), "s")
            ln = socket.socket(socket.AF_UNIX); ln.bind(path); ln.listen(1)
            got = []
            for name, family, kind, address in (("tcp", socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", \(port))),
                                                ("udp", socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 9)),
                                                ("unix", socket.AF_UNIX, socket.SOCK_STREAM, path)):
                s = socket.socket(family, kind); got += [name, str(s.connect_ex(address))]; s.close()
            print(" ".join(got))
            """
        return ["--", "python3", "-c", program]
    }

    func outcome(_ recipe: String, port: Int, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try Tool.run(["run", "--recipe", recipe] + Self.kinds(port: port))
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return String(r.stdout.split(separator: "\n").first ?? "")
    }

    func testRefuseHitsTCPAndLeavesUDPAndUnixSocketsAloneUnlessTold() throws {
        let (_, port) = try listener()
        XCTAssertEqual(try outcome("refuse", port: port), "tcp 111 udp 0 unix 0")
        XCTAssertEqual(try outcome("refuse:family=unix", port: port), "tcp 0 udp 0 unix 111")
        XCTAssertEqual(try outcome("refuse:type=udp", port: port), "tcp 0 udp 111 unix 0")
        XCTAssertEqual(try outcome("refuse:type=datagram,family=inet4", port: port), "tcp 0 udp 111 unix 0")
        XCTAssertEqual(try outcome("refuse:family=any,type=any", port: port), "tcp 111 udp 111 unix 111")
        XCTAssertEqual(try outcome("flaky:p=1,errors=EIO", port: port), "tcp 5 udp 0 unix 0")
    }

    func testConnectTimeoutForIPv6LeavesGosUDPConnectAlone() throws {
        // A listener on [::1]: the TCP connect would succeed; the recipe times it out.
        let ln = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        addTeardownBlock { Glibc.close(ln) }
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_addr = in6addr_loopback
        var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let ok = withUnsafeMutablePointer(to: &sin6) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(ln, $0, len) == 0 && listen(ln, 8) == 0 && getsockname(ln, $0, &len) == 0 }
        }
        try XCTSkipUnless(ok, "no IPv6 loopback here")
        let port = Int(UInt16(bigEndian: sin6.sin6_port))
        let program = try Programs.go("dialkinds")
        let r = try Tool.run(["run", "--recipe", "connect-timeout:family=inet6,wait=0.3", "--", program, "\(port)"])
        XCTAssertEqual(r.status, 1, "only the TCP dial failed: \(r.stdout)\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.first?.hasPrefix("udp6: ok") ?? false, "Go's UDP connect is left alone: \(r.stdout)")
        XCTAssertTrue(lines.count > 1 && lines[1].hasPrefix("tcp6: ") && lines[1].contains("timed out"), r.stdout)
    }
}

/// close-fail and flaky's closes on a program: Linux releases a descriptor even when close
/// reports an error, but the tool cannot both let the kernel close a program's descriptor and
/// tell the program it failed; so there the close is cancelled, the socket stays open, and the
/// report lists it as a leak with its pid (docs/recipes.md).
final class ProgramCloseFailTests: XCTestCase {
    static let program = """
        import os, socket
        ln = socket.socket(); ln.bind(("127.0.0.1", 0)); ln.listen(1)
        c = socket.create_connection(ln.getsockname()); a, _ = ln.accept()
        print("pid", os.getpid(), "fd", c.fileno())
        try:
            c.close(); print("closed")
        except OSError as e:
            print("close failed", e.errno)
        a.settimeout(0.3)
        try:
            print("peer got", "EOF" if a.recv(10) == b"" else "data")
        except socket.timeout:
            print("peer got nothing")
        os._exit(0)
        """

    func testTheProgramHearsTheErrorAndTheSocketStaysOpenAsALeak() throws {
        for (recipe, errno) in [("close-fail:nth=1", EINTR), ("close-fail:nth=1,errno=EIO,really_close=false", EIO),
                                ("flaky:op=close,p=1,errors=EIO", EIO)] {
            let r = try Tool.run(["run", "--recipe", recipe, "--json", "--", "python3", "-c", Self.program])
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stdout.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.dropFirst().first, "close failed \(errno)", "\(recipe): \(r.stdout)")
            XCTAssertEqual(lines.dropFirst(2).first, "peer got nothing", "\(recipe): the socket is still open")
            let filters = try XCTUnwrap(r.json["filters"] as? [String: [String: Int]])
            XCTAssertEqual(filters["close"]?["failed"], 1, "\(recipe): cancelled, not rewritten: \(filters)")
            XCTAssertEqual(filters["close"]?["rewritten"], 0, recipe)
            let me = lines[0].split(separator: " ")
            let leaks = try XCTUnwrap(r.json["leaks"] as? [[String: Any]])
            XCTAssertTrue(leaks.contains { "\($0["pid"] ?? "")" == me[1] && "\($0["fd"] ?? "")" == me[3] },
                          "\(recipe): the client's socket is listed as a leak: \(leaks)")
        }
        let native = try Tool.run(["run", "--recipe", "refuse:port=9", "--", "python3", "-c", Self.program])
        XCTAssertTrue(native.stdout.contains("closed\npeer got EOF"), "without it the peer sees EOF: \(native.stdout)")
    }
}
