/// The switch's socket table: which descriptors it tracks, and each one's entry.
///
/// This process's descriptors (space 0) are small, dense numbers: they index an array, so the
/// in-process pipeline looks a socket up without hashing. A supervised program's descriptors,
/// keyed by process as well, sit in a dictionary.
struct SocketTable {
    struct Entry {
        var status: Status
        /// Tells apart two sockets that had the same descriptor number one after the other.
        let serial: UInt64
        /// A supervised program's socket: its kernel object (the socket inode), the same for
        /// every descriptor of it in every process. 0 in this process.
        var identity: UInt64 = 0
        /// A supervised program's socket: connects and listens the kernel made in the program's
        /// context ("continue"), whose outcome is counted from the socket's state when it is
        /// closed (`Switch.observe`)...
        var attempts: Attempts = []
        /// ...and those already counted (made on the program's behalf, or not owed: an accepted
        /// socket, another descriptor of a known one).
        var counted: Attempts = []
        /// Bytes read and written through the switch on this socket.
        var readTotal: UInt64 = 0
        var writtenTotal: UInt64 = 0
        /// A data-path filter reset this socket (its later reads return 0, as after a peer's RST).
        var wasReset = false
    }

    private var local: [Entry?] = []
    private var remote: [SocketKey: Entry] = [:]

    subscript(key: SocketKey) -> Entry? {
        get {
            if key.space != 0 { return remote[key] }
            return key.fd >= 0 && Int(key.fd) < local.count ? local[Int(key.fd)] : nil
        }
        // A getter and a setter, not `_modify`: a yield-once coroutine whose frame outgrows its
        // inline buffer (a dictionary's, yielding an entry this size) is allocated with malloc at
        // every use, which cost more than the second look-up (the key's hash is one mixing).
        set {
            guard key.space == 0 else { remote[key] = newValue; return }
            let index = Int(key.fd)
            guard index >= 0 else { return }
            if index >= local.count {
                guard newValue != nil else { return }
                local.append(contentsOf: repeatElement(nil, count: index - local.count + 1))
            }
            local[index] = newValue
        }
    }

    /// Every tracked socket of process `space` (0: this one).
    func sockets(in space: Int32) -> [(fd: Int32, entry: Entry)] {
        guard space != 0 else {
            return local.indices.compactMap { i in local[i].map { (Int32(i), $0) } }
        }
        return remote.compactMap { key, entry in key.space == space ? (key.fd, entry) : nil }
    }

    /// Every tracked socket, of every process.
    var all: [SocketKey: Entry] {
        var all = remote
        for (fd, entry) in sockets(in: 0) { all[SocketKey(space: 0, fd: fd)] = entry }
        return all
    }
}

/// A connect or a listen, in the bookkeeping of a supervised program's socket.
package struct Attempts: OptionSet, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    package static let connect = Attempts(rawValue: 1)
    package static let listen = Attempts(rawValue: 2)
}

extension FilterType {
    var attempt: Attempts {
        switch self {
        case .connect: .connect
        case .listen: .listen
        default: []
        }
    }
}
