import Foundation
import SockTestCore

/// What `socktest-lua sweep` was asked to do.
package struct SweepRequest: Sendable {
    package var script: String?
    package var command: [String]
    /// The connection calls by default: a program makes reads and writes by the thousand, and
    /// observing them traps each one (`--calls read,write` asks for them).
    package var calls: [FilterType] = FilterType.allCases.filter { !FilterType.dataPath.contains($0) }
    /// nil: the `auto` table.
    /// What the runs observe, as `--observe` takes it: every connection call (a site is named by
    /// the socket's bind or connect, say), and the data path's types only when swept.
    var observed: String {
        FilterType.allCases.filter { !FilterType.dataPath.contains($0) || calls.contains($0) }.map(\.name).joined(separator: ",")
    }
    package var errnos: [String]?
    package var transient = true
    package var persistent = true
    package var jobs = 1
    package var timeout = 10.0
    package var maxRuns = 200
    package var strict = false

    package init(script: String?, command: [String]) {
        self.script = script
        self.command = command
    }
}

/// A sweep: the discovery run under the script, then one run per call site × errno × mode,
/// each the tool running itself on a generated schedule (`run --replay`) that fails that one
/// call (and, persistent, every later call of its type and kind) while the script's filters
/// decide the rest.
package enum Sweep {
    /// Every run's outcome, or a usage error before anything ran.
    package static func run(_ request: SweepRequest) throws(UsageError) -> SweepResult {
        if let script = request.script, !FileManager.default.fileExists(atPath: script) {
            throw UsageError("no such script: \(script)")
        }
        guard !request.command.isEmpty else { throw UsageError("sweep needs a COMMAND after --") }
        let scratch = try makeScratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let interrupted = removeOnInterrupt(scratch)
        defer { interrupted.forEach { $0.cancel() } }
        let tool = ChildRun.executable
        let seed = UInt64.random(in: 1...999_999)

        // Discovery: the calls seen (--observe), their sites in the JSON trace.
        let tracePath = scratch + "/discovery.jsonl"
        var arguments = ["run"] + (request.script.map { [$0] } ?? [])
        arguments += ["--observe", request.observed, "--trace-to", tracePath, "--json", "--seed", String(seed), "--"] + request.command
        let discovery: ChildRun
        do { discovery = try ChildRun.run(tool, arguments, timeout: request.timeout, scratch: scratch) }
        catch { throw UsageError("\(error)") }
        let first = RunReport(discovery)
        guard discovery.ending != .hung, let baseline = first.exitStatus, first.commandStatus != nil else {
            throw UsageError("the discovery run did not finish: \(first.problem(discovery))")
        }
        let sites = Self.sites(tracePath, calls: request.calls)

        var plan: [SweepRun] = []
        for site in sites {
            guard let type = FilterType(name: site.call) else { continue }
            for name in request.errnos ?? SweepErrnos.auto[type] ?? [] {
                guard let err = Errno(name: name) else { continue }
                if request.transient { plan.append(SweepRun(site: site, errno: err, persistent: false)) }
                if request.persistent && (request.errnos != nil || !SweepErrnos.retried.contains(name)) {
                    plan.append(SweepRun(site: site, errno: err, persistent: true))
                }
            }
        }
        let planned = plan.count
        if plan.count > request.maxRuns { plan.removeLast(plan.count - request.maxRuns) }

        let outcomes = Locked([SweepOutcome?](repeating: nil, count: plan.count))
        let runs = plan
        parallel(runs.count, concurrency: request.jobs) { i in
            let outcome = Self.execute(runs[i], index: i, request: request, seed: seed, tool: tool, scratch: scratch,
                                       baseline: baseline, baselineLeaks: first.leaks)
            outcomes.withLock { $0[i] = outcome }
        }
        return SweepResult(request: request, sites: sites.count, planned: planned, baseline: baseline,
                           outcomes: outcomes.withLock { $0 }.compactMap { $0 })
    }

    /// The distinct sites of the discovery run's calls of the swept types, in site order.
    static func sites(_ tracePath: String, calls: [FilterType]) -> [CallSite] {
        let text = (try? String(contentsOfFile: tracePath, encoding: .utf8)) ?? ""
        let wanted = Set(calls.map(\.name))
        var sites = Set<CallSite>()
        struct Line: Decodable { let site: CallSite }
        for line in text.split(separator: "\n") {
            guard let parsed = try? JSONDecoder().decode(Line.self, from: Data(line.utf8)) else { continue }
            if wanted.contains(parsed.site.call) { sites.insert(parsed.site) }
        }
        return sites.sorted()
    }

    private static func execute(_ run: SweepRun, index: Int, request: SweepRequest, seed: UInt64, tool: String,
                                scratch: String, baseline: Int32, baselineLeaks: Int) -> SweepOutcome {
        let type = FilterType(name: run.site.call)!
        let schedule = Schedule(seed: seed, script: request.script, recipes: [], workload: nil, command: request.command,
                                filterOthers: true, observe: [request.observed],
                                decisions: [.init(site: run.site, verdict: SweepErrnos.verdict(type, run.errno),
                                                  persistent: run.persistent ? true : nil)])
        let path = scratch + "/run-\(index + 1).json"
        var outcome = SweepOutcome(run: run, index: index + 1, result: "error", leaked: 0, seconds: 0, lastOutput: [])
        do {
            try schedule.write(to: path)
            let child = try ChildRun.run(tool, ["run", "--replay", path, "--json"], timeout: request.timeout, scratch: scratch)
            let report = RunReport(child)
            outcome.seconds = child.seconds
            outcome.lastOutput = report.programOutput(child)
            switch child.ending {
            case .hung:
                outcome.result = "hung"
            case _ where report.exitStatus == nil:
                outcome.result = "error: " + report.problem(child)
            default:
                if let signal = report.signal { outcome.result = "crashed " + SweepOutcome.signalName(signal) }
                else if report.exitStatus == baseline { outcome.result = "survived" }
                else { outcome.result = "exited \(report.exitStatus!)" }
                // A crashed program's sockets were open when it died: that is the crash, not a leak.
                if report.signal == nil { outcome.leaked = max(0, report.leaks - baselineLeaks) }
                if report.unmet { outcome.result += " (the call did not happen)" }
            }
        } catch {
            outcome.result = "error: \(error)"
        }
        if outcome.isBad(strict: request.strict) {
            outcome.replay = "socktest-lua run --replay " + Report.shellQuoted(schedule.inline)
        }
        return outcome
    }

    /// Ctrl-C or a kill: the scratch folder goes, then the sweep exits as the signal would have
    /// it; each run dies with it (`ChildRun.dieWithParentIfSwept`).
    private static func removeOnInterrupt(_ scratch: String) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM, SIGHUP].map { signo in
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            source.setEventHandler {
                try? FileManager.default.removeItem(atPath: scratch)
                _exit(128 + signo)
            }
            source.resume()
            return source
        }
    }

    private static func makeScratch() throws(UsageError) -> String {
        var template = Array((NSTemporaryDirectory() + "socktest-sweep-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw UsageError("cannot make a folder in \(NSTemporaryDirectory())")
        }
        return String(cString: made)
    }
}

/// One planned run: fail `site` with `errno`, once or from then on.
package struct SweepRun: Sendable {
    package let site: CallSite
    package let errno: Errno
    package let persistent: Bool
    package var mode: String { persistent ? "persistent" : "transient" }
}

/// What one `run --json` child said: the report on its last stdout line.
struct RunReport {
    var exitStatus: Int32?
    var commandStatus: String?
    var signal: Int32?
    var leaks = 0
    var unmet = false

    init(_ child: ChildRun) {
        guard let json = Self.report(in: child.stdout) else { return }
        exitStatus = (json["exit_status"] as? Int).map(Int32.init)
        commandStatus = json["command_status"] as? String
        if let status = commandStatus, status.hasPrefix("killed by signal "),
           let n = Int32(status.dropFirst("killed by signal ".count).prefix { $0.isNumber }) {
            signal = n
        }
        leaks = (json["leaks"] as? [Any])?.count ?? 0
        unmet = ((json["warnings"] as? [String]) ?? []).contains { $0.hasPrefix("recorded decision met no call") }
    }

    /// The report: the last line of stdout, or its end when the program's own last output
    /// had no newline (the report then follows it on the same line).
    static func report(in stdout: String) -> [String: Any]? {
        let last = Substring(stdout.split(separator: "\n").last ?? "")
        var start = last.startIndex
        while let brace = last[start...].firstIndex(of: "{") {
            if let json = (try? JSONSerialization.jsonObject(with: Data(last[brace...].utf8))) as? [String: Any] { return json }
            start = last.index(after: brace)
        }
        return nil
    }

    /// Why a run gave no report: the tool's own error.
    func problem(_ child: ChildRun) -> String {
        if child.ending == .hung { return "past the timeout" }
        let err = child.stderr.split(separator: "\n").last.map(String.init) ?? ""
        return err.isEmpty ? "no report (\(child.ending))" : err
    }

    /// The program's last lines of output: stdout without the report, then stderr.
    func programOutput(_ child: ChildRun, lines: Int = 10) -> [String] {
        var out = child.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if exitStatus != nil {
            while out.last == "" { out.removeLast() }
            if let last = out.popLast(), let brace = last.range(of: "{\"")?.lowerBound, brace != last.startIndex {
                out.append(String(last[..<brace]))      // the program's last words, before the report
            }
        }
        let all = (out + child.stderr.split(separator: "\n").map(String.init)).filter { !$0.isEmpty }
        return Array(all.suffix(lines))
    }
}

extension SweepRequest {
    /// "EMFILE,ECONNABORTED": each must be an errno the platform defines.
    package static func errnoList(_ text: String) throws(UsageError) -> [String] {
        let names = text.split(separator: ",").map(String.init)
        guard !names.isEmpty else { throw UsageError("--errnos: no errno names given") }
        for name in names where Errno(name: name) == nil {
            throw UsageError("--errnos: '\(name)' is not an errno name (such as ECONNREFUSED)")
        }
        return names
    }
}
