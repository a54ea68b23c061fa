/// A Lua error: the message with the script's `file:line:` and, for runtime errors, a traceback.
public struct LuaError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
