import ArgumentParser
import MetaTL

/// How new users are evaluated: the sampled protocol's negatives and the report's cutoffs
/// (`train` and `evaluate`).
struct EvaluationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Negatives per new user in the sampled protocol (the reference's 100); 1...\(EvaluationUsers.maxSampledNegatives).",
                               valueName: "n"))
    var sampledNegatives = EvaluationUsers.defaultSampledNegatives
    @Option(help: ArgumentHelp("More cutoffs k of NDCG@k and Hits@k in the report and JSON, comma-separated (1, 5 and 10 are always there).",
                               valueName: "k,k,..."))
    var cutoffs: CutoffList = CutoffList(values: [])

    func validate() throws {
        guard sampledNegatives >= 1 && sampledNegatives <= EvaluationUsers.maxSampledNegatives else {
            throw ValidationError("--sampled-negatives must be in 1...\(EvaluationUsers.maxSampledNegatives) (got \(sampledNegatives))")
        }
    }
}

/// `20,50,100`: cutoffs of at least 1.
struct CutoffList: ExpressibleByArgument {
    let values: [Int]
    init(values: [Int]) { self.values = values }
    init?(argument: String) {
        var out: [Int] = []
        for part in argument.split(separator: ",") {
            guard let k = Int(part.trimmingCharacters(in: .whitespaces)), k >= 1 else { return nil }
            out.append(k)
        }
        guard !out.isEmpty else { return nil }
        values = out
    }
    var defaultValueDescription: String { "none" }
}
