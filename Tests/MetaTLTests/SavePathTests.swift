import Foundation
import Testing
@testable import MetaTL

/// Saving to any legal file name, and refusing paths that cannot name a file before anything is
/// created (issue 12, point 7).
@Suite("Save paths")
struct SavePathTests {
    static func tinyModel() throws -> MetaTLModel {
        var c = Configuration(); c.dim = 3; c.hidden1 = 4; c.hidden2 = 3
        return try MetaTLModel(configuration: c, items: 5)
    }

    static func freshFolder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-save-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    /// A folder's entries and modification time. Creating or removing an entry, even a temporary
    /// file that is gone again, sets the modification time, so equal states mean nothing was
    /// created; `ageFolder` first puts the time far in the past so that a change always shows.
    struct FolderState: Equatable {
        let entries: [String]
        let modified: Int
    }

    static func ageFolder(_ path: String) {
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, path, &times, 0)
    }

    static func state(_ path: String) -> FolderState {
        var info = stat()
        _ = stat(path, &info)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path).sorted()) ?? ["(unreadable)"]
        return FolderState(entries: entries, modified: Int(info.st_mtim.tv_sec))
    }

    /// Every file name of 234 to 255 bytes (NAME_MAX) saves and loads: the temporary file the
    /// atomic save writes first must itself stay within NAME_MAX.
    @Test func namesUpToNameMaxSaveAndLoad() throws {
        let m = try Self.tinyModel()
        let dir = try Self.freshFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var names: [String] = []
        for n in 234...255 {
            let name = String(repeating: "m", count: n - ".safetensors".utf8.count) + ".safetensors"
            names.append(name)
        }
        // Multi-byte names: the temporary name must be cut on a character boundary.
        names.append(String(repeating: "é", count: 121) + ".safetensors")   // 254 bytes
        names.append(String(repeating: "€", count: 81) + ".safetensors")    // 255 bytes
        for name in names {
            #expect(name.utf8.count <= 255)
            let path = dir + "/" + name
            do {
                try m.save(to: path)
                try m.save(to: path)   // over an existing file too
                let back = try MetaTLModel.load(from: path)
                #expect(back.itemIDs == m.itemIDs)
            } catch {
                Issue.record("\(name.utf8.count)-byte name: \(error.message)")
            }
        }
        #expect(Self.state(dir).entries == names.sorted(), "temporary files left behind")
    }

    /// A name longer than NAME_MAX is refused before anything is written.
    @Test func aNameBeyondNameMaxIsAClearError() throws {
        let m = try Self.tinyModel()
        let dir = try Self.freshFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + String(repeating: "n", count: 256)
        Self.ageFolder(dir)
        let before = Self.state(dir)
        do { try m.save(to: path); Issue.record("saved") } catch {
            #expect(error.kind == .invalidArgument)
            #expect(error.message == "\(path): the file name is 256 bytes, longer than the 255 this file system allows", "\(error.message)")
        }
        #expect(Self.state(dir) == before)
    }

    /// Paths that name a directory, or nothing, fail with a message naming the path, and nothing
    /// is created anywhere (before the fix, each wrote a temporary file into the parent folder,
    /// named after the directory, before failing).
    @Test func directoryAndEmptyPathsFailBeforeCreatingAnything() throws {
        let m = try Self.tinyModel()
        let root = try Self.freshFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/d", sub = dir + "/existing"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: dir + "/other.txt"))
        let cases: [(path: String, kind: MetaTLError.Kind, message: String)] = [
            ("", .invalidArgument, "cannot save to an empty path; expected a file name"),
            (dir + "/.", .invalidArgument, "\(dir)/.: names a directory ('.' or '..'), expected a file name"),
            (dir + "/..", .invalidArgument, "\(dir)/..: names a directory ('.' or '..'), expected a file name"),
            (sub, .io, "\(sub): is a directory, expected a file"),
            (sub + "/", .invalidArgument, "\(sub)/: names a directory (it ends in '/'), expected a file name"),
            (dir + "/new/", .invalidArgument, "\(dir)/new/: names a directory (it ends in '/'), expected a file name"),
            (dir + "/", .invalidArgument, "\(dir)/: names a directory (it ends in '/'), expected a file name"),
            (root, .io, "\(root): is a directory, expected a file"),
        ]
        let watched = [root, dir, sub]
        let shared = FileManager.default.temporaryDirectory.path
        let ours = URL(fileURLWithPath: root).lastPathComponent
        for c in cases {
            for f in watched { Self.ageFolder(f) }
            let before = watched.map(Self.state)
            do { try m.save(to: c.path); Issue.record("'\(c.path)' saved") } catch {
                #expect(error.kind == c.kind, "'\(c.path)': \(error.kind)")
                #expect(error.message == c.message, "'\(c.path)'")
            }
            for (f, (b, a)) in zip(watched, zip(before, watched.map(Self.state))) {
                #expect(a == b, "saving to '\(c.path)' changed \(f): \(b) -> \(a)")
            }
            // The shared temporary folder changes with other tests: nothing named after ours.
            let strays = Self.state(shared).entries.filter { $0.contains(ours) && $0 != ours }
            #expect(strays.isEmpty, "saving to '\(c.path)' left \(strays) in \(shared)")
        }
    }
}
