import CSysShims
import Glibc

/// What a data-path filter may answer beyond an errno, a delay or an after-filter (SPEC §7).
///
/// A filter returns an `AfterFilter?` or throws, so it says these as `Unanswered` says its
/// wish: `request` stores the answer in a thread-local, and the switch takes it (`take`) right
/// after the before-filter has run on the same thread. The call then acts it out
/// (`Switch.transfer`, or the supervisor for a program's call).
public enum DataAction: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Transfer at most this many bytes in this call (a short read or write).
    case short(Int)
    /// A read returns 0 bytes (end of stream) and consumes nothing.
    case eof
    /// The connection is reset: the peer gets a TCP RST, this call fails with ECONNRESET, later
    /// calls fail as on a reset socket.
    case reset
    /// A write reports success but sends nothing.
    case drop

    /// From a before-filter of read or write: answer the call with `action`.
    public static func request(_ action: DataAction) {
        switch action {
        case .short(let n): st_data_action_set(1, max(n, 0))
        case .eof: st_data_action_set(2, 0)
        case .reset: st_data_action_set(3, 0)
        case .drop: st_data_action_set(4, 0)
        }
    }

    /// What the filter just asked (and clears it).
    static func take() -> DataAction? {
        var count = 0
        return action(st_data_action_take(&count), count)
    }

    /// What the filter asked so far, left for the switch to take.
    package static func pending() -> DataAction? {
        var count = 0
        return action(st_data_action_peek(&count), count)
    }

    private static func action(_ kind: Int32, _ count: Int) -> DataAction? {
        switch kind {
        case 1: return .short(count)
        case 2: return .eof
        case 3: return .reset
        case 4: return .drop
        default: return nil
        }
    }

    /// Whether a call of `type` can be answered so: eof is a read's, drop a write's; short and
    /// reset either's.
    public func applies(to type: FilterType) -> Bool {
        switch self {
        case .short, .reset: type.movesData
        case .eof: type == .read
        case .drop: type == .write
        }
    }

    /// "short 100", "eof", "reset", "drop": the word a trace line and a schedule show.
    public var description: String {
        switch self {
        case .short(let n): "short \(n)"
        case .eof: "eof"
        case .reset: "reset"
        case .drop: "drop"
        }
    }

    public init?(text: String) {
        switch text {
        case "eof": self = .eof
        case "reset": self = .reset
        case "drop": self = .drop
        default:
            guard text.hasPrefix("short "), let n = Int(text.dropFirst(6)), n >= 0 else { return nil }
            self = .short(n)
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let action = DataAction(text: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown data action \(text)"))
        }
        self = action
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension Call {
    /// Makes a read or write as its before-filter answered: `io(limit)` is the system call,
    /// moving at most `limit` bytes; `reset` resets the socket. The one place the answers are
    /// acted out, for this process's calls and a supervisor's calls on a program's behalf.
    /// A read of a socket the switch reset returns 0, as one of a socket the peer reset does
    /// once its ECONNRESET has been seen (the disconnected socket itself would say ENOTCONN).
    package func perform(reset: () -> Void, _ io: (Int) throws(Errno) -> Int) throws(Errno) -> Int {
        let size = self.size ?? 0
        switch action {
        case nil:
            if wasReset && type == .read { return 0 }
            return try io(size)
        case .short(let n): return try io(min(max(n, 1), size))
        case .eof: return 0
        case .drop: return size
        case .reset:
            reset()
            throw Errno.connectionReset
        }
    }
}

/// The bytes of a data-path call, for a filter that reads `so.data`: fetched only then, and
/// only while the call runs (the buffer is the caller's; the pipeline invalidates it when the
/// call is done, so a status a script kept reads nil).
public final class CallData: @unchecked Sendable {
    private var fetch: ((Int) -> [UInt8]?)?
    private var lock = pthread_mutex_t()

    /// `fetch(count)`: the first `count` bytes of the call's buffer.
    package init(_ fetch: @escaping (Int) -> [UInt8]?) {
        self.fetch = fetch
        pthread_mutex_init(&lock, nil)
    }

    deinit { pthread_mutex_destroy(&lock) }

    /// The first `count` bytes, or nil once the call is done.
    public func bytes(_ count: Int) -> [UInt8]? {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return fetch?(max(count, 0))
    }

    package func invalidate() {
        pthread_mutex_lock(&lock)
        fetch = nil
        pthread_mutex_unlock(&lock)
    }
}

/// A delay a chain of Lua filters decided beside the after-filters of its earlier filters, noted
/// on the calling thread for the filter host to wait out (see `socktest.add`).
package enum ChainedDelay {
    package static func note(_ seconds: Double) { st_chain_delay_set(max(seconds, 0)) }

    /// The delay noted (and clears it); nil for none.
    package static func take() -> Double? {
        let seconds = st_chain_delay_take()
        return seconds >= 0 ? seconds : nil
    }
}
