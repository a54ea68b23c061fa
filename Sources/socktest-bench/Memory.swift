import Foundation
import SockTestCore
import SockTestLua

/// Resident memory with N sockets open: raw, and tracked by a switch with a Lua host loaded.
enum Memory {
    struct Result: Codable {
        var sockets: Int
        var rawMiB: Double
        var switchMiB: Double
        var bytesPerSocket: Double
    }

    static func measure(sockets n: Int) throws -> Result {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = max(limit.rlim_cur, min(limit.rlim_max, rlim_t(n + 1000)))
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)

        let base = rss()
        var fds = (0..<n).map { _ in Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0) }
        let raw = rss() - base
        fds.forEach { _ = Glibc.close($0) }

        let sw = Switch()
        let host = try LuaHost(switch: sw)
        try host.load(string: #"socktest.set("socket", function(so) end)"#)
        let before = rss()
        fds = (0..<n).map { _ in (try? sw.socket(family: AF_INET, type: Int32(SOCK_STREAM.rawValue))) ?? -1 }
        let tracked = rss() - before
        precondition(sw.sockets().count == n, "could not open \(n) sockets (RLIMIT_NOFILE?)")
        fds.forEach { try? sw.close($0) }
        withExtendedLifetime(host) {}
        return Result(sockets: n, rawMiB: raw / 1_048_576, switchMiB: tracked / 1_048_576,
                      bytesPerSocket: (tracked - raw) / Double(n))
    }

    /// Resident set size in bytes (VmRSS).
    static func rss() -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        return kb * 1024
    }
}
