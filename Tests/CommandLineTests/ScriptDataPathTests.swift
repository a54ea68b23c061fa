import Foundation
import Glibc
import XCTest

/// The data path in-process (SPEC §7): a script's own connections (`socktest.net`, `st.send`)
/// under read and write filters, with a real program nobody here wrote as the unsupervised peer
/// (curl, python3), so what the peer sees is what the kernel delivered.
final class ScriptDataPathTests: XCTestCase {
    /// An HTTP server of the script's own on 127.0.0.1:PORT: serves one request with a body of
    /// BODY bytes ("0123456789" repeated), written with conn:write (which loops over short writes).
    static let server = """
        local st = require("socktest")
        local net = require("socktest.net")
        local ln <close> = assert(net.listen("tcp", "127.0.0.1:" .. os.getenv("PORT")))
        local conn <close> = assert(ln:accept())
        local request = ""
        for _ = 1, 100 do
          local data = conn:read()
          if not data then break end
          request = request .. data
          if request:find("\\r\\n\\r\\n") then break end
        end
        local size = tonumber(os.getenv("BODY"))
        local body = string.rep("0123456789", size // 10)
        print("wrote", conn:write("HTTP/1.1 200 OK\\r\\nContent-Length: " .. size .. "\\r\\nConnection: close\\r\\n\\r\\n"))
        print("wrote", conn:write(body))
        """

    /// Runs `script` (the server above after `filters`) while curl fetches from it; both results.
    private func curlAgainstScript(filters: String, body: Int, curlArguments: [String] = [])
        throws -> (tool: Tool.Result, curl: Tool.Result)
    {
        let port = try freePort()
        let path = try Tool.script("server.lua", filters + "\n" + Self.server)
        let tool = background { try Tool.run(["run", path], environment: ["PORT": "\(port)", "BODY": "\(body)"]) }
        XCTAssertTrue(waitListening(port), "the script's server did not listen")
        let curl = try Tool.run(["-sS", "-o", "-", "http://127.0.0.1:\(port)/"] + curlArguments, program: "curl")
        return (try XCTUnwrap(tool()), curl)
    }

    func testCurlGetsTheResetAScriptsServerSendsMidResponse() throws {
        let (tool, curl) = try curlAgainstScript(filters: """
            -- Up to byte 1000 (a short write where a call would cross it), then a reset.
            socktest.set("write", function(so)
              if so.written_total >= 1000 then return socktest.reset() end
              if so.written_total + so.size > 1000 then return socktest.short(1000 - so.written_total) end
            end)
            """, body: 100_000)
        XCTAssertEqual(curl.status, 56, "curl's 'failure receiving network data': \(curl.stderr)")
        XCTAssertTrue(curl.stderr.contains("Connection reset by peer"), curl.stderr)
        XCTAssertTrue(tool.stdout.contains("wrote\tnil\tECONNRESET"), "the script's write fails ECONNRESET: \(tool.stdout)")
        XCTAssertEqual(tool.status, 0, tool.stderr)
    }

    func testCurlTimesOutOnAResponseAScriptStalls() throws {
        let started = Date()
        let (tool, curl) = try curlAgainstScript(filters: """
            socktest.set("write", function(so)
              if so.written_total > 0 then return socktest.delay(3) end
            end)
            """, body: 1000, curlArguments: ["-m", "1"])
        XCTAssertEqual(curl.status, 28, "curl's own timeout: \(curl.stderr)")
        XCTAssertEqual(tool.status, 0, tool.stderr)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 3, "the stalled write waited")
    }

    func testCurlReceivesEveryByteThroughShortWrites() throws {
        let body = 20_000
        let (tool, curl) = try curlAgainstScript(filters: """
            local writes = 0
            socktest.set("write", function(so) writes = writes + 1; return socktest.short(7) end)
            socktest.set("close", function() print("writes", writes) end)
            """, body: body)
        XCTAssertEqual(curl.status, 0, curl.stderr)
        XCTAssertEqual(curl.stdout, String(repeating: "0123456789", count: body / 10), "every byte, in order")
        XCTAssertTrue(tool.stdout.contains("wrote\t\(body)\n"), "conn:write reports the whole body: \(tool.stdout)")
        let writes = tool.stdout.split(separator: "\n").first { $0.hasPrefix("writes\t") }.flatMap { Int($0.dropFirst(7)) }
        XCTAssertGreaterThanOrEqual(writes ?? 0, body / 7, "each write moved at most 7 bytes: \(tool.stdout)")
    }

    /// A Python server reads until the connection ends; the script's second write resets it.
    func testAPythonPeerSeesTheResetAsConnectionResetError() throws {
        let port = try freePort()
        let python = background {
            try Tool.run(["-c", """
                import socket
                ln = socket.create_server(("127.0.0.1", \(port)))
                ln.settimeout(20)
                conn, _ = ln.accept()
                got = b""
                try:
                    while True:
                        data = conn.recv(4096)
                        if not data:
                            print("eof", got)
                            break
                        got += data
                except ConnectionResetError as e:
                    print("reset", got)
                """], program: "python3")
        }
        XCTAssertTrue(waitListening(port), "python did not listen")
        let script = try Tool.script("client.lua", """
            local st = require("socktest")
            local net = require("socktest.net")
            local conn <close> = assert(net.dial("tcp", "127.0.0.1:\(port)"))
            local hit = st.nth(2)
            st.set("write", function() if hit() then return st.reset() end end)
            assert(conn:write("hello"))
            socktest.sleep(0.2)                     -- the peer reads "hello" before the reset
            local ok, err = conn:write("world")
            assert(err == "ECONNRESET", tostring(err))
            assert(select(2, conn:read()) == "EOF", "reads after a reset end")
            assert(select(2, conn:write("again")) == "EPIPE", "writes after a reset fail EPIPE")
            """)
        let tool = try Tool.run(["run", script])
        XCTAssertEqual(tool.status, 0, tool.stdout + tool.stderr)
        let peer = try XCTUnwrap(python())
        XCTAssertEqual(peer.stdout, "reset b'hello'\n", peer.stderr)
    }

    /// 1,000 datagrams to a Python receiver; the write filter drops each with probability 0.3 from
    /// the seeded generator: the receiver gets exactly those not dropped, and the same seed drops
    /// the same number.
    func testDroppedDatagramsNeverReachAPythonReceiver() throws {
        func run(seed: Int) throws -> (sent: Int, dropped: Int, received: Int) {
            let port = try freeUDPPort()
            let python = background {
                try Tool.run(["-c", """
                    import socket
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                    s.bind(("127.0.0.1", \(port)))
                    s.settimeout(10)
                    n = 0
                    while True:
                        data = s.recv(100)
                        if data == b"end":
                            break
                        n += 1
                    print(n)
                    """], program: "python3")
            }
            XCTAssertTrue(waitListening(port, udp: true), "python did not bind")
            let script = try Tool.script("udp.lua", """
                local st = require("socktest")
                local lose = st.chance(0.3)
                local dropped = 0
                st.set("write", function(so)
                  if so.data ~= "end" and lose() then dropped = dropped + 1; return st.drop() end
                end)
                local fd = assert(st.socket(st.AF_INET, st.SOCK_DGRAM))
                local sent = 0
                for i = 1, 1000 do
                  sent = sent + assert(st.send(fd, ("datagram %04d"):format(i), "127.0.0.1:\(port)"))
                  -- A pace the receiver keeps up with even when busy: the kernel must drop none
                  -- of its own (its buffer holds about 500 of these), or the count is off.
                  if i % 10 == 0 then st.sleep(0.005) end
                end
                assert(st.send(fd, "end", "127.0.0.1:\(port)"))
                assert(st.close(fd))
                print("sent", sent // 13, "dropped", dropped)
                """)
            let tool = try Tool.run(["run", script, "--seed", "\(seed)"])
            XCTAssertEqual(tool.status, 0, tool.stdout + tool.stderr)
            let peer = try XCTUnwrap(python())
            let words = tool.stdout.split(separator: "\n").first { $0.hasPrefix("sent") }?.split(separator: "\t") ?? []
            XCTAssertEqual(words.count, 4, tool.stdout)
            return (Int(words[1]) ?? -1, Int(words.last ?? "") ?? -1,
                    Int(peer.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1)
        }
        let first = try run(seed: 7)
        XCTAssertEqual(first.sent, 1000, "every send reported success, dropped or not")
        XCTAssertEqual(first.received, 1000 - first.dropped, "exactly the datagrams not dropped arrived")
        XCTAssertTrue((240...360).contains(first.dropped), "about 30% dropped: \(first.dropped)")
        let again = try run(seed: 7)
        XCTAssertEqual(again.dropped, first.dropped, "the same seed drops the same datagrams")
        XCTAssertEqual(again.received, first.received)
    }

    // MARK: - Helpers

    /// Runs `body` on a thread of its own; the returned function waits for its result.
    private func background(_ body: @escaping @Sendable () throws -> Tool.Result) -> () -> Tool.Result? {
        let box = ResultBox()
        let thread = Thread {
            box.set(try? body())
        }
        thread.start()
        return { box.wait() }
    }

    /// A UDP port on 127.0.0.1 that nothing is bound to: the kernel's pick, let go again.
    private func freeUDPPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { Glibc.close(fd) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        XCTAssertTrue(ok)
        return Int(UInt16(bigEndian: sin.sin_port))
    }

    /// Waits (at most 10 s) until something listens on (TCP) or is bound to (UDP) 127.0.0.1:port,
    /// as /proc/net/tcp and /proc/net/udp show it, without connecting (a probe would be a client).
    private func waitListening(_ port: Int, udp: Bool = false) -> Bool {
        let local = String(format: "0100007F:%04X", port)
        let state = udp ? "07" : "0A"
        for _ in 0..<1000 {
            let table = (try? String(contentsOfFile: udp ? "/proc/net/udp" : "/proc/net/tcp", encoding: .utf8)) ?? ""
            for line in table.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count > 3, fields[1] == local, fields[3] == state { return true }
            }
            usleep(10_000)
        }
        return false
    }
}

/// One result handed from a thread to the test, which waits for it (at most 90 s: Tool.run kills
/// its program after 60).
private final class ResultBox: @unchecked Sendable {
    private var result: Tool.Result?
    private var done = false
    private let condition = NSCondition()

    func set(_ value: Tool.Result?) {
        condition.lock()
        result = value
        done = true
        condition.signal()
        condition.unlock()
    }

    func wait() -> Tool.Result? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(90)
        while !done && condition.wait(until: deadline) {}
        return result
    }
}
