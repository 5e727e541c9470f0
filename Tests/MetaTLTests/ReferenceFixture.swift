import Foundation
@testable import MetaTL

/// The golden numbers of `Fixtures/metatl_parity.json`, made by the reference notebook's own
/// PyTorch classes (see the fixture's README in shared/fixtures).
struct ReferenceFixture {
    let root: [String: Any]

    static func load() throws -> ReferenceFixture {
        guard let url = Bundle.module.url(forResource: "metatl_parity", withExtension: "json", subdirectory: "Fixtures") else {
            throw FixtureError("metatl_parity.json is missing from the test bundle")
        }
        let data = try Data(contentsOf: url)
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureError("fixture is not a JSON object")
        }
        return ReferenceFixture(root: root)
    }

    var config: [String: Any] { root["config"] as? [String: Any] ?? [:] }
    var trainSteps: [[String: Any]] { root["train_steps"] as? [[String: Any]] ?? [] }
    var evalUser: [String: Any] { root["eval_user"] as? [String: Any] ?? [:] }

    /// A model built and initialised exactly as the fixture's: the closed-form init of every
    /// state_dict tensor, dropout 0.
    func makeModel(batchSize: Int) throws -> MetaTLModel {
        var c = Configuration.reference
        c.K = config["K"] as? Int ?? 3
        c.dim = config["embed_dim"] as? Int ?? 100
        let hidden = config["hidden"] as? [Int] ?? [500, 200, 100]
        c.hidden1 = hidden[0]; c.hidden2 = hidden[1]
        c.dropout = 0
        c.batchSize = batchSize
        c.beta = Float(config["beta"] as? Double ?? 5)
        c.margin = Float(config["margin"] as? Double ?? 1)
        c.learningRate = Float(config["learning_rate"] as? Double ?? 1e-3)
        let model = try MetaTLModel(configuration: c, items: config["itemnum"] as? Int ?? 40)
        for entry in root["init"] as? [[String: Any]] ?? [] {
            guard let name = entry["name"] as? String, let j = entry["index"] as? Int,
                  let shape = entry["shape"] as? [Int], let base = entry["base"] as? Double,
                  let amp = entry["amp"] as? Double else { throw FixtureError("bad init entry") }
            let n = shape.reduce(1, *)
            let phase: Double = 0.11 * Double(j + 1)
            var values = [Float](repeating: 0, count: n)
            for i in 0..<n {
                let angle: Double = 0.37 * Double(i + 1) + phase
                values[i] = Float(base + amp * sin(angle))
            }
            try model.setTensor(named: name, to: values)
        }
        return model
    }

    /// The batch of one recorded training step, as item rows.
    static func batch(_ step: [String: Any], K: Int) throws -> TaskBatch {
        guard let support = step["support"] as? [[[Int]]], let supportNeg = step["support_negative"] as? [[[Int]]],
              let query = step["query"] as? [[[Int]]], let negative = step["negative"] as? [[[Int]]] else {
            throw FixtureError("bad train step")
        }
        let S = K - 1
        let batch = TaskBatch(tasks: support.count, positions: S)
        for b in 0..<support.count {
            for s in 0..<S {
                batch.supportHead[b * S + s] = Int32(support[b][s][0])
                batch.supportTail[b * S + s] = Int32(support[b][s][1])
                batch.supportNegativeHead[b * S + s] = Int32(supportNeg[b][s][0])
                batch.supportNegativeTail[b * S + s] = Int32(supportNeg[b][s][1])
            }
            batch.queryHead[b] = Int32(query[b][0][0]); batch.queryTail[b] = Int32(query[b][0][1])
            batch.queryNegativeHead[b] = Int32(negative[b][0][0]); batch.queryNegativeTail[b] = Int32(negative[b][0][1])
        }
        return batch
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The parity tolerance: 1e-4 relative, 1e-5 absolute near zero.
func close(_ a: Float, _ b: Double, rel: Double = 1e-4, abs: Double = 1e-5) -> Bool {
    let diff = Swift.abs(Double(a) - b)
    return diff <= abs + rel * Swift.abs(b)
}

/// The first index where `actual` and `expected` differ beyond tolerance, with both values.
func firstMismatch(_ actual: [Float], _ expected: [Double], rel: Double = 1e-4, abs: Double = 1e-5) -> String? {
    guard actual.count == expected.count else { return "count \(actual.count) vs \(expected.count)" }
    for i in 0..<actual.count where !close(actual[i], expected[i], rel: rel, abs: abs) {
        return "[\(i)] \(actual[i]) vs \(expected[i])"
    }
    return nil
}

func doubles(_ any: Any?) -> [Double] { (any as? [Any])?.compactMap { ($0 as? NSNumber)?.doubleValue } ?? [] }
