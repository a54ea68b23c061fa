import Foundation
import XCTest

/// Every example in README.md and docs/**/*.md runs, so the docs cannot rot. Examples are found
/// by their fences, so a doc added later is covered without touching this file:
///
/// - ```lua: `socktest-lua check` passes (static checks included) and `socktest-lua run` of the
///   block exits 0.
/// - `$ COMMAND` in any block but lua, swift and text: run with `sh -c` in the repository with
///   the built `socktest-lua` first on PATH; it must exit 0 (a doc that shows a failure writes
///   `; echo "exit status $?"`). The lines after it, up to the next `$ ` or the fence, are its
///   output, compared line by line: `...` matches any text in a line, a line of `...` alone any
///   lines, and a decimal number any number (latencies).
/// - A line starting `socktest-lua ` (no prompt) in a sh, console or untagged block: run the same
///   way; it must exit 0 (no output shown, none compared).
/// - ```swift: its lines (imports aside) stand, in order, in a test under Tests/, which runs it.
/// - ```json: parses.
final class DocumentationTests: XCTestCase {
    struct Block {
        let doc: String
        let line: Int
        let info: String
        let lines: [String]
        var place: String { "\(doc):\(line)" }
    }

    static var docs: [String] {
        let found = FileManager.default.enumerator(atPath: Tool.repo + "/docs")?.compactMap { $0 as? String } ?? []
        return ["README.md"] + found.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
    }

    static func blocks(in doc: String) throws -> [Block] {
        let text = try String(contentsOfFile: Tool.repo + "/" + doc, encoding: .utf8)
        var blocks: [Block] = []
        var open: (line: Int, info: String)?
        var body: [String] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard line.hasPrefix("```") else {
                if open != nil { body.append(String(line)) }
                continue
            }
            if let start = open {
                blocks.append(Block(doc: doc, line: start.line, info: start.info, lines: body))
                open = nil
            } else {
                open = (i + 1, line.dropFirst(3).trimmingCharacters(in: .whitespaces))
                body = []
            }
        }
        XCTAssertNil(open, "\(doc): a code fence opened at line \(open?.line ?? 0) is never closed")
        return blocks
    }

    static var allBlocks: [Block] {
        get throws { try docs.flatMap { try blocks(in: $0) } }
    }

    func testLuaBlocksCheckAndRun() throws {
        var ran = 0
        for block in try Self.allBlocks where block.info == "lua" {
            let code = block.lines.joined(separator: "\n")
            let script = try Tool.script("doc.lua", code)
            let check = try Tool.run(["check", script])
            XCTAssertEqual(check.status, 0, "\(block.place): \(check.stderr)\n\(code)")
            let run = try Tool.run(["run", script])
            XCTAssertEqual(run.status, 0, "\(block.place): \(run.stderr)\n\(code)")
            ran += 1
        }
        XCTAssertGreaterThanOrEqual(ran, 10)
    }

    func testCommandsRunAndShowTheirOutput() throws {
        var commands = 0, compared = 0
        for block in try Self.allBlocks where !["lua", "swift", "text"].contains(block.info) {
            let bare = ["", "sh", "console"].contains(block.info)
            var i = 0
            while i < block.lines.count {
                let line = block.lines[i]
                i += 1
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("$ ") {
                    var expected: [String] = []
                    while i < block.lines.count && !block.lines[i].hasPrefix("$ ") {
                        expected.append(block.lines[i])
                        i += 1
                    }
                    let result = try Self.shell(String(line.dropFirst(2)))
                    XCTAssertEqual(result.status, 0, "\(block.place): \(line)\n\(result.stderr)")
                    let actual = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                    XCTAssertTrue(Self.matches(expected, actual),
                                  "\(block.place): \(line)\nexpected:\n\(expected.joined(separator: "\n"))\ngot:\n\(result.stdout)"
                                  + "\nlines no expected line matches (\(block.place)):\n\(Self.unmatched(expected, actual).joined(separator: "\n"))")
                    commands += 1
                    compared += 1
                } else if bare && trimmed.hasPrefix("socktest-lua ") {
                    let result = try Self.shell(trimmed)
                    XCTAssertEqual(result.status, 0, "\(block.place): \(trimmed)\n\(result.stderr)")
                    commands += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(commands, 15)
        XCTAssertGreaterThanOrEqual(compared, 2)
    }

    func testSwiftBlocksStandInATest() throws {
        let tests = FileManager.default.enumerator(atPath: Tool.repo + "/Tests")?.compactMap { $0 as? String } ?? []
        let sources = try tests.filter { $0.hasSuffix(".swift") }.map { path in
            try Self.codeLines(String(contentsOfFile: Tool.repo + "/Tests/" + path, encoding: .utf8)
                .split(separator: "\n").map(String.init))
        }
        var found = 0
        for block in try Self.allBlocks where block.info == "swift" {
            let lines = Self.codeLines(block.lines)
            let stands = sources.contains { source in
                source.count >= lines.count
                    && (0...(source.count - lines.count)).contains { Array(source[$0..<$0 + lines.count]) == lines }
            }
            XCTAssertTrue(stands, "\(block.place): this Swift example is in no test under Tests/ (copy it into one, which runs it)")
            found += 1
        }
        XCTAssertGreaterThanOrEqual(found, 2)
    }

    func testJSONBlocksParse() throws {
        for block in try Self.allBlocks where block.info == "json" {
            let text = block.lines.joined(separator: "\n")
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(text.utf8)), "\(block.place): not JSON")
        }
    }

    func testEveryFilterTypeHasADocumentedExample() throws {
        let text = try String(contentsOfFile: Tool.repo + "/docs/lua-api.md", encoding: .utf8)
        for type in ["socket", "bind", "connect", "listen", "accept", "getsockopt", "close", "read", "write", "shutdown"] {
            XCTAssertTrue(text.contains("set(\"\(type)\""), "no example for \(type)")
        }
    }

    /// The comparison can fail: a wrong count or a missing line is caught, varying numbers are not.
    func testOutputComparison() {
        XCTAssertTrue(Self.matches(["p50 1.490  max 11.898", "seed ..."], ["p50 0.2  max 3", "seed 42", ""]))
        XCTAssertTrue(Self.matches(["a", "...", "z"], ["a", "b", "c", "z"]))
        XCTAssertTrue(Self.matches(["a", "...", "z"], ["a", "z"]))
        XCTAssertFalse(Self.matches(["opened=9"], ["opened=8"]))
        XCTAssertFalse(Self.matches(["a", "b"], ["a"]))
        XCTAssertFalse(Self.matches(["a"], ["a", "b"]))
        XCTAssertFalse(Self.matches(["(x)"], ["x"]), "text is literal, not a pattern")
    }

    // MARK: - Helpers

    static func shell(_ command: String) throws -> Tool.Result {
        let bin = (Tool.executable as NSString).deletingLastPathComponent
        let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try Tool.run(["-c", command], environment: ["PATH": path], program: "/bin/sh")
    }

    /// Lines of code to compare: trimmed, no blank lines, no imports.
    static func codeLines(_ lines: [String]) -> [String] {
        lines.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("import ") }
    }

    /// Whether `actual` is what `expected` shows (trailing blank lines and spaces aside).
    static func matches(_ expected: [String], _ actual: [String]) -> Bool {
        func clean(_ lines: [String]) -> [String] {
            var lines = lines.map { String($0.reversed().drop { $0 == " " }.reversed()) }
            while lines.last == "" { lines.removeLast() }
            return lines
        }
        let want = clean(expected), got = clean(actual)
        // reach[i][j]: want[i...] can match got[j...].
        var reach = Array(repeating: Array(repeating: false, count: got.count + 1), count: want.count + 1)
        reach[want.count][got.count] = true
        for i in stride(from: want.count - 1, through: 0, by: -1) {
            let pattern = want[i] == "..." ? nil : linePattern(want[i])
            for j in stride(from: got.count, through: 0, by: -1) {
                if let pattern {
                    reach[i][j] = j < got.count && reach[i + 1][j + 1]
                        && pattern.firstMatch(in: got[j], range: NSRange(got[j].startIndex..., in: got[j])) != nil
                } else {
                    reach[i][j] = reach[i + 1][j] || (j < got.count && reach[i][j + 1])
                }
            }
        }
        return reach[0][0]
    }

    /// The lines of `actual` that no line of `expected` matches: the difference in short, last in a
    /// failure's message because CI shows a failure's tail.
    static func unmatched(_ expected: [String], _ actual: [String]) -> [String] {
        let patterns = expected.filter { $0 != "..." }.map(linePattern)
        return actual.filter { line in
            !patterns.contains { $0.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil }
        }
    }

    /// One expected line as a regular expression: literal text, `...` for any text, and any
    /// number where the doc shows a decimal one.
    static func linePattern(_ line: String) -> NSRegularExpression {
        let special = try! NSRegularExpression(pattern: #"\.\.\.|\d+\.\d+"#)
        var pattern = "^"
        var rest = line.startIndex
        for match in special.matches(in: line, range: NSRange(line.startIndex..., in: line)) {
            let range = Range(match.range, in: line)!
            pattern += NSRegularExpression.escapedPattern(for: String(line[rest..<range.lowerBound]))
            pattern += line[range] == "..." ? ".*" : #"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?"#
            rest = range.upperBound
        }
        pattern += NSRegularExpression.escapedPattern(for: String(line[rest...])) + "$"
        return try! NSRegularExpression(pattern: pattern)
    }
}
