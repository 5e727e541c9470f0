/// Bytes from outside (a data file's fields, a path from C) as an error message shows them:
/// printable ASCII as it is (a backslash doubled), every other byte as `\xNN` (a NUL, which would
/// end the message in C, a byte-order mark, a control character, each byte of a non-ASCII letter
/// or of invalid UTF-8), at most `limit` bytes of them. Shared by the engine and the C boundary.
package enum MessageText {
    package static func shown<Bytes: Sequence>(_ bytes: Bytes, limit: Int) -> String where Bytes.Element == UInt8 {
        var out = ""
        for b in bytes.prefix(limit) {
            switch b {
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(b))
            default: out += hex(b)
            }
        }
        return out
    }

    /// `\xNN`, two lower-case hex digits.
    package static func hex(_ b: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return "\\x" + String(digits[Int(b >> 4)]) + String(digits[Int(b & 15)])
    }
}
