import Foundation
import Glibc
import XCTest

/// Signals that arrive while the tool holds a program's call (a filter's delay) make the kernel
/// restart the call; the restart resumes the held call instead of running it again (SPEC §5).
final class SignalTests: XCTestCase {
    /// Go signals its own threads about every 10 ms (asynchronous preemption): every delayed
    /// call is interrupted several times. Each filter still sees each call once.
    func testAGoClientWithDelayedSocketAndConnectCallsUnderPreemption() throws {
        let (_, port) = try Loopback.listener(self)
        let client = try Programs.go("goclient")
        let delays = try Tool.script("delays.lua", """
            socktest.set("socket", function(so) if so.family == socktest.AF_INET then return socktest.delay(0.05) end end)
            socktest.set("connect", function(so) if so.family == socktest.AF_INET then return socktest.delay(0.05) end end)
            """)
        let r = try Tool.run(["run", delays, "--json", "--", client, "\(port)", "5"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").filter { $0 == "connected" }.count, 5)
        let filters = try XCTUnwrap(r.json["filters"] as? [String: [String: Int]])
        XCTAssertEqual(filters["socket"]?["seen"], 5, "one filter run per socket(), however often it was restarted")
        XCTAssertEqual(filters["connect"]?["seen"], 5)
        XCTAssertEqual(r.inet4Stats?["opened"] as? Int, 5)
    }

    /// A C program whose main thread is signalled every 5 ms while its connect or accept is
    /// delayed: its handler runs while the call is held, and the call ends as it would have.
    func testSignalsDuringADelayedConnectOrAccept() throws {
        let (_, port) = try Loopback.listener(self)
        let program = try Programs.c("signals")
        let delays = try Tool.script("delays.lua", """
            socktest.set("connect", function(so) if so.addr == "127.0.0.1:\(port)" then return socktest.delay(0.3) end end)
            socktest.set("accept", function(so) return socktest.delay(0.3) end)
            """)
        let cases: [([String], String, String)] = [
            (["connect", "\(port)", "restart"], "connect: ok", "connect"),
            // Without SA_RESTART a slow connect is interrupted natively too (EINTR).
            (["connect", "\(port)", "plain"], "connect: EINTR", "connect"),
            (["accept", "restart"], "accept: ok", "accept"),
        ]
        for (arguments, outcome, type) in cases {
            let r = try Tool.run(["run", delays, "--json", "--", program] + arguments)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.hasPrefix(outcome + "\nhandler ran while held: yes\n"), "\(arguments): \(r.stdout)")
            let filters = try XCTUnwrap(r.json["filters"] as? [String: [String: Int]])
            XCTAssertEqual(filters[type]?["seen"], 1, "\(arguments): the filter ran once")
        }
    }

    /// A Go HTTP server whose accept fails with EMFILE every third time, under load from its own
    /// client (a new connection per request): Go retries, and no client request fails, run after
    /// run (the tool never takes a connection off the queue).
    func testAGoServerUnderAcceptEMFILELosesNoConnection() throws {
        let server = try Programs.go("goserver")
        for round in 1...20 {
            let r = try Tool.run(["run", "--recipe", "accept-emfile:every=3", "--json", "--", server, "200", "4"])
            XCTAssertEqual(r.status, 0, "round \(round): \(r.stdout.prefix(300))")
            XCTAssertTrue(r.stdout.hasPrefix("failed 0 of 200"), "round \(round)")
            let failed = (r.json["filters"] as? [String: [String: Int]])?["accept"]?["failed"] ?? 0
            XCTAssertGreaterThan(failed, 0, "round \(round): the recipe fired")
        }
    }
}
