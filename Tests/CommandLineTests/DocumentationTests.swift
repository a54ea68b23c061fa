import Foundation
import XCTest

/// The Lua in the documentation compiles (`socktest-lua check`), so examples cannot rot.
final class DocumentationTests: XCTestCase {
    func testLuaBlocksInDocsCompile() throws {
        var blocks = 0
        for doc in ["docs/lua-api.md", "README.md"] {
            let text = try String(contentsOfFile: Tool.repo + "/" + doc, encoding: .utf8)
            let parts = text.components(separatedBy: "```lua\n")
            for part in parts.dropFirst() {
                let code = part.components(separatedBy: "```").first!
                let script = try Tool.script("doc.lua", code)
                let result = try Tool.run(["check", script])
                XCTAssertEqual(result.status, 0, "\(doc): \(result.stderr)\n\(code)")
                blocks += 1
            }
        }
        XCTAssertGreaterThanOrEqual(blocks, 9)
    }

    func testEveryFilterTypeHasADocumentedExample() throws {
        let text = try String(contentsOfFile: Tool.repo + "/docs/lua-api.md", encoding: .utf8)
        for type in ["socket", "bind", "connect", "listen", "accept", "getsockopt", "close"] {
            XCTAssertTrue(text.contains("set(\"\(type)\""), "no example for \(type)")
        }
    }
}
