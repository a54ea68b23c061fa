import Foundation
import Glibc
import XCTest

/// The data-path recipes on real programs (SPEC §7): curl and a Go HTTP client against a local
/// `python3 -m http.server` (outside the tool, so what the client sees is what the recipe did),
/// Python programs for short transfers and UDP loss. Each failure is the program's own: curl's
/// exit codes (56 receive failure, 28 timeout, 18 partial file), Go's errors. Loopback only.
final class DataPathRecipeTests: XCTestCase {
    static let size = 512 << 10

    /// `python3 -m http.server` on 127.0.0.1 serving a file of `size` bytes, stopped at teardown;
    /// the file's URL and the server's port.
    func httpServer(size: Int = DataPathRecipeTests.size) throws -> (url: String, port: Int) {
        let dir = Tool.scratchPath("http-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data((0..<size).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: dir + "/payload"))
        let port = try freePort()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0) }
        let words: [String] = ["/usr/bin/env", "python3", "-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", dir]
        let argv = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, environ) == 0 else { throw XCTSkip("no python3") }
        addTeardownBlock {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            try? FileManager.default.removeItem(atPath: dir)
        }
        // Up within 10 s: a connect succeeds.
        for _ in 0..<200 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = in_port_t(UInt16(port).bigEndian)
            sin.sin_addr.s_addr = inet_addr("127.0.0.1")
            let up = withUnsafePointer(to: &sin) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            Glibc.close(fd)
            if up { return ("http://127.0.0.1:\(port)/payload", port) }
            usleep(50_000)
        }
        XCTFail("python3 -m http.server did not come up on port \(port)")
        throw XCTSkip("no HTTP server")
    }

    /// Runs `command` under `recipe` (nil: natively, without the tool); its result and how long it took.
    func timed(_ recipe: String?, _ command: [String]) throws -> (Tool.Result, Double) {
        let start = Date()
        let r = try recipe.map { try Tool.run(["run", "--recipe", $0, "--seed", "1", "--"] + command) }
            ?? Tool.run(command, program: "/usr/bin/env")
        return (r, Date().timeIntervalSince(start))
    }

    /// curl's exit status, the body bytes it got (its %{size_download}) and the time it took.
    func curl(_ recipe: String?, _ url: String, maxTime: Int = 20) throws -> (status: Int32, bytes: Int, seconds: Double) {
        let (r, seconds) = try timed(recipe, ["curl", "-s", "-o", "/dev/null", "--max-time", "\(maxTime)",
                                              "-w", "%{size_download}\\n", url])
        return (r.status, Int(r.stdout.split(separator: "\n").first ?? "") ?? -1, seconds)
    }

    func testCurlUnderResetStallEarlyEOFAndBlackhole() throws {
        let (url, port) = try httpServer()
        let native = try curl(nil, url)
        XCTAssertEqual(native.status, 0)
        XCTAssertEqual(native.bytes, Self.size)

        let reset = try curl("reset:after=100k,port=\(port)", url)
        XCTAssertEqual(reset.status, 56, "curl: Recv failure: Connection reset by peer")
        XCTAssertLessThan(reset.bytes, 100 << 10)

        let stalled = try curl("stall:after=100k,port=\(port)", url, maxTime: 1)
        XCTAssertEqual(stalled.status, 28, "curl's own --max-time fired")
        XCTAssertGreaterThanOrEqual(stalled.seconds, 1)
        XCTAssertLessThan(stalled.seconds, 10)
        XCTAssertLessThan(stalled.bytes, 100 << 10)

        let ended = try curl("early-eof:after=100k,port=\(port)", url)
        XCTAssertEqual(ended.status, 18, "curl: transfer closed with bytes remaining (partial file)")

        // The request vanishes: the server never answers, curl's deadline ends it.
        let holed = try curl("blackhole:port=\(port)", url, maxTime: 1)
        XCTAssertEqual(holed.status, 28)
        XCTAssertEqual(holed.bytes, 0)

        let other = try curl("reset:after=100k,port=\(try freePort())", url)
        XCTAssertEqual(other.status, 0, "another port: left alone")
    }

    /// 512 KiB at 1 MiB/s: about half a second (the bound is generous: a loaded machine is slow,
    /// never fast), where natively it takes a fraction of that.
    func testCurlUnderBandwidthTakesSizeOverRate() throws {
        let (url, port) = try httpServer()
        let native = try curl(nil, url)
        XCTAssertEqual(native.status, 0)
        let slow = try curl("bandwidth:rate=1m,port=\(port)", url)
        XCTAssertEqual(slow.status, 0)
        XCTAssertEqual(slow.bytes, Self.size, "slower, all there")
        XCTAssertGreaterThanOrEqual(slow.seconds, 0.45, "512 KiB at 1 MiB/s")
        XCTAssertLessThan(slow.seconds, 5)
        XCTAssertGreaterThan(slow.seconds, native.seconds + 0.3, "native: \(native.seconds) s")
    }

    func testAGoHTTPClient() throws {
        let (url, port) = try httpServer()
        let program = try Programs.go("gohttpget")
        let (native, _) = try timed(nil, [program, url, "5"])
        XCTAssertEqual(native.status, 0, native.stdout)
        XCTAssertTrue(native.stdout.hasPrefix("bytes \(Self.size) of \(Self.size)"), native.stdout)

        let (reset, _) = try timed("reset:after=100k,port=\(port)", [program, url, "5"])
        XCTAssertEqual(reset.status, 1, reset.stdout)
        XCTAssertTrue(reset.stdout.contains("connection reset by peer"), reset.stdout)

        // Go waits in epoll for data that never comes: only its own deadline ends it.
        let (stalled, seconds) = try timed("stall:after=100k,port=\(port)", [program, url, "1"])
        XCTAssertEqual(stalled.status, 1, stalled.stdout)
        XCTAssertTrue(stalled.stdout.contains("Client.Timeout") || stalled.stdout.contains("deadline exceeded"), stalled.stdout)
        XCTAssertGreaterThanOrEqual(seconds, 1)
        XCTAssertLessThan(seconds, 10)

        let (slow, slowSeconds) = try timed("bandwidth:rate=1m,port=\(port)", [program, url, "20"])
        XCTAssertEqual(slow.status, 0, slow.stdout)
        XCTAssertTrue(slow.stdout.hasPrefix("bytes \(Self.size) of \(Self.size)"), slow.stdout)
        XCTAssertGreaterThanOrEqual(slowSeconds, 0.45)
    }

    /// One send() and one recv() take what short-io lets through; sendall() and a recv() loop
    /// move everything, as a correct program does.
    func testShortIOOnAPythonClientAndServer() throws {
        let program = ["python3", Tool.repo + "/Tests/programs/shortio.py"]
        let (native, _) = try timed(nil, program)
        XCTAssertEqual(native.stdout.split(separator: "\n").first, "send 10000 recv 10000 sendall 10000 loop 10000")
        let (short, _) = try timed("short-io:max=100", program)
        XCTAssertEqual(short.status, 0, short.stderr)
        XCTAssertEqual(short.stdout.split(separator: "\n").first, "send 100 recv 100 sendall 10000 loop 10000", short.stdout)
        let (reads, _) = try timed("short-io:max=100,op=read", program)
        XCTAssertEqual(reads.stdout.split(separator: "\n").first, "send 10000 recv 100 sendall 10000 loop 10000", reads.stdout)
    }

    /// 1,000 datagrams from a Python sender to a Python receiver: what arrives matches the
    /// configured probability within a binomial bound, and the same --seed gives exactly the
    /// same count.
    func testUDPLossOnPythonOverAThousandDatagrams() throws {
        func count(_ recipe: String, seed: String) throws -> (received: Int, distinct: Int) {
            let r = try Tool.run(["run", "--recipe", recipe, "--seed", seed, "--",
                                  "python3", Tool.repo + "/Tests/programs/udpcount.py", "1000"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let words = r.stdout.split(separator: "\n").first { $0.hasPrefix("sent ") }?.split(separator: " ") ?? []
            XCTAssertEqual(words.count, 6, r.stdout)
            return (Int(words.count == 6 ? words[3] : "") ?? -1, Int(words.count == 6 ? words[5] : "") ?? -1)
        }
        let a = try count("udp-loss:loss=0.3", seed: "11")
        XCTAssertTrue((628...772).contains(a.received), "1,000 at p = 0.7: mean 700, sd 14.5; got \(a)")
        XCTAssertEqual(a.received, a.distinct)
        XCTAssertEqual(try count("udp-loss:loss=0.3", seed: "11").received, a.received, "the same seed, the same count")
        // Duplicates from the tool's own socket (another source port): this receiver takes them.
        let d = try count("udp-loss:loss=0,dup=0.2", seed: "11")
        XCTAssertEqual(d.distinct, 1000, "nothing lost")
        XCTAssertTrue((1137...1263).contains(d.received), "about 200 duplicates: \(d)")
    }
}
