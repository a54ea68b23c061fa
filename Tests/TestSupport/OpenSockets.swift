import Glibc

/// Sockets open in this process right now. Sockets only: a test process also holds pipes and
/// event descriptors that Foundation and Dispatch open and close on their own threads (after an
/// earlier test's child process, for one), which a count of all descriptors would catch.
public func openSockets() -> Int {
    guard let dir = opendir("/proc/self/fd") else { fatalError("cannot read /proc/self/fd to count sockets") }
    defer { closedir(dir) }
    var count = 0
    var target = [CChar](repeating: 0, count: 64)
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let n = readlink("/proc/self/fd/" + name, &target, target.count - 1)
        if n > 0, String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self).hasPrefix("socket:") {
            count += 1
        }
    }
    return count
}
