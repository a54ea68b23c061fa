/// Per-cookie statistics of the calls that reached the system.
public struct Stat: Sendable, Equatable, CustomStringConvertible {
    /// The ten counters of Go's socktest `Stat`, in its order: the five outcomes, then their
    /// five failures. This is the one list: the text form, the Lua tables and the JSON report
    /// are built from it.
    public enum Counter: Int, CaseIterable, Sendable {
        case opened, connected, listened, accepted, closed
        case openFailed, connectFailed, listenFailed, acceptFailed, closeFailed

        /// Go's name, as the text form, Lua and JSON spell it: "opened", "openfailed".
        public var name: String { Self.names[rawValue] }
        private static let names = allCases.map { String(describing: $0).lowercased() }

        /// The counter a failed call of this kind grows ("opened" → "openfailed").
        public var failure: Counter { Counter(rawValue: rawValue % 5 + 5)! }
    }

    public var family: Int32
    public var type: Int32
    public var `protocol`: Int32
    /// Bytes the data-path calls moved (SPEC §7): not part of Go's text form.
    public var readBytes: UInt64 = 0
    public var writtenBytes: UInt64 = 0
    /// Indexed by `Counter.rawValue`; inline, so counting allocates nothing.
    private var counts = InlineArray<10, UInt64>(repeating: 0)

    public init(cookie: Cookie) {
        family = cookie.family
        type = cookie.type
        self.protocol = cookie.protocol
    }

    public var cookie: Cookie { Cookie(family: family, type: type, protocol: self.protocol) }

    public subscript(counter: Counter) -> UInt64 {
        get { counts[counter.rawValue] }
        set { counts[counter.rawValue] = newValue }
    }

    public static func == (a: Stat, b: Stat) -> Bool {
        a.cookie == b.cookie && Counter.allCases.allSatisfy { a[$0] == b[$0] }
            && a.readBytes == b.readBytes && a.writtenBytes == b.writtenBytes
    }

    /// Go's text form: "(inet4, stream, tcp): opened=1, connected=1, ..., closefailed=0".
    public var description: String {
        "\(cookie): " + Counter.allCases.map { "\($0.name)=\(self[$0])" }.joined(separator: ", ")
    }
}
