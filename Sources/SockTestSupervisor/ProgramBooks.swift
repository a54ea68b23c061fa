import CSupervisor
import Glibc
import SockTestCore

/// Keeps the switch's table of a supervised program's sockets true while the kernel makes the
/// program's calls itself: a socket is known by its kernel object (its inode), learned the first
/// time a trapped call shows its descriptor, and checked again whenever the descriptor number
/// may have been given to something else since.
///
/// How a learned socket was made is matched against the creations the process owes (a socket()
/// or accept() let through): the same socket again under another descriptor (dup, fork,
/// SCM_RIGHTS) is a copy; a socket that matches none (socketpair, one received from outside the
/// program) is not tracked, as in-process.
final class ProgramBooks: ProgramSockets, @unchecked Sendable {
    let sw: Switch
    let processes: ProcessTable

    init(switch sw: Switch, processes: ProcessTable) {
        self.sw = sw
        self.processes = processes
    }

    /// Our copy of `space`'s descriptor `fd`.
    func copy(_ space: Int32, _ fd: Int32) -> SocketCopy? {
        processes.copyDescriptor(fd, of: space).map(SocketCopy.init(owning:))
    }

    /// The tracked socket `space`'s descriptor `fd` names, learning it when the table does not
    /// know it yet; nil when it names no tracked socket (a file, a pipe, a socket of no switch).
    func tracked(_ space: Int32, _ fd: Int32) -> SocketKey? {
        lookup(space, fd).key
    }

    /// The same for a data-path call, which files and pipes make far more often: a number found
    /// naming no tracked socket is remembered as such until it is closed or replaced.
    func trackedForData(_ space: Int32, _ fd: Int32) -> SocketKey? {
        let key = SocketKey(space: space, fd: fd)
        if processes.isUntracked(key) { return nil }
        let (found, open) = lookup(space, fd)
        // Only an open descriptor: a number not open yet may be given to a socket by a dup.
        if found == nil && open { processes.markUntracked(key) }
        return found
    }

    /// The tracked socket, and whether the descriptor is open at all.
    private func lookup(_ space: Int32, _ fd: Int32) -> (key: SocketKey?, open: Bool) {
        let key = SocketKey(space: space, fd: fd)
        let known = sw.identity(of: key)
        if known != nil && processes.isConfirmed(key) { return (key, true) }
        guard let copy = copy(space, fd) else {
            if known != nil { forget(key) }
            return (nil, false)
        }
        guard let identity = copy.identity else {
            if known != nil { forget(key) }
            return (nil, true)
        }
        if identity == known {
            processes.confirm(key)
            return (key, true)
        }
        if known != nil { forget(key) }     // the number names another object now
        guard learn(key, identity, copy) else { return (nil, true) }
        processes.confirm(key)
        return (key, true)
    }

    /// A descriptor the supervisor just put into the program (ADDFD): learned at once.
    func learnNow(_ key: SocketKey) { _ = tracked(key.space, key.fd) }

    private func forget(_ key: SocketKey) {
        sw.forget(key)
        processes.unconfirm(key)
    }

    /// Adds `key` (naming socket `identity`) to the table when the process made it (or holds a
    /// known socket); false when it is not a socket the switch tracks.
    private func learn(_ key: SocketKey, _ identity: UInt64, _ copy: borrowing SocketCopy) -> Bool {
        if let cookie = sw.cookie(ofIdentity: identity) {
            sw.learn(key, identity: identity, cookie: cookie, origin: .copy)
            return true
        }
        if made(key, identity, copy) { return true }
        // Made before a fork by the parent, which had not shown it yet.
        guard let cookie = inheritedCookie(identity, in: key.space) else { return false }
        sw.learn(key, identity: identity, cookie: cookie, origin: .copy)
        return true
    }

    /// Whether the process made the socket `identity` (a creation it owes matches): then it is
    /// learned as opened or accepted.
    ///
    /// Read off one snapshot of what the process owes; only the socket's facts a choice needs
    /// are asked of the kernel (a server's accepts and a client's sockets seldom need more than
    /// the family).
    private func made(_ key: SocketKey, _ identity: UInt64, _ copy: borrowing SocketCopy, again: Bool = true) -> Bool {
        let pending = processes.creations(in: key.space)
        guard !pending.isEmpty else { return false }
        // Made on the program's behalf: the socket is known by its identity already.
        if let known = pending.last(where: { $0.identity == identity }) {
            guard let made = processes.takeCreation(in: key.space, serial: known.serial) else {
                return takenMeanwhile(key, identity, copy, again: again)
            }
            sw.learn(key, identity: identity, cookie: made.cookie, origin: made.kind.origin)
            return true
        }
        // Its shape: the family, and the type asked of the socket only when creations of that
        // family differ in type.
        guard let family = copy.family else { return false }
        guard let chosen = onlyOfFamily(family, pending, copy) ?? madeAmong(key, family, pending, copy) else { return false }
        guard let made = processes.takeCreation(in: key.space, serial: chosen.serial) else {
            return takenMeanwhile(key, identity, copy, again: again)
        }
        sw.learn(key, identity: identity, cookie: made.cookie, origin: chosen.kind.origin)
        return true
    }

    /// The usual case, with no array built: the process owes one creation of the socket's family
    /// (then its type needs no asking), an accept or a socket() whose protocol matches. Nil when
    /// it owes none or several, for `madeAmong` to choose.
    private func onlyOfFamily(_ family: Int32, _ pending: [ProcessTable.Creation], _ copy: borrowing SocketCopy) -> ProcessTable.Creation? {
        var only: ProcessTable.Creation?
        for creation in pending where creation.identity == 0 && creation.cookie.family == family {
            guard only == nil else { return nil }
            only = creation
        }
        guard let only else { return nil }
        if case .socket = only.kind, only.cookie.protocol != 0, copy.protocol != only.cookie.protocol { return nil }
        return only
    }

    /// Among several creations of the socket's family: those of its type (asked of the socket
    /// only when they differ in type), then an accept's or a socket()'s.
    private func madeAmong(_ key: SocketKey, _ family: Int32, _ pending: [ProcessTable.Creation], _ copy: borrowing SocketCopy) -> ProcessTable.Creation? {
        let ofFamily = pending.filter { $0.identity == 0 && $0.cookie.family == family }
        guard let first = ofFamily.first?.cookie.baseType else { return nil }
        let oneType = ofFamily.allSatisfy { $0.cookie.baseType == first }
        guard let type = oneType ? first : copy.type else { return nil }
        let shaped = oneType ? ofFamily : ofFamily.filter { $0.cookie.baseType == type }
        return acceptMade(key, shaped, copy) ?? socketMade(shaped, copy)
    }

    /// The creation chosen was taken by another receiver thread since the snapshot: for this
    /// very socket (then the table knows it now: another descriptor of it, or the same), or for
    /// another, when the choice is made once more from a fresh snapshot.
    private func takenMeanwhile(_ key: SocketKey, _ identity: UInt64, _ copy: borrowing SocketCopy, again: Bool) -> Bool {
        if let cookie = sw.cookie(ofIdentity: identity) {
            sw.learn(key, identity: identity, cookie: cookie, origin: .copy)
            return true
        }
        return again && made(key, identity, copy, again: false)
    }

    /// accept(): a creation of the same shape; when that leaves a doubt (socket() creations of
    /// the same shape too, or several listeners), the one whose listener's local address the
    /// socket's own matches.
    private func acceptMade(_ key: SocketKey, _ shaped: [ProcessTable.Creation], _ copy: borrowing SocketCopy) -> ProcessTable.Creation? {
        let accepts = shaped.filter { if case .accept = $0.kind { true } else { false } }
        guard let firstAccept = accepts.first else { return nil }
        // A socket that exists came from a call that is over: one whose thread is still in the
        // kernel (a blocked accept) has made none yet.
        let over = accepts.filter(\.finished)
        let likely = over.isEmpty ? accepts : over
        let sockets = accepts.count < shaped.count
        let oneListener = accepts.allSatisfy { $0.kind.listener == firstAccept.kind.listener }
        if !sockets && oneListener { return likely.last }
        guard !copy.isListening, let local = copy.localAddress else { return nil }
        return likely.last { creation in
            guard case .accept(let listener, let listenerFD) = creation.kind else { return false }
            let address = processes.listenerAddress(listener, in: key.space) {
                self.copy(key.space, listenerFD)?.localAddress
            }
            return address.map { Self.accepted(local, on: $0) } ?? true
        }
    }

    /// socket(): the same family and type (and protocol, when one was asked for); among
    /// several, one whose SOCK_NONBLOCK matches the descriptor's mode now.
    private func socketMade(_ shaped: [ProcessTable.Creation], _ copy: borrowing SocketCopy) -> ProcessTable.Creation? {
        var proto: Int32??
        let candidates = shaped.filter { creation in
            guard case .socket = creation.kind else { return false }
            guard creation.cookie.protocol != 0 else { return true }
            if proto == nil { proto = .some(copy.protocol) }
            return proto! == creation.cookie.protocol
        }
        let over = candidates.filter(\.finished)
        let likely = over.isEmpty ? candidates : over
        guard likely.count > 1 else { return likely.last }
        let nonBlocking = copy.isNonBlocking
        return likely.last { ($0.cookie.type & Int32(SOCK_NONBLOCK.rawValue) != 0) == nonBlocking } ?? likely.last
    }

    /// A socket a forked process holds that its parent made but had not shown yet: learned in
    /// the parent first.
    private func inheritedCookie(_ identity: UInt64, in space: Int32) -> Cookie? {
        guard let parent = processes.parent(of: space), parent != space, processes.hasCreations(in: parent) else { return nil }
        scan(parent, exiting: false)
        return sw.cookie(ofIdentity: identity)
    }

    /// Whether a socket with local address `local` was accepted on a listener bound to
    /// `listener` (the same address, or the same port on a wildcard address).
    static func accepted(_ local: SocketAddress, on listener: SocketAddress) -> Bool {
        let a = local.description, b = listener.description
        if a == b { return true }
        guard local.family != AF_UNIX, let portA = a.split(separator: ":").last, let portB = b.split(separator: ":").last,
              portA == portB else { return false }
        return b.hasPrefix("0.0.0.0:") || b.hasPrefix("[::]:")
    }

    /// Before a tracked descriptor is let go: the outcome of a connect or listen the kernel made
    /// is read off the socket's state while it still exists.
    func settle(_ key: SocketKey) {
        let owed = sw.owed(key)
        guard !owed.isEmpty, let copy = copy(key.space, key.fd) else { return }
        sw.observe(key, connected: owed.contains(.connect) && copy.isConnected,
                   listening: owed.contains(.listen) && copy.isListening)
    }

    /// Brings the books of process `space` up to date with its descriptor table: sockets not yet
    /// learned are learned, descriptors that name something else now are let go. When the
    /// process is exiting, what its sockets owe is settled too (they stay in the table: open at
    /// the end, they are leaks).
    ///
    /// Descriptors checked before and unchanged since are not looked at again (a server's
    /// thousands of known connections cost a directory listing, not a readlink each): a
    /// confirmed socket, and a number found naming something else ("not ours" until it is
    /// closed) — never one whose close was let through and may not have run yet, which is free
    /// a moment later. False when the descriptors could not be listed (the process is gone).
    @discardableResult
    func scan(_ space: Int32, exiting: Bool) -> Bool {
        let open = ProcFile.descriptors(of: space)
        var seen = Set<Int32>()
        for fd in open {
            let key = SocketKey(space: space, fd: fd)
            if !exiting && processes.isConfirmed(key) && sw.identity(of: key) != nil {
                seen.insert(fd)
                continue
            }
            if !exiting && processes.isUntracked(key) { continue }
            guard let target = ProcFile.link("/proc/\(space)/fd/\(fd)") else { continue }
            guard target.hasPrefix("socket:[") else {
                if !processes.isClosing(key) { processes.markUntracked(key) }
                continue
            }
            if let key = tracked(space, fd) {
                seen.insert(fd)
                if exiting { settle(key) }
            }
        }
        processes.scanned(space, descriptors: open.count)
        guard !open.isEmpty else { return false }   // gone already: what /proc showed is all there is
        // Let go of what the listing did not show, unless it is open after all: learned by
        // another receiver thread since (a socket made for the program, put in by ADDFD).
        for (fd, identity) in sw.descriptors(of: space) where !seen.contains(fd) {
            if let copy = copy(space, fd), copy.identity == identity { continue }
            forget(SocketKey(space: space, fd: fd))
        }
        return true
    }

    // MARK: ProgramSockets

    func isNonBlocking(_ key: SocketKey) -> Bool {
        copy(key.space, key.fd)?.isNonBlocking ?? false
    }

    func localAddress(of key: SocketKey) -> SocketAddress? {
        copy(key.space, key.fd)?.localAddress
    }

    func peerAddress(of key: SocketKey) -> SocketAddress? {
        copy(key.space, key.fd)?.peerAddress
    }

    func refresh() {
        for space in processes.live where processes.hasCreations(in: space) { scan(space, exiting: false) }
    }
}

extension Cookie {
    /// SOCK_STREAM, SOCK_DGRAM, ...: the type without its flags.
    var baseType: Int32 { type & 0xff }
}

extension ProcessTable.Creation.Kind {
    var origin: Switch.Origin {
        switch self {
        case .socket: .opened
        case .accept: .accepted
        }
    }
}
