import Foundation
import Glibc
import XCTest

/// The data path for external programs (SPEC §7): reads and writes of unmodified programs,
/// faulted by the supervisor (short, eof, reset, drop, delays), compared with the same programs
/// run natively. Every peer is a program of its own, not supervised; loopback only.
final class DataPathProgramTests: XCTestCase {
    func script(_ source: String) throws -> String { try Tool.script("data.lua", "local st = socktest\n" + source) }

    /// A script that resets the connection on the program's `nth` read of an inet socket.
    func resetOnRead(_ nth: Int) throws -> String {
        try script("""
            local reads = 0
            st.set("read", function(so)
                if so.family ~= st.AF_INET then return end
                reads = reads + 1
                if reads == \(nth) then return st.reset() end
            end)
            """)
    }

    /// What a program run with --json printed, each line ended.
    func printed(_ r: Tool.Result) -> String { r.programOutput.isEmpty ? "" : r.programOutput + "\n" }

    /// A peer the program talks to: `python3 -c SOURCE PORTFILE`, which binds 127.0.0.1 port 0,
    /// writes its port to PORTFILE (`announce(sock)`) and prints what it saw.
    final class Peer: @unchecked Sendable {
        private(set) var port = 0
        private var result: Tool.Result?
        private let done = DispatchSemaphore(value: 0)
        static let announce = """
            import os, sys
            def announce(sock):
                p = sys.argv[1]
                open(p + ".tmp", "w").write(str(sock.getsockname()[1]))
                os.rename(p + ".tmp", p)

            """

        init(_ source: String) throws {
            let file = Tool.scratchPath("port")
            let program = Self.announce + source
            Thread.detachNewThread { [self] in
                result = try? Tool.run(["-c", program, file], program: "python3")
                done.signal()
            }
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if let text = try? String(contentsOfFile: file, encoding: .utf8), let p = Int(text) { port = p; return }
                usleep(10_000)
            }
            throw XCTSkip("the peer did not start")
        }

        /// What the peer printed, once it has ended (at most 30 s).
        func output() -> String {
            guard done.wait(timeout: .now() + 30) == .success else { return "(peer still running)" }
            return (result?.stdout ?? "") + (result?.stderr ?? "")
        }
    }

    /// Reads one connection to its end: how many bytes, and their FNV-1a checksum.
    static let countingPeer = """
        import socket
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); announce(s)
        s.settimeout(20); c, _ = s.accept(); c.settimeout(20)
        h = 2166136261; n = 0
        while True:
            b = c.recv(65536)
            if not b: break
            n += len(b)
            for x in b: h = ((h ^ x) * 16777619) & 0xffffffff
        print("peer got %d, checksum %d" % (n, h))
        """

    func testShortWriteIsRealAndALoopingWriterDeliversEveryByte() throws {
        let writer = try Programs.c("writer")
        let short = try script("st.set(\"write\", function(so) if so.family == st.AF_INET then return st.short(100) end end)")

        let native = try Peer(Self.countingPeer)
        let n = try Tool.run(["once", "\(native.port)", "65536"], program: writer)
        XCTAssertEqual(n.stdout, "wrote 65536\n", "natively one write moves it all on loopback")
        XCTAssertTrue(native.output().contains("peer got 65536"))

        let once = try Peer(Self.countingPeer)
        let r = try Tool.run(["run", short, "--json", "--", writer, "once", "\(once.port)", "65536"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(printed(r), "wrote 100\n", "the program's single 64 KiB write() returned 100: \(r.stdout)")
        XCTAssertTrue(once.output().contains("peer got 100,"), "only 100 bytes left the program")

        let looping = try Peer(Self.countingPeer)
        let l = try Tool.run(["run", short, "--json", "--", writer, "loop", "\(looping.port)", "65536"])
        XCTAssertEqual(l.status, 0, l.stderr)
        let line = try XCTUnwrap(l.stdout.split(separator: "\n").first { $0.hasPrefix("wrote") }, l.stdout)
        XCTAssertTrue(line.hasPrefix("wrote 65536 in 656 calls"), "100 bytes a call: \(line)")
        let checksum = try XCTUnwrap(line.split(separator: " ").last)
        XCTAssertTrue(looping.output().contains("peer got 65536, checksum \(checksum)"), "every byte, in order")
        // Made on the program's behalf, so counted: the bytes of every write.
        let stats = try XCTUnwrap(l.inet4Stats, l.stdout)
        XCTAssertEqual(stats["written_bytes"] as? Int, 65536)
        XCTAssertEqual(stats["read_bytes"] as? Int, 0)
    }

    /// A server that sends lines slowly and then waits for a byte; `rst` resets the connection
    /// itself after 4 lines (SO_LINGER 0), as a native reset to compare with.
    static func streamingServer(rst: Bool) -> String {
        """
        import socket, struct, time
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); announce(s)
        s.settimeout(20); c, _ = s.accept(); c.settimeout(20)
        try:
            for i in range(100):
                c.sendall(b"line %d\\n" % i)
                time.sleep(0.01)
                if \(rst ? "True" : "False") and i == 3:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close(); break
            else:
                c.recv(10); print("server: no reset")
        except OSError as e:
            print("server:", type(e).__name__, e.errno)
        """
    }

    static let readingClient = """
        import socket, sys, time
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        try:
            while True:
                if not s.recv(64): print("eof"); break
        except OSError as e:
            print("read:", type(e).__name__, e.errno)
            print("again:", s.recv(64))
        time.sleep(0.1)
        try:
            s.send(b"x"); print("write: ok")
        except OSError as e:
            print("write:", type(e).__name__, e.errno)
        """

    func testResetMidStreamIsARealResetBothSidesSee() throws {
        // Natively, a connection the server resets: the client's read fails ECONNRESET, then a
        // write EPIPE.
        let native = try Peer(Self.streamingServer(rst: true))
        let n = try Tool.run(["-c", Self.readingClient, "\(native.port)"], program: "python3")
        XCTAssertEqual(n.stdout, "read: ConnectionResetError 104\nagain: b''\nwrite: BrokenPipeError 32\n")
        _ = native.output()

        // The filter resets the supervised client's connection on its third read.
        let reset = try resetOnRead(3)
        let peer = try Peer(Self.streamingServer(rst: false))
        let r = try Tool.run(["run", reset, "--json", "--", "python3", "-c", Self.readingClient, "\(peer.port)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(printed(r), n.stdout, "the program saw what it sees natively after a reset")
        XCTAssertEqual(peer.output(), "server: ConnectionResetError 104\n", "the unsupervised peer got a real RST")
    }

    func testResetByAWriteFilterThenAReadEndsAsAfterARealReset() throws {
        // Natively, after the server reset the connection: ECONNRESET on the next write, end of
        // stream on a read, EPIPE on the write after.
        let server = """
            import socket, struct, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); announce(s)
            s.settimeout(20); c, _ = s.accept()
            if len(sys.argv) > 2:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close(); time.sleep(1)
            else:
                c.settimeout(5)
                try: print("server:", c.recv(10))
                except OSError as e: print("server:", e.errno)
            """
        let client = """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            time.sleep(0.3)
            for what in ["write", "read", "write"]:
                try:
                    if what == "write": print("write:", s.send(b"a"))
                    else: print("read:", s.recv(10))
                except OSError as e:
                    print(what + ":", type(e).__name__, e.errno)
            """
        let native = try Peer(server.replacingOccurrences(of: "announce(s)", with: "announce(s); sys.argv.append('rst')"))
        let n = try Tool.run(["-c", client, "\(native.port)"], program: "python3")
        XCTAssertEqual(n.stdout, "write: ConnectionResetError 104\nread: b''\nwrite: BrokenPipeError 32\n")
        _ = native.output()
        // Only a write filter: reads are trapped too, so the read after the reset gets its 0.
        let reset = try script("""
            local first = st.once()
            st.set("write", function(so) if so.family == st.AF_INET and first() then return st.reset() end end)
            """)
        let peer = try Peer(server)
        let r = try Tool.run(["run", reset, "--json", "--", "python3", "-c", client, "\(peer.port)"])
        XCTAssertEqual(printed(r), n.stdout)
        XCTAssertEqual(peer.output(), "server: 104\n", "the peer got a real RST")
    }

    /// Sends `count` lines and "end", then closes.
    static let lineServer = """
        import socket
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); announce(s)
        s.settimeout(20); c, _ = s.accept()
        c.sendall(b"".join(b"response line %d\\n" % i for i in range(40)) + b"end\\n"); c.close()
        """

    static let lineClient = """
        import hashlib, socket, sys
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        f = s.makefile("rb"); h = hashlib.sha256(); lines = 0
        while True:
            line = f.readline()
            h.update(line); lines += 1
            if line == b"end\\n" or not line: break
        print(lines, h.hexdigest())
        """

    func testShortReadsStillDeliverEveryLine() throws {
        let native = try Peer(Self.lineServer)
        let n = try Tool.run(["-c", Self.lineClient, "\(native.port)"], program: "python3")
        XCTAssertTrue(n.stdout.hasPrefix("41 "), n.stdout + n.stderr)

        let one = try script("""
            st.set("read", function(so) if so.family == st.AF_INET then return st.short(1) end end)
            """)
        let peer = try Peer(Self.lineServer)
        let r = try Tool.run(["run", one, "--json", "--", "python3", "-c", Self.lineClient, "\(peer.port)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").first.map(String.init), String(n.stdout.dropLast()), "every byte, one a read")
        let total = (0..<40).reduce(0) { $0 + "response line \($1)\n".utf8.count } + 4
        let stats = try XCTUnwrap(r.inet4Stats, r.stdout)
        XCTAssertEqual(stats["read_bytes"] as? Int, total)
        let filters = try XCTUnwrap(r.json["filters"] as? [String: [String: Int]])
        XCTAssertEqual(filters["read"]?["seen"], total, "one read a byte")
        _ = peer.output()
    }

    func testEofOnReadConsumesNothing() throws {
        let program = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            print(repr(s.recv(100))); print(repr(s.recv(100)))
            """
        let eof = try script("""
            local first = st.once()
            st.set("read", function(so) if so.family == st.AF_INET and first() then return st.eof() end end)
            """)
        let server = """
            import socket
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); announce(s)
            s.settimeout(20); c, _ = s.accept(); c.sendall(b"hello\\n"); c.recv(1)
            """
        let peer = try Peer(server)
        let r = try Tool.run(["run", eof, "--json", "--", "python3", "-c", program, "\(peer.port)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(printed(r), "b''\nb'hello\\n'\n", "end of stream first, then the bytes the first read left")
        _ = peer.output()
    }

    /// Receives datagrams until "end" (at most 5 s) and prints them.
    static let udpReceiver = """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); announce(s)
        s.settimeout(5); got = []
        while True:
            b, a = s.recvfrom(100)
            if b == b"end": break
            got.append(b.decode()); s.sendto(b"echo " + b, a)
        print(" ".join(got))
        """

    func testDroppedDatagramVanishesAndTheSenderSeesSuccess() throws {
        let sender = """
            import socket, sys
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
            to = ("127.0.0.1", int(sys.argv[1]))
            print(s.sendto(b"one", to), s.sendto(b"two", to))
            data, src = s.recvfrom(100)
            print(data.decode(), src == to)
            s.sendto(b"end", to)
            """
        // The first datagram dropped; reads made on behalf (an after-filter) to check the
        // sender's address comes back right.
        let drop = try script("""
            local first = st.once()
            st.set("write", function(so) if so.family == st.AF_INET and first() then return st.drop() end end)
            st.set("read", function(so) return function(so) end end)
            """)
        let peer = try Peer(Self.udpReceiver)
        let r = try Tool.run(["run", drop, "--json", "--", "python3", "-c", sender, "\(peer.port)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(printed(r), "3 3\necho two True\n", "the sender saw both sent, and the echo's source")
        XCTAssertEqual(peer.output(), "two\n", "the dropped datagram never arrived")
        let filters = try XCTUnwrap(r.json["filters"] as? [String: [String: Int]])
        XCTAssertEqual(filters["read"]?["seen"], 1)
    }

    /// A peer that accepts one connection and prints all it received.
    static let collector = """
        import socket
        l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(); announce(l)
        c, _ = l.accept(); c.settimeout(10)
        data = b""
        while True:
            d = c.recv(100)
            if not d: break
            data += d
        print(data.decode())
        """

    func testHugeTimeoutsAndWritesAreTakenAsTheKernelTakesThem() throws {
        // A wait made on behalf under a SO_RCVTIMEO of 35 days, and a dropped write of 3 GiB (one
        // call moves at most MAX_RW_COUNT): both used to stop the tool with a conversion trap.
        let program = """
            import mmap, socket, struct, threading, time
            l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
            c = socket.create_connection(l.getsockname()); s, _ = l.accept()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 3000000, 0))
            threading.Thread(target=lambda: (time.sleep(0.3), s.send(b"late"))).start()
            print(c.recv(10))
            print(c.send(mmap.mmap(-1, 3 << 30)))
            """
        let filters = try script("""
            st.set("read", function(so) return function(so) end end)
            st.set("write", function(so) if so.pid ~= st.pid and so.size > 1000 then return st.drop() end end)
            """)
        let r = try Tool.run(["run", filters, "--json", "--", "python3", "-c", program])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(printed(r), "b'late'\n2147479552\n", r.stderr)
    }

    func testASignalDuringADelayedDropStillDrops() throws {
        // The filter waits 2 s, then drops; a signal at 0.5 s takes the call away and its restart
        // must get the drop (it used to be made by the kernel: the peer received the bytes).
        let program = """
            import signal, socket, sys
            signal.signal(signal.SIGALRM, lambda *a: None)
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            print(c.send(b"SHOULD-BE-DROPPED"))
            c.sendall(b"END")
            c.close()
            """
        let filters = try script("""
            local first = st.once()
            st.set("write", function(so)
              if so.family == st.AF_INET and first() then st.sleep(2); return st.drop() end
            end)
            """)
        let peer = try Peer(Self.collector)
        let r = try Tool.run(["run", filters, "--json", "--", "python3", "-c", program, "\(peer.port)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(printed(r), "17\n", r.stderr)
        XCTAssertEqual(peer.output(), "END\n", "the dropped bytes must not arrive")
    }

    func testFileOnlyProgramBehavesAsNatively() throws {
        let dir = Tool.scratchPath("files")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let command = "cat /etc/services | wc -c; head -c 100000 /dev/zero > f; wc -c < f; seq 1 3000 | sort -rn | head -2; "
            + "python3 -c 'import sys; sys.stdout.write(open(\"f\",\"rb\").read()[:3].hex())'; echo; exit 3"
        let native = try Tool.run(["-c", command], in: dir, program: "sh")
        let everything = try script("""
            st.set("read", function(so) return st.short(1) end)
            st.set("write", function(so) return st.short(1) end)
            st.set("shutdown", function(so) end)
            """)
        let r = try Tool.run(["run", everything, "--json", "--", "sh", "-c", command], in: dir)
        XCTAssertEqual(native.status, 3)
        XCTAssertEqual(r.status, native.status, r.stderr)
        XCTAssertEqual(printed(r), native.stdout, "files, pipes and the terminal are not sockets")
        XCTAssertTrue(native.stdout.contains("100000\n3000\n2999\n000000\n"), native.stdout)
    }

    func testAWaitingReadDoesNotHoldAnotherThreadsCalls() throws {
        // The server answers the first connection after a second; the others wait in its backlog.
        let server = """
            import socket, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64); announce(s)
            s.settimeout(20); c, _ = s.accept(); time.sleep(1); c.sendall(b"x"); c.recv(1)
            """
        let program = """
            import socket, sys, threading, time
            port = int(sys.argv[1])
            first = socket.create_connection(("127.0.0.1", port))
            def slow():
                t = time.monotonic(); first.recv(1)
                print("read %s" % ("waited" if time.monotonic() - t >= 0.9 else "quick"))
            th = threading.Thread(target=slow); th.start(); time.sleep(0.2)
            t = time.monotonic()
            for i in range(20): socket.create_connection(("127.0.0.1", port)).close()
            print("connects %s" % ("quick" if time.monotonic() - t < 0.6 else "held"))
            th.join(); first.close()
            """
        // A delay, and a blocking read made on the program's behalf (for an after-filter).
        for filter in ["return st.delay(1)", "return function(so) end"] {
            let s = try script("st.set(\"read\", function(so) if so.family == st.AF_INET then \(filter) end end)")
            let peer = try Peer(server)
            let r = try Tool.run(["run", s, "--json", "--", "python3", "-c", program, "\(peer.port)"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(printed(r), "connects quick\nread waited\n", "the waiting read held only itself (\(filter))")
            _ = peer.output()
        }
    }

    func testBrokenPipeSignalsTheProgramAsTheKernelDoes() throws {
        // Writes made on behalf (an after-filter); the first resets the connection, the next
        // fails EPIPE and the program, which kept SIGPIPE's default, dies of it as natively.
        let program = """
            import signal, socket, sys
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            try: s.send(b"a")
            except OSError as e: print("first:", e.errno)
            s.send(b"b"); print("not signalled")
            """
        let server = """
            import socket
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); announce(s)
            s.settimeout(20); c, _ = s.accept(); c.settimeout(20)
            try: print("server:", c.recv(10))
            except OSError as e: print("server:", e.errno)
            """
        let reset = try script("""
            local first = st.once()
            st.set("write", function(so)
                if so.family ~= st.AF_INET then return end
                if first() then return st.reset() end
                return function(so) end
            end)
            """)
        let peer = try Peer(server)
        let r = try Tool.run(["run", reset, "--json", "--", "python3", "-c", program, "\(peer.port)"])
        XCTAssertEqual(printed(r), "first: 104\n")
        XCTAssertEqual(r.json["command_status"] as? String, "killed by signal 13 (Broken pipe)", r.stdout)
        XCTAssertEqual(peer.output(), "server: 104\n")
    }

    func testSignalDuringABlockingReadMadeOnBehalfRestartsOrFailsAsNatively() throws {
        let program = try Programs.c("blockread")
        let server = """
            import socket, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); announce(s)
            s.settimeout(20); c, _ = s.accept(); time.sleep(1); c.sendall(b"hello"); c.recv(1)
            """
        // An after-filter: the read is made on the program's behalf and waits there.
        let after = try script("st.set(\"read\", function(so) return function(so) end end)")
        for mode in ["restart", "plain"] {
            let native = try Peer(server)
            let n = try Tool.run(["\(native.port)", mode], program: program)
            XCTAssertEqual(n.stdout, mode == "restart" ? "read 5 hello, handled 1\n" : "read failed EINTR, handled 1\n")
            _ = native.output()
            let peer = try Peer(server)
            let r = try Tool.run(["run", after, "--json", "--", program, "\(peer.port)", mode])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(printed(r), n.stdout, mode)
            let filters = try XCTUnwrap(r.json["filters"] as? [String: [String: Int]])
            XCTAssertEqual(filters["read"]?["seen"], 1, "its filter ran once (\(mode))")
            _ = peer.output()
        }
    }

    func testVectoredAndMessageCallsMadeOnBehalf() throws {
        let program = try Programs.c("vectors")
        let native = try Tool.run([], program: program)
        XCTAssertEqual(native.stdout, """
            writev 12
            readv 12 hello world

            sendmsg 6
            recvmsg 6 abcdef from sender 1 namelen 16 flags 0
            sendmmsg 2 len 5
            recvmmsg 2 first

            """)
        // Writes short (3 bytes of the first iovecs; for sendmmsg the first message only), reads
        // made on behalf into the program's iovecs, with the sender's address.
        let short = try script("""
            st.set("write", function(so) if so.family == st.AF_INET then return st.short(3) end end)
            st.set("read", function(so) return function(so) end end)
            """)
        let r = try Tool.run(["run", short, "--json", "--", program])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(printed(r), """
            writev 3
            readv 3 hel
            sendmsg 3
            recvmsg 3 abc from sender 1 namelen 16 flags 0
            sendmmsg 1 len 3
            recvmmsg 1 fir

            """)
    }

    func testAGoHTTPServerAndClientUnderShortReadsAndWrites() throws {
        // Non-blocking sockets (EAGAIN, then epoll) and the runtime's preemption signals.
        let server = try Programs.go("goserver")
        let short = try script("""
            st.set("read", function(so) if so.family == st.AF_INET then return st.short(7) end end)
            st.set("write", function(so) if so.family == st.AF_INET then return st.short(5) end end)
            """)
        let r = try Tool.run(["run", short, "--json", "--", server, "50", "4"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("failed 0 of 50"), r.stdout)
        // Both ends are the program's, and every call was made on its behalf: every byte written
        // was read.
        let stats = try XCTUnwrap(r.inet4Stats, r.stdout)
        let written = try XCTUnwrap(stats["written_bytes"] as? Int)
        XCTAssertGreaterThan(written, 50 * 100)
        XCTAssertEqual(stats["read_bytes"] as? Int, written)
    }

    func testACallWithAncillaryDataIsMadeByTheKernelAndSaysSo() throws {
        let program = """
            import socket
            a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("127.0.0.1", 0))
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.sendto(b"hi", a.getsockname())
            print(a.recvmsg(100, 100)[0])
            """
        let after = try script("st.set(\"read\", function(so) return function(so) end end)")
        let r = try Tool.run(["run", after, "--json", "--", "python3", "-c", program])
        XCTAssertEqual(printed(r), "b'hi'\n", "the program got its datagram")
        let errors = try XCTUnwrap(r.json["script_errors"] as? [String])
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue(errors.first?.hasPrefix("recvmsg() with ancillary data in pid ") ?? false, "\(errors)")
    }

    func testABlockingWriteMadeOnBehalfSendsEveryByteAsNatively() throws {
        // One send() of 3 MB to a peer that starts reading only after half a second: natively
        // it blocks until everything is sent. Made on behalf, it waits there too.
        let peer = """
            import hashlib, socket, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); announce(s)
            s.settimeout(20); c, _ = s.accept(); c.settimeout(20); time.sleep(0.5)
            h = hashlib.sha256(); n = 0
            while True:
                b = c.recv(65536)
                if not b: break
                h.update(b); n += len(b)
            print(n, h.hexdigest()[:16])
            """
        let program = """
            import socket, sys
            data = bytes(i * 7 % 251 for i in range(3000000))
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            print("sent", s.send(data)); s.close()
            """
        let native = try Peer(peer)
        let n = try Tool.run(["-c", program, "\(native.port)"], program: "python3")
        XCTAssertEqual(n.stdout, "sent 3000000\n")
        let nativePeer = native.output()
        let after = try script("st.set(\"write\", function(so) return function(so) end end)")
        let supervised = try Peer(peer)
        let r = try Tool.run(["run", after, "--json", "--", "python3", "-c", program, "\(supervised.port)"])
        XCTAssertEqual(printed(r), n.stdout)
        XCTAssertEqual(supervised.output(), nativePeer, "every byte, in order")
        XCTAssertEqual(r.inet4Stats?["written_bytes"] as? Int, 3_000_000)
    }

    /// Serves `count` GETs of a 200 kB file, then ends.
    static func httpServer(_ count: Int) -> String {
        """
        import http.server, os, tempfile
        d = tempfile.mkdtemp(); open(os.path.join(d, "blob"), "wb").write(bytes(200000))
        os.chdir(d)
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a): pass
        srv = http.server.HTTPServer(("127.0.0.1", 0), Quiet); srv.timeout = 20; announce(srv.socket)
        for i in range(\(count)): srv.handle_request()
        """
    }

    func testCurlGetsItsOwnRecvFailureOnAResetWhileReceiving() throws {
        let peer = try Peer(Self.httpServer(2))
        let url = "http://127.0.0.1:\(peer.port)/blob"
        let native = try Tool.run(["-s", "-o", "/dev/null", url], program: "curl")
        XCTAssertEqual(native.status, 0)
        let reset = try resetOnRead(1)
        let r = try Tool.run(["run", reset, "--json", "--", "curl", "-s", "-o", "/dev/null", url])
        XCTAssertEqual(r.status, 56, "curl's own exit code for a failure receiving data: \(r.stdout)")
        _ = peer.output()
    }

    func testDataPathFiltersSetLaterSeeNoCallsOfAProgram() throws {
        // Only what the script's top level sets decides the trap set: a read filter set from
        // inside a connect filter finds the program's reads untrapped.
        let later = try script("""
            st.set("connect", function(so) st.set("read", function(so) return st.eof() end) end)
            """)
        let server = """
            import socket
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); announce(s)
            s.settimeout(20); c, _ = s.accept(); c.sendall(b"hello"); c.recv(1)
            """
        let peer = try Peer(server)
        let program = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); print(s.recv(10))
            """
        let r = try Tool.run(["run", later, "--json", "--", "python3", "-c", program, "\(peer.port)"])
        XCTAssertEqual(printed(r), "b'hello'\n")
        XCTAssertNil((r.json["filters"] as? [String: [String: Int]])?["read"], "no read came to the supervisor")
        _ = peer.output()
    }
}
