import Foundation

/// Writing a file atomically (checkpoints): to a temporary file in the target's folder, flushed
/// to disk, then renamed over the target, so that the target holds either its old content or
/// the new one, never a mix, whatever moment a crash comes at.
///
/// The path is checked before anything is created: an empty path, one ending in "/", one whose
/// last component is "." or "..", an existing directory and a name longer than the file
/// system's limit are refused with a message naming the path. The temporary file's name is the
/// target's, cut so that it always fits the same limit: `.NAME.tmp-PID-RANDOM`.
enum AtomicFile {
    /// Longest file name (one path component) assumed when the file system does not say.
    static let defaultNameMax = 255

    /// The folder and the file name `path` names, or the reason it cannot name a file to write.
    static func target(_ path: String) throws(MetaTLError) -> (folder: String, name: String) {
        guard !path.isEmpty else { throw .invalidArgument("cannot save to an empty path; expected a file name") }
        // Split on the byte "/" (a Character could join it with a following combining mark).
        let bytes = Array(path.utf8)
        let slash = UInt8(ascii: "/")
        guard bytes.last != slash else {
            throw .invalidArgument("\(path): names a directory (it ends in '/'), expected a file name")
        }
        let cut = bytes.lastIndex(of: slash)
        let nameBytes = cut.map { bytes[($0 + 1)...] } ?? bytes[...]
        let folderBytes = cut.map { bytes[..<$0] } ?? []
        let name = String(decoding: nameBytes, as: UTF8.self)
        let folder = cut == nil ? "." : folderBytes.isEmpty ? "/" : String(decoding: folderBytes, as: UTF8.self)
        guard name != "." && name != ".." else {
            throw .invalidArgument("\(path): names a directory ('.' or '..'), expected a file name")
        }
        // rename(2) replaces a file or a symbolic link, never a directory: lstat, as rename sees it.
        var info = stat()
        if lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR {
            throw MetaTLError(.io, "\(path): is a directory, expected a file")
        }
        let limit = nameMax(folder)
        guard nameBytes.count <= limit else {
            throw .invalidArgument("\(path): the file name is \(nameBytes.count) bytes, longer than the \(limit) this file system allows")
        }
        return (folder, name)
    }

    /// The file system's longest file name in `folder` (NAME_MAX, 255 on Linux's file systems).
    static func nameMax(_ folder: String) -> Int {
        let n = pathconf(folder, Int32(_PC_NAME_MAX))
        return n > 0 ? n : defaultNameMax
    }

    /// `.NAME.tmp-PID-RANDOM` (RANDOM: 8 hex digits), with NAME cut, on a character boundary, so
    /// that the whole stays within `limit` bytes.
    static func temporaryName(for name: String, limit: Int, random: UInt32) -> String {
        let hex = String(random, radix: 16)
        let suffix = ".tmp-\(getpid())-" + String(repeating: "0", count: max(0, 8 - hex.utf8.count)) + hex
        let room = limit - 1 - suffix.utf8.count
        var stem = String.UnicodeScalarView()
        var used = 0
        for s in name.unicodeScalars {
            let width = UTF8.width(s)
            guard used + width <= room else { break }
            stem.append(s)
            used += width
        }
        return "." + String(stem) + suffix
    }
}

extension AtomicFile {
    /// The most bytes one write(2) is given: large buffers go in pieces of this size.
    static let writeChunk = 64 << 20

    /// The temporary file being written, for the body of ``writeAtomically(to:_:)``.
    struct Output {
        let fd: Int32
        /// The target's path, which errors name.
        let path: String

        /// Writes all of `bytes` (in pieces of at most ``AtomicFile/writeChunk`` bytes, again
        /// after a short write or EINTR); throws `.io` naming the path when writing fails.
        func write(_ bytes: UnsafeRawBufferPointer) throws(MetaTLError) {
            guard var p = bytes.baseAddress else { return }
            var left = bytes.count
            while left > 0 {
                let n = posixWrite(fd, p, min(left, AtomicFile.writeChunk))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw MetaTLError(.io, "\(path): cannot write: \(String(cString: strerror(errno)))")
                }
                guard n > 0 else { throw MetaTLError(.io, "\(path): cannot write: the file system accepted no bytes") }
                left -= n
                p += n
            }
        }
    }
}

/// write(2), under a name that ``AtomicFile/Output/write(_:)`` does not hide.
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

/// Writes `data` to a temporary file next to `path`, fsyncs it, renames it over `path` and
/// fsyncs the folder, so that `path` holds either its old content or the new one, never a mix.
/// A path that cannot name a file is refused before anything is created (``AtomicFile/target(_:)``).
func writeAtomically(_ data: Data, to path: String) throws(MetaTLError) {
    try writeAtomically(to: path) { (out: AtomicFile.Output) throws(MetaTLError) in
        var failure: MetaTLError?
        data.withUnsafeBytes { raw in
            do throws(MetaTLError) { try out.write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// Writes a file atomically with `body` writing its content (to ``AtomicFile/Output``, in as
/// many pieces as it likes): to a temporary file next to `path` (named by
/// ``AtomicFile/temporaryName(for:limit:random:)``), fsynced, renamed over `path`, then the
/// folder fsynced, so that `path` holds either its old content or the new one, never a mix.
/// When `body` throws, or flushing or renaming fails, the temporary file is removed and `path`
/// is left as it was. A path that cannot name a file is refused before anything is created
/// (``AtomicFile/target(_:)``).
func writeAtomically(to path: String, _ body: (AtomicFile.Output) throws(MetaTLError) -> Void) throws(MetaTLError) {
    let (folder, name) = try AtomicFile.target(path)
    let limit = AtomicFile.nameMax(folder)
    var temporary = ""
    var fd: Int32 = -1
    // A name taken by another writer (the same pid after a restart, by chance) gets a new draw.
    for _ in 0..<4 {
        let base = AtomicFile.temporaryName(for: name, limit: limit, random: UInt32.random(in: 0...UInt32.max))
        temporary = folder == "/" ? "/" + base : folder + "/" + base
        repeat { fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) } while fd < 0 && errno == EINTR
        if fd >= 0 || errno != EEXIST { break }
    }
    guard fd >= 0 else {
        throw MetaTLError(errno == ENOENT ? .fileNotFound : .io, "\(path): cannot create \(temporary): \(String(cString: strerror(errno)))")
    }
    var failure: MetaTLError?
    do throws(MetaTLError) { try body(AtomicFile.Output(fd: fd, path: path)) } catch { failure = error }
    if failure == nil && fsync(fd) != 0 { failure = MetaTLError(.io, "\(path): cannot write: \(String(cString: strerror(errno)))") }
    if close(fd) != 0 && failure == nil { failure = MetaTLError(.io, "\(path): cannot write: \(String(cString: strerror(errno)))") }
    if let failure {
        unlink(temporary)
        throw failure
    }
    guard rename(temporary, path) == 0 else {
        let why = String(cString: strerror(errno))
        unlink(temporary)
        throw MetaTLError(.io, "\(path): cannot replace: \(why)")
    }
    let dfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd >= 0 { fsync(dfd); close(dfd) }
}
