/// Lua 5.4 source cut into tokens with their lines, for `check`'s static pass. Comments and
/// white space are dropped; strings keep their contents (escapes left as written, so a string
/// with a backslash is never taken for a name it might spell).
struct LuaToken: Equatable {
    enum Kind: Equatable { case name, string, number, symbol }
    let kind: Kind
    let text: String
    let line: Int

    func isName(_ name: String) -> Bool { kind == .name && text == name }
    func isSymbol(_ symbol: String) -> Bool { kind == .symbol && text == symbol }
}

enum LuaLexer {
    private static let symbols = ["...", "..", "==", "~=", "<=", ">=", "<<", ">>", "//", "::"]

    /// The tokens of `source`. Text the compiler would reject (an unfinished string) ends the
    /// list early: `check` compiles first, so this only sees source that compiles.
    static func tokens(_ source: String) -> [LuaToken] {
        let s = Array(source.utf8)
        var tokens: [LuaToken] = []
        var i = 0, line = 1

        func at(_ k: Int) -> UInt8 { k < s.count ? s[k] : 0 }
        func text(_ a: Int, _ b: Int) -> String { String(decoding: s[a..<min(b, s.count)], as: UTF8.self) }
        /// At `[` followed by `=`* and `[`: the level (number of `=`), else nil.
        func longBracket(_ k: Int) -> Int? {
            guard at(k) == UInt8(ascii: "[") else { return nil }
            var level = 0
            while at(k + 1 + level) == UInt8(ascii: "=") { level += 1 }
            return at(k + 1 + level) == UInt8(ascii: "[") ? level : nil
        }
        /// Skips a long bracket body opened at `k` with `level`; returns where its content
        /// starts and ends, and moves `i` past the closing bracket.
        func skipLong(_ k: Int, _ level: Int) -> (Int, Int) {
            let start = k + level + 2
            var j = start
            while j < s.count {
                if s[j] == UInt8(ascii: "\n") { line += 1 }
                if s[j] == UInt8(ascii: "]"), (0..<level).allSatisfy({ at(j + 1 + $0) == UInt8(ascii: "=") }),
                   at(j + 1 + level) == UInt8(ascii: "]") {
                    i = j + level + 2
                    return (start, j)
                }
                j += 1
            }
            i = s.count
            return (start, s.count)
        }
        func isNameStart(_ c: UInt8) -> Bool { c == UInt8(ascii: "_") || (c | 0x20 >= UInt8(ascii: "a") && c | 0x20 <= UInt8(ascii: "z")) }
        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

        while i < s.count {
            let c = s[i]
            if c == UInt8(ascii: "\n") { line += 1; i += 1; continue }
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") { i += 1; continue }
            if c == UInt8(ascii: "-") && at(i + 1) == UInt8(ascii: "-") {
                if let level = longBracket(i + 2) {
                    _ = skipLong(i + 2, level)
                } else {
                    while i < s.count && s[i] != UInt8(ascii: "\n") { i += 1 }
                }
                continue
            }
            let startLine = line
            if let level = longBracket(i) {
                let (a, b) = skipLong(i, level)
                tokens.append(LuaToken(kind: .string, text: text(a, b), line: startLine))
                continue
            }
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                var j = i + 1
                while j < s.count && s[j] != c {
                    if s[j] == UInt8(ascii: "\\") { j += 1; if at(j) == UInt8(ascii: "\n") { line += 1 } }
                    else if s[j] == UInt8(ascii: "\n") { return tokens }
                    j += 1
                }
                tokens.append(LuaToken(kind: .string, text: text(i + 1, j), line: startLine))
                i = j + 1
                continue
            }
            if isNameStart(c) {
                var j = i + 1
                while j < s.count && (isNameStart(s[j]) || isDigit(s[j])) { j += 1 }
                tokens.append(LuaToken(kind: .name, text: text(i, j), line: line))
                i = j
                continue
            }
            if isDigit(c) || (c == UInt8(ascii: ".") && isDigit(at(i + 1))) {
                var j = i + 1
                while j < s.count {
                    let d = s[j] | 0x20
                    if (d == UInt8(ascii: "e") || d == UInt8(ascii: "p")) && (at(j + 1) == UInt8(ascii: "+") || at(j + 1) == UInt8(ascii: "-")) {
                        j += 2
                    } else if isNameStart(s[j]) || isDigit(s[j]) || s[j] == UInt8(ascii: ".") {
                        j += 1
                    } else {
                        break
                    }
                }
                tokens.append(LuaToken(kind: .number, text: text(i, j), line: line))
                i = j
                continue
            }
            let symbol = symbols.first { sym in sym.utf8.enumerated().allSatisfy { at(i + $0.offset) == $0.element } }
                ?? text(i, i + 1)
            tokens.append(LuaToken(kind: .symbol, text: symbol, line: line))
            i += symbol.utf8.count
        }
        return tokens
    }
}
