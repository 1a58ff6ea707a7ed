/// RFC 5321 §4.5.2 transparency: the body of DATA with every line that starts with "." given one more ".", and the
/// terminating `CRLF.CRLF`. Without it a line holding a single "." would end the message early (and whatever
/// followed would be read by the server as commands).
enum SMTPDotStuffing {
    static func dataBlock(_ message: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(message.count + message.count / 64 + 5)
        var atLineStart = true
        for byte in message {
            if atLineStart && byte == UInt8(ascii: ".") { output.append(UInt8(ascii: ".")) }
            output.append(byte)
            atLineStart = byte == 0x0A
        }
        if !output.isEmpty && !(output.count >= 2 && output[output.count - 2] == 0x0D && output.last == 0x0A) {
            output += [0x0D, 0x0A]
        }
        return output + Array(".\r\n".utf8)
    }
}
