import ArgumentParser
import Foundation
import MetaTL

/// The settings shared by every command that trains.
struct TrainingOptions: ParsableArguments {
    @Option(name: .customLong("K"), help: "Initial interactions per new user (K-1 support pairs).")
    var K = 3
    // The model-selection defaults are FitOptions' (the Swift API's), written once there.
    @Option(name: [.customLong("max-steps"), .customLong("steps")], help: "At most this many training steps (meta batches); --steps is the old name.")
    var steps = FitOptions().maxSteps
    @Option(help: "Evaluate on the validation users every N steps; the best evaluation's model is kept.")
    var evalEvery = FitOptions().evalEvery
    @Option(help: "Stop after this many evaluations in a row without a new best (0: run all the steps).")
    var patience = FitOptions().patience
    @Option(help: "Validation number that picks the model: full_mrr (full-catalogue ranking) or sampled_mrr (the reference's protocol).")
    var selectBy: SelectionMetric = FitOptions().selectBy
    @Option(help: ArgumentHelp("Train in evaluation mode (running BatchNorm statistics, no dropout) from this step on, as the reference does by accident after its first evaluation; 'never' trains in training mode throughout.",
                               valueName: "step|never"))
    var evalModeAfter: EvalModeStart = .never
    @Option(help: "Write the learning curve (every validation) to this CSV file.")
    var curveCSV: String?
    @Option(help: ArgumentHelp("The settings every option below starts from: recommended (for full-catalogue ranking; see docs/RESULTS.md) or reference (the notebook, bit for bit).",
                               valueName: "recommended|reference"))
    var preset: PresetName = .recommended
    @Option(help: "Tasks per step (default: the preset's, 1024).")
    var batchSize: Int?
    @Option(name: [.customLong("learning-rate"), .customLong("lr")], help: "Adam learning rate (recommended: 0.0005, reference: 0.001); --lr for short.")
    var lr: Float?
    @Option(help: "Inner-step size: r' = r - beta * dL_s/dr (preset: 5).")
    var beta: Float?
    @Option(help: "Margin of the ranking loss (preset: 1).")
    var margin: Float?
    @Option(help: "Dropout probability in the relation learner (reference: 0.5, recommended: 0).")
    var dropout: Float?
    @Option(help: "Item embedding size (preset: 100).")
    var dim: Int?
    @Option(help: "Relation learner hidden sizes, comma-separated (preset: 500,200).")
    var hidden: String?
    @Option(help: "Seed of every random choice.")
    var seed: UInt64 = 1
    @Option(help: "Training task sampler: reference (the notebook's, slips included), contiguous, window (contiguous windows only, users equally likely) or every_window (every training window equally likely; recommended).")
    var sampler: SamplerMode?
    @Option(help: "Inner-step scaling in training: reference (batch mean) or per_task.")
    var innerStep: InnerStepScaling?
    @Option(help: "Training negatives: uniform (the reference's), popularity (in proportion to training frequency; recommended) or mixed (half each). With the softmax loss popularity draws are log-Q corrected.")
    var negatives: NegativeSampling?
    @Option(help: "Query loss: margin (reference) or softmax (recommended; scores -a*|h+r-t|^2 + b).")
    var loss: QueryLoss?
    @Option(help: "Softmax loss: negatives shared by each step's queries, 0 for every item (recommended: 1024).")
    var sharedNegatives: Int?
    @Option(help: "A separate tail item table: on or off (recommended: on).")
    var tailEmbeddings: Switch?
    @Option(help: "A learned item bias in the softmax score: on or off (recommended: on).")
    var itemBias: Switch?
    @Option(help: "Start the relation at zero (last BatchNorm weight 0): on or off (recommended: on).")
    var zeroInitialRelation: Switch?
    @Option(help: "Penalty lambda * mean |r|^2 on the relation learner's output (recommended: see docs/RESULTS.md).")
    var relationPenalty: Float?
    @Option(help: "L2 penalty lambda on the item rows each query uses (recommended: see docs/RESULTS.md).")
    var tableDecay: Float?
    @Option(help: "With the softmax loss, also the margin loss on each query against a uniform negative: on or off.")
    var queryMargin: Switch?
    @Option(help: ArgumentHelp("Optimiser of the item tables: adam (exact lazy Adam, bit for bit dense Adam; both presets) or sparse-adam (SparseAdam/LazyAdam: a row changes only at steps that read it; no catch-up, faster on large catalogues). The relation learner stays on dense Adam.",
                               valueName: "adam|sparse-adam"))
    var optimizer: Optimizer?
    @Option(help: "Worker threads (default: all cores). Results are reproducible for a given count.")
    var threads: Int?
    @Option(help: "Write every reported number to this JSON file.")
    var metricsJSON: String?
    @Option(help: "Write each user's rank of the target per system and protocol to this CSV file (user,split,system,protocol,rank).")
    var perUserCSV: String?
    @Option(help: "Save the trained model to this checkpoint (safetensors).")
    var out: String?
    @Option(help: ArgumentHelp("Blend first-order transition counts into the scores: off, auto (the weight with the best validation full MRR on a grid) or a weight W >= 0. When on, the report shows metatl (pure) and metatl+prior, and --out saves the prior with the model.",
                               valueName: "off|auto|W"))
    var transitionPrior: TransitionPriorSetting = .auto

    /// The model-selection settings.
    var fitOptions: FitOptions {
        var o = FitOptions()
        o.maxSteps = steps
        o.evalEvery = evalEvery
        o.patience = patience
        o.selectBy = selectBy
        return o
    }

    func configuration() throws -> Configuration {
        var c = preset.configuration
        c.K = K
        if let dim { c.dim = dim }
        if let hidden {
            let sizes = hidden.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard sizes.count == 2, let h1 = sizes[0], let h2 = sizes[1] else {
                throw ValidationError("--hidden expects two comma-separated sizes, e.g. 500,200 (got '\(hidden)')")
            }
            c.hidden1 = h1
            c.hidden2 = h2
        }
        if let batchSize { c.batchSize = batchSize }
        if let lr { c.learningRate = lr }
        if let beta { c.beta = beta }
        if let margin { c.margin = margin }
        if let dropout { c.dropout = dropout }
        c.seed = seed
        if let sampler { c.sampler = sampler }
        if let innerStep { c.innerStep = innerStep }
        if let loss { c.loss = loss }
        if let sharedNegatives { c.sharedNegatives = sharedNegatives }
        if let tailEmbeddings { c.tailEmbeddings = tailEmbeddings == .on }
        if let itemBias { c.itemBias = itemBias == .on }
        if let zeroInitialRelation { c.zeroInitialRelation = zeroInitialRelation == .on }
        if let relationPenalty { c.relationPenalty = relationPenalty }
        if let tableDecay { c.tableDecay = tableDecay }
        if let queryMargin { c.queryMargin = queryMargin == .on }
        if let optimizer { c.optimizer = optimizer }
        if c.loss == .margin && itemBias == nil { c.itemBias = false }   // the margin score has no bias
        c.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        if case .step(let n) = evalModeAfter { c.evalModeAfter = n } else { c.evalModeAfter = nil }
        if let negatives { c.negatives = negatives == .uniform ? nil : negatives }
        try c.validate()
        guard steps >= 0 else { throw ValidationError("--max-steps must be non-negative (got \(steps))") }
        guard evalEvery >= 1 else { throw ValidationError("--eval-every must be at least 1 (got \(evalEvery))") }
        guard patience >= 0 else { throw ValidationError("--patience must be non-negative (got \(patience))") }
        return c
    }
}

extension SamplerMode: ExpressibleByArgument {}
extension QueryLoss: ExpressibleByArgument {}

/// `--preset`.
enum PresetName: String, ExpressibleByArgument, CaseIterable {
    case recommended, reference
    var configuration: Configuration { Configuration.preset(named: rawValue) ?? .recommended }
}

/// An on/off option.
enum Switch: String, ExpressibleByArgument, CaseIterable { case on, off }
extension SelectionMetric: ExpressibleByArgument {}
extension NegativeSampling: ExpressibleByArgument {}
extension InnerStepScaling: ExpressibleByArgument {}

/// `--optimizer adam|sparse-adam`: kebab-case on the command line (the other surfaces' name,
/// sparse_adam, is accepted too).
extension Optimizer: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument.replacingOccurrences(of: "-", with: "_"))
    }
    public static var allValueStrings: [String] { allCases.map { $0.rawValue.replacingOccurrences(of: "_", with: "-") } }
    public static var allValueDescriptions: [String: String] { [:] }
}

/// `--eval-mode-after`: a step, or `never`.
enum EvalModeStart: ExpressibleByArgument, Equatable {
    case step(Int)
    case never

    init?(argument: String) {
        if argument == "never" { self = .never; return }
        guard let n = Int(argument), n >= 0 else { return nil }
        self = .step(n)
    }

    var defaultValueDescription: String {
        switch self {
        case .step(let n): String(n)
        case .never: "never"
        }
    }
}


/// `--transition-prior`: off, auto (chosen on validation) or a fixed weight.
enum TransitionPriorSetting: ExpressibleByArgument, Equatable {
    case off
    case auto
    case weight(Float)

    init?(argument: String) {
        switch argument {
        case "off": self = .off
        case "auto": self = .auto
        default:
            guard let w = Float(argument), w.isFinite, w >= 0 else { return nil }
            self = .weight(w)
        }
    }

    var defaultValueDescription: String {
        switch self {
        case .off: "off"
        case .auto: "auto"
        case .weight(let w): w.description
        }
    }

    /// Attaches the prior this setting asks for (nothing for off), logging the choice.
    func attach(to model: MetaTLModel, from dataset: Dataset) throws {
        let weight: PriorWeight
        switch self {
        case .off: return
        case .auto:
            guard dataset.valid.count > 0 else {
                log("transition prior: not attached (auto needs validation users to choose its weight; this dataset has none)")
                return
            }
            weight = .chooseOnValidation
        case .weight(let w): weight = .fixed(w)
        }
        let choice = try model.attachTransitionPrior(from: dataset, weight: weight)
        if !choice.validationFullMRR.isEmpty {
            log("transition prior: valid full MRR by weight " + choice.validationFullMRR.map { String(format: "%g: %.4f", $0.weight, $0.mrr) }.joined(separator: ", "))
        }
        log("transition prior attached with weight \(choice.weight)")
    }
}
