import Foundation
import SockTestCore

/// Where a call happened, in terms that do not depend on how threads interleave: what a
/// recorded decision is keyed by, and what a sweep fails one at a time.
///
/// A socket is named by how it got its address (`via`: connect, bind, accept, or local: its
/// address when first seen) and by which it is among the sockets of its kind named so (`conn`:
/// the k-th connection to 127.0.0.1:8080). `nth` is the k-th call of this type on it. socket()
/// has no socket yet: `conn` counts the socket() calls of its kind (so their order across
/// threads does matter). A port in the kernel's ephemeral range is written `*`: a port the
/// kernel picked differs from run to run.
package struct CallSite: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    package var call: String
    package var kind: String
    package var via: String
    package var addr: String
    package var conn: Int
    package var nth: Int

    package init(call: String, kind: String, via: String, addr: String, conn: Int, nth: Int) {
        self.call = call
        self.kind = kind
        self.via = via
        self.addr = addr
        self.conn = conn
        self.nth = nth
    }

    /// "accept inet4 stream (bind 127.0.0.1:0 #1) call 2"
    package var description: String {
        call == "socket" ? "socket \(kind) #\(conn)" : "\(call) \(kind) (\(via) \(addr) #\(conn)) call \(nth)"
    }

    package static func < (a: CallSite, b: CallSite) -> Bool {
        (a.call, a.kind, a.via, a.addr, a.conn, a.nth) < (b.call, b.kind, b.via, b.addr, b.conn, b.nth)
    }

    /// "inet4 stream": the family and the base type, without flags (SOCK_CLOEXEC differs
    /// between libraries, not between runs that mean the same socket).
    static func kind(of cookie: Cookie) -> String {
        Cookie.familyName(cookie.family) + " " + Cookie.typeName(cookie.type & 0xff)
    }

    /// The address as a site names it: ports the kernel hands out (ip_local_port_range) as `*`.
    static func normalized(_ address: SocketAddress?) -> String {
        guard let address else { return "" }
        let text = address.description
        guard address.family == AF_INET || address.family == AF_INET6,
              let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              ephemeralPorts.contains(port) else { return text }
        return text[..<colon] + ":*"
    }

    static let ephemeralPorts: ClosedRange<Int> = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        return parts.count == 2 && parts[0] <= parts[1] ? parts[0]...parts[1] : 32768...60999
    }()
}

/// Names the sockets of one run as `CallSite`s. Not thread-safe: `CallLog` holds it under
/// its lock.
struct SiteBook {
    private struct Socket {
        var via: String
        var addr: String
        /// The address as the trace prints it (not normalized).
        var shown: String
        var conn: Int
        var calls = Array(repeating: 0, count: FilterType.allCases.count)
    }

    private var sockets: [UInt64: Socket] = [:]
    /// How many sockets of a kind got each name: "inet4 stream|connect|127.0.0.1:*" → 3.
    private var names: [String: Int] = [:]
    private var socketCalls: [String: Int] = [:]
    /// Sockets an accept returned, before their first filtered call: the listener's address.
    private var accepted: [SocketKey: (addr: String, shown: String)] = [:]

    /// The site of `call` on table entry `serial`; `localAddress` is asked only for a socket
    /// first seen neither connecting nor binding nor accepted.
    mutating func site(of call: Call, serial: UInt64, localAddress: () -> SocketAddress?) -> (CallSite, shown: String) {
        let kind = CallSite.kind(of: call.status.cookie)
        if call.type == .socket || serial == 0 {
            let n = (socketCalls[kind] ?? 0) + 1
            socketCalls[kind] = n
            return (CallSite(call: call.type.name, kind: kind, via: "", addr: "", conn: n, nth: 1), "")
        }
        var socket = sockets[serial] ?? name(call, kind: kind, localAddress: localAddress)
        socket.calls[call.type.rawValue] += 1
        sockets[serial] = socket
        let site = CallSite(call: call.type.name, kind: kind, via: socket.via, addr: socket.addr,
                            conn: socket.conn, nth: socket.calls[call.type.rawValue])
        return (site, call.address?.description ?? socket.shown)
    }

    /// An accept returned `fd` from the listener named `listener`.
    mutating func accepted(_ key: SocketKey, from listener: CallSite) {
        accepted[key] = (listener.addr, listener.addr)
    }

    private mutating func name(_ call: Call, kind: String, localAddress: () -> SocketAddress?) -> Socket {
        let via: String, addr: String, shown: String
        if (call.type == .connect || call.type == .bind), let address = call.address {
            (via, addr, shown) = (call.type.name, CallSite.normalized(address), address.description)
        } else if let key = call.fd.map({ SocketKey(space: call.space, fd: $0) }), let from = accepted.removeValue(forKey: key) {
            (via, addr, shown) = ("accept", from.addr, from.shown)
        } else {
            let local = localAddress()
            (via, addr, shown) = ("local", CallSite.normalized(local), local?.description ?? "")
        }
        let name = kind + "|" + via + "|" + addr
        let conn = (names[name] ?? 0) + 1
        names[name] = conn
        return Socket(via: via, addr: addr, shown: shown, conn: conn)
    }
}
