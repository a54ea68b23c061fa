import Foundation
import XCTest

/// Each recipe from the command line, against the built-in workloads; listing and docs.
final class RecipeTests: XCTestCase {
    static let names = ["accept-aborted", "accept-emfile", "addr-in-use", "bandwidth", "blackhole", "close-fail",
                        "connect-timeout", "early-eof", "flaky", "refuse", "reset", "short-io", "slow-connect",
                        "socket-exhaustion", "stall", "udp-loss", "unreachable"]

    func run(_ recipes: [String], _ workload: String) throws -> (Tool.Result, [String: Any], [String: [String: Int]]) {
        var args = ["run", "--seed", "3", "--json", "--workload", workload]
        for r in recipes { args += ["--recipe", r] }
        let result = try Tool.run(args)
        XCTAssertEqual(result.status, 0, "\(recipes): \(result.stderr)")
        let workload = result.json["workload"] as? [String: Any] ?? [:]
        return (result, workload, result.json["filters"] as? [String: [String: Int]] ?? [:])
    }

    func failed(_ workload: [String: Any]) -> [String: Int] { workload["failed"] as? [String: Int] ?? [:] }

    func testConnectRecipesAgainstDial() throws {
        var (_, w, _) = try run(["refuse:every=2"], "dial:n=10")
        XCTAssertEqual(failed(w), ["ECONNREFUSED": 5])
        (_, w, _) = try run(["unreachable:family=inet4,errno=EHOSTUNREACH"], "dial:n=3")
        XCTAssertEqual(failed(w), ["EHOSTUNREACH": 3])
        (_, w, _) = try run(["unreachable"], "dial:n=3")
        XCTAssertEqual(failed(w), [:], "IPv6 down leaves IPv4 alone")
        (_, w, _) = try run(["connect-timeout:wait=0.2"], "dial:n=2,timeout=3")
        XCTAssertEqual(failed(w), ["ETIMEDOUT": 2], "non-blocking: through SO_ERROR")
        XCTAssertGreaterThanOrEqual((w["latency_ms"] as? [String: Double])?["p50"] ?? 0, 200)
        (_, w, _) = try run(["connect-timeout:wait=0.2"], "dial:n=2,blocking=true")
        XCTAssertEqual(failed(w), ["ETIMEDOUT": 2], "blocking")
        let slow = try run(["slow-connect:latency=0.1,jitter=0.05"], "dial:n=4")
        XCTAssertEqual(slow.1["succeeded"] as? Int, 4)
        XCTAssertGreaterThanOrEqual((slow.1["latency_ms"] as? [String: Double])?["p50"] ?? 0, 100)
        XCTAssertEqual(slow.2["connect"]?["delayed"], 4)
    }

    func testServerRecipesAgainstEcho() throws {
        var (_, w, f) = try run(["accept-emfile:every=2"], "echo:clients=6")
        XCTAssertEqual(w["succeeded"] as? Int, 6, "the echo server backs off and retries")
        XCTAssertGreaterThan(f["accept"]?["failed"] ?? 0, 0)
        (_, w, f) = try run(["accept-aborted:every=3"], "echo:clients=6,concurrency=1")
        XCTAssertEqual(f["accept"]?["failed"], 2)
        XCTAssertEqual(w["succeeded"] as? Int, 4, "the aborted clients fail, the server goes on")
        (_, w, f) = try run(["addr-in-use:nth=1"], "echo")
        // The server could not listen, so no client session ran: none is counted as failed.
        XCTAssertEqual(w["setup_error"] as? String, "the echo server could not start: bind: EADDRINUSE")
        XCTAssertEqual(w["total"] as? Int, 0)
        XCTAssertEqual(failed(w), [:])
        let text = try Tool.run(["run", "--recipe", "addr-in-use:nth=1", "--workload", "echo"])
        XCTAssertTrue(text.stdout.contains("  not run: the echo server could not start: bind: EADDRINUSE\n"), text.stdout)
        XCTAssertFalse(text.stdout.contains("client session"), text.stdout)
        (_, w, f) = try run(["socket-exhaustion:after=1"], "echo:clients=4,concurrency=1")
        // The listener holds the one socket allowed: every client's socket() fails.
        XCTAssertEqual(failed(w), ["EMFILE": 4])
        XCTAssertEqual(f["socket"]?["failed"], failed(w)["EMFILE"])
    }

    func testCloseAndFlakyRecipes() throws {
        let (result, w, f) = try run(["close-fail:every=1"], "dial:n=3")
        XCTAssertEqual(w["succeeded"] as? Int, 3)
        XCTAssertEqual(f["close"]?["rewritten"], 3)
        XCTAssertEqual((result.json["leaks"] as? [Any])?.count, 0, "the closes really happened")
        let stats = try XCTUnwrap((result.json["stats"] as? [[String: Any]])?.first)
        XCTAssertEqual(stats["closefailed"] as? Int, 3)

        let a = try run(["flaky:p=0.5,errors=ECONNRESET|EIO"], "dial:n=20")
        let b = try run(["flaky:p=0.5,errors=ECONNRESET|EIO"], "dial:n=20")
        XCTAssertEqual(failed(a.1), failed(b.1), "the same seed gives the same failures")
        XCTAssertEqual(Set(failed(a.1).keys), ["ECONNRESET", "EIO"])

        // Every call type, close included: a failed close still releases the descriptor (as on
        // Linux), so the echo workload, which rightly does not retry it, leaks nothing.
        for seed in ["1", "2", "4"] {   // seeds whose server got its listener
            let all = try Tool.run(["run", "--recipe", "flaky:op=all,p=0.2", "--workload", "echo:clients=30",
                                    "--seed", seed, "--json"])
            XCTAssertEqual(all.status, 0, all.stderr)
            let stats = try XCTUnwrap((all.json["stats"] as? [[String: Any]])?.first)
            XCTAssertGreaterThan(stats["closefailed"] as? Int ?? 0, 0, "seed \(seed): some closes failed")
            XCTAssertEqual((all.json["leaks"] as? [Any])?.count, 0, "seed \(seed): \(all.stdout)")
        }
    }

    /// The data-path recipes on the transfer workload (a payload to an echo server and back,
    /// non-blocking, with an idle timeout of its own): each failure shows by its errno, with the
    /// bytes that got through.
    func testDataPathRecipesAgainstTransfer() throws {
        func bytes(_ w: [String: Any]) -> Int { w["bytes"] as? Int ?? -1 }
        func seconds(_ w: [String: Any]) -> Double { w["seconds"] as? Double ?? -1 }
        let native = "refuse:port=9"     // (a recipe that touches nothing here: run needs one)
        var (_, w, _) = try run([native], "transfer:bytes=256k")
        XCTAssertEqual(w["succeeded"] as? Int, 1)
        XCTAssertEqual(bytes(w), 256 << 10)
        XCTAssertNotNil(w["bytes_per_second"])

        (_, w, _) = try run(["reset:after=100k"], "transfer:bytes=1m")
        XCTAssertEqual(failed(w), ["ECONNRESET": 1])
        XCTAssertLessThanOrEqual(bytes(w), 100 << 10, "the data after the reset never came back")

        // The server takes the early end for the client's and closes while the client still
        // sends: the client hears the end, or its write fails as the kernel fails it then.
        (_, w, _) = try run(["early-eof:after=100k"], "transfer:bytes=1m")
        XCTAssertEqual(failed(w).values.reduce(0, +), 1)
        XCTAssertTrue(Set(failed(w).keys).isSubset(of: ["EOF", "EPIPE", "ECONNRESET"]), "\(w)")
        XCTAssertLessThanOrEqual(bytes(w), 100 << 10)

        (_, w, _) = try run(["stall:after=64k"], "transfer:bytes=1m,timeout=0.5")
        XCTAssertEqual(failed(w), ["ETIMEDOUT": 1])
        XCTAssertLessThanOrEqual(bytes(w), 64 << 10)
        XCTAssertGreaterThanOrEqual(seconds(w), 0.5, "the workload's own idle timeout fired")
        XCTAssertLessThan(seconds(w), 5)

        // The data vanishes, the end of stream does not: the echo of 64 KiB, then the end.
        (_, w, _) = try run(["blackhole:after=64k"], "transfer:bytes=1m,timeout=0.5")
        XCTAssertEqual(failed(w), ["EOF": 1])
        XCTAssertEqual(bytes(w), 64 << 10)

        // Short transfers: the workload loops as a correct program does, so it still succeeds;
        // the trace shows the calls were cut.
        let traced = try Tool.run(["run", "--recipe", "short-io:max=1000", "--workload", "transfer:bytes=64k",
                                   "--seed", "3", "--json", "--trace=/dev/stdout"])
        XCTAssertEqual(traced.status, 0, traced.stderr)
        XCTAssertTrue(traced.stdout.contains("short 1000"), traced.stdout)
        XCTAssertEqual((traced.json["workload"] as? [String: Any])?["succeeded"] as? Int, 1, traced.stdout)

        // Bandwidth: about size / rate (each direction has a link of its own, so the echo's way
        // back overlaps the way there), against a native run far faster.
        (_, w, _) = try run(["bandwidth:rate=1m"], "transfer:bytes=256k,chunk=16k")
        XCTAssertEqual(w["succeeded"] as? Int, 1)
        XCTAssertGreaterThanOrEqual(seconds(w), 0.2, "256 KiB at 1 MiB/s")
        XCTAssertLessThan(seconds(w), 1.5, "256 KiB at 1 MiB/s")
        (_, w, _) = try run([native], "transfer:bytes=256k,chunk=16k")
        XCTAssertLessThan(seconds(w), 0.2, "natively")
    }

    /// Echo round trips under the data-path recipes: failures by errno.
    func testDataPathRecipesAgainstEcho() throws {
        var (_, w, _) = try run(["reset:nth=3"], "echo:clients=4,rounds=3")
        // The 3rd data call on each end of a session: the client's 2nd write comes first.
        XCTAssertEqual(failed(w), ["ECONNRESET": 4], "\(w)")
        (_, w, _) = try run(["short-io:max=2"], "echo:clients=2,rounds=3")
        XCTAssertEqual(w["succeeded"] as? Int, 2, "the echo workload reads until it has it all")
        (_, w, _) = try run(["early-eof"], "echo:clients=2,rounds=1")
        XCTAssertEqual(failed(w), ["EOF": 2])
    }

    /// udp-loss over 1,000 datagrams (scripts/examples/udp-count.lua, through the switch): what
    /// arrives matches the probabilities within a binomial bound, and the same --seed gives
    /// exactly the same count.
    func testUDPLossIsSeededAndNearItsProbability() throws {
        func count(_ recipe: String, seed: String) throws -> (received: Int, distinct: Int) {
            let r = try Tool.run(["run", "--recipe", recipe, "--seed", seed, "scripts/examples/udp-count.lua"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let words = r.stdout.split(separator: "\n").first { $0.hasPrefix("sent ") }?.split(separator: " ") ?? []
            XCTAssertEqual(words.count, 6, r.stdout)
            return (Int(words.count > 3 ? words[3] : "") ?? -1, Int(words.count > 4 ? words[4].dropFirst() : "") ?? -1)
        }
        let a = try count("udp-loss:loss=0.3", seed: "11")
        // 1,000 trials at p = 0.7: mean 700, sd 14.5; ±5 sd.
        XCTAssertTrue((628...772).contains(a.received), "\(a)")
        XCTAssertEqual(a.received, a.distinct, "no duplicates asked for")
        XCTAssertEqual(try count("udp-loss:loss=0.3", seed: "11").received, a.received, "the same seed, the same count")
        XCTAssertNotEqual(try count("udp-loss:loss=0.3", seed: "12").received, a.received, "another seed, another draw")
        let d = try count("udp-loss:loss=0,dup=0.2", seed: "11")
        XCTAssertEqual(d.distinct, 1000, "nothing lost")
        XCTAssertTrue((1137...1263).contains(d.received), "about 200 duplicates: \(d)")
    }

    func testRecipesCombine() throws {
        let (_, w, f) = try run(["refuse:every=2", "slow-connect:latency=0.05,jitter=0"], "dial:n=4")
        XCTAssertEqual(failed(w), ["ECONNREFUSED": 2])
        XCTAssertEqual(f["connect"]?["delayed"], 2)
    }

    func testBadOptionsNameTheRecipe() throws {
        for (spec, message) in [("refuse:prot=1", "recipe 'refuse': unknown option 'prot'"),
                                ("accept-emfile:every=x", "recipe 'accept-emfile': option 'every' must be a whole number"),
                                ("flaky:p=2", "recipe 'flaky': option 'p' must be a probability")] {
            let r = try Tool.run(["run", "--recipe", spec, "--workload", "dial:n=1"])
            XCTAssertEqual(r.status, 2, spec)
            XCTAssertTrue(r.stderr.contains(message), "\(spec): \(r.stderr)")
        }
    }

    func testListingWorksFromAnyDirectoryAndDocsAreCurrent() throws {
        let list = try Tool.run(["recipes"], in: NSTemporaryDirectory())
        XCTAssertEqual(list.status, 0, list.stderr)
        let names = list.stdout.split(separator: "\n").map { String($0.split(separator: " ").first ?? "") }
        XCTAssertEqual(names, Self.names)
        let doc = try String(contentsOfFile: Tool.repo + "/docs/recipes.md", encoding: .utf8)
        let readme = try String(contentsOfFile: Tool.repo + "/README.md", encoding: .utf8)
        XCTAssertTrue(readme.contains("docs/recipes.md"), "the README links the recipes page")
        for name in Self.names {
            let one = try Tool.run(["recipes", name], in: NSTemporaryDirectory())
            XCTAssertEqual(one.status, 0)
            for heading in ["Options:", "Example:", "A correct "] {
                XCTAssertTrue(one.stdout.contains(heading), "\(name) documents no '\(heading)'")
            }
            XCTAssertTrue(doc.contains("## \(name)\n\n```\n" + one.stdout), "docs/recipes.md is stale for \(name): run scripts/gen-recipes-doc")
        }
        let unknown = try Tool.run(["recipes", "nope"])
        XCTAssertEqual(unknown.status, 2)
    }

    func testAnInstalledBinaryFindsItsRecipes() throws {
        // The layout scripts/install makes: PREFIX/bin/socktest-lua, PREFIX/share/socktest-lua/recipes.
        let prefix = Tool.scratchPath("prefix")
        let fm = FileManager.default
        try fm.createDirectory(atPath: prefix + "/bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: prefix + "/share/socktest-lua", withIntermediateDirectories: true)
        try fm.copyItem(atPath: Tool.executable, toPath: prefix + "/bin/socktest-lua")
        try fm.copyItem(atPath: Tool.repo + "/scripts/recipes", toPath: prefix + "/share/socktest-lua/recipes")
        defer { try? fm.removeItem(atPath: prefix) }
        let result = try Tool.run(["run", "--recipe", "refuse", "--workload", "dial:n=2", "--json"], in: "/",
                                  program: prefix + "/bin/socktest-lua")
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = result.json
        XCTAssertEqual(((json["workload"] as? [String: Any])?["failed"] as? [String: Int])?["ECONNREFUSED"], 2)
    }

    func testABinaryWithNoRecipesSaysWhereItLookedAndWhatToSet() throws {
        let bin = Tool.scratchPath("bare")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: bin) }
        try FileManager.default.copyItem(atPath: Tool.executable, toPath: bin + "/socktest-lua")
        let program = bin + "/socktest-lua"
        for arguments in [["recipes"], ["recipes", "refuse"], ["run", "--recipe", "refuse", "--workload", "dial:n=1"]] {
            let r = try Tool.run(arguments, in: "/", environment: ["SOCKTEST_LUA_PATH": ""], program: program)
            XCTAssertEqual(r.status, 2, "\(arguments)")
            XCTAssertTrue(r.stderr.contains("no recipes found (looked in ") && r.stderr.contains("SOCKTEST_LUA_PATH"),
                          "\(arguments): \(r.stderr)")
        }
        // Pointed at the checkout's recipes, the same binary finds them.
        let found = try Tool.run(["recipes"], in: "/", environment: ["SOCKTEST_LUA_PATH": Tool.repo + "/scripts"],
                                 program: program)
        XCTAssertEqual(found.status, 0, found.stderr)
        XCTAssertTrue(found.stdout.hasPrefix("accept-aborted"), found.stdout)
    }

    /// Every documented `socktest-lua run ... --recipe ...` (README.md, docs/) does what it says:
    /// each recipe in it, run alone on the example's workload or program, injects at least one
    /// fault (docs/recipes.md once showed `refuse:port=8080` on the echo workload, whose server
    /// listens on a port of its own choosing: nothing was ever refused).
    func testEveryDocumentedRecipeExampleInjectsFaults() throws {
        let recipeOption = try NSRegularExpression(pattern: #" --recipe (\S+)"#)
        var checked = 0
        for block in try DocumentationTests.allBlocks where !["lua", "swift", "text"].contains(block.info) {
            for raw in block.lines {
                var line = raw.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("$ ") { line.removeFirst(2) }
                // (An example that sends the report elsewhere shows something else: a trace.)
                guard line.hasPrefix("socktest-lua run "), line.contains(" --recipe "), !line.contains(">") else { continue }
                if let pipe = line.range(of: " | ") { line = String(line[..<pipe.lowerBound]) }   // | python3 -m json.tool
                let whole = NSRange(line.startIndex..., in: line)
                let specs = recipeOption.matches(in: line, range: whole).map { String(line[Range($0.range(at: 1), in: line)!]) }
                let rest = recipeOption.stringByReplacingMatches(in: line, range: whole, withTemplate: "")
                    .replacingOccurrences(of: " --json", with: "")
                    .dropFirst("socktest-lua run".count)
                for spec in specs {
                    let r = try DocumentationTests.shell("socktest-lua run --json --recipe \(spec)\(rest)")
                    let filters = r.json["filters"] as? [String: [String: Int]] ?? [:]
                    let injected = filters.values.reduce(0) { sum, f in
                        sum + ["failed", "delayed", "rewritten", "shortened", "ended", "reset", "dropped"].reduce(0) { $0 + (f[$1] ?? 0) }
                    }
                    // An example may show the warning a recipe aimed at nothing gets instead.
                    let warned = (r.json["warnings"] as? [String] ?? []).contains { $0.contains("matched no call") }
                    XCTAssertTrue(injected > 0 || warned, "\(block.place): \(spec) in `\(line)` injected nothing: \(r.stdout)\(r.stderr)")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 20)
    }
}
