import ArgumentParser
import Foundation
import SockTestRunner

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Fail each socket call of a program in turn, with each errno it could get, and report what the program did.",
        discussion: """
            A discovery run (under SCRIPT, if given) finds the program's socket calls; then
            one run per call site (call type, address, occurrence) and errno fails that call
            (transient) or it and every later call of its kind (persistent). Outcomes:
            survived (the discovery run's exit status), exited N, crashed SIGNAME, hung
            (killed past --timeout), plus leaked N. Bad runs get a replay command.
            Exit status: 1 when a run crashed or hung (--strict: also exited or leaked).

            Example:
              socktest-lua sweep --calls accept,connect --jobs 4 --junit sweep.xml -- ./my-server
            """)

    @Argument(help: ArgumentHelp("A script whose filters apply to every run (optional).", valueName: "SCRIPT.lua"))
    var script: String?

    @Option(help: ArgumentHelp("Call types to sweep, comma-separated, or all (default: all but read, write, shutdown).", valueName: "TYPES"))
    var calls: String?

    @Option(help: ArgumentHelp("auto (a table per call type, see docs/trace-and-sweep.md) or errno names, comma-separated.", valueName: "auto|LIST"))
    var errnos = "auto"

    @Option(help: ArgumentHelp("transient, persistent or both.", valueName: "MODE"))
    var mode = "both"

    @Option(help: "Runs at a time.")
    var jobs = 1

    @Option(help: ArgumentHelp("Seconds a run may take before it counts as hung and is killed.", valueName: "S"))
    var timeout = 10.0

    @Option(help: ArgumentHelp("At most this many runs after discovery.", valueName: "N"))
    var maxRuns = 200

    @Option(help: ArgumentHelp("Write JUnit XML (one testcase per run) to FILE.", valueName: "FILE"))
    var junit: String?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    @Flag(help: "Exit 1 also when a run exited with another status or leaked sockets.")
    var strict = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The program to sweep (after --).", valueName: "COMMAND"))
    var command: [String] = []

    func run() throws {
        var request = SweepRequest(script: script, command: command)
        if let calls { request.calls = try RunRequest.filterTypes(calls, option: "--calls") }
        if errnos != "auto" { request.errnos = try SweepRequest.errnoList(errnos) }
        switch mode {
        case "transient": request.persistent = false
        case "persistent": request.transient = false
        case "both": break
        default: throw UsageError("--mode: '\(mode)' is not transient, persistent or both")
        }
        guard (1...64).contains(jobs) else { throw UsageError("--jobs: \(jobs) is not within 1-64") }
        guard timeout > 0, timeout <= 3600 else { throw UsageError("--timeout: \(timeout) is not within 0-3600 seconds") }
        guard maxRuns >= 1 else { throw UsageError("--max-runs: \(maxRuns) is not a whole number >= 1") }
        request.jobs = jobs
        request.timeout = timeout
        request.maxRuns = maxRuns
        request.strict = strict
        let result = try Sweep.run(request)
        if let junit {
            do { try result.junit.write(toFile: junit, atomically: true, encoding: .utf8) }
            catch { throw UsageError("--junit \(junit): cannot write (\(error.localizedDescription))") }
        }
        print(json ? result.json : result.text)
        throw ExitCode(result.exitStatus)
    }
}
