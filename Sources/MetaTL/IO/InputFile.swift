import Foundation

/// A file opened for reading with plain POSIX calls, for the two loaders (interaction files and
/// checkpoints).
///
/// The type of the file is checked before it is opened: a directory is reported as such, and a
/// device such as `/dev/zero` or `/dev/urandom` (which would be read forever) is refused. Pipes
/// (FIFOs, `<(zcat data.gz)`) are accepted only where the caller allows them, because they have
/// no size to check against and can only be read to the end, which ``readAll(limit:raise:)``
/// bounds. The file is closed when the value goes away.
final class InputFile {
    let path: String
    private let fd: Int32
    /// The size in bytes of a regular file when it was opened; nil for a pipe.
    let size: Int?

    /// Opens `path` for reading. `allowPipes`: accept a FIFO as well as a regular file.
    init(path: String, allowPipes: Bool) throws(MetaTLError) {
        self.path = path
        var info = stat()
        guard stat(path, &info) == 0 else { throw InputFile.openError(path, errno) }
        let pipe = try InputFile.check(path, mode: info.st_mode, allowPipes: allowPipes)
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw InputFile.openError(path, errno) }
        // The path may have been replaced between stat and open: check what was opened.
        guard fstat(fd, &info) == 0 else {
            let e = errno
            close(fd)
            throw MetaTLError(.io, "\(path): cannot read: \(String(cString: strerror(e)))")
        }
        do { _ = try InputFile.check(path, mode: info.st_mode, allowPipes: allowPipes) } catch {
            close(fd)
            throw error
        }
        self.fd = fd
        size = pipe ? nil : Int(info.st_size)
    }

    deinit { close(fd) }

    /// The whole content, read to the end (a regular file may have grown since it was opened),
    /// or an error once it holds more than `limit` bytes: a regular file larger than that is
    /// refused from its size, before anything is read, and a pipe is read until it ends or the
    /// limit is passed, so that one that never ends (`yes > fifo`) costs at most `limit` bytes.
    /// `raise` says, in the error, how the caller can raise the limit.
    func readAll(limit: Int, raise: String) throws(MetaTLError) -> [UInt8] {
        let cap = min(max(limit, 0), Int.max - 1)
        func tooLarge(_ what: String) -> MetaTLError {
            let readable = cap >= 1024 ? " (\(InputFile.describe(bytes: cap)))" : ""
            return .invalidData("\(path): \(what) the limit of \(cap) bytes\(readable) on a data file; "
                                + "if it is meant to be this large, raise the limit: \(raise)")
        }
        if let size, size > cap { throw tooLarge("holds \(size) bytes, more than") }
        var bytes = [UInt8](repeating: 0, count: min(max(size ?? 0, 0), cap) + 1)
        var used = 0
        while true {
            if used == bytes.count {
                // Full with cap + 1 bytes: the content is larger than the cap (a pipe has not
                // ended by then; a regular file grew).
                guard used <= cap else {
                    throw tooLarge(size == nil ? "is a pipe that gave more than" : "grew while it was read to more than")
                }
                bytes.append(contentsOf: repeatElement(0, count: min(max(bytes.count, 1 << 16), cap + 1 - bytes.count)))
            }
            let n = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return posixRead(fd, base + used, raw.count - used)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw MetaTLError(.io, "\(path): cannot read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            used += n
        }
        bytes.removeSubrange(used...)
        return bytes
    }

    /// A byte count for people: "4 GiB", "1.5 MiB", "12 bytes".
    static func describe(bytes n: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(n), unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 { return "\(n) bytes" }
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded)) \(units[unit])" : "\(rounded) \(units[unit])"
    }

    /// Fills `buffer` from byte `offset` of a regular file; returns how many bytes were read,
    /// fewer than the buffer's size only at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(MetaTLError) -> Int {
        guard offset >= 0, let base = buffer.baseAddress else { return 0 }
        var used = 0
        while used < buffer.count {
            let n = pread(fd, base + used, buffer.count - used, off_t(offset + used))
            if n < 0 {
                if errno == EINTR { continue }
                throw MetaTLError(.io, "\(path): cannot read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            used += n
        }
        return used
    }

    /// Whether `mode` is a pipe (true) or a regular file (false); anything else is an error.
    private static func check(_ path: String, mode: mode_t, allowPipes: Bool) throws(MetaTLError) -> Bool {
        switch mode & S_IFMT {
        case S_IFREG: return false
        case S_IFIFO where allowPipes: return true
        case S_IFDIR: throw MetaTLError(.fileNotFound, "\(path): is a directory, expected a file")
        case S_IFIFO: throw MetaTLError(.io, "\(path): is a pipe, expected a regular file")
        case S_IFCHR: throw MetaTLError(.io, "\(path): is a character device, expected a regular file")
        case S_IFBLK: throw MetaTLError(.io, "\(path): is a block device, expected a regular file")
        case S_IFSOCK: throw MetaTLError(.io, "\(path): is a socket, expected a regular file")
        default: throw MetaTLError(.io, "\(path): is not a regular file")
        }
    }

    private static func openError(_ path: String, _ code: Int32) -> MetaTLError {
        switch code {
        case ENOENT, ENOTDIR: return MetaTLError(.fileNotFound, "\(path): no such file")
        default: return MetaTLError(.io, "\(path): cannot read: \(String(cString: strerror(code)))")
        }
    }
}

/// POSIX read(2) (inside InputFile the name means its own method).
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}
