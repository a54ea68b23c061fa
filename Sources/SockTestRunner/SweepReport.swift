import Foundation
import SockTestCore

/// One sweep run's outcome: survived, exited N, crashed SIGNAME, hung (or error: the tool's
/// own failure), and sockets leaked beyond the discovery run's.
package struct SweepOutcome: Sendable {
    package let run: SweepRun
    /// 1-based, as the run's schedule file is named.
    package let index: Int
    package var result: String
    package var leaked: Int
    package var seconds: Double
    package var lastOutput: [String]
    /// The command that replays it (bad runs only): the schedule inline, so it needs no file.
    package var replay: String?

    /// "crashed SIGSEGV", "survived, leaked 2".
    package var label: String { leaked > 0 ? "\(result), leaked \(leaked)" : result }

    /// Whether it fails the sweep: crashed, hung or a tool error; with --strict also exited
    /// and leaked.
    func isBad(strict: Bool) -> Bool {
        if result.hasPrefix("crashed") || result == "hung" || result.hasPrefix("error") { return true }
        return strict && (result.hasPrefix("exited") || leaked > 0)
    }

    static func signalName(_ n: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
            SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
            SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
            SIGSYS: "SIGSYS", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ",
        ]
        return names[n] ?? "signal \(n)"
    }
}

/// A whole sweep: its outcomes as a table, JSON and JUnit XML.
package struct SweepResult: Sendable {
    package let request: SweepRequest
    package let sites: Int
    package let planned: Int
    package let baseline: Int32
    package var outcomes: [SweepOutcome]
    package var exitStatus: Int32 { outcomes.contains { $0.isBad(strict: request.strict) } ? 1 : 0 }

    /// Outcomes grouped by label, the worst first: crashed, hung, error, exited, leaked, survived.
    private var groups: [(label: String, runs: [SweepOutcome])] {
        let grouped = Dictionary(grouping: outcomes, by: \.label)
        func rank(_ o: SweepOutcome) -> Int {
            let order = ["crashed", "hung", "error", "exited"]
            return order.firstIndex { o.result.hasPrefix($0) } ?? (o.leaked > 0 ? 4 : 5)
        }
        return grouped.map { ($0.key, $0.value.sorted { $0.index < $1.index }) }.sorted { a, b in
            let (ra, rb) = (rank(a.runs[0]), rank(b.runs[0]))
            return ra != rb ? ra < rb : a.label < b.label
        }
    }

    package var text: String {
        var out = ["sweep: \(sites) call site\(sites == 1 ? "" : "s"), \(outcomes.count) run\(outcomes.count == 1 ? "" : "s") (discovery run exited \(baseline))"]
        if planned > outcomes.count {
            out.append("only the first \(outcomes.count) of \(planned) runs were made (--max-runs \(request.maxRuns))")
        }
        for (label, runs) in groups {
            out.append("")
            out.append("\(label): \(runs.count) run\(runs.count == 1 ? "" : "s")")
            for run in runs {
                out.append("  \(run.run.site)  \(run.run.errno.name)  \(run.run.mode)")
                if let replay = run.replay { out.append("    replay: \(replay)") }
            }
        }
        return out.joined(separator: "\n")
    }

    package var json: String {
        var runs: [[String: Any]] = []
        for o in outcomes {
            var run: [String: Any] = [
                "run": o.index, "call": o.run.site.call, "kind": o.run.site.kind, "via": o.run.site.via,
                "addr": o.run.site.addr, "conn": o.run.site.conn, "nth": o.run.site.nth,
                "errno": o.run.errno.name, "mode": o.run.mode, "outcome": o.result, "leaked": o.leaked,
                "seconds": (o.seconds * 1000).rounded() / 1000,
            ]
            if let replay = o.replay { run["replay"] = replay }
            runs.append(run)
        }
        var summary: [String: Int] = [:]
        for o in outcomes { summary[o.label, default: 0] += 1 }
        let object: [String: Any] = [
            "command": request.command, "script": request.script ?? NSNull(), "sites": sites,
            "planned": planned, "discovery_status": baseline, "runs": runs, "summary": summary,
            "exit_status": exitStatus,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// JUnit XML: one testcase per run; crashed and hung runs (with --strict, exited and
    /// leaked too) are failures carrying the program's last output lines.
    package var junit: String {
        let failures = outcomes.filter { $0.isBad(strict: request.strict) }.count
        let time = outcomes.reduce(0) { $0 + $1.seconds }
        var out = [#"<?xml version="1.0" encoding="UTF-8"?>"#,
                   #"<testsuites name="socktest-lua sweep" tests="\#(outcomes.count)" failures="\#(failures)">"#,
                   #"  <testsuite name="\#(Self.xml(request.command.joined(separator: " ")))" tests="\#(outcomes.count)" failures="\#(failures)" errors="0" time="\#(String(format: "%.3f", time))">"#]
        for o in outcomes {
            let name = "\(o.run.site) \(o.run.errno.name) \(o.run.mode)"
            out.append(#"    <testcase classname="sweep.\#(o.run.site.call)" name="\#(Self.xml(name))" time="\#(String(format: "%.3f", o.seconds))">"#)
            let body = ([o.replay.map { "replay: \($0)" } ?? "", "last output:"] + o.lastOutput).filter { !$0.isEmpty }
            if o.isBad(strict: request.strict) {
                out.append(#"      <failure message="\#(Self.xml(o.label))" type="\#(Self.xml(o.result.split(separator: " ").first.map(String.init) ?? ""))">\#(Self.xml(body.joined(separator: "\n")))</failure>"#)
            } else {
                out.append("      <system-out>\(Self.xml(body.joined(separator: "\n")))</system-out>")
            }
            out.append("    </testcase>")
        }
        out += ["  </testsuite>", "</testsuites>"]
        return out.joined(separator: "\n") + "\n"
    }

    /// Escaped for XML text and attributes; characters XML 1.0 cannot hold are dropped.
    static func xml(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n", "\t": out.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF: continue
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
