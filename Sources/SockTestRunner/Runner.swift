import Foundation
import SockTestCore
import SockTestLua
import SockTestSupervisor

/// What `socktest-lua run` was asked to do.
package struct RunRequest: Sendable {
    package var script: String?
    package var recipes: [NamedOptions] = []
    package var seed: UInt64 = 1
    package var workload: NamedOptions?
    package var command: [String] = []
    /// The command's arguments byte for byte (the text in `command` may have repaired bytes that
    /// are not UTF-8); nil to use `command`.
    package var commandBytes: [[CChar]]?
    package var limits = LuaHost.Limits()
    /// --trace: nil for none, "-" for stderr, else a file; JSON Lines with `traceJSON`.
    package var trace: String?
    package var traceJSON = false
    /// --record FILE: the schedule is written there.
    package var record: String?
    /// --replay FILE, read: its decisions replace the filters'.
    package var replay: Schedule?
    /// Filter types given a filter that lets every call pass, so that their calls are seen
    /// (traced, recorded, trapped in a program) even where the script sets none.
    package var observe: [FilterType] = []
    /// What the script may reach beyond the sandbox (`--allow`).
    package var allow: Allowances = []
    /// With a command: a script error makes the run exit `Runner.strictStatus` (`--strict`).
    package var strict = false
    /// Lua code holding the Lua state this long without returning is stopped (the watchdog).
    package var holdSeconds = 5.0

    package init(script: String?) { self.script = script }
}

/// How a run ended: the report, the errors for stderr, and the exit status.
package struct RunOutcome: Sendable {
    package let report: Report
    package let errors: [String]
    /// How the COMMAND ended, if there was one.
    var termination: Termination? = nil
    package var exitStatus: Int32 { report.exitStatus }

    /// Whether a signal killed the COMMAND (said on stderr, as a shell would).
    package var commandWasKilled: Bool {
        if case .signaled = termination { return true }
        return false
    }
}

/// Runs a script (and recipes) against a workload: the whole of `socktest-lua run` but the
/// argument parsing. Usage mistakes throw before anything runs; script errors end up in the
/// outcome (exit status 1).
package enum Runner {
    /// The exit status of a run with a command when the script failed and `--strict` was given,
    /// or when the watchdog stopped the run (the program was killed, its status means nothing).
    package static let strictStatus: Int32 = 3

    /// `stopped` is called (on the watchdog's thread) with the outcome of a run that Lua code
    /// stuck in one C call has ended: print it and exit, for nothing can unwind the stuck thread.
    package static func run(_ request: RunRequest, library: RecipeLibrary,
                            stopped: @escaping @Sendable (RunOutcome) -> Void = { _ in }) throws(UsageError) -> RunOutcome {
        let workload = try request.workload.map { spec throws(UsageError) in try Workloads.make(spec) }
        let recipes = try validate(request, library: library)

        let log = try callLog(for: request)
        let sw = log.map { Switch(tap: $0) } ?? Switch()
        log?.attach(sw)
        var errors: [String] = []
        var host: LuaHost?
        var watchdog: Watchdog?
        let program = Locked<pid_t?>(nil)
        var result: WorkloadResult?
        var termination: Termination?
        defer { watchdog?.stop() }
        do {
            var paths = library.roots
            if let script = request.script { paths.insert((script as NSString).deletingLastPathComponent.nonEmpty ?? ".", at: 0) }
            let lua = try LuaHost(switch: sw, seed: request.seed, limits: request.limits, modulePaths: paths,
                                  allow: request.allow)
            host = lua
            var observed = Set(request.observe)
            for name in request.replay?.observe ?? [] { observed.formUnion((try? FilterType.list(name, option: "observe")) ?? []) }
            for decision in request.replay?.decisions ?? [] { FilterType(name: decision.site.call).map { _ = observed.insert($0) } }
            for type in observed.sorted(by: { $0.rawValue < $1.rawValue }) { sw.set(type) { _ in nil } }
            watchdog = Watchdog(lua.monitor, deadline: request.holdSeconds) { message in
                if let pid = program.withLock({ $0 }) { kill(-pid, SIGKILL) }
                let errors = [message] + lua.scriptErrors
                let report = Report(request: request, sw: sw, host: nil, workload: nil, errors: errors,
                                    termination: nil, exitStatus: request.command.isEmpty ? 1 : strictStatus)
                stopped(RunOutcome(report: report, errors: errors))
            }
            for (recipe, path) in recipes {
                do {
                    try lua.apply(recipe: "recipes." + recipe.name, path: path, options: recipe.luaOptions)
                } catch {
                    // A recipe that refuses its options is a mistake on the command line.
                    throw UsageError("--recipe \(recipe): \(error.message.split(separator: "\n").first ?? "")")
                }
            }
            if let script = request.script { try lua.load(file: script) }
            result = workload?.run(on: sw)
            if !request.command.isEmpty {
                let supervisor: Supervisor
                do {
                    supervisor = try Supervisor(switch: sw, command: request.command, arguments: request.commandBytes)
                    program.withLock { $0 = supervisor.pid }
                    termination = try supervisor.run()
                } catch {
                    throw UsageError(error.message)   // no such program, or a kernel without the feature
                }
                errors += supervisor.scriptProblems
            }
        } catch let error as UsageError {
            throw error
        } catch let error as LuaError {
            errors.append(error.message)
        } catch {
            errors.append("\(error)")
        }
        errors += folded(host?.scriptErrors ?? [])
        let unkept = (host?.scriptErrorCount ?? 0) - (host?.scriptErrors.count ?? 0)
        if unkept > 0 { errors.append("(\(unkept) more script errors, not kept: only the first \(host?.scriptErrors.count ?? 0) are)") }
        // With a command, its own status: CI sees whether the program survived the faults;
        // with --strict, a script error (faults that were not injected) shows too.
        let status = if let termination {
            request.strict && !errors.isEmpty ? strictStatus : termination.exitStatus
        } else {
            errors.isEmpty ? Int32(0) : 1
        }
        var report = Report(request: request, sw: sw, host: host, workload: result, errors: errors,
                            termination: termination?.description, exitStatus: status)
        report.warnings = warnings(request, host: host, log: log)
        if let schedule = request.replay {
            report.replayed = .init(decisions: schedule.decisions.count, unmet: log?.unmet.count ?? 0)
        }
        if let path = request.record, let log {
            let schedule = Schedule(seed: request.seed, script: request.script, recipes: request.recipes.map(\.description),
                                    workload: request.workload?.description, command: request.command.isEmpty ? nil : request.command,
                                    observe: request.observe.isEmpty ? nil : request.observe.map(\.name), decisions: log.decisions)
            do {
                try schedule.write(to: path)
                report.replay = "socktest-lua run --replay \(Report.shellQuoted(path))"
            } catch {
                report.scriptErrors.append("--record \(path): cannot write (\(error.localizedDescription))")
            }
        }
        host?.close()
        return RunOutcome(report: report, errors: errors, termination: termination)
    }

    private static func callLog(for request: RunRequest) throws(UsageError) -> CallLog? {
        guard request.trace != nil || request.record != nil || request.replay != nil else { return nil }
        return try CallLog(.init(trace: request.trace, json: request.traceJSON, record: request.record != nil,
                                 replay: request.replay))
    }

    /// What did not happen: filters that injected nothing, recipe options no call matched,
    /// recorded decisions no call met.
    static func warnings(_ request: RunRequest, host: LuaHost?, log: CallLog?) -> [String] {
        var warnings: [String] = []
        if request.replay != nil {
            for unmet in log?.unmet ?? [] { warnings.append("recorded decision met no call: \(unmet.site): \(unmet.verdict)") }
        } else if let host {
            let counts = host.filterCounts
            for type in FilterType.allCases where host.filterTypesSet.contains(type) {
                let c = counts[type] ?? FilterCounts()
                if c.failed + c.delayed + c.rewritten + c.errors + c.shortened + c.ended + c.dropped == 0 {
                    warnings.append("filter for '\(type.name)' injected nothing (saw \(c.seen) call\(c.seen == 1 ? "" : "s"))")
                }
            }
        }
        for target in host?.unmatchedTargets ?? [] { warnings.append("recipe \(target) matched no call") }
        return warnings
    }

    /// The same error raised by many calls is reported once, with how often it happened.
    static func folded(_ errors: [String]) -> [String] {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for error in errors {
            if counts[error] == nil { order.append(error) }
            counts[error, default: 0] += 1
        }
        return order.map { counts[$0]! > 1 ? "\($0)\n(the same error \(counts[$0]!) times)" : $0 }
    }

    /// Checks the request; the file of each recipe, found on the recipe path only.
    private static func validate(_ request: RunRequest, library: RecipeLibrary) throws(UsageError) -> [(NamedOptions, String)] {
        if let script = request.script { try checkScript(script) }
        let recipes = try request.recipes.map { recipe throws(UsageError) in
            guard let found = library.recipe(named: recipe.name) else { throw UsageError(library.unknown(recipe.name)) }
            return (recipe, found.path)
        }
        if request.script == nil && request.recipes.isEmpty && request.replay == nil && request.observe.isEmpty {
            throw UsageError("nothing to run: give a SCRIPT.lua or --recipe NAME")
        }
        return recipes
    }

    /// A script must be a regular file: a directory, a FIFO or a device is a usage error
    /// under `run` and `check` alike (a FIFO would wait for a writer).
    private static func checkScript(_ script: String) throws(UsageError) {
        var info = stat()
        guard stat(script, &info) == 0 else { throw UsageError("no such script: \(script)") }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFDIR: throw UsageError("\(script) is a directory, not a Lua script")
        default: throw UsageError("\(script) is not a regular file (a FIFO or a device is not read)")
        }
    }

    /// Compiles a script without running it, then looks for the mistakes `StaticCheck` can see:
    /// each problem as "script.lua:12: ...", none when the script is fine.
    package static func check(_ script: String) throws(UsageError) -> [String] {
        try checkScript(script)
        guard let source = try? String(contentsOfFile: script, encoding: .utf8) else {
            throw UsageError("cannot read \(script)")
        }
        do {
            let host = try LuaHost(switch: Switch())
            defer { host.close() }
            try host.compile(file: script)
        } catch {
            return [error.message]
        }
        return StaticCheck.problems(in: source).map { "\(script):\($0)" }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
