import Glibc

/// A socket address: IPv4 ("127.0.0.1:8080"), IPv6 ("[::1]:443", with a scope for link-local
/// addresses: "[fe80::1%lo]:1" or "[fe80::1%2]:1") or a unix path ("/tmp/s", "@abstract").
/// Parses and prints those text forms; numeric hosts only, plus "localhost".
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// Room for the largest address of a supported family (sockaddr_un, 110 bytes), 8-aligned.
    /// Not sockaddr_storage: at 128 bytes an optional address (and every call carrying one) is
    /// too big to be set or copied with inline moves, and each costs a memcpy instead.
    private var storage: Storage = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    private typealias Storage = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                                 UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    static var capacity: Int { MemoryLayout<Storage>.size }
    public private(set) var length: socklen_t

    public var family: Int32 { withPointer(sockaddr.self) { Int32($0.pointee.sa_family) } }

    /// Parses "HOST:PORT", "[V6HOST]:PORT" or a unix socket path (starting with "/", "./" or "@").
    public init?(_ text: String) {
        length = 0
        if text.hasPrefix("/") || text.hasPrefix("./") || text.hasPrefix("@") {
            guard setUnix(text) else { return nil }
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...])
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            guard setInet6(host, port) else { return nil }
        } else {
            if host == "localhost" { host = "127.0.0.1" }
            guard setInet4(host, port) else { return nil }
        }
    }

    /// An address from its raw bytes (a sockaddr as a program passed it); nil when too short,
    /// longer than the kernel takes (sockaddr_storage), or of an unknown family. Bytes beyond
    /// `capacity` (an IP address passed in a whole sockaddr_storage) are padding and dropped.
    public init?(bytes: [UInt8]) {
        guard bytes.count >= 2, bytes.count <= MemoryLayout<sockaddr_storage>.size else { return nil }
        let address = bytes.withUnsafeBytes { raw in
            SocketAddress(copying: raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length: socklen_t(bytes.count))
        }
        guard [AF_INET, AF_INET6, AF_UNIX].contains(address.family) else { return nil }
        self = address
    }

    /// The raw bytes (a sockaddr of `length` bytes).
    public var bytes: [UInt8] { withBytes { Array($0) } }

    /// Copies a kernel-filled address of `length` bytes.
    init(copying address: UnsafePointer<sockaddr>, length: socklen_t) {
        self.length = min(length, socklen_t(SocketAddress.capacity))
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(self.length)))
        }
    }

    /// Calls `body` with a pointer to the address and its length.
    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    /// Runs a call that fills in an address (accept, getsockname, ...); hands the address to
    /// `deliver` when the call succeeds. Returns the call's result.
    static func receiving(
        _ call: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32,
        into deliver: (SocketAddress?) -> Void
    ) -> Int32 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutableBytes(of: &storage) { raw in
            call(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        if result != -1 {
            deliver(withUnsafeBytes(of: storage) { raw in
                length == 0 ? nil
                    : SocketAddress(copying: raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length: length)
            })
        }
        return result
    }

    /// The port of an IP address; nil for unix addresses.
    public var port: UInt16? {
        switch family {
        case AF_INET: return withPointer(sockaddr_in.self) { UInt16(bigEndian: $0.pointee.sin_port) }
        case AF_INET6: return withPointer(sockaddr_in6.self) { UInt16(bigEndian: $0.pointee.sin6_port) }
        default: return nil
        }
    }

    public var description: String {
        switch family {
        case AF_INET:
            return withPointer(sockaddr_in.self) { sin in
                var addr = sin.pointee.sin_addr
                return "\(SocketAddress.ntop(AF_INET, &addr)):\(UInt16(bigEndian: sin.pointee.sin_port))"
            }
        case AF_INET6:
            return withPointer(sockaddr_in6.self) { sin6 in
                var addr = sin6.pointee.sin6_addr
                let scope = SocketAddress.scopeName(sin6.pointee.sin6_scope_id)
                return "[\(SocketAddress.ntop(AF_INET6, &addr))\(scope)]:\(UInt16(bigEndian: sin6.pointee.sin6_port))"
            }
        case AF_UNIX:
            let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
            return withUnsafeBytes(of: storage) { raw in
                let bytes = raw[pathOffset..<max(pathOffset, Int(length))]
                guard let first = bytes.first else { return "" }       // unnamed
                if first == 0 {                                         // abstract
                    return "@" + String(decoding: bytes.dropFirst(), as: UTF8.self)
                }
                return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
        default:
            return "(family \(family))"
        }
    }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool {
        a.length == b.length && a.withBytes { x in b.withBytes { y in x.elementsEqual(y) } }
    }

    public func hash(into hasher: inout Hasher) { withBytes { hasher.combine(bytes: $0) } }

    // MARK: - Building and reading

    private func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: storage) { body(UnsafeRawBufferPointer(rebasing: $0[..<Int(length)])) }
    }

    private func withPointer<T, R>(_: T.Type, _ body: (UnsafePointer<T>) -> R) -> R {
        withUnsafeBytes(of: storage) { body($0.baseAddress!.assumingMemoryBound(to: T.self)) }
    }

    private mutating func build<T>(_ value: T) {
        var value = value
        withUnsafeMutableBytes(of: &storage) { dst in
            withUnsafeBytes(of: &value) { dst.copyMemory(from: $0) }
        }
        length = socklen_t(MemoryLayout<T>.size)
    }

    private mutating func setInet4(_ host: String, _ port: UInt16) -> Bool {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &sin.sin_addr) == 1 else { return false }
        build(sin)
        return true
    }

    private mutating func setInet6(_ host: String, _ port: UInt16) -> Bool {
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        let parts = host.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 {
            guard let scope = Self.scopeID(String(parts[1])) else { return false }
            sin6.sin6_scope_id = scope
        }
        guard inet_pton(AF_INET6, String(parts[0]), &sin6.sin6_addr) == 1 else { return false }
        build(sin6)
        return true
    }

    /// A scope: an interface name ("lo", "eth0") or its index; nil for neither.
    private static func scopeID(_ text: String) -> UInt32? {
        if let index = UInt32(text) { return index }
        let index = if_nametoindex(text)
        return index == 0 ? nil : index
    }

    /// "%lo" for a scope id with an interface of that index, "%7" without one, "" for none.
    private static func scopeName(_ id: UInt32) -> String {
        guard id != 0 else { return "" }
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(id, &name) != nil else { return "%\(id)" }
        return "%" + String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private mutating func setUnix(_ path: String) -> Bool {
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: sun.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &sun.sun_path) { $0.copyBytes(from: bytes) }
        build(sun)
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        // Abstract names are exactly their bytes; paths are NUL-terminated.
        length = socklen_t(pathOffset + bytes.count + (abstract ? 0 : 1))
        return true
    }

    private static func ntop(_ family: Int32, _ addr: UnsafeRawPointer) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(family, addr, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
