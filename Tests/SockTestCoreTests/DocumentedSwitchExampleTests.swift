import Glibc
import SockTestCore
import XCTest

/// docs/semantics.md's Swift example, as it stands there (DocumentationTests checks that it
/// does), and what it prints.
final class DocumentedSwitchExampleTests: XCTestCase {
    func testTheSwitchExample() throws {
        var printed: [String] = []
        func print(_ item: Any) { printed.append("\(item)") }

        let sw = Switch()
        // Refuse every IPv6 connect; let IPv4 through but watch its outcome.
        sw.set(.connect) { call throws(Errno) in
            if call.status.cookie.family == AF_INET6 { throw .connectionRefused }
            return { call throws(Errno) in            // after-filter: sees the real outcome
                if call.status.err == .timedOut { call.status.err = .connectionReset }  // rewrite it
            }
        }
        let fd = try sw.socket(family: AF_INET6, type: Int32(SOCK_STREAM.rawValue))
        do { try sw.connect(fd, to: SocketAddress("[::1]:8080")!) } catch { print(error.name) } // ECONNREFUSED
        try sw.close(fd)
        for stat in sw.stats() { print(stat) }
        // (inet6, stream, default): opened=1, connected=0, listened=0, accepted=0, closed=1, openfailed=0, ...

        XCTAssertEqual(printed, [
            "ECONNREFUSED",
            "(inet6, stream, default): opened=1, connected=0, listened=0, accepted=0, closed=1, openfailed=0, "
                + "connectfailed=0, listenfailed=0, acceptfailed=0, closefailed=0",
        ])
    }
}
