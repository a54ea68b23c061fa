import Foundation
import SockTestCore

/// A run's fault schedule: what `run --record FILE` writes and `run --replay FILE` applies.
/// JSON, documented in docs/record-replay.md:
///
/// ```json
/// {"version": 1, "seed": 7, "script": "faults.lua", "recipes": [], "command": ["./client", "8080"],
///  "decisions": [{"site": {"call": "connect", "kind": "inet4 stream", "via": "connect",
///                          "addr": "127.0.0.1:8080", "conn": 3, "nth": 1},
///                 "verdict": {"fail": "ECONNREFUSED"}}]}
/// ```
package struct Schedule: Codable, Sendable {
    package var version = 1
    package var seed: UInt64
    package var script: String?
    package var recipes: [String]
    package var workload: String?
    package var command: [String]?
    /// Calls no decision names: false (what a recording replays) lets them pass without
    /// running the filters; true runs the filters for them (a sweep fails one call and lets the
    /// script decide the rest).
    package var filterOthers: Bool?
    /// The run's --observe types: which calls are seen decides how sockets are named.
    package var observe: [String]?
    package var decisions: [Decision]

    package struct Decision: Codable, Sendable {
        package var site: CallSite
        package var verdict: Verdict
        /// The decision also applies to every later call of the same type on sockets of the
        /// same kind (a sweep's persistent mode).
        package var persistent: Bool?

        package init(site: CallSite, verdict: Verdict, persistent: Bool? = nil) {
            self.site = site
            self.verdict = verdict
            self.persistent = persistent
        }
    }

    enum CodingKeys: String, CodingKey {
        case version, seed, script, recipes, workload, command, decisions, observe
        case filterOthers = "filter_others"
    }

    package init(seed: UInt64, script: String?, recipes: [String], workload: String?, command: [String]?,
                 filterOthers: Bool? = nil, observe: [String]? = nil, decisions: [Decision]) {
        self.seed = seed
        self.script = script
        self.recipes = recipes
        self.workload = workload
        self.command = command
        self.filterOthers = filterOthers
        self.observe = observe
        self.decisions = decisions
    }

    /// Reads a schedule from a file, or from the argument itself when it is a JSON object (as
    /// a sweep's replay commands give it); a missing or malformed one is a usage error naming it.
    package static func load(_ path: String) throws(UsageError) -> Schedule {
        let inline = path.hasPrefix("{")
        guard let data = inline ? Data(path.utf8) : FileManager.default.contents(atPath: path) else {
            throw UsageError("--replay \(path): no such file")
        }
        do {
            let schedule = try JSONDecoder().decode(Schedule.self, from: data)
            guard schedule.version == 1 else { throw UsageError("--replay \(path): unknown version \(schedule.version)") }
            return schedule
        } catch let error as UsageError {
            throw error
        } catch {
            throw UsageError("--replay \(path): not a schedule (\(Self.reason(error)))")
        }
    }

    package func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
    }

    /// The schedule as one line of JSON.
    package var inline: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    private static func reason(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.dataCorrupted(let context),
             DecodingError.valueNotFound(_, let context):
            (context.codingPath.map(\.stringValue).joined(separator: ".") + " " + context.debugDescription)
                .trimmingCharacters(in: .whitespaces)
        default: "\(error)"
        }
    }
}

/// Replays a schedule: the decision recorded for a call's site, each applied once; a
/// persistent one to every later call of its type and kind too.
struct Replayer {
    private var decisions: [CallSite: Schedule.Decision] = [:]
    private var used: Set<CallSite> = []
    /// "accept|inet4 stream" → the verdict a persistent decision now applies to each call.
    private var persistent: [String: Verdict] = [:]
    let filterOthers: Bool

    init(_ schedule: Schedule) {
        for decision in schedule.decisions { decisions[decision.site] = decision }
        filterOthers = schedule.filterOthers ?? false
    }

    mutating func decide(_ site: CallSite) -> TapDecision {
        let group = site.call + "|" + site.kind
        if let decision = decisions[site], !used.contains(site) {
            used.insert(site)
            if decision.persistent == true { persistent[group] = decision.verdict }
            return .apply(decision.verdict)
        }
        if let verdict = persistent[group] { return .apply(verdict) }
        return filterOthers ? .filter : .apply(Verdict())
    }

    /// The decisions no call met, in site order.
    var unmet: [Schedule.Decision] {
        decisions.values.filter { !used.contains($0.site) }.sorted { $0.site < $1.site }
    }
}

extension FilterType {
    /// "connect,accept" or "all"; an unknown name is a usage error naming `option`.
    package static func list(_ text: String, option: String) throws(UsageError) -> [FilterType] {
        if text == "all" { return FilterType.allCases }
        var types: [FilterType] = []
        for name in text.split(separator: ",") {
            guard let type = FilterType(name: String(name)) else {
                let known = FilterType.allCases.map(\.name).joined(separator: ", ")
                throw UsageError("\(option): unknown call type '\(name)' (known: \(known), or all)")
            }
            if !types.contains(type) { types.append(type) }
        }
        guard !types.isEmpty else { throw UsageError("\(option): no call types given") }
        return types
    }
}

extension RunRequest {
    /// For the executable, which sees no SockTestCore: `FilterType.list`.
    package static func filterTypes(_ text: String, option: String) throws(UsageError) -> [FilterType] {
        try FilterType.list(text, option: option)
    }
}
