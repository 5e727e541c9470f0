import CMetaTL
import Foundation
import Testing
@testable import MetaTL
import MetaTLCAPI

/// One contract: C's defaults and presets are Swift's, setting for setting, and every setting of
/// Swift's Configuration is a field of mt_config (Python's Model and `metatl train` are compared
/// with C's in the Python tests).
@Suite("Surface defaults")
struct SurfaceDefaultsTests {
    /// mt_config's field names for Configuration's properties (snake_case, as in Python).
    static func snakeCase(_ name: String) -> String {
        name == "K" ? name : name.reduce(into: "") { s, ch in s += ch.isUppercase ? "_" + ch.lowercased() : String(ch) }
    }

    static func sameSettings(_ c: mt_config, _ s: Configuration) -> [String] {
        func code<T: Equatable>(_ x: T, _ cases: [(T, Int32)]) -> Int32 { cases.first { $0.0 == x }?.1 ?? -99 }
        let checks: [(String, Bool)] = [
            ("K", Int(c.K) == s.K), ("dim", Int(c.dim) == s.dim), ("hidden1", Int(c.hidden1) == s.hidden1),
            ("hidden2", Int(c.hidden2) == s.hidden2), ("batch_size", Int(c.batch_size) == s.batchSize),
            ("learning_rate", c.learning_rate == s.learningRate), ("beta", c.beta == s.beta), ("margin", c.margin == s.margin),
            ("dropout", c.dropout == s.dropout), ("seed", c.seed == s.seed),
            ("sampler", c.sampler == code(s.sampler, [(.reference, MT_SAMPLER_REFERENCE), (.contiguous, MT_SAMPLER_CONTIGUOUS),
                                                       (.window, MT_SAMPLER_WINDOW), (.everyWindow, MT_SAMPLER_EVERY_WINDOW)])),
            ("inner_step", c.inner_step == code(s.innerStep, [(.reference, MT_INNER_STEP_REFERENCE), (.perTask, MT_INNER_STEP_PER_TASK)])),
            ("threads", Int(c.threads) == s.threads), ("eval_mode_after", c.eval_mode_after == Int64(s.evalModeAfter ?? -1)),
            ("negatives", c.negatives == code(s.negatives ?? .uniform, [(.uniform, MT_NEGATIVES_UNIFORM),
                                                                         (.popularity, MT_NEGATIVES_POPULARITY), (.mixed, MT_NEGATIVES_MIXED)])),
            ("loss", c.loss == code(s.loss, [(.margin, MT_LOSS_MARGIN), (.softmax, MT_LOSS_SOFTMAX)])),
            ("shared_negatives", Int(c.shared_negatives) == s.sharedNegatives),
            ("tail_embeddings", (c.tail_embeddings != 0) == s.tailEmbeddings), ("item_bias", (c.item_bias != 0) == s.itemBias),
            ("zero_initial_relation", (c.zero_initial_relation != 0) == s.zeroInitialRelation),
            ("relation_penalty", c.relation_penalty == s.relationPenalty), ("table_decay", c.table_decay == s.tableDecay),
            ("query_margin", (c.query_margin != 0) == s.queryMargin),
            ("optimizer", c.optimizer == code(s.optimizer, [(.adam, MT_OPTIMIZER_ADAM), (.sparseAdam, MT_OPTIMIZER_SPARSE_ADAM)])),
        ]
        return checks.filter { !$0.1 }.map(\.0)
    }

    /// mt_dataset_options' defaults are the Swift Dataset's.
    @Test func cDatasetOptionsAreSwiftsDefaults() {
        let o = MetaTLCAPI.mt_dataset_options_default()
        #expect(Int(o.sampled_negatives) == EvaluationUsers.defaultSampledNegatives)
        #expect(Int(o.max_file_bytes) == Dataset.defaultMaxFileBytes)
        #expect(o.K == 3 && o.seed == 1)
    }

    /// mt_index_settings' and mt_recommend_options' defaults are Swift's IndexSettings and
    /// RecommendOptions (Python passes None for the index settings it is not given, so it gets C's).
    @Test func cIndexAndRecommendDefaultsAreSwifts() {
        let i = MetaTLCAPI.mt_index_settings_default(), s = IndexSettings()
        #expect(Int(i.lists) == s.lists && Int(i.probes) == s.probes && i.struct_size == UInt32(MemoryLayout<mt_index_settings>.size))
        let r = MetaTLCAPI.mt_recommend_options_default(), o = RecommendOptions()
        #expect(r.top_n == o.topN && r.flags == 0 && !o.exact && o.excludeHistory && !o.includeUntrained)
    }

    @Test func cPresetsAreSwiftsSettingForSetting() throws {
        #expect(Self.sameSettings(MetaTLCAPI.mt_config_default(), Configuration()) == [])
        for name in Configuration.presetNames {
            var c = MetaTLCAPI.mt_config_default()
            #expect(name.withCString { MetaTLCAPI.mt_config_preset($0, &c) } == MT_OK)
            #expect(Self.sameSettings(c, try #require(Configuration.preset(named: name))) == [], "\(name)")
        }
        // Every Swift setting has its mt_config field (and the comparison above covers each).
        let swiftNames = Set(Mirror(reflecting: Configuration()).children.compactMap(\.label).map(Self.snakeCase))
        let cNames = Set(Mirror(reflecting: MetaTLCAPI.mt_config_default()).children.compactMap(\.label)).subtracting(["struct_size"])
        #expect(swiftNames == cNames)
        #expect(Self.sameSettings(mt_config(), Configuration()).count > 10)   // the comparison can fail
    }

    @Test func cFitDefaultsAreFitOptions() {
        let f = MetaTLCAPI.mt_fit_params_default(), o = FitOptions()
        #expect(Int(f.max_steps) == o.maxSteps && Int(f.eval_every) == o.evalEvery && Int(f.patience) == o.patience)
        #expect(f.select_by == (o.selectBy == .fullMRR ? MT_SELECT_FULL_MRR : MT_SELECT_SAMPLED_MRR))
        #expect(f.progress_callback == nil && f.progress_user_data == nil)
    }
}
