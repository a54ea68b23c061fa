import Glibc
import SockTestCore
import Synchronization

import TestSupport
import XCTest

/// Many threads on one switch, with `set` racing them: counters stay exact.
final class ConcurrencyTests: XCTestCase {
    func testCountersStayExactUnderConcurrentCallsAndSets() throws {
        let sw = Switch()
        let threads = 8, rounds = 1_000
        let cancelled = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
        let done = Atomic<Bool>(false)
        let before = openSockets()

        // One thread keeps swapping the socket filter between "cancel" and none.
        let setter = WorkerThread {
            var n = 0
            while !done.load(ordering: .acquiring) && n < 1_000_000 {
                n += 1
                if n % 2 == 0 {
                    sw.set(.socket) { _ throws(Errno) in
                        cancelled.add(1, ordering: .relaxed)
                        throw .tooManyOpenFiles
                    }
                } else {
                    sw.set(.socket, nil)
                }
            }
        }
        runThreads(threads) { _ in
            for _ in 0..<rounds {
                do {
                    let fd = try sw.socket(family: AF_INET, type: Loopback.stream)
                    try sw.close(fd)
                } catch .tooManyOpenFiles {
                } catch {
                    errors.add(1, ordering: .relaxed)
                }
            }
        }
        done.store(true, ordering: .releasing)
        setter.join()

        // None at all when the setter slept through every call with the cancelling filter set
        // (seen on a loaded machine): the balance holds all the same.
        let stat = sw.stat(tcp4) ?? Stat(cookie: tcp4)
        XCTAssertEqual(errors.load(ordering: .relaxed), 0)
        XCTAssertEqual(Int(stat[.opened]) + cancelled.load(ordering: .relaxed), threads * rounds)
        XCTAssertEqual(stat[.closed], stat[.opened])
        XCTAssertEqual(stat[.openFailed] + stat[.closeFailed], 0)
        XCTAssertEqual(sw.sockets(), [:])
        XCTAssertEqual(openSockets(), before)
    }
}

/// Runs `body(i)` for i in 0..<n, each on its own thread, and waits for all.
func runThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let threads = (0..<n).map { i in WorkerThread { body(i) } }
    threads.forEach { $0.join() }
}
