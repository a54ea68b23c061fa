import Foundation
import XCTest

/// `socktest-lua check`'s static pass: the three mistakes it knows, each with file:line, and no
/// false alarm on the shipped recipes, examples and Lua tests (the docs' blocks are checked by
/// DocumentationTests).
final class CheckTests: XCTestCase {
    func testTheThreeStaticMistakesAreReportedWithTheirLines() throws {
        let script = try Tool.script("mistakes.lua", """
            local st = require("socktest")
            st.set("conect", function(so)
              if so.famly == st.AF_INET6 then return "ECONREFUSED" end
              return function(after)
                if after.err == "ETIMEDOUT" then after.err = "ETIMEDOUTT" end
              end
            end)
            local function slow(s) if s.adr then return st.delay(1, "EBOGUS") end end
            socktest.add("accept", slow)
            local plain = {famly = 1}                       -- not a status: no alarm
            local function helper() return "not an errno" end  -- not a filter: no alarm
            st.set("close", function(so) return helper() end)
            """)
        let result = try Tool.run(["check", script])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderr.split(separator: "\n").map(String.init), [
            "\(script):2: unknown filter type 'conect' in st.set (expected one of: socket, bind, connect, listen, accept, getsockopt, close, read, write, shutdown)",
            "\(script):3: unknown status field 'famly' (so has: addr, backlog, cookie, data, err, family, fd, flags, how, level, local_addr, n, nonblocking, op, opt, pid, protocol, read_total, size, socket_err, type, written_total)",
            "\(script):3: unknown errno name 'ECONREFUSED' returned by a filter",
            "\(script):5: unknown errno name 'ETIMEDOUTT' assigned to after.err",
            "\(script):8: unknown status field 'adr' (s has: addr, backlog, cookie, data, err, family, fd, flags, how, level, local_addr, n, nonblocking, op, opt, pid, protocol, read_total, size, socket_err, type, written_total)",
            "\(script):8: unknown errno name 'EBOGUS' given to st.delay",
        ])
        XCTAssertEqual(result.stdout, "")
    }

    func testAnAliasOfTheModuleIsFollowedAndCommentsAndStringsAreNot() throws {
        let script = try Tool.script("aliases.lua", """
            local S = socktest
            --[[ S.set("nope", nil) in a comment ]] -- S.set("nope2", nil)
            local text = [==[ S.set("nope3", nil) ]==]
            S.set("lisen", nil)
            """)
        let result = try Tool.run(["check", script])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderr.split(separator: "\n").map(String.init), [
            "\(script):4: unknown filter type 'lisen' in S.set (expected one of: socket, bind, connect, listen, accept, getsockopt, close, read, write, shutdown)",
        ])
    }

    func testShippedScriptsPass() throws {
        var checked = 0
        for folder in ["scripts/recipes", "scripts/examples", "scripts/annotations", "Tests/lua", "Tests/lua/lib"] {
            for file in try FileManager.default.contentsOfDirectory(atPath: Tool.repo + "/" + folder) where file.hasSuffix(".lua") {
                let result = try Tool.run(["check", folder + "/" + file])
                XCTAssertEqual(result.status, 0, "\(folder)/\(file): \(result.stderr)")
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 20)
    }
}
