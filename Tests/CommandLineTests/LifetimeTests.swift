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
        p.standardOutput = Tool.devNull()
        p.standardError = Tool.devNull()
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

    /// A script without "#!" runs as a shell runs it (execvp falls back to /bin/sh): natively and
    /// under the tool alike, not "cannot run" (ENOEXEC).
    func testAScriptWithoutAnInterpreterLineRunsAsNatively() throws {
        let path = Tool.scratchPath("noshebang")
        try "echo hello from $1\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        let native = try Tool.run(["-c", "exec \"$0\" there", path], program: "/bin/sh")
        XCTAssertEqual(native.stdout, "hello from there\n")
        let r = try Tool.run(["run", try none(), "--", path, "there"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix(native.stdout), r.stdout + r.stderr)
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

extension LifetimeTests {
    /// Under a limit of 60 threads and processes for its user, a program with 40 threads blocked
    /// in accept: the supervisor needs no thread per waiting call, so nothing deadlocks.
    func testAThreadLimitDoesNotDeadlockTheSupervisor() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root (to run as nobody under a limit)") }
        chmod(Tool.scratch, 0o755)
        let dir = Tool.scratchPath("nobody")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o755)
        let script = dir + "/accept.lua"
        try #"socktest.set("accept", function(so) end)"#.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o644)
        let program = """
            import socket, threading
            ln = socket.socket(); ln.bind(("127.0.0.1", 0)); ln.listen(64)
            got = []
            threads = [threading.Thread(target=lambda: got.append(ln.accept()), daemon=True) for _ in range(40)]
            for t in threads: t.start()
            clients = [socket.create_connection(ln.getsockname()) for _ in range(40)]
            for t in threads: t.join(10)
            print("ok" if len(got) == 40 else "only %d accepted" % len(got))
            """
        let r = try Tool.run(["--nproc=60:60", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              Tool.executable, "run", script, "--", "/usr/bin/python3", "-c", program],
                             program: "/usr/bin/prlimit")
        guard !r.stderr.contains("Permission denied") else { throw XCTSkip("nobody cannot reach the build: \(r.stderr)") }
        XCTAssertTrue(r.stdout.hasPrefix("ok"), r.stdout + r.stderr)
        XCTAssertEqual(r.status, 0)
    }
}

extension LifetimeTests {
    /// nginx as it runs by default: it daemonizes (the first process exits, a master in a session
    /// of its own serves). The tool supervises the daemon until it exits: its requests are
    /// answered (no call gets ENOSYS) and counted, and Ctrl-C stops it.
    func testADaemonizingNginxIsSupervisedUntilItStops() throws {
        guard let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("nginx not installed (scripts/test installs nginx-light)")
        }
        let dir = Tool.scratchPath("nginx")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "hello".write(toFile: dir + "/index.html", atomically: true, encoding: .utf8)
        let port = try Loopback.closedPort()
        try """
            worker_processes 1;
            \(getuid() == 0 ? "user root;" : "")
            error_log \(dir)/error.log;
            pid \(dir)/nginx.pid;
            events { worker_connections 64; }
            http {
                access_log off;
                client_body_temp_path \(dir); proxy_temp_path \(dir); fastcgi_temp_path \(dir);
                uwsgi_temp_path \(dir); scgi_temp_path \(dir);
                server { listen 127.0.0.1:\(port); root \(dir); location / {} }
            }
            """.write(toFile: dir + "/nginx.conf", atomically: true, encoding: .utf8)
        let out = Pipe()
        let tool = Process()
        tool.executableURL = URL(fileURLWithPath: Tool.executable)
        tool.arguments = ["run", try none(), "--json", "--", nginx, "-c", dir + "/nginx.conf", "-p", dir]
        tool.standardOutput = out
        tool.standardError = Tool.devNull()
        try tool.run()
        defer { if tool.isRunning { kill(tool.processIdentifier, SIGKILL) } }
        XCTAssertTrue(eventually(10) { Servers.accepts(port) }, "the daemon listens")
        usleep(300_000)     // the first process has exited by now: only the daemon serves
        let curl = try Tool.run(["-s", "http://127.0.0.1:\(port)/index.html"], program: "/usr/bin/curl")
        XCTAssertEqual(curl.stdout, "hello", "the daemon answered under supervision")
        XCTAssertTrue(tool.isRunning, "the tool waits for the daemon")
        kill(tool.processIdentifier, SIGINT)
        XCTAssertTrue(eventually(10) { !tool.isRunning }, "Ctrl-C stopped the daemon, and the tool ended")
        let report = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let json = (try? JSONSerialization.jsonObject(with: Data((report.split(separator: "\n").last ?? "").utf8))) as? [String: Any]
        let stats = (json?["stats"] as? [[String: Any]])?.first { $0["family"] as? Int == Int(AF_INET) }
        XCTAssertGreaterThanOrEqual(stats?["accepted"] as? Int ?? 0, 1, report)
        let pid = Int32((try? String(contentsOfFile: dir + "/nginx.pid", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        XCTAssertTrue(pid == 0 || !alive(pid), "no nginx left")
    }
}

/// Whether something accepts connections on 127.0.0.1:port.
enum Servers {
    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = UInt16(port).bigEndian
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

enum ProcFileState {
    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }
}
