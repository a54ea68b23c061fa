/// Calls of a supervised program (another process), run through the same pipeline as the
/// switch's own calls: same filters, same table (keyed by the program's process id and
/// descriptor), same statistics. The supervisor supplies how the call is performed on the
/// program's behalf, and how a descriptor it created is put into the program.
extension Switch {
    /// Runs one intercepted call. `space` is the program's process id (thread group), `fd` the
    /// descriptor in that process (nil for socket; pass the socket's `cookie` then). `perform`
    /// makes the system call (on the supervisor's copy of the socket) and returns its value;
    /// for socket and accept that is a descriptor of the supervisor's, which `commit` puts into
    /// the program once the outcome is decided, returning its number there.
    /// Returns the value and the call as the filters left it (its `address` holds accept's peer,
    /// its `status.socketErr` getsockopt's rewritten socket error).
    public func intercept(
        _ type: FilterType, space: Int32, fd: Int32?, cookie: Cookie? = nil,
        address: SocketAddress? = nil, backlog: Int32? = nil, level: Int32? = nil,
        option: Int32? = nil, flags: Int32? = nil,
        perform: (inout Call) throws(Errno) -> Int32,
        commit: ((Int32) throws(Errno) -> Int32)? = nil
    ) throws(Errno) -> (value: Int32, call: Call) {
        precondition(space != 0, "space 0 is this process: use the switch's own calls")
        var call = Call(type, fd: fd, space: space, status: Status(cookie: cookie ?? Cookie(rawValue: 0)),
                        address: address, backlog: backlog, level: level, option: option, flags: flags)
        let value = try run(&call, perform, commit: commit)
        return (value, call)
    }

    /// Whether the switch tracks this descriptor (calls on others go straight to the system).
    public func isTracked(_ key: SocketKey) -> Bool {
        book.withLock { $0.table[key] != nil }
    }

    /// A process forked from `parent` inherits its descriptors: its copies of the parent's
    /// tracked sockets are tracked too — those for which `isCopy(fd)` confirms the child's
    /// descriptor is the parent's socket (the parent may have opened more since the fork).
    public func inherit(_ child: Int32, from parent: Int32, where isCopy: (Int32) -> Bool) {
        let candidates = book.withLock { book in
            book.table.sockets(in: parent).map { ($0.fd, $0.entry.status) }
        }
        let inherited = candidates.filter { isCopy($0.0) }
        book.withLock { book in
            for (fd, status) in inherited { book.add(SocketKey(space: child, fd: fd), status) }
        }
    }
}
