import Foundation
import Glibc
import XCTest

/// The program's lifetime under the tool (SPEC §5): it never outlives the tool, gets none of the
/// tool's descriptors and its arguments byte for byte; a daemon it starts stays supervised to
/// its end; an interactive program owns the terminal; the tool does not linger after it.
final class LifetimeTests: XCTestCase {
    func none() throws -> String { try Tool.script("none.lua", "-- no filters") }

    /// Starts the tool in the background with `arguments`; its pid and a way to wait for it.
    func start(_ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Tool.executable)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Waits (at most `seconds`) for `condition`.
    func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    func alive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 && !(ProcFileState.isZombie(pid)) }

    func testKillingTheToolKillsTheProgramAndItsChildren() throws {
        let pids = Tool.scratchPath("pids")
        // The program forks a child; both write their pid and sleep.
        let program = """
            import os, time
            if os.fork() == 0:
                open("\(pids).child", "w").write(str(os.getpid())); time.sleep(30); os._exit(0)
            open("\(pids).main", "w").write(str(os.getpid())); time.sleep(30)
            """
        let tool = try start(["run", try none(), "--", "python3", "-c", program])
        defer { tool.terminate(); tool.waitUntilExit() }
        var main: Int32 = 0, child: Int32 = 0
        XCTAssertTrue(eventually(10) {
            main = Int32((try? String(contentsOfFile: pids + ".main", encoding: .utf8)) ?? "") ?? 0
            child = Int32((try? String(contentsOfFile: pids + ".child", encoding: .utf8)) ?? "") ?? 0
            return main > 0 && child > 0
        })
        kill(tool.processIdentifier, SIGKILL)
        XCTAssertTrue(eventually(1) { !alive(main) && !alive(child) }, "the program and its child died with the tool")
    }

    func testTheProgramGetsNoDescriptorOfTheTool() throws {
        // The script opens a socket of its own; the tool has its output pipes and more.
        let script = try Tool.script("own.lua", """
            local net = require("socktest.net")
            mine = net.listen("tcp", "127.0.0.1:0")
            """)
        let r = try Tool.run(["run", script, "--", "/bin/ls", "/proc/self/fd"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let fds = r.stdout.split(separator: "\n").prefix { !$0.hasPrefix("socktest-lua:") }.filter { !$0.isEmpty }
        XCTAssertEqual(fds, ["0", "1", "2", "3"], "stdin, stdout, stderr and ls's own directory only")
    }

    func testArgumentsAndEnvironmentPassByteForByte() throws {
        let program = #"import sys, os; print(repr(sys.argv[1].encode("utf-8", "surrogateescape")), repr(os.environb.get(b"ODD")))"#
        // Process passes Strings: run through /bin/sh to hand the tool real bytes.
        let r = try Tool.run(["-c", #"ODD="$(printf 'q\376z')" exec "$0" run "$1" -- python3 -c "$2" "$(printf 'a\377b')""#,
                              Tool.executable, try none(), program], program: "/bin/sh")
        XCTAssertTrue(r.stdout.hasPrefix(#"b'a\xffb' b'q\xfez'"#), r.stdout + r.stderr)
    }

    func testTheToolDoesNotLingerWhileADelayIsPending() throws {
        let (_, port) = try Loopback.listener(self)
        let script = try Tool.script("slow.lua", """
            socktest.set("connect", function(so) if so.addr == "127.0.0.1:\(port)" then return socktest.delay(5) end end)
            """)
        let program = """
            import socket, threading, time
            t = threading.Thread(target=lambda: socket.create_connection(("127.0.0.1", \(port))), daemon=True)
            t.start(); time.sleep(0.2); print("leaving")
            """
        let start = Date()
        let r = try Tool.run(["run", script, "--", "python3", "-c", program])
        XCTAssertTrue(r.stdout.hasPrefix("leaving"), r.stdout + r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.5, "the tool ended with its program, not after the delay")
    }

    /// A program that starts a daemon (double fork, setsid) and exits at once: the daemon's
    /// calls stay supervised until it exits, and the tool waits for it.
    func testADaemonStaysSupervisedToItsEnd() throws {
        let (_, port) = try Loopback.listener(self)
        let out = Tool.scratchPath("daemon")
        let refuse = try Tool.script("refuse.lua", """
            socktest.set("connect", function(so) if so.addr == "127.0.0.1:\(port)" then return "ECONNREFUSED" end end)
            """)
        let program = """
            import os, socket, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(0.5)
                    s = socket.socket()
                    open("\(out)", "w").write(str(s.connect_ex(("127.0.0.1", \(port)))))
                    os._exit(0)
                os._exit(0)
            print("started")
            """
        let start = Date()
        let r = try Tool.run(["run", refuse, "--json", "--", "python3", "-c", program])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.5, "the tool waited for the daemon")
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "\(ECONNREFUSED)",
                       "the daemon's connect met the script's filter (not ENOSYS)")
        XCTAssertEqual((r.json["filters"] as? [String: [String: Int]])?["connect"]?["failed"], 1)
    }

    /// An interactive program under a terminal: it is the terminal's foreground job, so it reads
    /// what is typed (instead of being stopped by SIGTTIN).
    func testAProgramReadsTheTerminal() throws {
        let driver = """
            import os, pty, sys, select, time
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(sys.argv[1], [sys.argv[1], "run", sys.argv[2], "--", "python3", "-c", "print('got', input())"])
            time.sleep(1.0)
            os.write(fd, b"hello\\n")
            out, deadline = b"", time.time() + 10
            while time.time() < deadline and b"got hello" not in out:
                r, _, _ = select.select([fd], [], [], 0.2)
                if r:
                    try: out += os.read(fd, 4096)
                    except OSError: break
            print("ok" if b"got hello" in out else "stuck: %r" % out)
            os.kill(pid, 9)
            """
        let direct = try Tool.run(["python3", "-c", driver, Tool.executable, try none()], program: "/usr/bin/env")
        XCTAssertTrue(direct.stdout.hasPrefix("ok"), direct.stdout + direct.stderr)
    }
}

enum ProcFileState {
    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }
}
