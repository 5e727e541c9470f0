import Foundation

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

    /// Each user's rank and score of the target, targets[split][system][protocol], in the order
    /// of ``userIDs`` (for MetaTL and the baselines; rows ``add(_:_:)``ed have none).
    public private(set) var targets: [Split: [String: [EvaluationProtocol: TargetRanks]]] = [:]
    /// The ranks of ``targets``, ranks[split][system][protocol].
    public var ranks: [Split: [String: [EvaluationProtocol: [Int]]]] { targets.mapValues { $0.mapValues { $0.mapValues(\.ranks) } } }
    /// The users of each split, in the order of ``ranks``.
    public private(set) var userIDs: [Split: [Int64]] = [:]
    /// The users' string ids when they are strings (``userIDs`` then holds their codes).
    public private(set) var userStrings: StringIDs?

    /// NDCG@k and Hits@k are reported at 1, 5, 10 and these.
    public let cutoffs: [Int]

    /// Evaluates `model` (and the baselines fitted on `dataset`) on both splits and protocols;
    /// NDCG@k and Hits@k at 1, 5, 10 and `cutoffs` (each at least 1).
    public init(model: MetaTLModel, dataset: Dataset, baselines: Baselines? = nil, cutoffs: [Int] = []) throws(MetaTLError) {
        if let bad = cutoffs.first(where: { $0 < 1 }) { throw .invalidArgument("cutoffs must be at least 1 (got \(bad))") }
        self.cutoffs = Array(Set(Metrics.standardCutoffs + cutoffs)).sorted()
        let base = baselines ?? Baselines(dataset: dataset)
        transitionPriorWeight = try model.attachedTransitionPrior()?.weight
        if transitionPriorWeight != nil { systems.insert(Self.priorSystem, at: 1) }
        userStrings = dataset.userStrings
        for split in Split.allCases {
            userIDs[split] = dataset.users(split).userIDs
            var bySystem: [String: [EvaluationProtocol: TargetRanks]] = [:]
            for method in EvaluationProtocol.allCases {
                bySystem["metatl", default: [:]][method] = try model.targets(on: dataset, split: split, protocol: method, usingPrior: false)
                if transitionPriorWeight != nil {
                    bySystem[Self.priorSystem, default: [:]][method] = try model.targets(on: dataset, split: split, protocol: method)
                }
                for kind in Baselines.Kind.allCases {
                    bySystem[kind.rawValue, default: [:]][method] = base.targets(kind, on: dataset, split: split, protocol: method)
                }
            }
            targets[split] = bySystem
            results[split] = bySystem.mapValues { $0.mapValues { Metrics(ranks: $0.ranks, cutoffs: cutoffs) } }
        }
    }

    /// Every user's rank and score of the target per system and protocol, as CSV:
    /// `user,split,system,protocol,rank,score` (rank and score empty for a target that could not
    /// be ranked, a miss; scores as the shortest text that reads back the same; a string user id quoted when
    /// it holds a comma, a quote or a line break, as RFC 4180 says), so that other tools can
    /// compare systems on the same users.
    public func perUserCSV() -> String {
        var text = "user,split,system,protocol,rank,score\n"
        for split in Split.allCases {
            guard let ids = userIDs[split], let bySystem = targets[split] else { continue }
            let users = ids.map { Self.csvField(Interactions.text($0, userStrings)) }
            for system in systems {
                guard let byProtocol = bySystem[system] else { continue }
                for method in EvaluationProtocol.allCases {
                    guard let t = byProtocol[method] else { continue }
                    for (u, (rank, score)) in zip(users, zip(t.ranks, t.scores)) {
                        let missed = rank == Metrics.unranked
                        text += "\(u),\(split.rawValue),\(system),\(method.rawValue),\(missed ? "" : String(rank)),"
                            + "\(missed || !score.isFinite ? "" : "\(score)")\n"
                    }
                }
            }
        }
        return text
    }

    /// A CSV field: as it is, or quoted (quotes doubled) when it holds a comma, a quote or a
    /// line break.
    static func csvField(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A paired bootstrap of MRR(`system`) - MRR(`baseline`) over the same users: the observed
    /// difference and the 2.5% and 97.5% quantiles of `resamples` resamplings of the users
    /// (with replacement, from `seed`). Nil when either has no per-user ranks.
    public func pairedBootstrap(_ split: Split, _ method: EvaluationProtocol, system: String, baseline: String,
                                resamples: Int = 1000, seed: UInt64 = 1) -> (difference: Double, low: Double, high: Double)? {
        guard let a = targets[split]?[system]?[method]?.ranks, let b = targets[split]?[baseline]?[method]?.ranks,
              a.count == b.count, !a.isEmpty, resamples >= 1 else { return nil }
        func rr(_ r: Int) -> Double { r == Metrics.unranked || r < 1 ? 0 : 1 / Double(r) }
        let d = zip(a, b).map { rr($0) - rr($1) }
        let n = d.count
        let observed = d.reduce(0, +) / Double(n)
        var rng = RandomGenerator(seed: seed, stream: RandomStream.bootstrap.rawValue)
        var means: [Double] = []
        means.reserveCapacity(resamples)
        for _ in 0..<resamples {
            var sum = 0.0
            for _ in 0..<n { sum += d[rng.below(n)] }
            means.append(sum / Double(n))
        }
        means.sort()
        func quantile(_ q: Double) -> Double { means[min(resamples - 1, max(0, Int((q * Double(resamples - 1)).rounded())))] }
        return (observed, quantile(0.025), quantile(0.975))
    }

    /// The bootstrap lines of the table: the reported MetaTL system (with the prior when it has
    /// one) minus each baseline, full and sampled MRR on the test users, 95% intervals.
    public func bootstrapTable(resamples: Int = 1000) -> String {
        let main = transitionPriorWeight != nil ? Self.priorSystem : "metatl"
        var lines = ["paired bootstrap (\(resamples) resamples of the test users): MRR(\(main)) - MRR(baseline), 95% interval"]
        for method in [EvaluationProtocol.full, .sampled] {
            for kind in Baselines.Kind.allCases {
                guard let b = pairedBootstrap(.test, method, system: main, baseline: kind.rawValue, resamples: resamples) else { continue }
                let names = "  " + method.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
                    + kind.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)
                lines.append(names + String(format: "%+.4f  [%+.4f, %+.4f]", b.difference, b.low, b.high))
            }
        }
        return lines.joined(separator: "\n")
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
        var names = Metrics().named.map(\.name)
        if let m = results.values.first?.values.first?.values.first { names = m.named.map(\.name) }
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
        // MetaTL (pure, and with the prior) minus each baseline, paired bootstrap 95% intervals.
        var boot: [String: Any] = [:]
        for split in Split.allCases {
            var bySplit: [String: Any] = [:]
            for method in EvaluationProtocol.allCases {
                var byProtocol: [String: Any] = [:]
                for system in ["metatl", Self.priorSystem] where systems.contains(system) {
                    for kind in Baselines.Kind.allCases {
                        guard let b = pairedBootstrap(split, method, system: system, baseline: kind.rawValue) else { continue }
                        byProtocol["\(system)-\(kind.rawValue)"] = ["mrr_difference": b.difference, "low95": b.low, "high95": b.high]
                    }
                }
                bySplit[method.rawValue] = byProtocol
            }
            boot[split.rawValue] = bySplit
        }
        out["bootstrap"] = boot
        return out
    }
}
