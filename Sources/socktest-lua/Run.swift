import ArgumentParser
import Foundation
import SockTestLua
import SockTestRunner

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a script (and recipes) against a workload, then report.",
        discussion: """
            The script's top-level code runs first: it sets filters and may drive a
            workload of its own (with socktest.net). Then the --workload runs, if one
            is given, or the COMMAND after --. The report shows the per-cookie stats
            (Go socktest's text form), sockets left open, and what each filter did;
            --json prints the same as one JSON object.

            Workloads:
            \(Workloads.help)

            Examples:
              socktest-lua run scripts/examples/first-steps.lua --workload echo:clients=20
              socktest-lua run --recipe accept-emfile:every=3 --workload echo --json
              socktest-lua run slow.lua --seed 7 --workload dial:n=100,concurrency=8
            """
    )

    @Argument(help: ArgumentHelp("The Lua script to run.", valueName: "SCRIPT.lua"))
    var script: String?

    @Option(name: .customLong("recipe"), help: ArgumentHelp(
        "Apply a recipe from the library (repeatable): NAME or NAME:k=v,k=v. See `socktest-lua recipes`.",
        valueName: "NAME[:k=v,...]"))
    var recipes: [String] = []

    // A string, parsed here: "-5" must read as a bad seed, not as an unknown option.
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Seed for socktest.random / chance(); the same seed gives the same decisions. Default: random, printed in the report.",
        valueName: "N"))
    var seed: String?

    @Flag(help: "Print the report as one JSON object (schema in the README).")
    var json = false

    @Option(help: ArgumentHelp("A built-in workload: echo, dial or transfer, with options.", valueName: "NAME[:k=v,...]"))
    var workload: String?

    @Flag(help: ArgumentHelp("Write a line per filtered call as it happens, to stderr or (--trace=FILE) to FILE; JSON Lines with --json.",
                             valueName: "trace[=FILE]"))
    var trace = false

    /// --trace=FILE arrives here (SocktestLua.main rewrites it: an option's value cannot be optional).
    @Option(name: .customLong("trace-to"), help: .hidden)
    var traceFile: String?

    @Option(help: ArgumentHelp("Write the run's fault schedule to FILE (JSON), for --replay.", valueName: "FILE"))
    var record: String?

    @Option(help: ArgumentHelp("Apply the decisions recorded in FILE instead of the filters' own (script, recipes and command default to the recorded ones).",
                               valueName: "FILE"))
    var replay: String?

    @Option(help: ArgumentHelp("Give these filter types a filter that lets every call pass, so their calls are traced and recorded too (comma-separated, or all).",
                               valueName: "TYPES"))
    var observe: String?

    @Option(help: ArgumentHelp(
        "Let the script reach more than the sandbox (comma-separated): io, os, c, bytecode, debug, or all. See docs/sandbox.md.",
        valueName: "LIST"))
    var allow: String?

    @Flag(help: "With a COMMAND: exit \(Runner.strictStatus) when the script had an error (faults it asked for were not injected), whatever the command's status.")
    var strict = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp(
        "A program to run under the script's filters (after --).", valueName: "COMMAND"))
    var command: [String] = []

    func run() throws {
        ChildRun.dieWithParentIfSwept()
        var request = RunRequest(script: script)
        request.recipes = try recipes.map { spec throws(UsageError) in try NamedOptions(parsing: spec) }
        request.workload = try workload.map { spec throws(UsageError) in try NamedOptions(parsing: spec) }
        request.seed = try seed.map { text throws(UsageError) in
            guard let value = UInt64(text) else {
                throw UsageError("--seed must be a whole number within 0-\(UInt64.max), got '\(text)'")
            }
            return value
        } ?? UInt64.random(in: 1...999_999)
        if let allow {
            do throws(Allowances.UnknownName) {
                request.allow = try Allowances(parsing: allow)
            } catch {
                throw UsageError("--allow: \(error.message)")
            }
        }
        request.strict = strict
        request.command = command
        request.commandBytes = Self.bytesAfterTerminator(count: command.count)
        request.trace = traceFile ?? (trace ? "-" : nil)
        request.traceJSON = json
        request.record = record
        request.observe = try observe.map { text throws(UsageError) in try RunRequest.filterTypes(text, option: "--observe") } ?? []
        if let replay {
            guard seed == nil else { throw UsageError("--seed and --replay: a replay takes its seed from \(replay)") }
            let schedule = try Schedule.load(replay)
            request.replay = schedule
            request.seed = schedule.seed
            // What was recorded, unless the command line says otherwise.
            if script == nil && recipes.isEmpty {
                request.script = schedule.script
                request.recipes = try schedule.recipes.map { spec throws(UsageError) in try NamedOptions(parsing: spec) }
            }
            if workload == nil && command.isEmpty {
                request.workload = try schedule.workload.map { spec throws(UsageError) in try NamedOptions(parsing: spec) }
                request.command = schedule.command ?? []
            }
        }
        let (json, command) = (json, command)
        let outcome = try Runner.run(request, library: RecipeLibrary.locate()) { outcome in
            // The watchdog's thread: a filter is stuck in a C call; report and end the process.
            Self.emit(outcome, json: json, command: command)
            fflush(nil)
            _exit(outcome.exitStatus)
        }
        Self.emit(outcome, json: json, command: command)
        throw ExitCode(outcome.exitStatus)
    }

    private static func emit(_ outcome: RunOutcome, json: Bool, command: [String]) {
        for error in outcome.errors { printError(error) }
        if outcome.commandWasKilled, let status = outcome.report.commandStatus {
            printError("socktest-lua: \(outcome.report.command?.first ?? "the command") was \(status)")
        }
        if !command.isEmpty { OwnLine.begin() }   // after the program's output, on a line of its own
        print(json ? outcome.report.json : outcome.report.text)
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a script and report its mistakes; runs nothing.",
        discussion: """
            Besides syntax errors, it reports with file:line what it can know without
            running the script: an unknown filter type in socktest.set("...") or add,
            an unknown errno name a filter returns as a literal, and a field the
            status object does not have (so.famly).
            """)

    @Argument(help: ArgumentHelp("The Lua script to check.", valueName: "SCRIPT.lua"))
    var script: String

    func run() throws {
        let problems = try Runner.check(script)
        guard problems.isEmpty else {
            problems.forEach(printError)
            throw ExitCode(1)
        }
        print("\(script): ok")
    }
}

struct Recipes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the shipped recipes, or show one's documentation.")

    @Argument(help: "A recipe to document.")
    var name: String?

    func run() throws {
        let library = RecipeLibrary.locate()
        if let name {
            guard let doc = library.documentation(of: name) else {
                throw UsageError(library.unknown(name))
            }
            print(doc)
            return
        }
        let recipes = library.recipes()
        guard !recipes.isEmpty else {
            throw UsageError(library.noneFound)
        }
        let width = recipes.map(\.name.count).max() ?? 0
        for recipe in recipes {
            print(recipe.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + recipe.description)
        }
    }
}

extension Run {
    /// The last `count` arguments as the kernel gave them to us (what follows `--`), byte for
    /// byte: the parser's strings would have replaced bytes that are not UTF-8.
    static func bytesAfterTerminator(count: Int) -> [[CChar]]? {
        let argc = Int(CommandLine.argc)
        guard count > 0, count < argc else { return nil }
        return (argc - count..<argc).map { i in
            guard let p = CommandLine.unsafeArgv[i] else { return [0] }
            return Array(UnsafeBufferPointer(start: p, count: strlen(p) + 1))
        }
    }
}
