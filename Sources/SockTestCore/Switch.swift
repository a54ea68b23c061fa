import Glibc
import Synchronization


/// A call-path switch for socket system calls, after Go's net/internal/socktest.
///
/// The switch keeps a table of the sockets it opened or accepted. Calls on those sockets (and
/// every socket call) pass through the filter set for their type; calls on other descriptors go
/// straight to the system. Every wrapped call runs the same pipeline (`Switch+Pipeline.swift`).
/// All methods may be called from any thread; counters are exact under concurrency.
public final class Switch: Sendable {
    /// Boxed: a function stored straight in an array is kept at the array's generic abstraction,
    /// and every call through it would copy the `Call` in a conversion thunk.
    let filters = Locked<[FilterBox?]>(Array(repeating: nil, count: FilterType.allCases.count))
    /// Bit n set when a filter of type n is set: calls of other types skip the filter lock.
    let filterMask = Atomic<Int>(0)
    let book = Locked(Book())
    /// What a supervisor knows of its programs' sockets beyond the table (nil: no program).
    let programs = Locked<(any ProgramSockets)?>(nil)

    /// Watches the filtered calls (trace, record, replay); nil for none, which costs the
    /// filter path one nil check.
    let tap: (any CallTap)?

    public init() { tap = nil }

    package init(tap: (any CallTap)?) { self.tap = tap }

    /// Deploys `filter` for calls of `type`; nil removes the filter. Calls already past their
    /// before-filter are not affected.
    public func set(_ type: FilterType, _ filter: Filter?) {
        filters.withLock { filters in
            filters[type.rawValue] = filter.map(FilterBox.init)
            let bit = 1 << type.rawValue
            if filter == nil { filterMask.bitwiseAnd(~bit, ordering: .releasing) } else { filterMask.bitwiseOr(bit, ordering: .releasing) }
        }
    }

    /// Whether a filter is set for `type` (a call without one cannot be delayed by it).
    public func hasFilter(_ type: FilterType) -> Bool {
        filterMask.load(ordering: .acquiring) & (1 << type.rawValue) != 0
    }

    /// Per-cookie statistics, ordered by cookie.
    public func stats() -> [Stat] {
        book.withLock { book in book.stats.sorted { $0.cookie < $1.cookie } }
    }

    /// A copy of the table: descriptor → status of the sockets the switch opened or accepted in
    /// this process.
    public func sockets() -> Sockets {
        book.withLock { book in
            var sockets = Sockets()
            for (fd, entry) in book.table.sockets(in: 0) { sockets[fd] = entry.status }
            return sockets
        }
    }

    /// The whole table, supervised programs' sockets included. `refresh` first has a
    /// supervisor learn the sockets its programs made that no trapped call has shown it yet.
    package func allSockets(refresh: Bool = false) -> [SocketKey: Status] {
        if refresh, let programs = programs.withLock({ $0 }) { programs.refresh() }
        return book.withLock { book in book.table.all.mapValues(\.status) }
    }

    /// Sets (or, with nil, removes) the supervisor that answers for programs' sockets.
    package func supervise(_ sockets: (any ProgramSockets)?) {
        programs.withLock { $0 = sockets }
    }

    /// Whether the socket a call is on is non-blocking now (its open file's O_NONBLOCK, which
    /// fcntl and ioctl(FIONBIO) change after socket()); false for socket().
    public func isNonBlocking(_ call: Call) -> Bool {
        guard let key = call.key else { return false }
        if key.space == 0 { return fcntl(key.fd, F_GETFL) & O_NONBLOCK != 0 }
        return programs.withLock { $0 }?.isNonBlocking(key) ?? false
    }

    /// The peer address of the socket a call is on (nil for socket(), or when it has none).
    public func peerAddress(of call: Call) -> SocketAddress? {
        guard let key = call.key else { return nil }
        if key.space == 0 { return (try? Sys.getpeername(key.fd)) ?? nil }
        return programs.withLock { $0 }?.peerAddress(of: key)
    }

    /// The local address of the socket a call is on (nil for socket(), or when it has none).
    public func localAddress(of call: Call) -> SocketAddress? {
        guard let key = call.key else { return nil }
        return localAddress(of: key)
    }

    /// The local address of the socket `key` names (nil when it has none).
    package func localAddress(of key: SocketKey) -> SocketAddress? {
        if key.space == 0 { return (try? Sys.getsockname(key.fd)) ?? nil }
        return programs.withLock { $0 }?.localAddress(of: key)
    }
}

/// What only a supervisor can find out about a supervised program's sockets.
package protocol ProgramSockets: AnyObject, Sendable {
    /// getsockname of the program's descriptor `key`.
    func localAddress(of key: SocketKey) -> SocketAddress?
    /// getpeername of the program's descriptor `key`.
    func peerAddress(of key: SocketKey) -> SocketAddress?
    /// Whether the program's descriptor `key` is non-blocking now.
    func isNonBlocking(_ key: SocketKey) -> Bool
    /// Learns the sockets the programs hold that the table does not know yet.
    func refresh()
}

final class FilterBox: Sendable {
    let filter: Filter
    init(_ filter: @escaping Filter) { self.filter = filter }
}

/// The switch's bookkeeping: the socket table and the statistics. Guarded by `Switch.book`.
struct Book {
    typealias Entry = SocketTable.Entry

    var table = SocketTable()
    /// One per cookie, in the order first seen: a program uses a handful of cookies, so a search
    /// of this short list is cheaper than hashing.
    private(set) var stats: [Stat] = []
    private var nextSerial: UInt64 = 0

    typealias Counter = Stat.Counter

    /// Counts one call: `counter` when it succeeded, its failure twin when not.
    mutating func count(_ cookie: Cookie, _ counter: Counter, failed: Bool = false) {
        if let i = stats.firstIndex(where: { $0.cookie == cookie }) {
            stats[i].count(counter, failed: failed)
        } else {
            stats.append(Stat(cookie: cookie))
            stats[stats.count - 1].count(counter, failed: failed)
        }
    }

    /// Counts bytes a read or a write moved.
    mutating func countBytes(_ cookie: Cookie, _ type: FilterType, _ bytes: UInt64) {
        let i = stats.firstIndex(where: { $0.cookie == cookie }) ?? {
            stats.append(Stat(cookie: cookie))
            return stats.count - 1
        }()
        if type == .read { stats[i].readBytes += bytes } else { stats[i].writtenBytes += bytes }
    }

    /// Supervised programs' sockets by kernel object: how many descriptors name each, and its
    /// cookie. A socket is closed when its last descriptor is.
    private(set) var objects: [UInt64: (references: Int, cookie: Cookie)] = [:]

    mutating func add(_ key: SocketKey, _ status: Status, identity: UInt64 = 0) {
        nextSerial += 1
        if let old = table[key], old.identity != 0 { release(old.identity) }
        table[key] = Entry(status: status, serial: nextSerial, identity: identity)
        if identity != 0 { objects[identity, default: (0, status.cookie)].references += 1 }
    }

    /// Removes `key`; true when it named the last descriptor of its socket.
    @discardableResult
    mutating func remove(_ key: SocketKey) -> Bool {
        guard let old = table[key] else { return false }
        table[key] = nil
        return old.identity == 0 || release(old.identity)
    }

    @discardableResult
    private mutating func release(_ identity: UInt64) -> Bool {
        guard let object = objects[identity] else { return true }
        if object.references > 1 {
            objects[identity]!.references -= 1
            return false
        }
        objects[identity] = nil
        bury(identity, object.cookie)
        return true
    }

    /// Sockets whose last known descriptor was closed, by identity: a program may hold one
    /// under a descriptor the supervisor never saw (passed with SCM_RIGHTS before the close),
    /// which shows the socket was not closed after all. Socket inodes are not reused for 2^32
    /// sockets, so an identity seen again is the same socket.
    ///
    /// A set-associative cache: a set per identity's low bits, `ways` graves a set, the oldest
    /// burial of a full set forgotten. Socket inodes come from per-CPU batches of 1,024 consecutive
    /// numbers, so sockets closed one after another on different CPUs share sets; with four
    /// ways the newest `buriedKept` burials are kept about as well as an exact order would keep
    /// them, and a burial, made at every close, costs no hashing and no allocation.
    private var graves: [Grave] = []
    private var burials: UInt64 = 0
    private struct Grave { var identity: UInt64 = 0; var cookie = Cookie(rawValue: 0); var burial: UInt64 = 0 }
    static let buriedKept = 4096
    private static let ways = 4

    private mutating func bury(_ identity: UInt64, _ cookie: Cookie) {
        if graves.isEmpty { graves = Array(repeating: Grave(), count: Self.buriedKept) }
        burials += 1
        let set = Self.set(identity)
        let chosen = grave(of: identity) ?? set.first { graves[$0].identity == 0 }
            ?? set.min { graves[$0].burial < graves[$1].burial }!
        graves[chosen] = Grave(identity: identity, cookie: cookie, burial: burials)
    }

    private static func set(_ identity: UInt64) -> Range<Int> {
        let first = (Int(truncatingIfNeeded: identity) & (buriedKept / ways - 1)) * ways
        return first..<first + ways
    }

    private func grave(of identity: UInt64) -> Int? {
        guard !graves.isEmpty, identity != 0 else { return nil }
        return Self.set(identity).first { graves[$0].identity == identity }
    }

    /// The cookie of the buried socket `identity`; nil when it is not (or no longer) remembered.
    func buried(_ identity: UInt64) -> Cookie? {
        grave(of: identity).map { graves[$0].cookie }
    }

    /// How many burials are remembered.
    var buriedCount: Int { graves.count { $0.identity != 0 } }

    /// A buried socket seen again: it was not closed; its close is no longer counted.
    mutating func exhume(_ identity: UInt64) -> Cookie? {
        guard let i = grave(of: identity) else { return nil }
        let cookie = graves[i].cookie
        graves[i] = Grave()
        if let i = stats.firstIndex(where: { $0.cookie == cookie }), stats[i][.closed] > 0 { stats[i][.closed] -= 1 }
        return cookie
    }
}

extension Stat {
    /// Counts one call: `counter` when it succeeded, its failure twin when not.
    mutating func count(_ counter: Counter, failed: Bool) {
        self[failed ? counter.failure : counter] += 1
    }
}
