import SockTestCore
import XCTest

/// `Waiting`: a filter's "about to wait" reaches whoever observes its thread, and only them.
final class WaitingTests: XCTestCase {
    func testWillWaitReachesThisThreadsObserverOnly() throws {
        let heard = Locked<[String]>([])
        Waiting.willWait()                                  // nobody observes yet: nothing happens
        Waiting.observe { heard.withLock { $0.append("first") } }
        Waiting.willWait()
        runThreads(1) { _ in Waiting.willWait() }           // another thread: not observed
        Waiting.observe { heard.withLock { $0.append("second") } }     // replaces the first
        Waiting.willWait()
        Waiting.stopObserving()
        Waiting.willWait()
        Waiting.stopObserving()                             // twice is harmless
        XCTAssertEqual(heard.withLock { $0 }, ["first", "second"])
    }

    func testAFilterThatSaysItWillWaitIsHeardBeforeItWaits() throws {
        let sw = Switch()
        let events = Locked<[String]>([])
        sw.set(.socket) { _ throws(Errno) in
            Waiting.willWait()
            events.withLock { $0.append("filter waits") }
            return nil
        }
        Waiting.observe { events.withLock { $0.append("heard") } }
        defer { Waiting.stopObserving() }
        let fd = try sw.socket(family: AF_INET, type: Int32(SOCK_STREAM.rawValue))
        try sw.close(fd)
        XCTAssertEqual(events.withLock { $0 }, ["heard", "filter waits"])
    }
}
