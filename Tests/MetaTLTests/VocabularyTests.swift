import Testing
@testable import MetaTL

/// One vocabulary type shared by datasets and models, compared by identity or fingerprint.
@Suite("Vocabulary")
struct VocabularyTests {
    @Test func vocabulariesBuiltApartMatchOnlyWithTheSameIdsInTheSameRows() throws {
        let a = try Vocabulary(items: [10, 11, 12, 13])
        #expect(a.matches(a))
        #expect(a.matches(try Vocabulary(items: [10, 11, 12, 13])))
        #expect(!a.matches(try Vocabulary(items: [10, 12, 11, 13])))   // the same items, other rows
        #expect(!a.matches(try Vocabulary(items: [10, 11, 12])))
        #expect(!a.matches(try Vocabulary(items: [10, 11, 12, 14])))
        #expect(a.row(of: 12) == 3 && a.row(of: 99) == nil && a.itemIDs == [-1, 10, 11, 12, 13])
    }

    @Test func badIdsAreRefused() {
        #expect(throws: MetaTLError.self) { try Vocabulary(items: [1, 2, 1]) }
        #expect(throws: MetaTLError.self) { try Vocabulary(items: [-3]) }
    }

    @Test func aModelMadeFromADatasetSharesItsVocabulary() throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        let model = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(), dataset: data)
        #expect(model.vocabulary === data.vocabulary)
        let apart = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(),
                                    itemIDs: Array(data.itemIDs.dropFirst()))
        #expect(apart.vocabulary !== data.vocabulary && apart.vocabulary.matches(data.vocabulary))
    }
}
