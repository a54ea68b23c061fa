import SockTestLua

/// "NAME:k=v,k=v" — how the command line names a workload or a recipe with its options.
package struct NamedOptions: Sendable, Equatable, CustomStringConvertible {
    package let name: String
    package let options: [(key: String, value: String)]

    package init(parsing text: String) throws(UsageError) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        name = String(parts[0])
        guard !name.isEmpty else { throw UsageError("'\(text)': a name is missing before ':'") }
        var options: [(String, String)] = []
        if parts.count == 2 && !parts[1].isEmpty {
            for pair in parts[1].split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, !kv[0].isEmpty else {
                    throw UsageError("'\(name)': option '\(pair)' is not of the form key=value")
                }
                guard !options.contains(where: { $0.0 == kv[0] }) else {
                    throw UsageError("'\(name)': option '\(kv[0])' is given twice")
                }
                options.append((String(kv[0]), String(kv[1])))
            }
        }
        self.options = options
    }

    package var description: String {
        options.isEmpty ? name : name + ":" + options.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    package static func == (a: NamedOptions, b: NamedOptions) -> Bool { a.description == b.description }

    /// Options as Lua values ("3" → 3, "0.5" → 0.5, "true" → true, else a string).
    package var luaOptions: [(String, LuaValue)] { options.map { ($0.key, LuaValue(parsing: $0.value)) } }
}

/// A mistake on the command line: the tool says what and exits 2.
package struct UsageError: Error, CustomStringConvertible, Sendable {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}
