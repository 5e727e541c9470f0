import Foundation
import Testing
@testable import MetaTL

/// The cap on a data file's size (issue 12, point 9): a pipe that never ends used to be read
/// without limit (2 GB in 15 s, +3.5 GB of memory), a file of any size was read whole.
@Suite("Data file size limit")
struct DataFileLimitTests {
    static let raise = "if it is meant to be this large, raise the limit: "
        + "maxFileBytes (C: mt_dataset_options.max_file_bytes with mt_dataset_load; metatl: --max-file-bytes)"

    static func fifo() throws -> (path: String, folder: URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-limit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("train.fifo").path
        #expect(mkfifo(path, 0o600) == 0)
        return (path, folder)
    }

    /// Writes `text` into the FIFO at `path` again and again from a thread, until the reader
    /// closes it (or, so that a reader that does not stop fails the test instead of hanging it,
    /// `bound` bytes: 64 times the limits used here). Returns the count of bytes written so far.
    final class Writer: @unchecked Sendable {
        private let lock = NSLock()
        private var written = 0
        private var finished = false
        var bytesWritten: Int { lock.lock(); defer { lock.unlock() }; return written }
        var done: Bool { lock.lock(); defer { lock.unlock() }; return finished }

        init(path: String, text: String, bound: Int = 64 << 20) {
            let chunk = Array(String(repeating: text, count: max(1, 8192 / text.utf8.count)).utf8)
            Thread { [self] in
                // SIGPIPE, once the reader has closed, goes to the writing thread: blocked here,
                // write returns EPIPE instead of the signal ending the test process.
                var set = sigset_t()
                sigemptyset(&set)
                sigaddset(&set, SIGPIPE)
                pthread_sigmask(SIG_BLOCK, &set, nil)
                let fd = open(path, O_WRONLY)
                if fd >= 0 {
                    var total = 0
                    while total < bound {
                        let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, min($0.count, bound - total)) }
                        if n <= 0 { break }
                        total += n
                        lock.lock(); written = total; lock.unlock()
                    }
                    close(fd)
                }
                lock.lock(); finished = true; lock.unlock()
            }.start()
        }
    }

    @Test func aPipeThatNeverEndsStopsAtTheLimit() throws {
        let (fifo, folder) = try Self.fifo()
        defer { try? FileManager.default.removeItem(at: folder) }
        let limit = 1 << 20
        let writer = Writer(path: fifo, text: "1\t2\t3\n")
        let test = try temporaryFile(smallTest, name: "limit_test.csv")
        let before = ResourceLimitTests.peakResidentBytes()
        do {
            _ = try Dataset(trainFile: fifo, testFile: test, maxFileBytes: limit)
            Issue.record("loaded")
        } catch {
            #expect(error.kind == .invalidData)
            #expect(error.message == "\(fifo): is a pipe that gave more than the limit of 1048576 bytes (1 MiB) on a data file; \(Self.raise)",
                    "\(error.message)")
        }
        // The reader stopped at the limit: the writer could not put much more than the limit and
        // a pipe buffer (64 KiB) in before it found the pipe closed.
        for _ in 0..<500 where !writer.done { usleep(10_000) }
        #expect(writer.done, "the writer is still writing")
        #expect(writer.bytesWritten < limit + (1 << 20), "\(writer.bytesWritten) bytes written")
        let grown = ResourceLimitTests.peakResidentBytes() - before
        #expect(grown < 256 << 20, "reading raised peak memory by \(grown >> 20) MB")
    }

    /// A training file larger than the new-user file (blank lines are skipped), so that the
    /// limits below bound the training file.
    static let paddedTrain = smallTrain + String(repeating: "\n", count: 200)

    /// A pipe that ends within the limit is read whole; one byte over is an error.
    @Test func aPipeIsReadToItsEndWithinTheLimit() throws {
        let size = Self.paddedTrain.utf8.count
        for (limit, loads) in [(size, true), (size - 1, false)] {
            let (fifo, folder) = try Self.fifo()
            defer { try? FileManager.default.removeItem(at: folder) }
            let test = try temporaryFile(smallTest, name: "limit_test.csv")
            let writer = Writer(path: fifo, text: Self.paddedTrain, bound: size)
            do {
                let d = try Dataset(trainFile: fifo, testFile: test, maxFileBytes: limit)
                #expect(loads, "loaded with a limit of \(limit) for \(size) bytes")
                #expect(d.trainInteractionCount == 9)
            } catch {
                #expect(!loads, "\(error.message)")
                #expect(error.message.contains("is a pipe that gave more than the limit of \(limit) bytes"), "\(error.message)")
            }
            for _ in 0..<500 where !writer.done { usleep(10_000) }
        }
    }

    /// A regular file over the limit is refused from its size, before it is read.
    @Test func aFileLargerThanTheLimitIsRefused() throws {
        let size = Self.paddedTrain.utf8.count
        let train = try temporaryFile(Self.paddedTrain, name: "limit_train.csv")
        let test = try temporaryFile(smallTest, name: "limit_test.csv")
        #expect(try Dataset(trainFile: train, testFile: test, maxFileBytes: size).trainInteractionCount == 9)
        do { _ = try Dataset(trainFile: train, testFile: test, maxFileBytes: size - 1); Issue.record("loaded") } catch {
            #expect(error.kind == .invalidData)
            #expect(error.message == "\(train): holds \(size) bytes, more than the limit of \(size - 1) bytes on a data file; \(Self.raise)",
                    "\(error.message)")
        }
        // The new-user file is bounded the same way.
        do { _ = try Dataset(trainFile: train, testFile: test, maxFileBytes: 100); Issue.record("loaded") } catch {
            #expect(error.message.hasPrefix("\(train): holds \(size) bytes, more than the limit of 100 bytes"), "\(error.message)")
        }
        let bigTest = try temporaryFile(smallTest + String(repeating: "\n", count: 5000), name: "limit_big_test.csv")
        do { _ = try Dataset(trainFile: train, testFile: bigTest, maxFileBytes: 4096); Issue.record("loaded") } catch {
            #expect(error.message.hasPrefix("\(bigTest): holds \(smallTest.utf8.count + 5000) bytes, more than the limit of 4096 bytes (4 KiB)"),
                    "\(error.message)")
        }
        do { _ = try Dataset(trainFile: train, testFile: test, maxFileBytes: 0); Issue.record("loaded") } catch {
            #expect(error.kind == .invalidArgument)
            #expect(error.message == "maxFileBytes must be at least 1 (got 0)")
        }
    }

    @Test func theDefaultIsFourGiB() {
        #expect(Dataset.defaultMaxFileBytes == 4 << 30)
        #expect(InputFile.describe(bytes: 4 << 30) == "4 GiB")
        #expect(InputFile.describe(bytes: 1536 << 10) == "1.5 MiB")
        #expect(InputFile.describe(bytes: 1000) == "1000 bytes")
    }
}
