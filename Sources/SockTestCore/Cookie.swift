import Glibc

/// A socket's 3-tuple packed into 64 bits: family in bits 48–63, the full 32-bit socket type
/// (SOCK_NONBLOCK and SOCK_CLOEXEC included) in bits 16–47, protocol in bits 0–7.
public struct Cookie: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(family: Int32, type: Int32, protocol proto: Int32) {
        rawValue = UInt64(UInt16(truncatingIfNeeded: family)) << 48
            | UInt64(UInt32(bitPattern: type)) << 16
            | UInt64(UInt8(truncatingIfNeeded: proto))
    }

    /// The address family (AF_INET, ...).
    public var family: Int32 { Int32(truncatingIfNeeded: rawValue >> 48) }
    /// The socket type with its flags (SOCK_STREAM | SOCK_NONBLOCK, ...).
    public var type: Int32 { Int32(bitPattern: UInt32(truncatingIfNeeded: rawValue >> 16)) }
    /// The protocol number (0 for the default).
    public var `protocol`: Int32 { Int32(truncatingIfNeeded: rawValue & 0xff) }

    /// "(inet4, stream|0x800, tcp)", as Go's socktest prints it.
    public var description: String {
        "(\(Cookie.familyName(family)), \(Cookie.typeName(type)), \(Cookie.protocolName(self.protocol)))"
    }

    public static func < (a: Cookie, b: Cookie) -> Bool { a.rawValue < b.rawValue }

    static func familyName(_ family: Int32) -> String {
        switch family {
        case AF_INET: "inet4"
        case AF_INET6: "inet6"
        case AF_UNIX: "local"
        default: String(family)
        }
    }

    static func typeName(_ type: Int32) -> String {
        let base: String
        switch type & 0xff {
        case Int32(SOCK_STREAM.rawValue): base = "stream"
        case Int32(SOCK_DGRAM.rawValue): base = "datagram"
        case Int32(SOCK_RAW.rawValue): base = "raw"
        case Int32(SOCK_SEQPACKET.rawValue): base = "seqpacket"
        default: base = String(type & 0xff)
        }
        let flags = UInt32(bitPattern: type) & ~0xff
        return flags == 0 ? base : base + "|0x" + String(flags, radix: 16)
    }

    static func protocolName(_ proto: Int32) -> String {
        switch proto {
        case 0: "default"
        case Int32(IPPROTO_TCP): "tcp"
        case Int32(IPPROTO_UDP): "udp"
        default: String(proto)
        }
    }
}
