/// The small JSON toolkit of the dump format (`FSExporter`, `FSImporter`): a writer of one flat
/// object per line, a parser of one line, and base64. HoltFS does not use Foundation; these cover
/// exactly what the format needs (objects, arrays, strings, integers, booleans, null).

/// Builds one JSON object as bytes: `{"name":value,...}`.
struct JSONObjectWriter {
    private(set) var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var first = true

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    private mutating func name(_ name: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// `"name":"text"`, escaped.
    mutating func string(_ name: StaticString, _ text: String) {
        self.name(name)
        JSONText.appendString(Array(text.utf8), to: &bytes)
    }

    /// `"name":"..."` for bytes that are valid UTF-8, else `"name_b64":"<base64>"`: `name` and
    /// `b64Name` are the two spellings of the field.
    mutating func text(_ name: StaticString, _ b64Name: StaticString, _ value: [UInt8]) {
        if JSONText.isValidUTF8(value) {
            self.name(name)
            JSONText.appendString(value, to: &bytes)
        } else {
            self.base64(b64Name, value)
        }
    }

    /// `"name":"<base64 of value>"`.
    mutating func base64(_ name: StaticString, _ value: [UInt8]) {
        self.name(name)
        bytes.append(UInt8(ascii: "\""))
        Base64.encode(value[...], into: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// `"name":"<base64 of value>"` from a slice.
    mutating func base64(_ name: StaticString, _ value: ArraySlice<UInt8>) {
        self.name(name)
        bytes.append(UInt8(ascii: "\""))
        Base64.encode(value, into: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// `"name":123`.
    mutating func integer<T: BinaryInteger>(_ name: StaticString, _ value: T) {
        self.name(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    /// `"name":true` / `false`.
    mutating func bool(_ name: StaticString, _ value: Bool) {
        self.name(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// `"name":<raw JSON>` (an array or object built elsewhere).
    mutating func raw(_ name: StaticString, _ json: [UInt8]) {
        self.name(name)
        bytes.append(contentsOf: json)
    }

    /// The object's bytes with its closing brace and a newline.
    mutating func line() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// The object's bytes with its closing brace (no newline), for nesting.
    mutating func closed() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }
}

/// String encoding and UTF-8 validation for the writer (and the JSON lines of `holtfs watch`).
public enum JSONText {
    /// `text` as a JSON string literal (quotes, backslashes and control characters escaped).
    public static func quoted(_ text: String) -> String {
        var out: [UInt8] = []
        appendString(Array(text.utf8), to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `bytes` are well-formed UTF-8 (no surrogates, no overlong forms).
    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        // Fast path: ASCII.
        if bytes.allSatisfy({ $0 < 0x80 }) { return true }
        return String(validating: bytes, as: UTF8.self) != nil
    }

    /// Appends `"text"` with `"`, `\` and control characters escaped; `text` is valid UTF-8.
    static func appendString(_ text: [UInt8], to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in text {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\t"): out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case UInt8(ascii: "\r"): out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0..<0x20, 0x7F:
                out += Array("\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// A parsed JSON value. Object members keep their order; strings are UTF-8 bytes.
enum JSONValue: Equatable {
    case object([(key: [UInt8], value: JSONValue)])
    case array([JSONValue])
    case string([UInt8])
    /// An integer: sign and magnitude (the format has no fractions).
    case integer(negative: Bool, magnitude: UInt64)
    case bool(Bool)
    case null

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.array(let a), .array(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.integer(let n1, let m1), .integer(let n2, let m2)): n1 == n2 && m1 == m2
        case (.bool(let a), .bool(let b)): a == b
        case (.null, .null): true
        default: false
        }
    }

    /// The member `key` of an object, or nil.
    subscript(_ key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        let wanted = Array(key.utf8)
        for member in members where member.key == wanted { return member.value }
        return nil
    }
}

/// Why a line is not the JSON the parser reads.
struct JSONParseError: Error {
    var reason: String
}

/// A recursive-descent parser over one line of bytes.
struct JSONParser {
    private let bytes: ArraySlice<UInt8>
    private var position: Int
    /// Nesting limit: the format nests two levels; hostile input must not overflow the stack.
    private static let maxDepth = 32

    /// Parses the whole of `bytes` as one value (white space around it allowed).
    static func parse(_ bytes: ArraySlice<UInt8>) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, position: bytes.startIndex)
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.position == bytes.endIndex else { throw JSONParseError(reason: "text after the value at column \(parser.column)") }
        return value
    }

    private var column: Int { position - bytes.startIndex + 1 }

    private mutating func skipSpace() {
        while position < bytes.endIndex {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private func fail(_ what: String) -> JSONParseError {
        JSONParseError(reason: "\(what) at column \(column)")
    }

    private mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < Self.maxDepth else { throw fail("nested too deeply") }
        skipSpace()
        guard position < bytes.endIndex else { throw fail("unexpected end") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard bytes.endIndex - position >= count else { throw fail("unexpected end") }
        let matches = word.withUTF8Buffer { buffer in
            zip(buffer, bytes[position..<position + count]).allSatisfy { $0 == $1 }
        }
        guard matches else { throw fail("unknown literal") }
        position += count
    }

    private mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
        position += 1
        var members: [(key: [UInt8], value: JSONValue)] = []
        skipSpace()
        if position < bytes.endIndex, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipSpace()
            guard position < bytes.endIndex, bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let key = try string()
            skipSpace()
            guard position < bytes.endIndex, bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            position += 1
            members.append((key, try value(depth: depth + 1)))
            skipSpace()
            guard position < bytes.endIndex else { throw fail("unexpected end in an object") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            throw fail("expected ',' or '}'")
        }
    }

    private mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
        position += 1
        var elements: [JSONValue] = []
        skipSpace()
        if position < bytes.endIndex, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            elements.append(try value(depth: depth + 1))
            skipSpace()
            guard position < bytes.endIndex else { throw fail("unexpected end in an array") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
            throw fail("expected ',' or ']'")
        }
    }

    private mutating func number() throws(JSONParseError) -> JSONValue {
        var negative = false
        if bytes[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        var magnitude: UInt64 = 0
        var digits = 0
        while position < bytes.endIndex, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
            let (times, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(UInt64(bytes[position] - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw fail("integer out of range") }
            magnitude = sum
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw fail("expected digits") }
        if position < bytes.endIndex, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position]) {
            throw fail("only integers are expected")
        }
        return .integer(negative: negative, magnitude: magnitude)
    }

    /// A string at `position` (which is its opening quote), decoded to UTF-8 bytes.
    private mutating func string() throws(JSONParseError) -> [UInt8] {
        position += 1
        var out: [UInt8] = []
        // Fast path: no escapes.
        let start = position
        while position < bytes.endIndex {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[start..<position])
                position += 1
                return out
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            position += 1
        }
        out.append(contentsOf: bytes[start..<position])
        while position < bytes.endIndex {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return out
            case UInt8(ascii: "\\"):
                guard position < bytes.endIndex else { throw fail("unexpected end in an escape") }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800, scalar < 0xDC00 {
                        guard bytes.endIndex - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                            bytes[position + 1] == UInt8(ascii: "u")
                        else { throw fail("lone surrogate") }
                        position += 2
                        let low = try hex4()
                        guard low >= 0xDC00, low < 0xE000 else { throw fail("lone surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00, scalar < 0xE000 {
                        throw fail("lone surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw fail("bad \\u escape") }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    throw fail("bad escape")
                }
            case 0..<0x20:
                throw fail("control character in a string")
            default:
                out.append(byte)
            }
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard bytes.endIndex - position >= 4 else { throw fail("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail("bad \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}

/// Standard base64 (RFC 4648, `+/`, padded).
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// Appends the base64 text of `data` to `out`.
    static func encode(_ data: ArraySlice<UInt8>, into out: inout [UInt8]) {
        let count = data.count
        guard count > 0 else { return }
        let start = out.count
        let encodedCount = (count + 2) / 3 * 4
        out.append(contentsOf: repeatElement(0, count: encodedCount))
        alphabet.withUnsafeBufferPointer { table in
            data.withUnsafeBufferPointer { input in
                out.withUnsafeMutableBufferPointer { output in
                    var i = 0
                    var o = start
                    while i + 3 <= count {
                        let chunk = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                        output[o] = table[Int(chunk >> 18)]
                        output[o + 1] = table[Int(chunk >> 12 & 63)]
                        output[o + 2] = table[Int(chunk >> 6 & 63)]
                        output[o + 3] = table[Int(chunk & 63)]
                        i += 3
                        o += 4
                    }
                    let rest = count - i
                    if rest > 0 {
                        let b0 = UInt32(input[i])
                        let b1 = rest > 1 ? UInt32(input[i + 1]) : 0
                        let chunk = b0 << 16 | b1 << 8
                        output[o] = table[Int(chunk >> 18)]
                        output[o + 1] = table[Int(chunk >> 12 & 63)]
                        output[o + 2] = rest > 1 ? table[Int(chunk >> 6 & 63)] : UInt8(ascii: "=")
                        output[o + 3] = UInt8(ascii: "=")
                    }
                }
            }
        }
    }

    /// The base64 text of `data`.
    static func encode(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        encode(data[...], into: &out)
        return out
    }

    /// The bytes of base64 `text`, or nil when it is not padded base64.
    static func decode(_ text: [UInt8]) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        if text.isEmpty { return [] }
        var padding = 0
        if text[text.count - 1] == UInt8(ascii: "=") { padding += 1 }
        if text[text.count - 2] == UInt8(ascii: "=") { padding += 1 }
        let outCount = text.count / 4 * 3 - padding
        var out = [UInt8](repeating: 0, count: outCount)
        let ok = reverse.withUnsafeBufferPointer { table -> Bool in
            text.withUnsafeBufferPointer { input -> Bool in
                out.withUnsafeMutableBufferPointer { output -> Bool in
                    var o = 0
                    var i = 0
                    while i < input.count {
                        let last = i + 4 == input.count
                        var chunk: UInt32 = 0
                        for k in 0..<4 {
                            let byte = input[i + k]
                            if byte == UInt8(ascii: "=") {
                                guard last, k >= 4 - padding else { return false }
                                chunk <<= 6
                                continue
                            }
                            let value = table[Int(byte)]
                            if value == 0xFF { return false }
                            chunk = chunk << 6 | UInt32(value)
                        }
                        for k in 0..<3 where o < outCount {
                            output[o] = UInt8(truncatingIfNeeded: chunk >> (16 - 8 * UInt32(k)))
                            o += 1
                        }
                        i += 4
                    }
                    return true
                }
            }
        }
        return ok ? out : nil
    }
}

/// How much of a dump was written (`FSExporter`) or read (`FSImporter`) so far: for progress
/// displays, the summary, and the dump's end line.
public struct DumpCounts: Sendable, Equatable {
    /// Entry, link and raw lines (what the end line's `entries` counts).
    public var entries = 0
    /// Chunk lines.
    public var chunks = 0
    /// Bytes of file data (inline, plain values and chunks).
    public var dataBytes = 0

    /// No line yet.
    public init() {}
}
