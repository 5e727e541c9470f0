/// Every number of a comparison: MetaTL and the baselines, sampled and full-catalogue
/// ranking, on the validation and test users.
///
/// The `metatl` row is always the model's own scores (no transition prior). When the model has a
/// transition prior attached, the `metatl+prior` row beside it shows the blend, so the pure
/// model's numbers always stay next to it.
public struct EvaluationReport: Sendable {
    /// The row of the model with its transition prior blended in.
    public static let priorSystem = "metatl+prior"

    /// Rows of the report, in order: MetaTL (then `metatl+prior` when the model has a prior), the
    /// baselines, then any ``add(_:_:)``ed.
    public private(set) var systems = ["metatl", "popularity", "transition", "transition2"]

    /// The weight of the model's transition prior, nil when it has none.
    public private(set) var transitionPriorWeight: Float?

    /// results[split][system][protocol]
    public var results: [Split: [String: [EvaluationProtocol: Metrics]]] = [:]

    /// Evaluates `model` (and the baselines fitted on `dataset`) on both splits and protocols.
    public init(model: MetaTLModel, dataset: Dataset, baselines: Baselines? = nil) throws(MetaTLError) {
        let base = baselines ?? Baselines(dataset: dataset)
        transitionPriorWeight = try model.attachedTransitionPrior()?.weight
        if transitionPriorWeight != nil { systems.insert(Self.priorSystem, at: 1) }
        for split in Split.allCases {
            var bySystem: [String: [EvaluationProtocol: Metrics]] = [:]
            for method in EvaluationProtocol.allCases {
                bySystem["metatl", default: [:]][method] = try model.evaluate(on: dataset, split: split, protocol: method, usingPrior: false)
                if transitionPriorWeight != nil {
                    bySystem[Self.priorSystem, default: [:]][method] = try model.evaluate(on: dataset, split: split, protocol: method)
                }
                for kind in Baselines.Kind.allCases {
                    bySystem[kind.rawValue, default: [:]][method] = base.evaluate(kind, on: dataset, split: split, protocol: method)
                }
            }
            results[split] = bySystem
        }
    }

    /// Adds a row (a reference point such as the synthetic data's oracle), on every split and protocol.
    public mutating func add(_ system: String, _ metrics: (Split, EvaluationProtocol) -> Metrics) {
        if !systems.contains(system) { systems.append(system) }
        for split in Split.allCases {
            for method in EvaluationProtocol.allCases { results[split, default: [:]][system, default: [:]][method] = metrics(split, method) }
        }
    }

    public func metrics(_ split: Split, _ system: String, _ method: EvaluationProtocol) -> Metrics? {
        results[split]?[system]?[method]
    }

    /// A fixed-width table for a terminal.
    public func table() -> String {
        var lines: [String] = []
        let names = Metrics().named.map(\.name)
        let header = "split  protocol  system        " + names.map { $0.padding(toLength: 8, withPad: " ", startingAt: 0) }.joined(separator: " ")
        lines.append(header)
        lines.append(String(repeating: "-", count: header.count))
        for split in Split.allCases {
            for method in EvaluationProtocol.allCases {
                for system in systems {
                    guard let m = metrics(split, system, method) else { continue }
                    let cells = m.named.map { formatValue($0.value).padding(toLength: 8, withPad: " ", startingAt: 0) }
                    lines.append(split.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)
                                 + method.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                                 + system.padding(toLength: 14, withPad: " ", startingAt: 0)
                                 + cells.joined(separator: " "))
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    private func formatValue(_ v: Double) -> String {
        let scaled = (v * 10000).rounded() / 10000
        var s = String(scaled)
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < 4 { s += String(repeating: "0", count: 4 - decimals) }
        }
        return s
    }

    /// The report as JSON-ready dictionaries: split → system → protocol → metric → value.
    public func dictionary() -> [String: Any] {
        var out: [String: Any] = [:]
        for (split, bySystem) in results {
            var s: [String: Any] = [:]
            for (system, byProtocol) in bySystem {
                var p: [String: Any] = [:]
                for (method, m) in byProtocol {
                    p[method.rawValue] = Dictionary(uniqueKeysWithValues: m.named.map { ($0.name, $0.value as Any) })
                }
                s[system] = p
            }
            out[split.rawValue] = s
        }
        return out
    }
}
