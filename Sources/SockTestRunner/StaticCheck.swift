import SockTestCore
import SockTestLua

/// What `socktest-lua check` can tell about a script without running it, from its tokens:
/// - `st.set("conect", ...)` / `st.add(...)`: a filter type that does not exist;
/// - a filter that returns a literal string that is not an errno name (`return "ECONREFUSED"`),
///   and the same in `so.err = "..."`, `so.socket_err = "..."` and `st.delay(s, "...")`;
/// - `so.famly`: a field the status object does not have, where `so` is a filter's argument
///   (of a function literal given to `set`/`add`, of a local function given to them by name,
///   or of an after-filter such a function returns).
/// The module is known by the global `socktest` and by names bound to `require("socktest")` or
/// to `socktest`. The known names come from the live module's own lists, so they cannot drift.
struct StaticCheck {
    struct Problem: Equatable, CustomStringConvertible {
        let line: Int
        let message: String
        var description: String { "\(line): \(message)" }
    }

    private let tokens: [LuaToken]
    private var problems: [Problem] = []

    static let filterTypes = FilterType.allCases.map(\.name)
    static let statusFields = Set(StatusObject.Field.allCases.map(\.rawValue))

    /// The problems in `source`, in the order of their lines.
    static func problems(in source: String) -> [Problem] {
        var check = StaticCheck(tokens: LuaLexer.tokens(source))
        check.run()
        return check.problems.sorted { $0.line < $1.line }
    }

    private init(tokens: [LuaToken]) { self.tokens = tokens }

    private func token(_ i: Int) -> LuaToken? { i >= 0 && i < tokens.count ? tokens[i] : nil }

    /// A function's scope: where its body starts and ends (token indices), and its first
    /// parameter's name.
    private struct Function {
        let start: Int
        var end: Int
        let parameter: String?
    }

    private mutating func run() {
        let aliases = moduleAliases()
        let functions = functionScopes()
        let named = Dictionary(functions.compactMap { f in functionName(at: f.start).map { ($0, f) } }) { a, _ in a }

        // Filters: function literals and named local functions given to set/add.
        var filters: [Function] = []
        for i in tokens.indices where isModuleCall(i, aliases, ["set", "add"]) {
            let open = i + 3    // alias . set (
            if let type = token(open + 1), type.kind == .string, !Self.filterTypes.contains(type.text) {
                report(type.line, "unknown filter type '\(type.text)' in \(tokens[i].text).\(tokens[i + 2].text) "
                    + "(expected one of: \(Self.filterTypes.joined(separator: ", ")))")
            }
            guard token(open + 2)?.isSymbol(",") == true, let argument = token(open + 3) else { continue }
            if argument.isName("function"), let f = functions.first(where: { $0.start == open + 3 }) {
                filters.append(f)
            } else if argument.kind == .name, token(open + 4)?.isSymbol(")") == true, let f = named[argument.text] {
                filters.append(f)
            }
        }
        // After-filters: functions a filter returns.
        for filter in filters {
            for f in functions where f.start > filter.start && f.end <= filter.end
                && token(f.start - 1)?.isName("return") == true && innermost(f.start - 1, in: functions)?.start == filter.start {
                filters.append(f)
            }
        }

        for filter in filters {
            checkFilter(filter, functions: functions)
        }
        for i in tokens.indices where isModuleCall(i, aliases, ["delay"]) {
            // delay(seconds, "ENAME"): the errno is the argument after the first comma at depth 0.
            var depth = 0, j = i + 4
            while let t = token(j), !(depth == 0 && t.isSymbol(")")) {
                if t.isSymbol("(") || t.isSymbol("{") { depth += 1 }
                if t.isSymbol(")") || t.isSymbol("}") { depth -= 1 }
                if depth == 0 && t.isSymbol(","), let e = token(j + 1), e.kind == .string, token(j + 2)?.isSymbol(")") == true {
                    checkErrno(e, "given to \(tokens[i].text).delay")
                    break
                }
                j += 1
            }
        }
    }

    /// Within a filter: its returns of literal strings, and uses of its status argument.
    private mutating func checkFilter(_ filter: Function, functions: [Function]) {
        guard let status = filter.parameter else { return }
        var i = filter.start
        while i < filter.end {
            defer { i += 1 }
            let t = tokens[i]
            if t.isName("return"), let value = token(i + 1), value.kind == .string,
               innermost(i, in: functions)?.start == filter.start {
                checkErrno(value, "returned by a filter")
            }
            guard t.kind == .name, t.text == status, token(i + 1)?.isSymbol(".") == true,
                  let field = token(i + 2), field.kind == .name, token(i - 1).map({ $0.isSymbol(".") || $0.isSymbol(":") }) != true,
                  shadowing(status, at: i, within: filter, functions: functions) == false else { continue }
            if !Self.statusFields.contains(field.text) {
                report(field.line, "unknown status field '\(field.text)' (\(status) has: \(Self.statusFields.sorted().joined(separator: ", ")))")
            } else if (field.text == "err" || field.text == "socket_err"), token(i + 3)?.isSymbol("=") == true,
                      let value = token(i + 4), value.kind == .string {
                checkErrno(value, "assigned to \(status).\(field.text)")
            }
        }
    }

    private mutating func checkErrno(_ value: LuaToken, _ how: String) {
        guard !value.text.contains("\\"), Errno.byName[value.text] == nil else { return }
        report(value.line, "unknown errno name '\(value.text)' \(how)")
    }

    private mutating func report(_ line: Int, _ message: String) {
        problems.append(Problem(line: line, message: message))
    }

    /// Names bound to the module: `socktest`, and `NAME = require("socktest")` or `= socktest`.
    private func moduleAliases() -> Set<String> {
        var aliases: Set<String> = ["socktest"]
        for i in tokens.indices where tokens[i].kind == .name && token(i + 1)?.isSymbol("=") == true {
            guard let value = token(i + 2) else { continue }
            let required = value.isName("require")
                && (token(i + 3).map { $0.kind == .string && $0.text == "socktest" } == true
                    || (token(i + 3)?.isSymbol("(") == true && token(i + 4).map { $0.kind == .string && $0.text == "socktest" } == true
                        && token(i + 5)?.isSymbol(")") == true))
            let global = value.isName("socktest") && token(i + 3)?.isSymbol(".") != true
                && token(i + 3)?.isSymbol("[") != true && token(i + 3)?.isSymbol(":") != true
            if required || global { aliases.insert(tokens[i].text) }
        }
        return aliases
    }

    /// `alias.name(` at i, with alias not itself a field (`x.socktest.set` is something else).
    private func isModuleCall(_ i: Int, _ aliases: Set<String>, _ names: [String]) -> Bool {
        tokens[i].kind == .name && aliases.contains(tokens[i].text)
            && token(i - 1).map { !$0.isSymbol(".") && !$0.isSymbol(":") && !$0.isName("function") } != false
            && token(i + 1)?.isSymbol(".") == true
            && token(i + 2).map { $0.kind == .name && names.contains($0.text) } == true
            && token(i + 3)?.isSymbol("(") == true
    }

    /// Every function's scope, matching each `function` with its `end` (blocks opened by `if`,
    /// `do` — which `for` and `while` use — and `function` close with `end`; `repeat` with `until`).
    private func functionScopes() -> [Function] {
        var stack: [(opener: String, function: Int?)] = []
        var functions: [Function] = []
        for (i, t) in tokens.enumerated() where t.kind == .name {
            switch t.text {
            case "function":
                var p = i + 1
                while let n = token(p), !n.isSymbol("(") { p += 1 }
                let first = token(p + 1).flatMap { $0.kind == .name ? $0.text : nil }
                functions.append(Function(start: i, end: tokens.count, parameter: first))
                stack.append(("function", functions.count - 1))
            case "if", "do":
                stack.append((t.text, nil))
            case "repeat":
                stack.append(("repeat", nil))
            case "end", "until":
                guard let top = stack.popLast() else { continue }
                if let f = top.function { functions[f].end = i }
            default:
                break
            }
        }
        return functions
    }

    /// The name of the function starting at `start`: `local function NAME(`, `function NAME(`
    /// or `[local] NAME = function(`.
    private func functionName(at start: Int) -> String? {
        if let n = token(start + 1), n.kind == .name, token(start + 2)?.isSymbol("(") == true { return n.text }
        if token(start - 1)?.isSymbol("=") == true, let n = token(start - 2), n.kind == .name,
           token(start - 3).map({ !$0.isSymbol(".") && !$0.isSymbol(":") }) != false {
            return n.text
        }
        return nil
    }

    /// The innermost function whose body holds token `i`.
    private func innermost(_ i: Int, in functions: [Function]) -> Function? {
        functions.filter { $0.start < i && i < $0.end }.max { $0.start < $1.start }
    }

    /// Whether a function nested in `filter` around `i` takes its own parameter named `name`.
    private func shadowing(_ name: String, at i: Int, within filter: Function, functions: [Function]) -> Bool {
        functions.contains { f in
            f.start > filter.start && f.start < i && i < f.end && f.parameter == name
                && token(f.start - 1)?.isName("return") != true
        }
    }
}
