import Foundation

/// A file opened for reading with plain POSIX calls, for the two loaders (interaction files and
/// checkpoints).
///
/// The type of the file is checked before it is opened: a directory is reported as such, and a
/// device such as `/dev/zero` or `/dev/urandom` (which would be read forever) is refused. Pipes
/// (FIFOs, `<(zcat data.gz)`) are accepted only where the caller allows them, because they have
/// no size to check against and can only be read to the end. The file is closed when the value
/// goes away.
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

    /// The whole content, read to the end (a regular file may have grown since it was opened).
    func readAll() throws(MetaTLError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(size ?? 0, 0) + 1)
        var used = 0
        while true {
            if used == bytes.count { bytes.append(contentsOf: repeatElement(0, count: max(bytes.count, 1 << 16))) }
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
