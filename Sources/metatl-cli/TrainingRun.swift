import Foundation
import MetaTL

/// Trains a model on a dataset with progress and periodic validation, then reports MetaTL
/// against the baselines (table on stdout, optional JSON file).
struct TrainingRun {
    let dataset: Dataset
    let configuration: Configuration
    let steps: Int
    let evalEvery: Int
    let metricsJSON: String?
    var out: String? = nil

    func run() throws {
        let d = dataset
        log("data: \(d.trainUserCount) training users (\(d.trainInteractionCount) interactions), "
            + "\(d.valid.count) validation and \(d.test.count) test users, \(d.itemCount) items"
            + (d.itemsNotInTraining > 0 ? " (\(d.itemsNotInTraining) never in training: their embeddings stay untrained)" : ""))
        let model = try MetaTLModel(configuration: configuration, dataset: dataset)
        let display = ProgressDisplay(total: steps)
        let start = Date()
        var curve: [[String: Any]] = []
        var done = 0
        while done < steps {
            let chunk = evalEvery > 0 ? min(evalEvery, steps - done) : steps - done
            let loss = try model.train(on: dataset, steps: chunk) { p in
                display.update(done: done + p.done, loss: p.queryLoss)
                return true
            }
            done += chunk
            if evalEvery > 0 && (done % evalEvery == 0 || done == steps) {
                let m = try model.evaluate(on: dataset, split: .valid, protocol: .sampled)
                display.line(String(format: "step %d  loss %.4f  valid sampled MRR %.4f  Hits@10 %.4f", done, loss, m.mrr, m.hits10))
                curve.append(["step": done, "loss": Double(loss), "valid_sampled_mrr": m.mrr, "valid_sampled_hits10": m.hits10])
            }
        }
        display.finish()
        let trainSeconds = Date().timeIntervalSince(start)
        log(String(format: "trained %d steps in %.1f s (%.1f steps/s)", steps, trainSeconds, Double(steps) / max(trainSeconds, 1e-9)))

        if let out {
            try model.save(to: out)
            log("model saved to \(out)")
        }
        let report = try EvaluationReport(model: model, dataset: dataset)
        print(report.table())
        if let path = metricsJSON {
            var json = report.dictionary()
            json["steps"] = steps
            json["train_seconds"] = trainSeconds
            json["users"] = ["train": d.trainUserCount, "valid": d.valid.count, "test": d.test.count]
            json["items"] = d.itemCount
            json["items_not_in_training"] = d.itemsNotInTraining
            json["learning_curve"] = curve
            json["configuration"] = [
                "K": configuration.K, "dim": configuration.dim, "hidden": [configuration.hidden1, configuration.hidden2],
                "batch_size": configuration.batchSize, "lr": Double(configuration.learningRate),
                "beta": Double(configuration.beta), "margin": Double(configuration.margin),
                "dropout": Double(configuration.dropout), "seed": configuration.seed,
                "sampler": configuration.sampler.rawValue, "inner_step": configuration.innerStep.rawValue,
                "threads": configuration.threads,
            ] as [String: Any]
            try writeJSON(json, to: path)
        }
    }
}

/// Writes a JSON object to `path` (sorted keys, indented).
func writeJSON(_ json: [String: Any], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
    do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        throw CLIError("cannot write \(path): \(error.localizedDescription)")
    }
    log("metrics written to \(path)")
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Diagnostics go to stderr so that stdout holds only the report.
func log(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
