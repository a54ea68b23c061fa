import Foundation
import SockTestCore
import SockTestLua

/// What `run` prints: the per-cookie stats in the seed's text form, the sockets left open, what
/// each filter did, the workload's outcomes, and script errors. `text` for people, `json` for
/// programs (the same content; schema in the README).
public struct Report: Codable, Sendable {
    public struct StatEntry: Codable, Sendable {
        public var text: String
        public var family: Int32, type: Int32, `protocol`: Int32
        public var opened: UInt64, connected: UInt64, listened: UInt64, accepted: UInt64, closed: UInt64
        public var openfailed: UInt64, connectfailed: UInt64, listenfailed: UInt64, acceptfailed: UInt64, closefailed: UInt64
    }

    public struct Leak: Codable, Sendable {
        /// The program's process id for a supervised program's socket; nil for the tool's own.
        public var pid: Int32?
        public var fd: Int32
        public var text: String
        public var err: String?
        public var socketErr: String?
        enum CodingKeys: String, CodingKey { case pid, fd, text, err, socketErr = "socket_err" }
    }

    public struct FilterEntry: Codable, Sendable {
        public var seen: Int, failed: Int, delayed: Int, rewritten: Int, errors: Int
    }

    public var script: String?
    public var recipes: [String]
    public var seed: UInt64
    public var command: [String]?
    /// How the command ended: "exited with status 0", "killed by signal 9 (Killed)".
    public var commandStatus: String?
    public var workload: WorkloadResult?
    public var stats: [StatEntry]
    public var leaks: [Leak]
    public var filters: [String: FilterEntry]
    public var scriptErrors: [String]
    public var exitStatus: Int32

    enum CodingKeys: String, CodingKey {
        case script, recipes, seed, command, workload, stats, leaks, filters
        case commandStatus = "command_status"
        case scriptErrors = "script_errors"
        case exitStatus = "exit_status"
    }

    init(request: RunRequest, sw: Switch, host: LuaHost?, workload: WorkloadResult?, errors: [String],
         termination: String?, exitStatus: Int32) {
        commandStatus = termination
        script = request.script
        recipes = request.recipes.map(\.description)
        seed = request.seed
        command = request.command.isEmpty ? nil : request.command
        self.workload = workload
        stats = sw.stats().map { s in
            StatEntry(text: s.description, family: s.family, type: s.type, protocol: s.protocol,
                      opened: s.opened, connected: s.connected, listened: s.listened, accepted: s.accepted,
                      closed: s.closed, openfailed: s.openFailed, connectfailed: s.connectFailed,
                      listenfailed: s.listenFailed, acceptfailed: s.acceptFailed, closefailed: s.closeFailed)
        }
        leaks = sw.allSockets().sorted { $0.key < $1.key }.map { key, status in
            Leak(pid: key.space == 0 ? nil : key.space, fd: key.fd, text: status.description,
                 err: status.err?.name, socketErr: status.socketErr?.name)
        }
        var filters: [String: FilterEntry] = [:]
        for (type, c) in host?.filterCounts ?? [:] where c.seen + c.errors > 0 {
            filters[type.name] = FilterEntry(seen: c.seen, failed: c.failed, delayed: c.delayed,
                                             rewritten: c.rewritten, errors: c.errors)
        }
        self.filters = filters
        scriptErrors = errors
        self.exitStatus = exitStatus
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    public var text: String {
        var out: [String] = []
        var what = [script.map { "script \($0)" }, recipes.isEmpty ? nil : "recipes \(recipes.joined(separator: " "))"]
            .compactMap { $0 }.joined(separator: ", ")
        if let command { what += (what.isEmpty ? "" : ", ") + "command \(command.joined(separator: " "))" }
        out.append("socktest-lua: \(what.isEmpty ? "no script" : what), seed \(seed)")

        if let w = workload {
            let options = w.options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            out.append("")
            out.append("workload \(w.name) (\(options))")
            out.append("  \(w.total) \(w.operation)\(w.total == 1 ? "" : "s"): \(w.succeeded) succeeded, \(w.total - w.succeeded) failed")
            for (error, n) in w.failed.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
                out.append("    \(error): \(n)")
            }
            let l = w.latencyMs
            out.append(String(format: "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f", l.p50, l.p90, l.p99, l.max))
        }

        out.append("")
        out.append("stats:")
        out.append(contentsOf: stats.isEmpty ? ["  (no socket calls through the switch)"] : stats.map { "  " + $0.text })

        out.append("")
        out.append("filters:")
        if filters.isEmpty {
            out.append("  (none ran)")
        } else {
            for type in FilterType.allCases {
                guard let f = filters[type.name] else { continue }
                let name = type.name.padding(toLength: 10, withPad: " ", startingAt: 0)
                out.append("  \(name) seen=\(f.seen) failed=\(f.failed) delayed=\(f.delayed) rewritten=\(f.rewritten) errors=\(f.errors)")
            }
        }

        out.append("")
        out.append(leaks.isEmpty ? "leaks: none" : "leaks: \(leaks.count) socket\(leaks.count == 1 ? "" : "s") still open")
        out.append(contentsOf: leaks.map { leak in
            "  \(leak.pid.map { "pid \($0) " } ?? "")fd \(leak.fd): \(leak.text)"
        })
        if let commandStatus {
            out.append("")
            out.append("command: \(commandStatus)")
        }

        if !scriptErrors.isEmpty {
            out.append("")
            out.append("script errors: \(scriptErrors.count) (details on stderr)")
        }
        return out.joined(separator: "\n")
    }
}
