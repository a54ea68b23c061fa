import Foundation
import Glibc
import XCTest

/// `socktest-lua run SCRIPT -- COMMAND`: faults in unmodified programs (Python, static C, a
/// pre-forking server, a multi-threaded client), via seccomp user notification. Loopback only.
final class ExternalProgramTests: XCTestCase {
    func script(_ source: String) throws -> String { try Tool.script("faults.lua", source) }

    func testPythonClientRefusedByAScript() throws {
        let (_, port) = try listener()
        // Only the test's own address: without HOME, libc's user lookups connect AF_UNIX sockets
        // (nscd, systemd-userdb) through the same switch.
        let refuse = try script("""
            socktest.set("connect", function(so) if so.addr == "127.0.0.1:\(port)" then return "ECONNREFUSED" end end)
            """)
        let program = """
            import socket, sys
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", \(port)))
                print("connected")
            except ConnectionRefusedError:
                print("refused"); sys.exit(7)
            """
        let r = try Tool.run(["run", refuse, "--json", "--", "python3", "-c", program])
        XCTAssertEqual(r.status, 7, "the program's own exit status: \(r.stderr)")
        XCTAssertEqual((r.json["filters"] as? [String: [String: Int]])?["connect"]?["failed"], 1)
        XCTAssertEqual(r.json["command_status"] as? String, "exited with status 7")
        let stats = try XCTUnwrap(r.inet4Stats, r.stdout)
        XCTAssertEqual(stats["opened"] as? Int, 1)
        XCTAssertEqual(stats["closed"] as? Int, 1, "Python's close went through the switch")

        let pass = try Tool.run(["run", try script("-- no filters"), "--", "python3", "-c", program])
        XCTAssertEqual(pass.status, 0, "without the script's filter the same program connects")
        XCTAssertTrue(pass.stdout.hasPrefix("connected"))
    }

    func testStaticallyLinkedMultiThreadedClientEveryOtherConnectRefused() throws {
        let (_, port) = try listener()
        let client = try Programs.c("client", static: true)
        let half = try script("""
            local hit = socktest.every(2)
            socktest.set("connect", function(so) if hit() then return "ECONNREFUSED" end end)
            """)
        let r = try Tool.run(["run", half, "--json", "--", client, "\(port)", "40", "4"])
        XCTAssertEqual(r.status, 20, "exactly half of 40 connects refused: \(r.stderr)")
        let stats = try XCTUnwrap(r.inet4Stats, r.stdout)
        XCTAssertEqual(stats["opened"] as? Int, 40)
        XCTAssertEqual(stats["connected"] as? Int, 20)
        XCTAssertEqual(stats["closed"] as? Int, 40)
        XCTAssertEqual((r.json["leaks"] as? [Any])?.count, 0)
    }

    func testGoBinaryEveryOtherDialRefused() throws {
        let (_, port) = try listener()
        let out = try Programs.go("goclient")
        let half = try script("""
            local hit = socktest.every(2)
            socktest.set("connect", function(so) if hit() then return "ECONNREFUSED" end end)
            """)
        let r = try Tool.run(["run", half, "--json", "--", out, "\(port)", "10"])
        XCTAssertEqual(r.status, 5, "five of ten dials refused: \(r.stdout)\(r.stderr)")
        XCTAssertEqual(r.stdout.components(separatedBy: "connection refused").count - 1, 5)
        let stats = try XCTUnwrap(r.inet4Stats, r.stdout)
        XCTAssertEqual(stats["connected"] as? Int, 5, "Go's non-blocking connects completed through SO_ERROR")
    }

    func testPreForkingServerWorkersAcceptGetsEMFILE() throws {
        let server = try Programs.c("prefork")
        let first = try script("""
            local hit = socktest.once()
            socktest.set("accept", function(so) if hit() then return "EMFILE" end end)
            """)
        let r = try Tool.run(["run", first, "--json", "--", server, "3"])
        XCTAssertEqual(r.status, 1, "one of three workers failed: \(r.stdout)\(r.stderr)")
        XCTAssertEqual(r.stdout.components(separatedBy: "accept: Too many open files").count - 1, 1)
        XCTAssertEqual(r.stdout.components(separatedBy: "accepted from 127.0.0.1").count - 1, 2)
        let filters = try XCTUnwrap(r.json["filters"] as? [String: [String: Int]])
        XCTAssertEqual(filters["accept"]?["seen"], 3, "every worker's accept on the inherited listener was filtered")
        let leaks = try XCTUnwrap(r.json["leaks"] as? [[String: Any]])
        XCTAssertEqual(Set(leaks.compactMap { $0["pid"] as? Int }).count, 3,
                       "each worker still held the inherited listener when it exited")
    }

    func testAfterFilterRewritesARealConnectResult() throws {
        let (_, port) = try listener()
        let rewrite = try script("""
            socktest.set("connect", function(so)
              if so.addr ~= "127.0.0.1:\(port)" then return end
              return function(after)
                assert(after.err == nil, "the real connect succeeded")
                after.err = "ETIMEDOUT"
              end
            end)
            """)
        let program = """
            import socket
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", \(port))); print("connected")
            except OSError as e:
                print("failed", e.errno)
            """
        let r = try Tool.run(["run", rewrite, "--json", "--", "python3", "-c", program])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("failed \(ETIMEDOUT)"), r.stdout)
        XCTAssertEqual((r.json["filters"] as? [String: [String: Int]])?["connect"]?["rewritten"], 1)
        XCTAssertEqual(r.json["script_errors"] as? [String], [])
    }

    /// An after-filter may choose any errno, ENOENT too, for a call made on the program's behalf:
    /// the program gets it (ENOENT is also what the kernel says when a call is gone; that case
    /// is told apart, so this one is answered, not left waiting).
    func testAnAfterFilterMayChooseENOENTForAnAccept() throws {
        let script = try script(#"socktest.set("accept", function(so) return function(after) after.err = "ENOENT" end end)"#)
        let program = """
            import socket
            ln = socket.socket(); ln.bind(("127.0.0.1", 0)); ln.listen(1)
            c = socket.create_connection(ln.getsockname())
            try: ln.accept(); print("accepted")
            except OSError as e: print("accept failed", e.errno)
            """
        let r = try Tool.run(["run", script, "--", "python3", "-c", program])
        XCTAssertTrue(r.stdout.hasPrefix("accept failed \(ENOENT)"), r.stdout + r.stderr)
    }

    func testNonBlockingConnectTimeoutRecipe() throws {
        let (_, port) = try listener()
        // Python's settimeout connects non-blocking and reads SO_ERROR: the recipe fails it late.
        let program = """
            import socket
            s = socket.socket(); s.settimeout(5)
            try:
                s.connect(("127.0.0.1", \(port))); print("connected")
            except OSError as e:
                print("failed", e.errno)
            """
        let r = try Tool.run(["run", "--recipe", "connect-timeout:wait=0.2", "--", "python3", "-c", program])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("failed \(ETIMEDOUT)"), r.stdout)
    }

    /// Runs a Python program under `script` in which `setup` starts a thread `t` whose call
    /// waits, while the main thread makes 20 connects to another listener and times them;
    /// `release` then lets `t` finish. The program prints "ok" when the 20 took under a second,
    /// `t` finished, and `check` holds.
    func assertOtherThreadsGoOn(script source: String, _ setup: String, release: String = "", check: String = "True",
                                file: StaticString = #filePath, line: UInt = #line) throws -> Tool.Result {
        let program = """
            import socket, threading, time
            other = socket.socket(); other.bind(("127.0.0.1", 0)); other.listen(64)
            \(setup)
            time.sleep(0.2)                      # t's call now waits
            start = time.time()
            for i in range(20):                  # meanwhile the main thread's calls go on
                c = socket.create_connection(other.getsockname()); c.close()
            took = time.time() - start
            \(release)
            t.join(5)
            print("ok" if took < 1 and not t.is_alive() and (\(check)) else "stalled %.2f" % took)
            """
        let r = try Tool.run(["run", try script(source), "--", "python3", "-c", program])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stdout.hasPrefix("ok"), "\(source): \(r.stdout)", file: file, line: line)
        return r
    }

    func testABlockedAcceptDoesNotStallOtherThreads() throws {
        // With filters the receiving thread hands on before the call; without, once accept
        // finds no client queued.
        for filters in [#"socktest.set("accept", function(so) end); socktest.set("connect", function(so) end)"#,
                        "-- no filters"] {
            _ = try assertOtherThreadsGoOn(script: filters, """
                ln = socket.socket(); ln.bind(("127.0.0.1", 0)); ln.listen(8)
                got = []
                t = threading.Thread(target=lambda: got.append(ln.accept()), daemon=True); t.start()
                """, release: "c = socket.create_connection(ln.getsockname())", check: "got")
        }
    }

    func testABlockingConnectThatWaitsDoesNotStallOtherThreads() throws {
        // A listener whose accept queue is full drops further SYNs: a blocking connect to it
        // waits for a retransmission (a second or more). The supervisor tries a blocking connect
        // on the receiving thread first; this one must not hold up the rest of the program.
        _ = try assertOtherThreadsGoOn(script: "-- no filters", """
            full = socket.socket(); full.bind(("127.0.0.1", 0)); full.listen(0)
            fillers = []
            for i in range(3):                   # fill the accept queue: later SYNs are dropped
                s = socket.socket(); s.setblocking(False)
                try: s.connect(full.getsockname())
                except BlockingIOError: pass
                fillers.append(s)
            time.sleep(0.1)
            waiting = socket.socket(); got = []
            t = threading.Thread(target=lambda: got.append(waiting.connect_ex(full.getsockname())), daemon=True)
            t.start()
            """, release: """
            full.setblocking(False)
            deadline = time.time() + 10
            while t.is_alive() and time.time() < deadline:   # drain the queue: the connect gets in
                try: full.accept()[0].close()
                except BlockingIOError: time.sleep(0.05)
            """, check: "got == [0]")
    }

    func testADelayedCallDoesNotStallOtherThreads() throws {
        // The script delays the first connect to 127.0.0.1 by two seconds (the main thread
        // would take as long if it waited behind it).
        let r = try assertOtherThreadsGoOn(script: """
            local seen = 0
            socktest.set("connect", function(so)
              if tostring(so.addr):find("^127%.0%.0%.1:") then
                seen = seen + 1
                if seen == 1 then return socktest.delay(2) end
              end
            end)
            """, """
            slow = socket.socket(); slow.bind(("127.0.0.1", 0)); slow.listen(8)
            t = threading.Thread(target=lambda: socket.create_connection(slow.getsockname()), daemon=True)
            t.start()
            """)
        XCTAssertTrue((r.stdout + r.stderr).contains("delayed=1"), "the delay never happened: \(r.stderr)")
    }

    func testExitStatusSignalsAndMissingPrograms() throws {
        let none = try script("-- nothing")
        XCTAssertEqual(try Tool.run(["run", none, "--", "sh", "-c", "exit 42"]).status, 42)
        let killed = try Tool.run(["run", none, "--", "sh", "-c", "kill -9 $$"])
        XCTAssertEqual(killed.status, 128 + 9)
        XCTAssertTrue(killed.stderr.contains("killed by signal 9"), killed.stderr)
        let missing = try Tool.run(["run", none, "--", "no-such-program-here"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("no such program: no-such-program-here"), missing.stderr)
        let text = try Tool.script("notes.txt", "not a program")
        let notExecutable = try Tool.run(["run", none, "--", text])
        XCTAssertEqual(notExecutable.status, 2)
        XCTAssertTrue(notExecutable.stderr.contains("not an executable program: \(text)"), notExecutable.stderr)
        // An executable file without "#!" runs through /bin/sh, as execvp runs it (env here).
        chmod(text, 0o755)
        let native = try Tool.run([text], program: "/usr/bin/env")
        let garbage = try Tool.run(["run", none, "--", text])
        XCTAssertEqual(garbage.status, native.status, garbage.stderr)
        XCTAssertEqual(native.status, 127, "sh did not find the command 'not'")
        XCTAssertTrue(garbage.stderr.contains("not: not found"), garbage.stderr)
    }

    func testInterruptStopsTheProgramAndLeavesNothingBehind() throws {
        let marker = "socktest-sleeper-\(UUID().uuidString.prefix(8))"
        let (process, start) = try interrupted("(exec -a \(marker) sleep 30) & exec -a \(marker) sleep 30", times: 1)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "the tool stopped promptly")
        XCTAssertEqual(process.terminationStatus, 128 + SIGINT, "the program died of the forwarded SIGINT")
        try assertNothingLeft(marker)
    }

    /// A server whose open connections make no trapped call (keep-alive, no data filter) owes
    /// their accept()s until their sockets are seen; its file closes are checked against them
    /// only until a scan of its descriptors matches them. The books stay exact: an accept the
    /// kernel refused (EAGAIN) is dropped, a later one still counts. Copies of the program's
    /// descriptors (pidfd_getfd) are counted with strace: one per file close was the cost before.
    func testFileClosesOfAServerWithUnseenConnectionsAreNotCheckedOneByOne() throws {
        guard let strace = ["/usr/bin/strace", "/bin/strace"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("strace not installed (apt-get install strace)")
        }
        let program = """
            import os, socket
            def files(n):
                for _ in range(n):
                    os.close(os.open("/dev/null", os.O_RDONLY))
            held = [os.open("/dev/null", os.O_RDONLY) for _ in range(300)]
            l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
            clients = [socket.create_connection(l.getsockname()) for _ in range(4)]
            conns = [l.accept()[0] for _ in range(4)]
            files(400)
            l.setblocking(False)
            try:
                l.accept()
            except BlockingIOError:
                pass
            files(400)
            clients.append(socket.create_connection(l.getsockname()))
            l.setblocking(True)
            conns.append(l.accept()[0])
            print("served", len(conns))
            """
        let log = NSTemporaryDirectory() + "socktest-copies-\(getpid()).txt"
        defer { unlink(log) }
        let r = try Tool.run(["-f", "-qq", "-e", "trace=pidfd_getfd,readlink", "-o", log, Tool.executable,
                              "run", try script("-- nothing"), "--json", "--", "python3", "-c", program], program: strace)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.programOutput.hasPrefix("served 5"), r.stdout)
        let inet4 = (r.json["stats"] as? [[String: Any]] ?? []).filter { $0["family"] as? Int == Int(AF_INET) }
        func total(_ counter: String) -> Int { inet4.reduce(0) { $0 + ($1[counter] as? Int ?? 0) } }
        XCTAssertEqual(total("opened"), 6, "the listener and five clients: \(r.stdout)")
        XCTAssertEqual(total("accepted"), 5, "the accept the kernel refused is not counted, the next one is")
        XCTAssertEqual(total("opened") + total("accepted") - total("closed"), (r.json["leaks"] as? [Any])?.count)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let copies = lines.filter { $0.contains("pidfd_getfd(") }.count
        XCTAssertLessThan(copies, 200, "800 file closes, about one copy each before; a scan now and then since")
        // A scan reads the link of each descriptor it does not know already: the 300 files
        // held open are read once, not at every scan.
        var reads: [Substring: Int] = [:]
        for line in lines {
            guard let start = line.range(of: "readlink(\"/proc/")?.upperBound, let end = line[start...].firstIndex(of: "\"") else { continue }
            reads[line[start..<end], default: 0] += 1
        }
        XCTAssertLessThan(reads.values.filter { $0 > 2 }.count, 20, "descriptor links read again and again")
        XCTAssertGreaterThan(reads.count, 300, "the scans read the held files' links: \(reads.count)")
    }

    /// Accepts blocked in other threads have made no socket yet: a socket found by a scan is
    /// matched to the accept that is over (the calling thread's), not to the newest one.
    func testAScanMatchesAnAcceptThatIsOverNotOneStillBlocked() throws {
        let program = """
            import os, socket, threading, time
            l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(16)
            clients = [socket.create_connection(l.getsockname())]
            first, _ = l.accept()
            def serve():
                s, _ = l.accept(); s.close()
            threads = [threading.Thread(target=serve) for _ in range(3)]
            for t in threads: t.start()
            time.sleep(0.5)                                # all three blocked in accept
            for _ in range(20):
                os.close(os.open("/dev/null", os.O_RDONLY))
            clients += [socket.create_connection(l.getsockname()) for _ in range(3)]
            for t in threads: t.join()
            first.close()
            print("served 4")
            """
        let r = try Tool.run(["run", try script("-- nothing"), "--json", "--", "python3", "-c", program])
        XCTAssertEqual(r.status, 0, r.stderr)
        let inet4 = (r.json["stats"] as? [[String: Any]] ?? []).filter { $0["family"] as? Int == Int(AF_INET) }
        let accepted = inet4.reduce(0) { $0 + ($1["accepted"] as? Int ?? 0) }
        XCTAssertEqual(accepted, 4, "every accepted socket counted once: \(r.stdout)")
    }

    /// A connect whose address the tool cannot show (AF_UNSPEC: a UDP socket's association
    /// dissolved) still goes through the filter, with `so.addr` nil; an after-filter cannot run
    /// for it, which the report says, and the kernel answers the program as natively.
    func testAnAddressTheToolCannotShowIsNilAndItsAfterFilterSaysSo() throws {
        let program = """
            import ctypes, socket
            libc = ctypes.CDLL(None, use_errno=True)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect(("127.0.0.1", 9))
            unspec = (ctypes.c_ubyte * 16)()               # sa_family 0: AF_UNSPEC
            print("disconnect", libc.connect(s.fileno(), unspec, 16))
            """
        let r = try Tool.run(["run", try script("""
            local st = require("socktest")
            st.set("connect", function(so)
              if so.family == st.AF_INET then print("addr " .. tostring(so.addr)) end
              return function(so) end
            end)
            """), "--json", "--", "python3", "-c", program])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("addr 127.0.0.1:9"), r.stdout)
        XCTAssertTrue(r.stdout.contains("addr nil"), "the filter saw the AF_UNSPEC connect: \(r.stdout)")
        XCTAssertTrue(r.stdout.contains("disconnect 0"), "the kernel's own answer: \(r.stdout)")
        let errors = (r.json["script_errors"] as? [String] ?? []).joined(separator: "\n")
        XCTAssertTrue(errors.contains("the address could not be read"), r.stdout)
    }

    /// A connect's address is read from the program's memory only when something asks for it
    /// (`so.addr`, a trace): a filter that never looks costs no process_vm_readv.
    func testAConnectAddressIsReadOnlyWhenAFilterAsks() throws {
        guard let strace = ["/usr/bin/strace", "/bin/strace"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("strace not installed (apt-get install strace)")
        }
        let (_, port) = try listener()
        let program = """
            import socket
            refused = 0
            for _ in range(20):
                try:
                    socket.create_connection(("127.0.0.1", \(port))).close()
                except ConnectionRefusedError:
                    refused += 1
            print("refused", refused)
            """
        func reads(_ filter: String) throws -> (Int, Tool.Result) {
            let log = NSTemporaryDirectory() + "socktest-reads-\(getpid()).txt"
            defer { unlink(log) }
            let r = try Tool.run(["-f", "-qq", "-e", "trace=process_vm_readv", "-o", log, Tool.executable,
                                  "run", try script(filter), "--json", "--", "python3", "-c", program], program: strace)
            let text = try String(contentsOfFile: log, encoding: .utf8)
            return (text.split(separator: "\n").filter { $0.contains("process_vm_readv(") }.count, r)
        }
        let (blind, quiet) = try reads(#"socktest.set("connect", function(so) end)"#)
        XCTAssertEqual(quiet.status, 0, quiet.stderr)
        XCTAssertEqual(blind, 0, "the filter never asked for so.addr")
        XCTAssertTrue(quiet.programOutput.hasPrefix("refused 0"), quiet.stdout)
        let (looking, seen) = try reads("""
            socktest.set("connect", function(so) if so.addr == "127.0.0.1:\(port)" then return "ECONNREFUSED" end end)
            """)
        XCTAssertEqual(seen.status, 0, seen.stderr)
        XCTAssertGreaterThanOrEqual(looking, 20, "one read per connect that asked")
        XCTAssertTrue(seen.programOutput.hasPrefix("refused 20"), "the filter saw every address: \(seen.stdout)")
    }

    func testASecondInterruptKillsAProgramThatIgnoresTheFirst() throws {
        let marker = "socktest-stubborn-\(UUID().uuidString.prefix(8))"
        let (process, start) = try interrupted("trap '' INT; (exec -a \(marker) sleep 30) & exec -a \(marker) sleep 30", times: 2)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "the second Ctrl-C stopped it")
        XCTAssertEqual(process.terminationStatus, 128 + SIGKILL)
        try assertNothingLeft(marker)
    }

    /// Runs `socktest-lua run -- bash -c SHELL`, then sends it SIGINT `times` times (as Ctrl-C
    /// would), half a second apart; waits for it. The tool gets SIGINT's default disposition even
    /// where this test runs with SIGINT ignored (a background job of a non-interactive shell).
    private func interrupted(_ shell: String, times: Int) throws -> (Process, Date) {
        let saved = signal(SIGINT, SIG_DFL)
        defer { signal(SIGINT, saved) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tool.executable)
        process.arguments = ["run", try script("-- nothing"), "--", "bash", "-c", shell]
        process.standardOutput = Tool.devNull()
        process.standardError = Tool.devNull()
        try process.run()
        usleep(500_000)
        let start = Date()
        for _ in 0..<times {
            kill(process.processIdentifier, SIGINT)
            usleep(500_000)
        }
        process.waitUntilExit()
        return (process, start)
    }

    private func assertNothingLeft(_ marker: String) throws {
        usleep(200_000)
        let ps = Process()
        ps.executableURL = URL(fileURLWithPath: "/bin/sh")
        ps.arguments = ["-c", "ps -eo args | grep -c '^\(marker)' || true"]
        let pipe = Pipe()
        ps.standardOutput = pipe
        try ps.run()
        ps.waitUntilExit()
        let left = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(left.trimmingCharacters(in: .whitespacesAndNewlines), "0", "a supervised process was left running")
    }
}
