import Foundation
import SockTestCore
import SockTestLua

/// W3, the data path: 1 MiB echoed over one loopback TCP connection in 64 KiB writes — raw, through
/// the switch without a data-path filter, and with a no-op Lua filter on read and write (every
/// call of both ends then meets a filter).
enum DataPath {
    static let chunk = 64 * 1024, mib = 1024 * 1024

    /// How a case reads and writes.
    struct IO: @unchecked Sendable {
        let read: (Int32, UnsafeMutableRawBufferPointer) -> Int
        let write: (Int32, UnsafeRawBufferPointer) -> Int
    }

    static let raw = IO(read: { Glibc.read($0, $1.baseAddress, $1.count) },
                        write: { Glibc.write($0, $1.baseAddress, $1.count) })

    static func switched(_ sw: Switch) -> IO {
        IO(read: { (try? sw.read($0, into: $1)) ?? -1 }, write: { (try? sw.write($0, from: $1)) ?? -1 })
    }

    /// A connected pair made through `calls` (so the switch tracks both ends).
    static func pair(_ calls: InProcess.Calls) -> (client: Int32, server: Int32, listener: Int32) {
        let (listener, address) = calls.listen()
        let client = calls.socket()
        calls.connect(client, address)
        return (client, calls.accept(listener), listener)
    }

    /// ns per MiB echoed.
    static func time(_ calls: InProcess.Calls, _ io: IO, mebibytes: Int) -> Double {
        let (client, server, listener) = pair(calls)
        let echo = Thread {
            var buffer = [UInt8](repeating: 0, count: chunk)
            buffer.withUnsafeMutableBytes { buffer in
                while true {
                    let n = io.read(server, buffer)
                    guard n > 0 else { return }
                    var done = 0
                    while done < n {
                        let w = io.write(server, UnsafeRawBufferPointer(rebasing: buffer[done..<n]))
                        guard w > 0 else { return }
                        done += w
                    }
                }
            }
        }
        echo.start()
        let out = [UInt8](repeating: 0x78, count: chunk)
        var into = [UInt8](repeating: 0, count: chunk)
        let start = monotonicNs()
        out.withUnsafeBytes { out in
            into.withUnsafeMutableBytes { into in
                for _ in 0..<mebibytes * (mib / chunk) {
                    var done = 0
                    while done < chunk {
                        let w = io.write(client, UnsafeRawBufferPointer(rebasing: out[done...]))
                        precondition(w > 0, "bench: write failed")
                        done += w
                    }
                    var got = 0
                    while got < chunk {
                        let r = io.read(client, UnsafeMutableRawBufferPointer(rebasing: into[0..<(chunk - got)]))
                        precondition(r > 0, "bench: read failed")
                        got += r
                    }
                }
            }
        }
        let ns = (monotonicNs() - start) / Double(mebibytes)
        calls.close(client)
        while !echo.isFinished { usleep(1000) }
        calls.close(server)
        calls.close(listener)
        return ns
    }

    static func measure(mebibytes: Int, repetitions: Int) throws -> [CaseResult] {
        let plain = Switch()
        let filtered = Switch()
        let host = try LuaHost(switch: filtered)
        try host.load(string: """
            socktest.set("read", function(so) end)
            socktest.set("write", function(so) end)
            """, name: "noop-data-filters.lua")
        defer { withExtendedLifetime(host) {} }
        let cases: [(String, InProcess.Calls, IO)] = [
            ("raw", InProcess.raw, raw),
            ("switch, no data-path filter", InProcess.switched(plain), switched(plain)),
            ("switch, no-op Lua filter on read and write", InProcess.switched(filtered), switched(filtered)),
        ]
        _ = time(InProcess.raw, raw, mebibytes: max(mebibytes / 10, 1))    // warm up
        return interleaved(.w3, cases.map(\.0), baseline: { _ in 0 }, repetitions: repetitions) { i in
            time(cases[i].1, cases[i].2, mebibytes: mebibytes)
        }
    }
}
