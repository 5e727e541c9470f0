import Foundation
import Testing
@testable import MetaTL

/// `save(to:)` streams the checkpoint from the model's memory to the file; `checkpointData()`
/// and `checkpointBytes()` fill one buffer the same way. All three must give the bytes the
/// copying serialiser gave (kept here as the oracle), for every kind of content.
@Suite("Streaming save")
struct StreamingSaveTests {
    func folder() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-stream-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    /// A trained model of string item ids with a transition prior attached.
    static func stringModel(preset: String) throws -> (MetaTLModel, Dataset) {
        let (train, test) = try StringIDTests.stringRows()
        let data = try Dataset(train: train, test: test)
        let m = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(preset: preset), dataset: data)
        _ = try m.train(on: data, steps: 4)
        _ = try m.attachTransitionPrior(from: data, weight: .fixed(2.75))
        return (m, data)
    }

    func expectSameBytesEveryWay(_ m: MetaTLModel, expecting names: [String]) throws {
        let dir = folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.safetensors"
        try m.save(to: path)
        let file = try Data(contentsOf: URL(fileURLWithPath: path))
        let oracle = try m.access.reading("test") { () throws(MetaTLError) -> Data in m.copyingCheckpointData() }
        #expect(file.count == oracle.count)
        #expect(file == oracle, "the streamed file differs from the copying serialiser's bytes")
        #expect(try m.checkpointData() == oracle)
        #expect(try m.checkpointBytes() == [UInt8](oracle))
        // Nothing but the file is left in the folder (no temporary file).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["model.safetensors"])
        let parsed = try SafeTensors.File(data: file, name: path)
        for name in names { #expect(parsed.entries[name] != nil, "\(name) missing") }
        // It loads (every checksum verified) as the same model: saved again, the same bytes.
        let loaded = try MetaTLModel.load(from: path)
        #expect(try loaded.checkpointData() == oracle)
    }

    @Test(arguments: Configuration.presetNames)
    func theStreamedFileIsTheCopyingSerialisersBytes(preset: String) throws {
        let (m, _) = try Self.stringModel(preset: preset)
        try expectSameBytesEveryWay(m, expecting: [MetaTLModel.StringsKey.bytes, MetaTLModel.StringsKey.offsets,
                                                    MetaTLModel.PriorKey.offsets, MetaTLModel.PriorKey.tails,
                                                    MetaTLModel.PriorKey.counts, MetaTLModel.trainedItemsKey,
                                                    "vocabulary.item_ids", "optimizer.exp_avg_sq.embedding.embedding.weight"])
    }

    @Test(arguments: Configuration.presetNames)
    func integerIdsWithoutAPriorToo(preset: String) throws {
        let (m, _) = try CheckpointTests.trainedModel(preset: preset, optimizer: .sparseAdam)
        try expectSameBytesEveryWay(m, expecting: ["vocabulary.item_ids"])
        // An untrained model (no trained-items mask).
        let data = try TrainingAndEvaluationTests.synthetic()
        let fresh = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(preset: preset), dataset: data)
        try expectSameBytesEveryWay(fresh, expecting: ["vocabulary.item_ids"])
    }

    /// Values converted on the way (I64 from other types) go through the scratch buffer a piece
    /// at a time: any piece size gives the same bytes.
    @Test func convertedValuesComeOutTheSameInAnyPieceSize() throws {
        let values = (0..<1000).map { Int64($0 * 7919 - 3_000_000) }
        let floats = (0..<777).map { Float($0) * -0.37 }
        for scratchSize in [8, 24, 4096, 1 << 20] {
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: scratchSize, alignment: 16)
            defer { scratch.deallocate() }
            func collect(_ v: CheckpointWriter.Values) throws -> Data {
                var out = Data()
                try CheckpointWriter.forEachPiece(of: v, scratch: scratch) { out.append(contentsOf: $0) }
                return out
            }
            #expect(try collect(.generated(count: values.count) { values[$0] }) == SafeTensors.bytes(values))
            #expect(try collect(.int64Array(values)) == SafeTensors.bytes(values))
            #expect(try collect(.floatArray(floats)) == SafeTensors.bytes(floats))
            let memory = UnsafeMutablePointer<Float>.allocate(capacity: floats.count)
            defer { memory.deallocate() }
            memory.initialize(from: floats, count: floats.count)
            #expect(try collect(.floats(UnsafePointer(memory), count: floats.count)) == SafeTensors.bytes(floats))
        }
    }

    /// Writes `text` to `out` (what a streaming body does, in one piece).
    static func put(_ text: String, _ out: AtomicFile.Output) throws(MetaTLError) {
        var failure: MetaTLError?
        Array(text.utf8).withUnsafeBytes { raw in
            do throws(MetaTLError) { try out.write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// The streaming writer keeps AtomicFile's guarantees: a body that fails leaves the old file
    /// and no temporary file; a write error names the path.
    @Test func aFailingBodyLeavesTheOldFileAndNoTemporaryFile() throws {
        let dir = folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/f.bin"
        try writeAtomically(Data("old".utf8), to: path)
        do {
            try writeAtomically(to: path) { (out: AtomicFile.Output) throws(MetaTLError) in
                try Self.put("half of the new", out)
                throw MetaTLError(.io, "stopped")
            }
            Issue.record("a failing body did not fail the write")
        } catch {
            #expect(error.message == "stopped")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("old".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["f.bin"])
        // A write that fails (a descriptor open for reading only) names the path.
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        do {
            try Self.put("x", AtomicFile.Output(fd: fd, path: path))
            Issue.record("writing to a read-only descriptor succeeded")
        } catch {
            #expect(error.kind == .io && error.message.hasPrefix(path + ": cannot write:"), "\(error.message)")
        }
        // Pieces: a stream of many writes gives their concatenation.
        try writeAtomically(to: path) { (out: AtomicFile.Output) throws(MetaTLError) in
            for k in 0..<100 { try Self.put("\(k),", out) }
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == (0..<100).map { "\($0)," }.joined())
    }
}

extension MetaTLModel {
    /// The checkpoint's bytes as `checkpointData()` built them before saving streamed (every
    /// tensor copied into a Data, then the whole file into one more): the oracle the streaming
    /// save and the in-memory bytes are compared with, byte for byte.
    func copyingCheckpointData() -> Data {
        var tensors: [SafeTensors.Tensor] = []
        let S = configuration.supportCount
        func copy(_ start: CFPtr, _ count: Int) -> [Float] { Array(UnsafeBufferPointer(start: start, count: count)) }
        for t in Checkpoint.tensors(arena.layout, optimizer: true, batchCounts: true) {
            let bytes: Data
            switch t.source {
            case .parameter(let slot): bytes = SafeTensors.bytes(arena.values(slot))
            case .firstMoment(let slot): bytes = SafeTensors.bytes(arena.values(slot, in: optimizer.firstMoment))
            case .secondMoment(let slot): bytes = SafeTensors.bytes(arena.values(slot, in: optimizer.secondMoment))
            case .runningMean(let l): bytes = SafeTensors.bytes(copy(running.mean(l), S))
            case .runningVariance(let l): bytes = SafeTensors.bytes(copy(running.variance(l), S))
            case .batchCount: bytes = SafeTensors.bytes([Int64(step)])
            case .vocabulary: bytes = SafeTensors.bytes(itemIDs)
            }
            tensors.append(.init(name: t.name, dtype: t.dtype, shape: t.shape, bytes: bytes))
        }
        if let strings = vocabulary.strings {
            let t = strings.table
            tensors.append(.init(name: MetaTLModel.StringsKey.bytes, dtype: .u8, shape: [t.byteCount],
                                 bytes: Data(t.bytes)))
            tensors.append(.init(name: MetaTLModel.StringsKey.offsets, dtype: .i64, shape: [t.count + 1],
                                 bytes: SafeTensors.bytes(Array(t.offsets))))
        }
        if let trained = trainedItems {
            tensors.append(.init(name: MetaTLModel.trainedItemsKey, dtype: .i64, shape: [rows],
                                 bytes: SafeTensors.bytes(trained.map { $0 ? Int64(1) : 0 })))
        }
        var priorMetadata: [(String, String)] = []
        if let prior = transitionPrior {
            typealias Key = MetaTLModel.PriorKey
            tensors.append(.init(name: Key.offsets, dtype: .i64, shape: [rows + 1], bytes: SafeTensors.bytes(prior.offsets.map { Int64($0) })))
            tensors.append(.init(name: Key.tails, dtype: .i64, shape: [prior.tails.count], bytes: SafeTensors.bytes(prior.tails.map { Int64($0) })))
            tensors.append(.init(name: Key.counts, dtype: .f32, shape: [prior.counts.count], bytes: SafeTensors.bytes(prior.counts)))
            // Float's description is the shortest text that reads back as the same value.
            priorMetadata.append((Key.weight, prior.weight.description))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let config = (try? encoder.encode(configuration)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
        let metadata = [
            ("format", Checkpoint.format), ("format_version", String(Checkpoint.formatVersion)),
            ("configuration", config), ("step", String(step)), ("engine_version", MetaTLVersion.string),
        ] + priorMetadata
        let checksums = (CheckpointChecksums.key, CheckpointChecksums.entry(tensors: tensors, metadata: metadata))
        return SafeTensors.serialize(tensors, metadata: metadata + [checksums])
    }
}
