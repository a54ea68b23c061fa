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
            ? try Tool.run(Array(program.dropFirst()), program: "/usr/bin/python3")
            : try Tool.run(["run", "--json", "--seed", "5"] + recipes.flatMap { ["--recipe", $0] } + ["--"] + program)
        XCTAssertEqual(result.status, 0, "\(recipes): \(result.stdout)\(result.stderr)", file: file, line: line)
        let summary = result.stdout.split(separator: "\n").first { $0.hasPrefix("echo ") }.map { String($0.dropFirst(5)) } ?? ""
        let json = (try? JSONSerialization.jsonObject(with: Data(summary.utf8))) as? [String: Any] ?? [:]
        XCTAssertNotNil(json["succeeded"], "echo.py said nothing: \(result.stdout)\(result.stderr)", file: file, line: line)
        return Echo(result: result, succeeded: json["succeeded"] as? Int ?? -1,
                    failed: json["failed"] as? [String: Int] ?? [:],
                    acceptErrors: json["accept_errors"] as? [String: Int] ?? [:])
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
