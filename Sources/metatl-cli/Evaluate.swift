import ArgumentParser
import MetaTL
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a saved model and the baselines on the reference's files.",
        discussion: """
        The files may be the ones the model was trained on or a new cohort: items are mapped to \
        the model's by id, and interactions with items the model does not know are left out and \
        counted (--unknown-items error makes them an error). The validation/test split uses the \
        model's seed unless --seed is given.
        """
    )

    @Option(help: "A checkpoint written by `metatl train --out`.")
    var model: String
    @Option(help: "Training users' interactions.")
    var train: String
    @Option(help: "New users' interactions.")
    var test: String
    @OptionGroup var files: DataFileOptions
    @OptionGroup var evaluation: EvaluationOptions
    @Option(help: "Seed of the validation/test split (default: the model's).")
    var seed: UInt64?
    @Option(help: "Write every reported number to this JSON file.")
    var metricsJSON: String?
    @Option(help: "Write each user's rank of the target per system and protocol to this CSV file (user,split,system,protocol,rank).")
    var perUserCSV: String?
    @Option(help: "Interactions whose item the model does not know: skip (left out and counted) or error.")
    var unknownItems: UnknownItemPolicy = .skip
    @Option(help: ArgumentHelp("Transition prior: off (evaluate without one), auto (weight chosen on validation full MRR) or a weight W >= 0, counted on --train; by default the checkpoint's, if it has one. With a prior the report shows metatl (pure) and metatl+prior.",
                               valueName: "off|auto|W"))
    var transitionPrior: TransitionPriorSetting?

    func run() throws {
        let m = try MetaTLModel.load(from: model, servingOnly: true)   // never trained or saved here
        let data = try Dataset(trainFile: train, testFile: test, K: m.configuration.K, seed: seed ?? m.configuration.seed,
                               maxFileBytes: files.maxFileBytes.value, vocabularyOf: m, unknownItems: unknownItems,
                               sampledNegatives: evaluation.sampledNegatives)
        if data.unknownInteractions > 0 {
            log("\(data.unknownInteractions) interactions have items the model does not know: left out")
        }
        if transitionPrior == .off { try m.detachTransitionPrior() }
        try transitionPrior?.attach(to: m, from: data)
        let report = try EvaluationReport(model: m, dataset: data, cutoffs: evaluation.cutoffs.values)
        print(report.table())
        print(report.bootstrapTable())
        if let path = perUserCSV { try writeText(report.perUserCSV(), to: path, what: "per-user ranks") }
        if let metricsJSON {
            var json = report.dictionary()
            json["steps"] = m.step
            json["users"] = ["train": data.trainUserCount, "valid": data.valid.count, "test": data.test.count]
            json["items"] = data.itemCount
            json["unknown_interactions"] = data.unknownInteractions
            json["transition_prior_weight"] = report.transitionPriorWeight.map { Double($0) as Any } ?? NSNull()
            try writeJSON(json, to: metricsJSON)
        }
    }
}

extension UnknownItemPolicy: ExpressibleByArgument {}
