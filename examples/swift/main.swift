// The MetaTL Swift API end to end: data, training, evaluation, checkpoint, and a
// recommendation for a new user who was not in training.
//
//   swift run metatl-swift-example
import Foundation
import MetaTL

func run() throws(MetaTLError) {
    // Built-in synthetic data: every user follows one planted direction on a grid of items.
    var generator = SyntheticData()
    generator.side = 16; generator.trainUsers = 800; generator.newUsers = 200
    let (train, newUsers) = generator.generate()
    let data = try Dataset(train: train, test: newUsers, K: 3, seed: 1)
    print("\(data.itemCount) items, \(data.trainUserCount) training users, \(data.valid.count) validation / \(data.test.count) test users")

    // The reference notebook's settings, scaled down (Configuration() is the recommended preset).
    var config = Configuration.reference
    config.dim = 32; config.hidden1 = 64; config.hidden2 = 48; config.batchSize = 256
    config.learningRate = 0.005; config.sampler = .contiguous; config.threads = 2
    let model = try MetaTLModel(configuration: config, dataset: data)
    let loss = try model.train(on: data, steps: 150)
    let test = try model.evaluate(on: data, split: .test, protocol: .sampled)
    print(String(format: "after 150 steps: loss %.4f, test MRR %.4f, Hits@10 %.4f", loss, test.mrr, test.hits10))

    let path = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-swift-example.safetensors").path
    try model.save(to: path)
    let loaded = try MetaTLModel.load(from: path)
    try? FileManager.default.removeItem(atPath: path)

    // A new user with three interactions (external ids, oldest first).
    let history = Array(data.itemIDs[1...3])
    let next = try loaded.recommend(history: history, topN: 5)
    print("next for history \(history.map(String.init).joined(separator: ", ")):",
          next.map { String(format: "%lld (%.3f)", $0.item, $0.score) }.joined(separator: " "))
}

do {
    try run()
} catch {
    FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
    exit(1)
}
