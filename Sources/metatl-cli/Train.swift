import ArgumentParser
import MetaTL

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train on the reference's files and report MetaTL against the baselines.",
        discussion: """
        Files hold `user<TAB>item<TAB>timestamp` rows (commas and one header line are accepted). \
        TRAIN holds the users active before the cut time, TEST the new users; new users with more \
        than K interactions are split 0.3 / 0.7 into validation and test with the seed.
        """
    )

    @Option(help: "Training users' interactions.")
    var train: String
    @Option(help: "New users' interactions.")
    var test: String
    @OptionGroup var files: DataFileOptions
    @OptionGroup var options: TrainingOptions
    @OptionGroup var evaluation: EvaluationOptions

    func run() throws {
        let c = try options.configuration()
        let data = try Dataset(trainFile: train, testFile: test, K: c.K, seed: c.seed, maxFileBytes: files.maxFileBytes.value,
                               sampledNegatives: evaluation.sampledNegatives)
        try TrainingRun(dataset: data, configuration: c, options: options, cutoffs: evaluation.cutoffs.values).run()
    }
}
