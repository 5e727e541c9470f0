import Foundation
import Testing
@testable import MetaTL

@Suite("Checkpoints")
struct CheckpointTests {
    static func trainedModel(steps: Int = 6, preset: String = "reference", optimizer: Optimizer = .adam) throws -> (MetaTLModel, Dataset) {
        let data = try TrainingAndEvaluationTests.synthetic()
        var c = TrainingAndEvaluationTests.configuration(preset: preset)
        c.optimizer = optimizer
        let m = try MetaTLModel(configuration: c, dataset: data)
        try m.train(on: data, steps: steps)
        return (m, data)
    }

    func path(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-ckpt-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    /// The configuration metadata uses mt_config's and Python's snake_case names; a checkpoint
    /// written before (Swift's camelCase names, no checksums) still loads as the same model.
    @Test(arguments: Configuration.presetNames)
    func configurationNamesAreSnakeCaseAndOldNamesStillLoad(preset: String) throws {
        let (m, _) = try Self.trainedModel(preset: preset)
        let data = try m.checkpointData()
        let file = try SafeTensors.File(data: data, name: "m")
        let text = try #require(file.metadata["configuration"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        for name in ["batch_size", "learning_rate", "inner_step", "shared_negatives", "tail_embeddings", "item_bias",
                     "zero_initial_relation", "relation_penalty", "table_decay", "query_margin", "optimizer"] {
            #expect(json[name] != nil, "\(name) missing from \(text)")
        }
        #expect(json.keys.allSatisfy { !$0.contains(where: \.isUppercase) || $0 == "K" }, "\(text)")

        // The same file as an older version wrote it: camelCase names, no checksums.
        let camel = ["batch_size": "batchSize", "learning_rate": "learningRate", "inner_step": "innerStep",
                     "eval_mode_after": "evalModeAfter", "shared_negatives": "sharedNegatives",
                     "tail_embeddings": "tailEmbeddings", "item_bias": "itemBias",
                     "zero_initial_relation": "zeroInitialRelation", "relation_penalty": "relationPenalty",
                     "table_decay": "tableDecay", "query_margin": "queryMargin"]
        let old = Dictionary(uniqueKeysWithValues: json.map { (camel[$0.key] ?? $0.key, $0.value) })
        let oldText = try #require(String(data: try JSONSerialization.data(withJSONObject: old), encoding: .utf8))
        let tensors = file.entries.map { name, e in
            SafeTensors.Tensor(name: name, dtype: e.dtype, shape: e.shape,
                               bytes: data.subdata(in: (file.dataStart + e.range.lowerBound)..<(file.dataStart + e.range.upperBound)))
        }
        let metadata = file.metadata.filter { $0.key != CheckpointChecksums.key }
            .map { ($0.key, $0.key == "configuration" ? oldText : $0.value) }
        let loaded = try MetaTLModel.load(checkpoint: SafeTensors.serialize(tensors, metadata: metadata), name: "old")
        #expect(loaded.configuration == m.configuration)
        for name in m.parameterNames {
            #expect(loaded.tensor(named: name)?.map(\.bitPattern) == m.tensor(named: name)?.map(\.bitPattern), "\(name)")
        }
    }

    @Test(arguments: Configuration.presetNames)
    func roundTripGivesIdenticalScores(preset: String) throws {
        let (m, data) = try Self.trainedModel(preset: preset)
        let file = path("m.safetensors")
        try m.save(to: file)
        let loaded = try MetaTLModel.load(from: file)
        #expect(loaded.configuration == m.configuration)
        #expect(loaded.itemIDs == m.itemIDs)
        #expect(loaded.step == m.step)
        for name in m.parameterNames + [RunningStatistics.name(layer: 1, variance: true)] {
            #expect(loaded.tensor(named: name)?.map(\.bitPattern) == m.tensor(named: name)?.map(\.bitPattern), "\(name)")
        }
        for method in EvaluationProtocol.allCases {
            #expect(try loaded.evaluate(on: data, split: .test, protocol: method) == m.evaluate(on: data, split: .test, protocol: method))
        }
        let history = Array(data.itemIDs[5...7])
        #expect(try loaded.recommend(history: history, topN: 10).map(\.item) == m.recommend(history: history, topN: 10).map(\.item))
        #expect(try loaded.adapt(history: history) == m.adapt(history: history))
    }

    /// Saved after 5 steps, loaded and trained 3 more: the parameters and both Adam moments are
    /// those of 8 steps in one go, bit for bit, under either optimiser.
    @Test(arguments: Configuration.presetNames, Optimizer.allCases)
    func resumingContinuesExactlyAsIfNeverInterrupted(preset: String, optimizer: Optimizer) throws {
        let (straight, data) = try Self.trainedModel(steps: 8, preset: preset, optimizer: optimizer)
        let (first, _) = try Self.trainedModel(steps: 5, preset: preset, optimizer: optimizer)
        let file = path("resume.safetensors")
        try first.save(to: file)
        let resumed = try MetaTLModel.load(from: file)
        #expect(resumed.configuration.optimizer == optimizer)
        try resumed.train(on: data, steps: 3)
        #expect(resumed.step == 8)
        for name in straight.parameterNames {
            #expect(resumed.tensor(named: name)?.map(\.bitPattern) == straight.tensor(named: name)?.map(\.bitPattern), "\(name)")
        }
        func moments(_ m: MetaTLModel) -> [UInt32] {
            Array(UnsafeBufferPointer(start: m.optimizer.firstMoment, count: 2 * m.optimizer.total)).map(\.bitPattern)
        }
        #expect(moments(resumed) == moments(straight))
    }

    @Test func everyTruncationIsAClearError() throws {
        var c = Configuration(); c.dim = 3; c.hidden1 = 4; c.hidden2 = 3; c.batchSize = 4
        let m = try MetaTLModel(configuration: c, items: 5)
        let data = try m.checkpointData()
        _ = try MetaTLModel.load(checkpoint: data, name: "whole")
        for n in 0..<data.count {
            do {
                _ = try MetaTLModel.load(checkpoint: data.prefix(n), name: "cut")
                Issue.record("a checkpoint cut to \(n) of \(data.count) bytes loaded")
            } catch {
                #expect(error.kind == .badCheckpoint, "\(n): \(error.message)")
                #expect(error.message.hasPrefix("cut: "))
            }
        }
    }

    @Test func everyFlippedHeaderByteIsAClearError() throws {
        var c = Configuration(); c.dim = 3; c.hidden1 = 4; c.hidden2 = 3
        let m = try MetaTLModel(configuration: c, items: 5)
        let data = try m.checkpointData()
        let headerEnd = 8 + Int(data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        for i in 0..<headerEnd {
            var broken = data
            broken[i] ^= 0xFF
            #expect(throws: MetaTLError.self, "byte \(i)") { _ = try MetaTLModel.load(checkpoint: broken, name: "flipped") }
        }
    }

    @Test func specificDamageHasSpecificMessages() throws {
        var c = Configuration(); c.dim = 3; c.hidden1 = 4; c.hidden2 = 3
        let m = try MetaTLModel(configuration: c, items: 5)
        let good = try m.checkpointData()
        /// Loads the checkpoint with one same-length text replaced in its header.
        func load(replacing old: String, with new: String) -> String {
            var data = good
            guard let r = data.range(of: Data(old.utf8)) else { return "not found" }
            data.replaceSubrange(r, with: Data(new.utf8))
            do { _ = try MetaTLModel.load(checkpoint: data, name: "c"); return "loaded" } catch { return error.message }
        }
        #expect(load(replacing: "\"format_version\":\"1\"", with: "\"format_version\":\"9\"") ==
                "c: format version 9 is not supported (this library reads version 1)")
        #expect(load(replacing: "metatl-checkpoint", with: "metaxx-checkpoint").contains("not a MetaTL checkpoint"))
        #expect(load(replacing: "\"dtype\":\"F32\"", with: "\"dtype\":\"F16\"").contains("dtype F16 is not supported"))
        // The tensor's own header entry (the checksums metadata, listed first, names it too).
        #expect(load(replacing: "\"embedding.embedding.weight\":{", with: "\"embedding.embedding.wEight\":{") ==
                "c: tensor embedding.embedding.weight is missing")
        #expect(load(replacing: "embedding.embedding.weight", with: "embedding.embedding.wEight") ==
                "c: tensor embedding.embedding.weight has no checksum although the file has checksums")
        // A header claiming a 1 TB tensor is refused from the header alone.
        var huge = Data(count: 8)
        let header = Data("{\"x\":{\"dtype\":\"F32\",\"shape\":[262144,1048576],\"data_offsets\":[0,1099511627776]}}".utf8)
        huge[0] = UInt8(header.count)
        huge.append(header)
        do { _ = try MetaTLModel.load(checkpoint: huge, name: "huge"); Issue.record("loaded") } catch {
            #expect(error.message.contains("fall outside"))
        }
        do { _ = try MetaTLModel.load(from: "/nonexistent/x.safetensors"); Issue.record("loaded") } catch {
            #expect(error.kind == .fileNotFound)
        }
    }

    @Test func savingIsAtomicAndLeavesNoTemporaryFiles() throws {
        let (m, _) = try Self.trainedModel(steps: 1)
        let file = path("a.safetensors")
        try m.save(to: file)
        try m.save(to: file)
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent().path
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["a.safetensors"])
        do { try m.save(to: "/nonexistent-folder/m.safetensors"); Issue.record("saved") } catch {
            #expect(error.kind == .fileNotFound || error.kind == .io)
        }
    }
}

@Suite("Serving")
struct ServingTests {
    @Test func historySemantics() throws {
        let (m, data) = try CheckpointTests.trainedModel(steps: 2)
        let ids = Array(data.itemIDs.dropFirst())
        // Only the most recent K items count.
        #expect(try m.adapt(history: [ids[9], ids[1], ids[2], ids[3]]) == m.adapt(history: [ids[1], ids[2], ids[3]]))
        // Same history, same answer; two items are enough (padded like training's short users).
        #expect(try m.adapt(history: [ids[1], ids[2]]) == m.adapt(history: [ids[1], ids[2]]))
        #expect(try m.adapt(history: [ids[1], ids[2]]).count == m.configuration.dim)
        do { _ = try m.adapt(history: [ids[1]]); Issue.record("adapted from one item") } catch {
            #expect(error.kind == .invalidArgument)
            #expect(error.message == "a history needs at least 2 items to adapt from (got 1)")
        }
        do { _ = try m.recommend(history: [ids[1], 987_654_321], topN: 3); Issue.record("unknown id accepted") } catch {
            #expect(error.kind == .unknownItem)
            #expect(error.message.contains("unknown item id 987654321"))
        }
    }

    @Test func recommendRanksTheCatalogueByScore() throws {
        let (m, data) = try CheckpointTests.trainedModel(steps: 2)
        let history = Array(data.itemIDs[3...5])
        let top = try m.recommend(history: history, topN: 20)
        #expect(top.count == 20)
        #expect(Set(top.map(\.item)).isDisjoint(with: history))
        #expect(zip(top, top.dropFirst()).allSatisfy { $0.score >= $1.score })
        // Scores agree with score() for the same relation.
        let r = try m.adapt(history: history)
        let direct = try m.score(relation: r, lastItem: history[2], candidates: top.map(\.item))
        #expect(direct == top.map(\.score))
        // Nothing outside the top scores higher than the last one kept.
        let all = try m.score(relation: r, lastItem: history[2], candidates: Array(data.itemIDs.dropFirst()))
        let kept = Set(top.map(\.item))
        let cut = top.last?.score ?? -.infinity
        for (id, s) in zip(data.itemIDs.dropFirst(), all) where !kept.contains(id) && !history.contains(id) { #expect(s <= cut) }
        let withHistory = try m.recommend(history: history, topN: m.rows + 5, excludeHistory: false)
        #expect(withHistory.count == m.rows - 1)
    }

    @Test func trainingWhileServingIsBusyNotARace() throws {
        let (m, data) = try CheckpointTests.trainedModel(steps: 1)
        let history = Array(data.itemIDs[3...5])
        let started = DispatchSemaphore(value: 0)
        var busyTrain = 0
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            // Hold shared access through a progress callback-free path: many recommendations.
            started.signal()
            for _ in 0..<200 { _ = try? m.recommend(history: history, topN: 5) }
        }
        started.wait()
        for _ in 0..<200 {
            do { try m.train(on: data, steps: 1) } catch { if error.kind == .busy { busyTrain += 1 } }
        }
        group.wait()
        // Every call either succeeded or was refused as busy; the model still serves.
        #expect(try m.recommend(history: history, topN: 5).count == 5)
    }
}

@Suite("Reference weights")
struct ReferenceWeightsTests {
    @Test func aReferenceStateDictLoads() throws {
        let (m, data) = try CheckpointTests.trainedModel(steps: 2)
        // What `safetensors.torch.save_file(model.state_dict(), path)` writes: the state_dict
        // tensors only, no metadata. Ids 1...N are the reference's rows.
        var tensors: [SafeTensors.Tensor] = []
        for name in m.parameterNames {
            let slot = try #require(m.arena.slot(named: name))
            tensors.append(.init(name: name, dtype: .f32, shape: slot.shape, bytes: SafeTensors.bytes(m.tensor(named: name) ?? [])))
        }
        for l in 0..<3 {
            for v in [false, true] {
                let name = RunningStatistics.name(layer: l, variance: v)
                tensors.append(.init(name: name, dtype: .f32, shape: [2], bytes: SafeTensors.bytes(m.tensor(named: name) ?? [])))
            }
            tensors.append(.init(name: "relation_learner.rel_fc\(l + 1).bn.num_batches_tracked", dtype: .i64, shape: [], bytes: SafeTensors.bytes([Int64(2)])))
        }
        let loaded = try MetaTLModel.load(checkpoint: SafeTensors.serialize(tensors, metadata: []), name: "reference")
        #expect(loaded.configuration.dim == 16 && loaded.configuration.hidden1 == 32 && loaded.configuration.hidden2 == 24)
        #expect(loaded.itemIDs == [-1] + Array(1...Int64(data.itemCount)))
        for name in m.parameterNames { #expect(loaded.tensor(named: name) == m.tensor(named: name)) }
        #expect(loaded.tensor(named: "relation_learner.rel_fc3.bn.running_var") == m.tensor(named: "relation_learner.rel_fc3.bn.running_var"))
    }
}
