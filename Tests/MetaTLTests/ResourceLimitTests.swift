import Foundation
import Testing
@testable import MetaTL

/// Files that would need absurd memory are refused with a clear error before anything large is
/// allocated; files that are not files (devices, pipes where a size is needed) are refused
/// before they are read.
@Suite("Resource limits")
struct ResourceLimitTests {
    /// The highest resident set size of this process so far, in bytes.
    static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    /// The error of loading `data` as a checkpoint; records an issue if it loads. Also checks that
    /// the attempt did not raise the process's peak memory by more than 256 MB (the absurd
    /// sizes below are tens of GB, so an allocation of them would show).
    static func loadError(_ data: Data, sourceLocation: SourceLocation = #_sourceLocation) -> MetaTLError? {
        let before = peakResidentBytes()
        defer {
            let grown = peakResidentBytes() - before
            #expect(grown < 256 << 20, "loading raised peak memory by \(grown >> 20) MB", sourceLocation: sourceLocation)
        }
        do {
            _ = try MetaTLModel.load(checkpoint: data, name: "absurd.safetensors")
            Issue.record("the checkpoint loaded", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(error.kind == .badCheckpoint, sourceLocation: sourceLocation)
            #expect(error.message.hasPrefix("absurd.safetensors: "), sourceLocation: sourceLocation)
            return error
        }
    }

    /// A safetensors file with this header length field and header text.
    static func container(length: UInt64? = nil, header: String, dataBytes: Int = 0) -> Data {
        var h = Data(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
        out.append(h)
        out.append(Data(count: dataBytes))
        return out
    }

    @Test func headerLengthClaimingGigabytesIsRefused() {
        for claimed: UInt64 in [4 << 30, 1 << 40, UInt64.max] {
            let e = Self.loadError(Self.container(length: claimed, header: "{}"))
            #expect(e?.message.contains("header length \(claimed) exceeds the 1048576-byte limit") == true, "\(e?.message ?? "")")
        }
        // Within the limit but longer than the file.
        let e = Self.loadError(Self.container(length: 1 << 20, header: "{}"))
        #expect(e?.message.contains("truncated: the header claims 1048576 bytes but only 8 follow") == true, "\(e?.message ?? "")")
    }

    @Test func aTerabyteTensorIsRefusedFromTheHeader() {
        let header = #"{"x":{"dtype":"F32","shape":[262144,1048576],"data_offsets":[0,1099511627776]}}"#
        let e = Self.loadError(Self.container(header: header, dataBytes: 16))
        #expect(e?.message.contains("tensor x: data_offsets [0, 1099511627776] fall outside the 16 data bytes") == true, "\(e?.message ?? "")")
    }

    @Test func shapesWhoseProductOverflowsAreRefused() {
        let max32 = Int32.max
        let header = #"{"x":{"dtype":"F32","shape":[\#(max32),\#(max32),\#(max32)],"data_offsets":[0,8]}}"#
        let e = Self.loadError(Self.container(header: header, dataBytes: 8))
        #expect(e?.message.contains("tensor x: shape") == true && e?.message.contains("is too large") == true, "\(e?.message ?? "")")
        // Element count fits, byte count does not.
        let header2 = #"{"x":{"dtype":"I64","shape":[2147483647,2147483647],"data_offsets":[0,8]}}"#
        let e2 = Self.loadError(Self.container(header: header2, dataBytes: 8))
        #expect(e2?.message.contains("bytes do not match shape") == true, "\(e2?.message ?? "")")
    }

    /// A tiny model's tensors under a configuration claiming the largest sizes the settings
    /// allow: the model that configuration implies needs about 7.5 GB, the file is a few KB.
    @Test func aSmallFileCannotMakeTheModelAllocateBig() throws {
        var small = Configuration(); small.dim = 2; small.hidden1 = 3; small.hidden2 = 2
        let m = try MetaTLModel(configuration: small, items: 4)
        let file = try SafeTensors.File(data: m.checkpointData(), name: "small")
        var tensors: [SafeTensors.Tensor] = []
        for (name, e) in file.entries.sorted(by: { $0.key < $1.key }) {
            if e.dtype == .f32 {
                tensors.append(.init(name: name, dtype: .f32, shape: e.shape, bytes: SafeTensors.bytes(try file.floats(name, shape: e.shape))))
            } else {
                tensors.append(.init(name: name, dtype: .i64, shape: e.shape, bytes: SafeTensors.bytes(try file.int64s(name, shape: e.shape))))
            }
        }
        var huge = small; huge.dim = 4096; huge.hidden1 = 16384; huge.hidden2 = 16384
        let config = try #require(String(data: JSONEncoder().encode(huge), encoding: .utf8))
        let data = SafeTensors.serialize(tensors, metadata: [("format", Checkpoint.format), ("format_version", "1"),
                                                             ("configuration", config), ("step", "0")])
        #expect(data.count < 16 << 10)
        let e = Self.loadError(data)
        #expect(e?.message == "absurd.safetensors: tensor embedding.embedding.weight has shape [5, 2], expected [5, 4096]", "\(e?.message ?? "")")

        // The same through the reference state_dict path: sizes read from (empty) tensor shapes.
        let reference = SafeTensors.serialize([
            .init(name: "embedding.embedding.weight", dtype: .f32, shape: [2, 4096], bytes: Data(count: 2 * 4096 * 4)),
            .init(name: "relation_learner.rel_fc1.fc.weight", dtype: .f32, shape: [16384, 0], bytes: Data()),
            .init(name: "relation_learner.rel_fc2.fc.weight", dtype: .f32, shape: [16384, 0], bytes: Data()),
            .init(name: "relation_learner.rel_fc1.bn.weight", dtype: .f32, shape: [63], bytes: Data(count: 63 * 4)),
        ], metadata: [])
        let r = Self.loadError(reference)
        #expect(r?.message == "absurd.safetensors: tensor relation_learner.rel_fc1.fc.weight has shape [16384, 0], expected [16384, 8192]",
                "\(r?.message ?? "")")
    }

    @Test(arguments: Configuration.presetNames)
    func theImpliedTensorListMatchesWhatAModelSaves(preset: String) throws {
        for (K, dim, h1, h2, items) in [(3, 2, 3, 2, 4), (2, 5, 7, 1, 1), (6, 16, 32, 24, 30)] {
            var c = Configuration.preset(named: preset) ?? .reference; c.K = K; c.dim = dim; c.hidden1 = h1; c.hidden2 = h2
            let m = try MetaTLModel(configuration: c, items: items)
            let file = try SafeTensors.File(data: m.checkpointData(), name: "m")
            let implied = Checkpoint.tensors(c, rows: items + 1, optimizer: true, batchCounts: true)
            #expect(Set(implied.map(\.name)) == Set(file.entries.keys))
            for t in implied { #expect(file.entries[t.name]?.shape == t.shape && file.entries[t.name]?.dtype == t.dtype, "\(t.name)") }
            let parameters = Checkpoint.tensors(c, rows: items + 1, optimizer: false, batchCounts: false).filter {
                if case .parameter = $0.source { true } else { false }
            }
            #expect(parameters.map(\.name) == m.arena.slots.map(\.name))
            #expect(parameters.map(\.shape) == m.arena.slots.map(\.shape))
        }
    }

    // MARK: Interaction files

    func load(_ train: String) throws(MetaTLError) -> Dataset {
        do {
            return try Dataset(trainFile: try temporaryFile(train, name: "limits_train.csv"),
                               testFile: try temporaryFile(smallTest, name: "limits_test.csv"))
        } catch let e as MetaTLError { throw e } catch { throw MetaTLError(.io, "\(error)") }
    }

    @Test func hugeIdsCostOneRowEach() throws {
        // Ids are mapped to rows through a dictionary: 99999999999 costs what 7 costs.
        let d = try load("1\t99999999999\t1\n1\t1000000000000000000\t2\n1\t7\t3\n")
        #expect(d.itemCount == 3 + 6)   // three here, six in the new-user file
        #expect(d.row(ofItem: 99999999999) != nil)
    }

    /// An id beyond Int64 is a string id, kept as written (not rounded, not refused).
    @Test func idsBeyondInt64AreStringIDs() throws {
        let d = try load("1\t10\t1\n1\t99999999999999999999\t2\n")
        #expect(d.itemStrings?.code(of: "99999999999999999999") != nil)
    }

    @Test func aLineLongerThanTheLimitIsAClearError() {
        let long = "1\t10\t1\n" + String(repeating: "7", count: (1 << 20) + 10) + "\t1\t2\n"
        do { _ = try load(long); Issue.record("loaded") } catch {
            #expect(error.kind == .invalidData)
            #expect(error.message.hasSuffix("limits_train.csv:2: line is longer than 1048576 bytes; expected user, item, timestamp"), "\(error.message)")
        }
        // A file with no newline at all (binary data) stops at the limit too.
        do { _ = try load(String(repeating: ",", count: 2 << 20)); Issue.record("loaded") } catch {
            #expect(error.message.hasSuffix("limits_train.csv:1: line is longer than 1048576 bytes; expected user, item, timestamp"), "\(error.message)")
        }
    }

    // MARK: Files that are not files

    /// Regression: reading an empty file through Foundation leaked 4 KB per load (LeakSanitizer,
    /// via the fuzzers' empty input); `make sanitize` runs this with leak checking.
    @Test func emptyFilesAreClearErrorsAndDoNotLeak() throws {
        let empty = try temporaryFile("", name: "empty.safetensors")
        for _ in 0..<3 {
            do { _ = try MetaTLModel.load(from: empty); Issue.record("loaded") } catch {
                #expect(error.kind == .badCheckpoint)
                #expect(error.message == "\(empty): truncated: 0 bytes, too short for the 8-byte header length")
            }
            do { _ = try load(""); Issue.record("loaded") } catch {
                #expect(error.message.hasSuffix("limits_train.csv: no interactions (the file is empty or holds only a header)"))
            }
        }
    }

    @Test func devicesAreRefusedNotReadForever() {
        do { _ = try Dataset(trainFile: "/dev/zero", testFile: "/dev/zero"); Issue.record("loaded") } catch {
            #expect(error.kind == .io)
            #expect(error.message == "/dev/zero: is a character device, expected a regular file")
        }
        do { _ = try MetaTLModel.load(from: "/dev/urandom"); Issue.record("loaded") } catch {
            #expect(error.kind == .io)
            #expect(error.message == "/dev/urandom: is a character device, expected a regular file")
        }
        let folder = FileManager.default.temporaryDirectory.path
        do { _ = try MetaTLModel.load(from: folder); Issue.record("loaded") } catch {
            #expect(error.kind == .fileNotFound)
            #expect(error.message == "\(folder): is a directory, expected a file")
        }
    }

    @Test func pipesAreReadAsDataButRefusedAsCheckpoints() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("train.fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        // A checkpoint needs a size: a pipe is refused at once, without waiting for a writer.
        do { _ = try MetaTLModel.load(from: fifo); Issue.record("loaded") } catch {
            #expect(error.message == "\(fifo): is a pipe, expected a regular file")
        }
        // A data file may be a pipe (`--train <(zcat train.tsv.gz)`): it is read to the end.
        let writer = Thread {
            let fd = open(fifo, O_WRONLY)
            guard fd >= 0 else { return }
            let text = Array(smallTrain.utf8)
            _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        writer.start()
        let d = try Dataset(trainFile: fifo, testFile: try temporaryFile(smallTest, name: "fifo_test.csv"))
        let direct = try Dataset(trainFile: try temporaryFile(smallTrain, name: "plain_train.csv"),
                                 testFile: try temporaryFile(smallTest, name: "fifo_test.csv"))
        #expect(d.itemIDs == direct.itemIDs)
        #expect(d.trainItems == direct.trainItems)
    }
}
