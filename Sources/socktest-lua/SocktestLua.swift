import ArgumentParser
import Foundation
import SockTestRunner

/// socktest-lua: run Lua fault-injection scripts against socket workloads.
/// Exit status: 0 clean, 1 script error or failed assert, 2 usage error; with a COMMAND, its
/// status, or 3 for a script error with --strict (docs/sandbox.md).
@main
struct SocktestLua: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "socktest-lua",
        abstract: "Inject socket faults (refused connects, EMFILE on accept, timeouts...) with Lua scripts.",
        discussion: """
            A script sets filters on socket calls through the `socktest` Lua module;
            `run` applies them to a workload and reports what happened:

              socktest-lua run scripts/examples/first-steps.lua --workload echo
              socktest-lua run --recipe refuse --workload dial:addr=127.0.0.1:8080
              socktest-lua run script.lua -- ./my-server --port 8080
              socktest-lua check my-script.lua
              socktest-lua recipes

            Exit status: 0 when the run finished without a script error, 1 when a
            script failed (error or assert), 2 for usage errors; with a COMMAND, the
            command's own status, or 3 when the script failed and --strict was given.

            Scripts run in a sandbox (no io, os.execute, C modules or debug);
            `run --allow io,os` asks for more: see docs/sandbox.md.
            """,
        subcommands: [Run.self, SweepCommand.self, Check.self, Recipes.self]
    )

    /// Parses, runs, and exits with the project's statuses: usage errors exit 2, not 64.
    static func main() {
        do {
            var command = try parseAsRoot(rewritingOptionalValues(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch let error as UsageError {
            fail(error.message)
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)      // a command's own status (the report is printed)
        } catch {
            let code = exitCode(for: error)
            if code == .success {               // --help, --version
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = fullMessage(for: error)
            FileHandle.standardError.write(Data((message + "\n").utf8))
            Foundation.exit(code == .validationFailure || code.rawValue == 64 ? 2 : code.rawValue)
        }
    }

    /// `--trace=FILE` becomes `--trace-to FILE` (before `--` only): swift-argument-parser has
    /// no option whose value may be left out.
    static func rewritingOptionalValues(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "--" { out.append(argument); out.append(contentsOf: rest); break }
            if argument.hasPrefix("--trace=") {
                out += ["--trace-to", String(argument.dropFirst("--trace=".count))]
            } else {
                out.append(argument)
            }
        }
        return out
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("socktest-lua: \(message)\n".utf8))
        Foundation.exit(2)
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}
