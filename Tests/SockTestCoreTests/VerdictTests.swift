import Foundation
import SockTestCore
import XCTest

/// The verdict vocabulary of trace lines and schedules: its text, and its JSON both ways.
final class VerdictTests: XCTestCase {
    func testTextForms() {
        XCTAssertEqual(Verdict().description, "pass")
        XCTAssertTrue(Verdict().isPass)
        XCTAssertEqual(Verdict(fail: .connectionRefused).description, "fail ECONNREFUSED")
        XCTAssertEqual(Verdict(delay: 0.2).description, "delay 0.2")
        XCTAssertEqual(Verdict(delay: 1.5, fail: .timedOut).description, "delay 1.5, fail ETIMEDOUT")
        XCTAssertEqual(Verdict(rewrite: .init(field: "err", from: .timedOut, to: nil)).description, "rewrite ETIMEDOUT->nil")
        XCTAssertEqual(Verdict(rewrite: .init(field: "socket_err", from: nil, to: .connectionRefused)).description,
                       "rewrite socket_err nil->ECONNREFUSED")
        XCTAssertEqual(Verdict(fail: .canceled, scriptError: true).description, "error")
        XCTAssertFalse(Verdict(delay: 0).isPass, "a zero delay is still a delay")
    }

    func testJSONRoundTrip() throws {
        let verdicts = [
            Verdict(fail: .tooManyOpenFiles),
            Verdict(delay: 0.25, rewrite: .init(field: "socket_err", from: nil, to: .timedOut)),
            Verdict(scriptError: true),
        ]
        for verdict in verdicts {
            let data = try JSONEncoder().encode(verdict)
            XCTAssertEqual(try JSONDecoder().decode(Verdict.self, from: data), verdict, String(decoding: data, as: UTF8.self))
        }
        XCTAssertEqual(String(decoding: try JSONEncoder().encode(Verdict(fail: .tooManyOpenFiles)), as: UTF8.self),
                       #"{"fail":"EMFILE"}"#, "errnos by name")
        XCTAssertThrowsError(try JSONDecoder().decode(Verdict.self, from: Data(#"{"fail":"ENOPE"}"#.utf8)))
    }
}
