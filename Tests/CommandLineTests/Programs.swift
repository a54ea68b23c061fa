import Foundation
import Glibc
import XCTest

/// What tests that supervise programs share: a loopback listener, and the C programs of
/// Tests/programs built on demand.
extension XCTestCase {
    /// A listener on 127.0.0.1 in this test process that nobody accepts from (the backlog holds
    /// the connections); its port.
    func listener() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && listen(fd, 256) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        XCTAssertTrue(ok)
        addTeardownBlock { Glibc.close(fd) }
        return (fd, Int(UInt16(bigEndian: sin.sin_port)))
    }

    /// Builds Tests/programs/NAME.c into the scratch folder.
    func build(_ name: String, static isStatic: Bool = false) throws -> String {
        let out = Tool.scratchPath(name)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-O2", "-pthread"] + (isStatic ? ["-static"] : []) + ["-o", out, Tool.repo + "/Tests/programs/\(name).c"]
        try cc.run()
        cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0, "cc failed for \(name)")
        return out
    }
}
