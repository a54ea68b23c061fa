import Foundation
import Glibc
import XCTest

/// Programs' own deadlines under `connect-timeout` (SPEC §5): a timeout recipe behaves like a
/// peer that never answers, so curl, Python (urllib, asyncio) and Go give up at their own time,
/// as they do against a real black hole (a loopback listener whose accept queue is full).
final class DeadlineTests: XCTestCase {
    /// A real black hole: a listener with a backlog of 0 and its queue filled; its port.
    func blackHole() throws -> Int {
        let (fd, port) = try Loopback.listener(self, backlog: 0)
        _ = fd
        let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = UInt16(port).bigEndian
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        addTeardownBlock { Glibc.close(filler) }
        return port
    }

    /// Each program prints its outcome and "took SECONDS" as its last line.
    func programs(_ port: Int) throws -> [(String, [String])] {
        [
            ("curl", ["/bin/sh", "-c", #"t=$(curl -s -o /dev/null -w '%{time_total}' --connect-timeout 1 "http://127.0.0.1:$0/"); echo "exit $?"; echo "took $t""#, "\(port)"]),
            ("urllib", ["python3", "-c", """
                import urllib.request, time
                t = time.time()
                try: urllib.request.urlopen("http://127.0.0.1:\(port)/", timeout=1); print("connected")
                except Exception as e: print(type(e).__name__)
                print("took %.2f" % (time.time() - t))
                """]),
            ("asyncio", ["python3", "-c", """
                import asyncio, time
                async def main():
                    t = time.time()
                    try: await asyncio.wait_for(asyncio.open_connection("127.0.0.1", \(port)), 1); print("connected")
                    except asyncio.TimeoutError: print("timeout")
                    print("took %.2f" % (time.time() - t))
                asyncio.run(main())
                """]),
            ("go", [try Programs.go("godial"), "\(port)"]),
        ]
    }

    static func took(_ output: String) -> Double? {
        output.split(separator: "\n").last { $0.hasPrefix("took ") }.flatMap { Double($0.dropFirst(5)) }
    }

    func testProgramsGiveUpAtTheirOwnTimeUnderConnectTimeout() throws {
        let hole = try blackHole()
        let target = try Loopback.closedPort()      // under the recipe: refused natively, timed out here
        for ((name, native), (_, supervised)) in zip(try programs(hole), try programs(target)) {
            let n = try Tool.run(Array(native.dropFirst()), program: try which(native[0]))
            let s = try Tool.run(["run", "--recipe", "connect-timeout:wait=5,port=\(target)", "--"] + supervised)
            let nativeTook = try XCTUnwrap(Self.took(n.stdout), "\(name) natively: \(n.stdout)\(n.stderr)")
            let took = try XCTUnwrap(Self.took(s.stdout), "\(name) under the recipe: \(s.stdout)\(s.stderr)")
            XCTAssertEqual(took, nativeTook, accuracy: 0.3, "\(name): its own deadline, as against a real black hole")
            let outcome = { (text: String, port: Int) in
                text.split(separator: "\n").first.map { $0.replacingOccurrences(of: ":\(port)", with: ":PORT") }
            }
            XCTAssertEqual(outcome(s.stdout, target), outcome(n.stdout, hole), "\(name): the same outcome as against a real black hole")
        }
    }

    func which(_ name: String) throws -> String {
        if name.hasPrefix("/") { return name }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("\(name) not installed")
    }
}
