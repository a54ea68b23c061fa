import Foundation
import Glibc
import XCTest

/// The test programs of Tests/programs, built once per test process into the scratch folder.
enum Programs {
    private static let built = Locked()

    /// Tests/programs/NAME.c, built with cc (static with `isStatic`).
    static func c(_ name: String, static isStatic: Bool = false) throws -> String {
        try build(name + (isStatic ? "-static" : "")) { out in
            ["cc", "-O2", "-pthread"] + (isStatic ? ["-static"] : []) + ["-o", out, Tool.repo + "/Tests/programs/\(name).c"]
        }
    }

    /// Tests/programs/NAME.go, built as a static binary (CGO_ENABLED=0) with the go toolchain
    /// (scripts/test installs golang-go).
    static func go(_ name: String) throws -> String {
        try build(name) { out in ["go", "build", "-o", out, Tool.repo + "/Tests/programs/\(name).go"] }
    }

    private static func build(_ name: String, _ command: (String) -> [String]) throws -> String {
        try built.withLock { programs in
            if let path = programs[name] { return path }
            let out = Tool.scratchPath(name)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = command(out)
            p.environment = ProcessInfo.processInfo.environment.merging(
                ["CGO_ENABLED": "0", "GOCACHE": NSTemporaryDirectory() + "socktest-gocache", "GOFLAGS": "-mod=mod"]) { $1 }
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw XCTSkip("could not build \(name): \(command(out).joined(separator: " "))") }
            programs[name] = out
            return out
        }
    }

    private final class Locked: @unchecked Sendable {
        private var programs: [String: String] = [:]
        private let lock = NSLock()
        func withLock<R>(_ body: (inout [String: String]) throws -> R) rethrows -> R {
            lock.lock()
            defer { lock.unlock() }
            return try body(&programs)
        }
    }
}

/// Loopback listeners and ports for tests of external programs.
extension XCTestCase {
    /// A listener on 127.0.0.1 in this test process that nobody accepts from (the backlog holds
    /// the connections); its port. Closed when the test ends.
    func listener() throws -> (fd: Int32, port: Int) { try Loopback.listener(self) }

    /// A port on 127.0.0.1 that nothing listens on: the kernel's pick, let go again. (Closed
    /// once: it was closed at the test's end a second time, which closed whatever had the
    /// number by then — Foundation's child-watching pipe — and the next test died of SIGPIPE.)
    func freePort() throws -> Int { try Loopback.closedPort() }

    /// Builds Tests/programs/NAME.c (once per test process).
    func build(_ name: String, static isStatic: Bool = false) throws -> String {
        try Programs.c(name, static: isStatic)
    }
}
