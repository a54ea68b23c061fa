import CSupervisor
import Glibc
import SockTestCore

/// A data-path call of the program as its arguments describe it: where its bytes are in the
/// program's memory (one buffer or a list of iovecs), its flags, the address it sends to and
/// where a received one's sender goes. Read once from the program's memory; a call whose
/// arguments cannot be read (or that the kernel would refuse) is left to the kernel.
///
/// recvmmsg and sendmmsg are described by their first message: made on the program's behalf
/// they move that one message and return 1, a count the kernel may return too.
struct ProgramTransfer {
    enum Kind { case read, write }
    let kind: Kind
    /// The program's buffers, in order: (address, length).
    var buffers: [(UInt64, Int)] = []
    let flags: Int32
    /// sendto/sendmsg: the destination; nil for none.
    var destination: SocketAddress?
    /// recvfrom: where the sender goes and where its length is (value-result).
    var nameOut: UInt64 = 0
    var nameLengthOut: UInt64 = 0
    /// recvmsg, recvmmsg: the msghdr (its msg_namelen and msg_flags are written back); the
    /// capacity of its msg_name.
    var header: UInt64 = 0
    var nameCapacity: Int32 = 0
    /// recvmmsg, sendmmsg: the message's msg_len is written, and the call answers 1.
    var messageLength: UInt64 = 0
    /// recvmsg/sendmsg with ancillary data (descriptors, credentials): not made on behalf.
    var hasControl = false

    /// The bytes the call offers or asks for.
    /// What the call moves at most: its buffers' total, but no more than the kernel moves in one
    /// call (MAX_RW_COUNT, INT_MAX rounded down to a page), which also keeps counts in an Int32.
    var size: Int { min(buffers.reduce(0) { $0 + $1.1 }, Sys.maxTransfer) }

    // struct msghdr and struct mmsghdr on the 64-bit ABIs this builds for.
    private static let nameField = 0, nameLengthField = 8, iovField = 16, iovLengthField = 24
    private static let controlLengthField = 40, flagsField = 48, mmsgLengthField = 56
    private static let maxIov = 1024        // UIO_MAXIOV: more is EINVAL, the kernel's to say

    init?(_ op: st_op, _ n: st_notification, _ c: CallContext) {
        let a = n.args
        switch op {
        case ST_OP_READ, ST_OP_WRITE:
            kind = op == ST_OP_READ ? .read : .write
            flags = 0
            guard let length = Self.length(a.2) else { return nil }
            buffers = [(a.1, length)]
        case ST_OP_READV, ST_OP_WRITEV:
            kind = op == ST_OP_READV ? .read : .write
            flags = 0
            guard let list = Self.iovecs(a.1, a.2, c) else { return nil }
            buffers = list
        case ST_OP_RECVFROM, ST_OP_SENDTO:
            kind = op == ST_OP_RECVFROM ? .read : .write
            flags = Int32(truncatingIfNeeded: a.3)
            guard let length = Self.length(a.2) else { return nil }
            buffers = [(a.1, length)]
            if kind == .read {
                nameOut = a.4
                nameLengthOut = a.5
                if a.4 != 0 && a.5 == 0 { return nil }      // the kernel's EFAULT
            } else if a.4 != 0 {
                guard let address = Self.address(a.4, Int32(truncatingIfNeeded: a.5), c) else { return nil }
                destination = address
            }
        case ST_OP_RECVMSG, ST_OP_SENDMSG, ST_OP_RECVMMSG, ST_OP_SENDMMSG:
            let multiple = op == ST_OP_RECVMMSG || op == ST_OP_SENDMMSG
            kind = op == ST_OP_RECVMSG || op == ST_OP_RECVMMSG ? .read : .write
            flags = Int32(truncatingIfNeeded: multiple ? a.3 : a.2)
            if multiple && a.2 == 0 { return nil }
            let header = a.1
            guard let fields = c.read(header, 56) else { return nil }
            func word(_ at: Int) -> UInt64 { fields.withUnsafeBytes { $0.load(fromByteOffset: at, as: UInt64.self) } }
            func half(_ at: Int) -> Int32 { fields.withUnsafeBytes { $0.load(fromByteOffset: at, as: Int32.self) } }
            guard let list = Self.iovecs(word(Self.iovField), word(Self.iovLengthField), c) else { return nil }
            buffers = list
            hasControl = word(Self.controlLengthField) != 0
            let name = word(Self.nameField), nameLength = half(Self.nameLengthField)
            if kind == .read {
                self.header = header
                nameCapacity = name == 0 ? 0 : nameLength
                nameOut = name
            } else if name != 0 && nameLength != 0 {
                guard let address = Self.address(name, nameLength, c) else { return nil }
                destination = address
            }
            if multiple { messageLength = header + UInt64(Self.mmsgLengthField) }
        default:
            return nil
        }
    }

    /// A length the kernel takes (it refuses more than ssize_t can say).
    private static func length(_ raw: UInt64) -> Int? {
        raw <= UInt64(Int.max) ? Int(raw) : nil
    }

    private static func iovecs(_ address: UInt64, _ count: UInt64, _ c: CallContext) -> [(UInt64, Int)]? {
        guard count <= UInt64(maxIov) else { return nil }
        if count == 0 { return [] }
        guard let raw = c.read(address, Int(count) * 16) else { return nil }
        var list: [(UInt64, Int)] = []
        var total = 0
        for i in 0..<Int(count) {
            let base = raw.withUnsafeBytes { $0.load(fromByteOffset: i * 16, as: UInt64.self) }
            let length = raw.withUnsafeBytes { $0.load(fromByteOffset: i * 16 + 8, as: UInt64.self) }
            guard let l = Self.length(length), total <= Int.max - l else { return nil }
            total += l
            list.append((base, l))
        }
        return list
    }

    private static func address(_ at: UInt64, _ length: Int32, _ c: CallContext) -> SocketAddress? {
        guard (1...Int32(MemoryLayout<sockaddr_storage>.size)).contains(length), let bytes = c.read(at, Int(length)) else { return nil }
        return SocketAddress(bytes: bytes)
    }

    // MARK: Moving bytes

    /// `count` bytes the program offers (write) from `offset` on, fewer at the end of its
    /// buffers; nil when its memory cannot be read.
    func gather(_ count: Int, from offset: Int = 0, _ c: CallContext) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(max(0, min(count, size - offset)))
        var skip = offset
        for (base, length) in buffers where out.count < count {
            if skip >= length { skip -= length; continue }
            let take = min(length - skip, count - out.count)
            guard let part = c.read(base + UInt64(skip), take) else { return nil }
            out += part
            skip = 0
        }
        return out
    }

    /// Puts received bytes into the program's buffers, in order (read).
    func scatter(_ bytes: ArraySlice<UInt8>, _ c: CallContext) throws(Errno) {
        var rest = bytes
        for (base, length) in buffers where !rest.isEmpty {
            let part = rest.prefix(length)
            try c.write(base, Array(part))
            rest = rest.dropFirst(part.count)
        }
    }

    /// After a receive made on behalf: the sender (as the kernel's move_addr_to_user gives it:
    /// as many bytes as fit, and its full length), the message's flags and length.
    func writeBack(name: SocketAddress?, flags received: Int32, count: Int32, _ c: CallContext) throws(Errno) {
        let bytes = name?.bytes ?? []
        if nameOut != 0 && nameLengthOut != 0 {
            guard let capacity = c.readInt32(nameLengthOut) else { throw .badAddress }
            guard capacity >= 0 else { throw .invalidArgument }
            if capacity > 0 && !bytes.isEmpty { try c.write(nameOut, Array(bytes.prefix(Int(capacity)))) }
            try c.write(nameLengthOut, Self.bytes(Int32(bytes.count)))
        }
        if header != 0 {
            if nameOut != 0 && nameCapacity > 0 && !bytes.isEmpty {
                try c.write(nameOut, Array(bytes.prefix(Int(nameCapacity))))
            }
            try c.write(header + UInt64(Self.nameLengthField), Self.bytes(Int32(nameOut == 0 ? 0 : bytes.count)))
            try c.write(header + UInt64(Self.flagsField), Self.bytes(received))
        }
        if messageLength != 0 { try c.write(messageLength, Self.bytes(count)) }
    }

    /// sendmmsg made on behalf: the first message's msg_len.
    func writeSent(_ count: Int32, _ c: CallContext) throws(Errno) {
        if messageLength != 0 { try c.write(messageLength, Self.bytes(count)) }
    }

    private static func bytes(_ value: Int32) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    /// What the call answers when `count` bytes moved: the byte count, or for the mmsg calls the
    /// one message.
    func answer(_ count: Int32) -> Int32 { messageLength != 0 ? 1 : count }
}
