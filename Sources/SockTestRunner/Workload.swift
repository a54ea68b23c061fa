import SockTestCore

/// A built-in workload: socket traffic through a switch, so a script's filters apply to it.
package protocol Workload: Sendable {
    static var name: String { get }
    /// One line for --help and errors.
    static var summary: String { get }
    /// Its options, declared: the keys `--workload NAME:k=v` accepts, with their help.
    static var options: [WorkloadOption] { get }
    init(_ options: inout OptionReader) throws(UsageError)
    func run(on sw: Switch) -> WorkloadResult
}

/// A workload type in the registry. Generic, not `any Workload.Type`: Swift 6.3.1's SILGen
/// crashes on a typed-throws initializer called through an existential metatype.
package struct WorkloadKind: Sendable {
    package let name: String
    package let summary: String
    package let options: [WorkloadOption]
    let make: @Sendable (inout OptionReader) throws(UsageError) -> any Workload

    init<W: Workload>(_: W.Type) {
        name = W.name
        summary = W.summary
        options = W.options
        make = { (options: inout OptionReader) throws(UsageError) -> any Workload in try W(&options) }
    }
}

package enum Workloads {
    package static let all = [WorkloadKind(EchoWorkload.self), WorkloadKind(DialWorkload.self),
                              WorkloadKind(TransferWorkload.self)]

    /// The workload a "NAME:k=v,..." names, with its options checked.
    package static func make(_ spec: NamedOptions) throws(UsageError) -> any Workload {
        guard let kind = all.first(where: { $0.name == spec.name }) else {
            throw UsageError("unknown workload '\(spec.name)' (known: \(all.map(\.name).joined(separator: ", ")))")
        }
        var reader = OptionReader(owner: "workload '\(spec.name)'", spec.options)
        let workload = try kind.make(&reader)
        try reader.finish(known: kind.options.map(\.key))
        return workload
    }

    /// The help text listing every workload and its options.
    package static var help: String {
        all.map { kind in
            "  \(kind.name): \(kind.summary)\n"
                + kind.options.map { "      \($0.key)=\($0.value)  \($0.help)" }.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}

/// One option of a workload: `key=VALUE` and what it means (with its default).
package struct WorkloadOption: Sendable {
    package let key: String
    /// The kind of value, for help: "N", "SECONDS", "HOST:PORT".
    package let value: String
    package let help: String

    init(_ key: String, _ value: String, _ help: String) {
        self.key = key
        self.value = value
        self.help = help
    }
}

/// Reads "k=v" options, checking types and ranges; unknown keys are an error naming the owner.
package struct OptionReader {
    let owner: String
    private var values: [String: String] = [:]
    private(set) var used: [String: String] = [:]

    init(owner: String, _ options: [(key: String, value: String)]) {
        self.owner = owner
        for (key, value) in options { values[key] = value }
    }

    mutating func int(_ key: String, default value: Int, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let text = values[key] else { return value }
        guard let v = Int(text), range.contains(v) else {
            throw UsageError("\(owner): option '\(key)' must be a whole number within \(range.lowerBound)-\(range.upperBound), got '\(text)'")
        }
        used[key] = text
        return v
    }

    /// A byte count: a whole number, or with a k, m or g suffix (KiB, MiB, GiB): 64k, 1m.
    mutating func size(_ key: String, default value: Int, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let text = values[key] else { return value }
        let units: [Character: Int] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        let unit = text.last.flatMap { units[Character($0.lowercased())] }
        let (count, overflow) = (Int(unit == nil ? text : String(text.dropLast())) ?? -1).multipliedReportingOverflow(by: unit ?? 1)
        guard !overflow, range.contains(count) else {
            throw UsageError("\(owner): option '\(key)' must be a number of bytes within \(range.lowerBound)-\(range.upperBound) (64k, 1m suffixes), got '\(text)'")
        }
        used[key] = text
        return count
    }

    mutating func seconds(_ key: String, default value: Double) throws(UsageError) -> Double {
        guard let text = values[key] else { return value }
        guard let v = Double(text), v > 0, v <= 3600 else {
            throw UsageError("\(owner): option '\(key)' must be a number of seconds within 0-3600, got '\(text)'")
        }
        used[key] = text
        return v
    }

    mutating func bool(_ key: String, default value: Bool) throws(UsageError) -> Bool {
        guard let text = values[key] else { return value }
        guard let v = ["true": true, "1": true, "false": false, "0": false][text] else {
            throw UsageError("\(owner): option '\(key)' must be true or false, got '\(text)'")
        }
        used[key] = text
        return v
    }

    mutating func address(_ key: String) throws(UsageError) -> SocketAddress? {
        guard let text = values[key] else { return nil }
        guard let address = SocketAddress(text) else {
            throw UsageError("\(owner): option '\(key)' must be HOST:PORT or [HOST]:PORT (numeric), got '\(text)'")
        }
        used[key] = text
        return address
    }

    func finish(known: [String]) throws(UsageError) {
        for key in values.keys.sorted() where !known.contains(key) {
            throw UsageError("\(owner): unknown option '\(key)' (known: \(known.joined(separator: ", ")))")
        }
    }
}
