import Foundation
import Glibc
import SockTestCore
@testable import SockTestSupervisor
import XCTest

/// The books of a supervised program, tried on this test process itself (its /proc entries and
/// descriptors are real; `pidfd_getfd` on oneself is allowed).
final class ProgramBooksTests: XCTestCase {
    let me = getpid()
    let thread = getpid()     // as a thread id: the main thread's is the process's

    func books() -> (ProgramBooks, ProcessTable) {
        let processes = ProcessTable(root: me)
        _ = processes.process(of: thread)
        return (ProgramBooks(switch: Switch(), processes: processes), processes)
    }

    /// A scan runs right after a close is let through, before the program may have made it: the
    /// number, still listed, must not be remembered as "not a socket" (it is free a moment later,
    /// and the next accept gets it). Another file is remembered, and forgotten when closed.
    func testANumberBeingClosedIsNotRememberedAsNotASocket() throws {
        let (books, processes) = books()
        let closing = open("/dev/null", O_RDONLY), other = open("/dev/null", O_RDONLY)
        defer { close(closing); close(other) }
        let key = SocketKey(space: me, fd: closing), otherKey = SocketKey(space: me, fd: other)
        processes.closing(key, by: thread)
        XCTAssertTrue(books.scan(me, exiting: false))
        XCTAssertFalse(processes.isUntracked(key), "its close may run any moment")
        XCTAssertTrue(processes.isUntracked(otherKey), "a file the scan saw")
        processes.closing(otherKey, by: thread)
        XCTAssertFalse(processes.isUntracked(otherKey))
    }

    /// The thread's next trapped call shows its close has run.
    func testACloseIsInFlightUntilItsThreadCallsAgain() {
        let (_, processes) = books()
        let key = SocketKey(space: me, fd: 42)
        processes.closing(key, by: thread)
        XCTAssertTrue(processes.isClosing(key))
        XCTAssertEqual(processes.process(of: thread), me)
        XCTAssertFalse(processes.isClosing(key))
    }

    /// A creation is over once its thread calls again; only those are dropped.
    func testOnlyCreationsThatAreOverAreDropped() {
        let (_, processes) = books()
        let cookie = Cookie(family: AF_INET, type: Int32(SOCK_STREAM.rawValue), protocol: 0)
        let blocked: Int32 = 999_999                  // another thread, still in its accept
        processes.creating(.init(kind: .accept(listener: 1, fd: 3), cookie: cookie), in: me, by: blocked)
        processes.creating(.init(kind: .accept(listener: 1, fd: 3), cookie: cookie), in: me, by: thread)
        XCTAssertEqual(processes.creations(in: me).filter(\.finished).count, 0)
        _ = processes.process(of: thread)
        XCTAssertEqual(processes.creations(in: me).map(\.finished), [false, true])
        processes.dropCreations(in: me, by: thread, upTo: processes.lastSerial)
        processes.dropCreations(in: me, by: blocked, upTo: processes.lastSerial)
        XCTAssertEqual(processes.creations(in: me).map(\.tid), [blocked], "the blocked accept is still owed")
    }

    /// A scan is called for after `fewestChecksBeforeScan` closes checked in vain, not one sooner.
    func testAScanIsCalledForAfterTheChecksItWaitsFor() {
        let (_, processes) = books()
        let checks = (1...ProcessTable.fewestChecksBeforeScan).map { _ in processes.checkedInVain(in: me) }
        XCTAssertEqual(checks.filter { $0 }.count, 1)
        XCTAssertEqual(checks.last, true, "the last of them, and none before")
    }

    /// A pidfd opened for a process the table had no record of (gone from it, say) is kept and
    /// reused, and closed with the table: one, however many copies are made.
    func testAPidfdIsKeptForAProcessWithoutARecord() throws {
        let processes = ProcessTable(root: getppid())
        var pipe: [Int32] = [0, 0]
        XCTAssertEqual(Glibc.pipe(&pipe), 0)
        defer { close(pipe[0]); close(pipe[1]) }
        func open() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }
        let before = open()
        for _ in 0..<3 {
            let copy = try XCTUnwrap(processes.copyDescriptor(pipe[0], of: me))
            close(copy)
        }
        XCTAssertEqual(open(), before + 1, "one pidfd, kept for the next copy")
        processes.closeAll()
        XCTAssertEqual(open(), before)
    }

    /// Marks kept per descriptor number, in an array for small numbers and aside for large
    /// ones (a program may dup2 a socket to any number below its limit): each number its own.
    func testMarksAreKeptPerNumberSmallOrLarge() {
        var marks = DescriptorMarks()
        let numbers: [Int32] = [0, 3, 63, 64, 1000, DescriptorMarks.denseLimit - 1, DescriptorMarks.denseLimit, 1 << 20, -1]
        for (i, fd) in numbers.enumerated() { marks[fd] = UInt64(i) }
        for (i, fd) in numbers.enumerated() { XCTAssertEqual(marks[fd], UInt64(i), "fd \(fd)") }
        XCTAssertNil(marks[4])
        XCTAssertNil(marks[70_000])
        marks[3] = nil
        marks[1 << 20] = nil
        XCTAssertNil(marks[3])
        XCTAssertNil(marks[1 << 20])
        XCTAssertEqual(marks[64], 3, "its neighbours untouched")
        marks[5_000] = nil                      // clearing a number never set grows nothing
        XCTAssertNil(marks[5_000])
    }

    /// The table remembers the process it last looked up: a process it lets go of (the tool
    /// closing its pidfds) must not be found through that memory afterwards.
    func testAProcessLetGoIsNotFoundAgain() {
        let processes = ProcessTable(root: me)
        let key = SocketKey(space: me, fd: 7)
        processes.confirm(key)
        XCTAssertTrue(processes.isConfirmed(key))
        processes.closeAll()
        XCTAssertFalse(processes.isConfirmed(key), "no record, so nothing confirmed")
        processes.markUntracked(key)
        XCTAssertFalse(processes.isUntracked(key))
    }
}

