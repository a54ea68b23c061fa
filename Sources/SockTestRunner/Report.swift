import Foundation
import SockTestCore
import SockTestLua

/// What `run` prints: the per-cookie stats in Go's socktest text form, the sockets left open, what
/// each filter did, the workload's outcomes, and script errors. `text` for people, `json` for
/// programs (the same content; schema in the README).
package struct Report: Encodable, Sendable {
    /// One cookie's statistics: its text form, the cookie's parts, and each of `Stat.Counter`
    /// under its Go name, flat in one JSON object.
    package struct StatEntry: Encodable, Sendable {
        package let stat: Stat
        /// Whether bytes were counted (SPEC §7: in-process always; for a program while its
        /// data-path calls are trapped).
        var bytes = true

        private struct Key: CodingKey {
            let stringValue: String
            init(_ name: String) { stringValue = name }
            init?(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(stat.description, forKey: Key("text"))
            try container.encode(stat.family, forKey: Key("family"))
            try container.encode(stat.type, forKey: Key("type"))
            try container.encode(stat.protocol, forKey: Key("protocol"))
            for counter in Stat.Counter.allCases { try container.encode(stat[counter], forKey: Key(counter.name)) }
            if bytes {
                try container.encode(stat.readBytes, forKey: Key("read_bytes"))
                try container.encode(stat.writtenBytes, forKey: Key("written_bytes"))
            }
        }
    }

    package struct Leak: Encodable, Sendable {
        /// The program's process id for a supervised program's socket; nil for the tool's own.
        package var pid: Int32?
        package var fd: Int32
        package var text: String
        package var err: String?
        package var socketErr: String?
        enum CodingKeys: String, CodingKey { case pid, fd, text, err, socketErr = "socket_err" }
    }

    package struct FilterEntry: Encodable, Sendable {
        package var seen: Int, failed: Int, delayed: Int, rewritten: Int, errors: Int
        /// read and write only (nil for the others, so their JSON stays as it was): calls
        /// answered with st.short, st.eof, st.reset, st.drop (SPEC §7; a reset also counts as failed).
        package var shortened: Int?, ended: Int?, reset: Int?, dropped: Int?
    }

    package var script: String?
    package var recipes: [String]
    package var seed: UInt64
    package var command: [String]?
    /// How the command ended: "exited with status 0", "killed by signal 9 (Killed)".
    package var commandStatus: String?
    package var workload: WorkloadResult?
    package var stats: [StatEntry]
    package var leaks: [Leak]
    package var filters: [String: FilterEntry]
    package var scriptErrors: [String]
    package var exitStatus: Int32
    /// What did not happen that the script meant to happen (see `Runner.warnings`).
    package var warnings: [String] = []
    /// With --record: the command that replays the run.
    package var replay: String?
    /// With --replay: how many decisions the schedule held, and how many met no call. The
    /// filters do not run then, so the report's filter counts stay empty.
    package var replayed: Replayed?

    package struct Replayed: Encodable, Sendable {
        package var decisions: Int
        package var unmet: Int
    }

    enum CodingKeys: String, CodingKey {
        case script, recipes, seed, command, workload, stats, leaks, filters
        case commandStatus = "command_status"
        case scriptErrors = "script_errors"
        case exitStatus = "exit_status"
        case warnings, replay, replayed
    }

    init(request: RunRequest, sw: Switch, host: LuaHost?, workload: WorkloadResult?, errors: [String],
         termination: String?, exitStatus: Int32) {
        commandStatus = termination
        script = request.script
        recipes = request.recipes.map(\.description)
        seed = request.seed
        command = request.command.isEmpty ? nil : request.command
        self.workload = workload
        let bytes = request.command.isEmpty || sw.hasFilter(.read) || sw.hasFilter(.write)
        stats = sw.stats().map { StatEntry(stat: $0, bytes: bytes) }
        leaks = sw.allSockets().sorted { $0.key < $1.key }.map { key, status in
            Leak(pid: key.space == 0 ? nil : key.space, fd: key.fd, text: status.description,
                 err: status.err?.name, socketErr: status.socketErr?.name)
        }
        var filters: [String: FilterEntry] = [:]
        for (type, c) in host?.filterCounts ?? [:] where c.seen + c.errors > 0 {
            let data = type.movesData
            filters[type.name] = FilterEntry(seen: c.seen, failed: c.failed, delayed: c.delayed,
                                             rewritten: c.rewritten, errors: c.errors,
                                             shortened: data ? c.shortened : nil, ended: data ? c.ended : nil,
                                             reset: data ? c.reset : nil, dropped: data ? c.dropped : nil)
        }
        self.filters = filters
        scriptErrors = errors
        self.exitStatus = exitStatus
    }

    package var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    package var text: String {
        var out: [String] = []
        var what = [script.map { "script \($0)" }, recipes.isEmpty ? nil : "recipes \(recipes.joined(separator: " "))"]
            .compactMap { $0 }.joined(separator: ", ")
        if let command { what += (what.isEmpty ? "" : ", ") + "command \(command.joined(separator: " "))" }
        out.append("socktest-lua: \(what.isEmpty ? "no script" : what), seed \(seed)")

        if let w = workload {
            let options = w.options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            out.append("")
            out.append("workload \(w.name) (\(options))")
            if let setupError = w.setupError {
                out.append("  not run: \(setupError)")
            } else {
                out.append(contentsOf: Self.outcomes(w))
            }
        }

        out.append("")
        out.append("stats:")
        out.append(contentsOf: stats.isEmpty ? ["  (no socket calls through the switch)"] : stats.map { "  \($0.stat)" })

        out.append("")
        out.append("filters:")
        if let replayed {
            out.append("  replayed \(replayed.decisions) recorded decision\(replayed.decisions == 1 ? "" : "s"), \(replayed.decisions - replayed.unmet) met their call")
        } else if filters.isEmpty {
            out.append("  (none ran)")
        } else {
            for type in FilterType.allCases {
                guard let f = filters[type.name] else { continue }
                let name = type.name.padding(toLength: 10, withPad: " ", startingAt: 0)
                let data = type.movesData ? " shortened=\(f.shortened ?? 0) ended=\(f.ended ?? 0) reset=\(f.reset ?? 0) dropped=\(f.dropped ?? 0)" : ""
                out.append("  \(name) seen=\(f.seen) failed=\(f.failed) delayed=\(f.delayed) rewritten=\(f.rewritten) errors=\(f.errors)\(data)")
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
        if !warnings.isEmpty {
            out.append("")
            out.append("warnings:")
            out.append(contentsOf: warnings.map { "  \($0)" })
        }
        if let replay {
            out.append("")
            out.append("replay: \(replay)")
        }
        return out.joined(separator: "\n")
    }

    /// A workload's operations: how many, how they failed, how long they took.
    private static func outcomes(_ w: WorkloadResult) -> [String] {
        var out = ["  \(w.total) \(w.operation)\(w.total == 1 ? "" : "s"): \(w.succeeded) succeeded, \(w.total - w.succeeded) failed"]
        for (error, n) in w.failed.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            out.append("    \(error): \(n)")
        }
        if let bytes = w.bytes, let seconds = w.seconds, let rate = w.bytesPerSecond {
            out.append(String(format: "  bytes: %d in %.3f s (%.0f bytes/s)", bytes, seconds, rate))
        }
        let l = w.latencyMs
        out.append(String(format: "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f", l.p50, l.p90, l.p99, l.max))
        return out
    }

    /// A word as a shell reads it back: quoted only when it must be.
    package static func shellQuoted(_ word: String) -> String {
        let plain = word.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_./=:,@+%".unicodeScalars.contains($0) }
        return plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
