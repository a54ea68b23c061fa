/// Calls of a supervised program (another process), run through the same pipeline as the
/// switch's own calls: same filters, same table (keyed by the program's process id and
/// descriptor), same statistics.
///
/// The supervisor runs a call's first half (`admit`: the before-filter) and then either lets the
/// kernel make the call in the program's own context (`continued`) — whenever no after-filter
/// needs its outcome — or makes it on the program's behalf and runs the second half
/// (`complete`). A program's sockets are known by their kernel object (`identity`, the socket
/// inode), learned when they are first seen (`learn`), so descriptor numbers reused for files,
/// duplicated descriptors and descriptors passed between processes are told apart.
extension Switch {
    /// A call of process `space` (its process id; never 0) on descriptor `fd` (nil for socket;
    /// pass the socket's `cookie` then).
    package func programCall(
        _ type: FilterType, space: Int32, fd: Int32?, cookie: Cookie? = nil,
        address: SocketAddress? = nil, backlog: Int32? = nil, level: Int32? = nil,
        option: Int32? = nil, flags: Int32? = nil, size: Int? = nil, how: Int32? = nil, data: CallData? = nil,
        deferredAddress: DeferredAddress? = nil
    ) -> Call {
        precondition(space != 0, "space 0 is this process: use the switch's own calls")
        var call = Call(type, fd: fd, space: space, status: Status(cookie: cookie ?? Cookie(rawValue: 0)),
                        address: address, backlog: backlog, level: level, option: option, flags: flags,
                        size: size, how: how, data: data)
        call.deferAddress(to: deferredAddress)
        return call
    }

    /// Looks the call's socket up and runs its before-filter: nil when the socket is not
    /// tracked; throws when the filter cancels the call.
    package func admitProgramCall(_ call: inout Call) throws(Errno) -> Admitted? {
        try admit(&call)
    }

    /// After the supervisor made the call on the program's behalf: after-filter, commit, books.
    package func completeProgramCall(
        _ call: inout Call, _ outcome: Result<Int32, Errno>, _ admitted: Admitted,
        commit: ((Int32) throws(Errno) -> Int32)? = nil
    ) throws(Errno) -> Int32 {
        try complete(&call, outcome, admitted, commit: commit)
    }

    /// The kernel makes the call in the program's context: its outcome is not seen. A connect
    /// or listen is counted when the socket's state next shows how it went (`observe`).
    package func continued(_ call: Call) {
        guard let key = call.key, !call.type.attempt.isEmpty else { return }
        book.withLock { book in _ = book.table[key]?.attempts.insert(call.type.attempt) }
    }

    /// The same, for a call whose before-filter returned an after-filter that the supervisor
    /// lets go unrun (the kernel makes the call anyway): a trace reports it as continued. The
    /// supervisor calls this, not `continued(_:)`, wherever it has the call's `Admitted`.
    package func continued(_ call: Call, _ admitted: Admitted) {
        continued(call)
        if let mark = admitted.mark { reportTapped(call, mark.takeRetainedValue(), result: nil) }
    }

    /// The socket `key` names, as the table last knew it; nil when it tracks none there.
    package func identity(of key: SocketKey) -> UInt64? {
        book.withLock { $0.table[key]?.identity }
    }

    /// The cookie of a socket the table knows by `identity` (under any descriptor of any process).
    package func cookie(ofIdentity identity: UInt64) -> Cookie? {
        book.withLock { book in book.objects[identity]?.cookie ?? book.buried(identity) }
    }

    /// How a program came to hold a socket the table learns.
    package enum Origin: Sendable {
        /// socket(): counted as opened.
        case opened
        /// accept(): counted as accepted.
        case accepted
        /// Another descriptor of a socket the table knows (dup, fork, SCM_RIGHTS): not counted.
        case copy
    }

    /// Tracks `key` as the socket `identity`, created as `origin` says. A descriptor already
    /// known as that socket is left as it is.
    package func learn(_ key: SocketKey, identity: UInt64, cookie: Cookie, origin: Origin) {
        precondition(key.space != 0 && identity != 0)
        book.withLock { book in
            if book.table[key]?.identity == identity { return }
            if book.table[key] != nil { Self.drop(&book, key) }
            if origin == .copy { _ = book.exhume(identity) }
            book.add(key, Status(cookie: cookie), identity: identity)
            switch origin {
            case .opened: book.count(cookie, .opened)
            case .accepted: book.count(cookie, .accepted)
            case .copy: break
            }

        }
    }

    /// The descriptor `key` no longer names its socket (closed, or found naming something else):
    /// it leaves the table, and the socket counts as closed when that was its last descriptor.
    package func forget(_ key: SocketKey) {
        book.withLock { Self.drop(&$0, key) }
    }

    private static func drop(_ book: inout Book, _ key: SocketKey) {
        guard let entry = book.table[key] else { return }
        if book.remove(key) { book.count(entry.status.cookie, .closed) }
    }

    /// What `key`'s socket still owes the statistics: connects and listens the kernel made
    /// whose outcome no call showed.
    package func owed(_ key: SocketKey) -> Attempts {
        book.withLock { book in book.table[key].map { $0.attempts.subtracting($0.counted) } ?? [] }
    }

    /// Counts what `key`'s socket owed, from its state now: a connect succeeded if the socket has
    /// a peer, a listen if it listens.
    package func observe(_ key: SocketKey, connected: Bool, listening: Bool) {
        book.withLock { book in
            guard let entry = book.table[key] else { return }
            let cookie = entry.status.cookie
            let owed = entry.attempts.subtracting(entry.counted)
            if owed.contains(.connect) { book.count(cookie, .connected, failed: !connected) }
            if owed.contains(.listen) { book.count(cookie, .listened, failed: !listening) }
            book.table[key]!.attempts = []
            book.table[key]!.counted.formUnion(owed)
        }
    }

    /// The descriptors of process `space` the table tracks, with their sockets.
    package func descriptors(of space: Int32) -> [(fd: Int32, identity: UInt64)] {
        book.withLock { book in book.table.sockets(in: space).map { ($0.fd, $0.entry.identity) } }
    }
}
