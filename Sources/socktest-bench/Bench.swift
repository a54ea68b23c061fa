import ArgumentParser
import Foundation
import SockTestCore
import SockTestLua

/// socktest-bench: what the switch, Lua filters and external-program mode cost, as ratios to the
/// raw system calls measured in the same run (repetitions interleaved, medians reported).
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "socktest-bench",
        abstract: "Measure the cost of the switch, Lua filters and external-program mode against raw system calls.",
        discussion: """
            W0 = socket() of an unsupported family (fails in the kernel at once: the
            pipeline's own cost, free of the noise of real socket work). W1 = socket +
            close. W2 = loopback TCP socket + connect + accept + close of both. W3 = the
            data path: 1 MiB echoed over one loopback TCP connection in 64 KiB writes.

            Each case runs --repetitions times, interleaved with the others; the
            median ns per iteration is reported, and its ratio to the raw calls of the
            same workload: the median, over repetitions, of the case's time over the
            raw calls' time in the same repetition.
            """)

    // In-process cases run long enough (~60 ms each) that the kernel's deferred freeing of the
    // case's own sockets falls mostly inside its timed window; shorter ones flattered the
    // fastest cases by several percent. External cases are slower per iteration (strace most).
    @Option(help: "Iterations of W1 per repetition, in-process cases (W0 runs ten times as many).") var w1 = 20_000
    @Option(help: "Iterations of W2 per repetition, in-process cases.") var w2 = 3_200
    @Option(help: "Iterations of W1 per repetition, external-program cases.") var externalW1 = 5_000
    @Option(help: "Iterations of W2 per repetition, external-program cases.") var externalW2 = 800
    @Option(help: "MiB echoed per repetition of W3 (the data path), in-process cases.") var w3 = 64
    @Option(help: "MiB echoed per repetition of W3, external-program cases.") var externalW3 = 32
    @Option(help: "Repetitions per case (medians are reported).") var repetitions = 21
    @Flag(help: "Also measure external-program mode (needs cc, the socktest-lua binary, strace if present).")
    var external = false
    @Flag(help: "Also measure memory with 10,000 tracked sockets.") var memory = false
    @Flag(help: "Also measure a real server (nginx, loaded by wrk) natively and supervised (needs nginx and wrk).")
    var servers = false
    @Option(help: "Seconds of load per real-server run.") var serverSeconds = 2.0
    @Option(help: "Repetitions per real-server case.") var serverRepetitions = 5
    @Flag(help: "Print the results as JSON.") var json = false
    @Option(help: ArgumentHelp("Only W0's raw calls and this W0 case (say \"switch, Lua filter\"): instruction counts under callgrind, from the difference between two --w1 values.",
                               valueName: "CASE"))
    var onlyW0: String?

    func run() throws {
        // Memory first: after the other cases the heap holds freed space that the table's growth
        // reuses, and the difference in resident memory reads nothing (or less than nothing).
        let mem = memory && onlyW0 == nil ? try Memory.measure(sockets: 10_000) : nil
        var results = InProcess.pipelineOverhead(iterations: w1 * 10, repetitions: repetitions, only: onlyW0)
        for workload in [Workload.w1, .w2] where onlyW0 == nil {
            results += try InProcess.measure(workload, iterations: workload == .w1 ? w1 : w2, repetitions: repetitions)
            if external {
                results += try External.measure(workload, iterations: workload == .w1 ? externalW1 : externalW2,
                                                repetitions: repetitions)
            }
        }
        if onlyW0 == nil {
            results += try DataPath.measure(mebibytes: w3, repetitions: repetitions)
            if external { results += try External.measure(.w3, iterations: externalW3, repetitions: repetitions) }
        }
        if servers && onlyW0 == nil { results += try Servers.measure(seconds: serverSeconds, repetitions: serverRepetitions) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(Report(cases: results, memory: mem)), as: UTF8.self))
        } else {
            let width = results.map(\.name.count).max() ?? 0       // names whole, columns aligned
            print("case".padding(toLength: width, withPad: " ", startingAt: 0) + "      ns/iter   ratio  to floor")
            for r in results {
                print(r.name.padding(toLength: width, withPad: " ", startingAt: 0)
                      + String(format: "%13.1f %7.2f", r.nsPerIteration, r.ratio)
                      + (r.toFloor.map { String(format: " %9.2f", $0) } ?? "         -"))
            }
            if let mem {
                print(String(format: "memory, %d tracked sockets: raw %.1f MiB, switch %.1f MiB, %.0f bytes per tracked socket",
                             mem.sockets, mem.rawMiB, mem.switchMiB, mem.bytesPerSocket))
            }
        }
    }
}

enum Workload: String, Codable {
    case w0 = "W0", w1 = "W1", w2 = "W2", w3 = "W3"
    case nginxConnectionPerRequest = "HTTP, connection per request:"
    case nginxKeepAlive = "HTTP, keep-alive:"
}

struct CaseResult: Codable {
    var workload: Workload
    var name: String
    var nsPerIteration: Double
    /// To the baseline of the same workload and family of cases (raw calls, or the program run natively).
    var ratio: Double
    /// External and server cases: to the trap-and-continue floor, the same way (the median over
    /// rounds of the case's time over the floor's in the same round).
    var toFloor: Double?
    var samples: [Double]
}

extension [CaseResult] {
    /// Each case's ratio to the case named `floor` (its suffix after the workload's name).
    func withRatios(toFloor floor: String) -> [CaseResult] {
        guard let base = first(where: { $0.name.hasSuffix(" " + floor) }) else { return self }
        return map { result in
            var result = result
            result.toFloor = median(zip(result.samples, base.samples).map { $0 / $1 })
            return result
        }
    }
}

struct Report: Codable {
    var cases: [CaseResult]
    var memory: Memory.Result?
}

/// Times `cases` in `repetitions` interleaved rounds: `time(i)` gives case i's ns per iteration.
/// The order rotates each round, so no case always runs right after the same other one (a case
/// pays for kernel work its predecessor deferred), and each case starts after a short pause in
/// which that work (sockets are freed after an RCU grace period) gets done.
///
/// A case's ratio is the median over rounds of its time divided by its baseline's time in the
/// same round: the cases of a round run within moments of each other, so the machine's slower
/// and faster spells (a VM's neighbours) cancel out of the ratio.
func interleaved(_ workload: Workload, _ names: [String], baseline: (Int) -> Int, repetitions: Int,
                 _ time: (Int) throws -> Double) rethrows -> [CaseResult] {
    var samples = Array(repeating: [Double](), count: names.count)
    for round in 0..<repetitions {
        for k in 0..<names.count {
            let i = (k + round) % names.count
            usleep(20_000)
            samples[i].append(try time(i))
        }
    }
    return names.indices.map { i in
        let ratios = zip(samples[i], samples[baseline(i)]).map { $0 / $1 }
        return CaseResult(workload: workload, name: "\(workload.rawValue) \(names[i])",
                          nsPerIteration: median(samples[i]), ratio: median(ratios), toFloor: nil, samples: samples[i])
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func monotonicNs() -> Double { monotonicSeconds() * 1e9 }
