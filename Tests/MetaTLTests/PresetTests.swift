import Foundation
import Testing
@testable import MetaTL

/// The two presets: `Configuration()` is the recommended one; `reference` is the notebook's;
/// a checkpoint written before a setting existed reads it as the reference's.
@Suite("Presets")
struct PresetTests {
    @Test func theDefaultIsTheRecommendedPreset() throws {
        #expect(Configuration() == .recommended)
        #expect(Configuration().loss == .softmax)
        #expect(Configuration.recommended != .reference)
        try Configuration.recommended.validate()
        try Configuration.reference.validate()
        #expect(FitOptions().selectBy == .fullMRR)
    }

    @Test func presetsByName() {
        #expect(Configuration.presetNames == ["recommended", "reference"])
        #expect(Configuration.preset(named: "recommended") == .recommended)
        #expect(Configuration.preset(named: "reference") == .reference)
        for name in ["", "Reference", "recommended ", "default"] { #expect(Configuration.preset(named: name) == nil, "\(name)") }
    }

    /// The reference notebook's settings, every one.
    @Test func theReferencePresetIsTheNotebooks() {
        let c = Configuration.reference
        #expect(c.K == 3 && c.dim == 100 && c.hidden1 == 500 && c.hidden2 == 200 && c.batchSize == 1024)
        #expect(c.learningRate == 0.001 && c.beta == 5 && c.margin == 1 && c.dropout == 0.5 && c.seed == 1 && c.threads == 1)
        #expect(c.sampler == .reference && c.innerStep == .reference && c.evalModeAfter == nil && c.negatives == nil)
        #expect(c.loss == .margin && c.sharedNegatives == 1024 && !c.tailEmbeddings && !c.itemBias && !c.zeroInitialRelation)
        #expect(c.relationPenalty == 0 && c.tableDecay == 0 && !c.queryMargin && c.optimizer == .adam)
        #expect(Configuration.recommended.optimizer == .adam)
    }

    @Test func aConfigurationRoundTripsThroughJSON() throws {
        var sparse = Configuration.recommended
        sparse.optimizer = .sparseAdam
        for c in [Configuration.recommended, .reference, sparse] {
            #expect(try JSONDecoder().decode(Configuration.self, from: JSONEncoder().encode(c)) == c)
        }
    }

    /// A checkpoint from before the newer settings holds only the first thirteen: the others
    /// read as the reference's (such a checkpoint is a reference model), not the default's.
    @Test func anOlderCheckpointsConfigurationReadsTheNewerSettingsAsTheReferences() throws {
        var written = Configuration.reference
        written.dim = 7; written.sampler = .contiguous; written.dropout = 0.25; written.learningRate = 0.002
        // Every newer setting away from the reference's: none of these may survive.
        written.evalModeAfter = 9; written.negatives = .mixed; written.loss = .softmax; written.sharedNegatives = 64
        written.tailEmbeddings = true; written.itemBias = true; written.zeroInitialRelation = true
        written.relationPenalty = 0.5; written.tableDecay = 0.5; written.queryMargin = true
        written.optimizer = .sparseAdam
        let newer = ["eval_mode_after", "negatives", "loss", "shared_negatives", "tail_embeddings", "item_bias",
                     "zero_initial_relation", "relation_penalty", "table_decay", "query_margin", "optimizer"]
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(written)) as? [String: Any])
        for key in newer { object.removeValue(forKey: key) }
        #expect(object.count == 13)
        let read = try JSONDecoder().decode(Configuration.self, from: JSONSerialization.data(withJSONObject: object))
        var expected = Configuration.reference
        expected.dim = 7; expected.sampler = .contiguous; expected.dropout = 0.25; expected.learningRate = 0.002
        #expect(read == expected)
        // Every setting a checkpoint has always held is required.
        object.removeValue(forKey: "K")
        #expect(throws: (any Error).self) {
            _ = try JSONDecoder().decode(Configuration.self, from: JSONSerialization.data(withJSONObject: object))
        }
    }
}
