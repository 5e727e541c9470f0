import Foundation
import Testing
@testable import MetaTL

/// Loading for serving only (``MetaTLModel/load(from:servingOnly:)``): without Adam's state the
/// model serves and evaluates exactly as the full one, and refuses what needs that state.
@Suite("Serving-only load")
struct ServingOnlyLoadTests {
    @Test(arguments: Configuration.presetNames)
    func servesAndEvaluatesAsTheFullModelBitForBit(preset: String) throws {
        let (m, data) = try CheckpointTests.trainedModel(steps: 8, preset: preset)
        try m.attachTransitionPrior(from: data, weight: .fixed(1))
        let bytes = try m.checkpointBytes()
        let full = try MetaTLModel.load(checkpoint: bytes)
        let serving = try MetaTLModel.load(checkpoint: bytes, servingOnly: true)
        #expect(!full.isServingOnly && serving.isServingOnly)
        // Its moments were never read: zero, where the full model's are not.
        let moments = m.optimizer.total
        #expect(UnsafeBufferPointer(start: serving.optimizer.secondMoment, count: moments).allSatisfy { $0 == 0 })
        #expect(UnsafeBufferPointer(start: full.optimizer.secondMoment, count: moments).contains { $0 != 0 })
        let histories = (0..<30).map { u in (0..<3).map { data.itemIDs[1 + (u * 7 + $0 * 5) % (data.itemIDs.count - 1)] } }
        #expect(try serving.recommend(histories: histories, options: RecommendOptions())
                == full.recommend(histories: histories, options: RecommendOptions()))
        for method in [EvaluationProtocol.sampled, .full] {
            #expect(try serving.ranks(on: data, split: .test, protocol: method) == full.ranks(on: data, split: .test, protocol: method))
        }
        #expect(try serving.attachedTransitionPrior() == full.attachedTransitionPrior())
        #expect(serving.step == full.step)
    }

    @Test func refusesToTrainOrSaveAndSaysWhy() throws {
        let (m, data) = try CheckpointTests.trainedModel()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-serving-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try m.save(to: path)
        let serving = try MetaTLModel.load(from: path, servingOnly: true)
        func refused(_ what: String, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("\(what) was not refused")
            } catch let error as MetaTLError {
                #expect(error.kind == .invalidState && error.message.contains("loaded for serving only"), "\(what): \(error.message)")
            } catch {
                Issue.record("\(what): \(error)")
            }
        }
        refused("train") { _ = try serving.train(on: data, steps: 1) }
        refused("fit") { _ = try serving.fit(on: data) }
        refused("save") { try serving.save(to: path + ".2") }
        refused("serialise") { _ = try serving.checkpointBytes() }
        #expect(!FileManager.default.fileExists(atPath: path + ".2"))
        #expect(serving.step == m.step)
        // What serving needs still works on it: a prior, an index, evaluation.
        try serving.attachTransitionPrior(from: data, weight: .fixed(0.5))
        _ = try serving.evaluate(on: data, split: .test, protocol: .full)
    }
}
