import Foundation
import MetaTL

/// Trains a model on a dataset with progress and periodic validation, then reports MetaTL
/// against the baselines (table on stdout, optional JSON file).
struct TrainingRun {
    let dataset: Dataset
    let configuration: Configuration
    let options: TrainingOptions
    /// NDCG@k and Hits@k cutoffs reported besides 1, 5 and 10.
    var cutoffs: [Int] = []
    /// The synthetic data's oracle, reported beside the baselines (demo only).
    var oracle: SyntheticData.Oracle? = nil

    /// `; string ids: users, items` when some ids are strings (a numeric column with one stray
    /// non-number becomes strings: this is where a user sees it).
    static func idKinds(_ d: Dataset) -> String {
        let kinds = [d.userStrings == nil ? nil : "users", d.itemStrings == nil ? nil : "items"].compactMap { $0 }
        return kinds.isEmpty ? "" : "; string ids: " + kinds.joined(separator: ", ")
    }

    func run() throws {
        let d = dataset
        log("data: \(d.trainUserCount) training users (\(d.trainInteractionCount) interactions), "
            + "\(d.valid.count) validation and \(d.test.count) test users, \(d.itemCount) items"
            + (d.itemsNotInTraining > 0 ? " (\(d.itemsNotInTraining) never in training: their embeddings stay untrained)" : "")
            + Self.idKinds(d))
        let model = try MetaTLModel(configuration: configuration, dataset: dataset)
        let fit = options.fitOptions
        let display = ProgressDisplay(total: fit.maxSteps)
        let start = Date()
        let result = try model.fit(on: dataset, options: fit) { p in
            display.update(done: p.done, loss: p.queryLoss)
            return true
        } evaluated: { point in
            display.line(String(format: "step %d  loss %@  valid sampled MRR %.4f  full MRR %.4f  (%.0f steps/s)",
                                point.step, point.trainLoss.map { String(format: "%.4f", $0) } ?? "-",
                                point.sampled.mrr, point.full.mrr, point.stepsPerSecond))
            return true
        }
        display.finish()
        let trainSeconds = Date().timeIntervalSince(start)
        log(String(format: "trained %d steps in %.1f s%@; kept the model of step %d (valid %@ %.4f)",
                   result.stepsTaken, trainSeconds, result.stoppedEarly ? " (stopped: no better validation for \(fit.patience) evaluations)" : "",
                   result.bestStep, fit.selectBy.rawValue, result.bestScore))
        if let why = result.divergence { log("warning: \(why); training stopped there") }

        try options.transitionPrior.attach(to: model, from: dataset)
        if let out = options.out {
            try model.save(to: out)
            log("model saved to \(out)")
        }
        if let path = options.curveCSV { try writeCurveCSV(result.curve, to: path) }
        var report = try EvaluationReport(model: model, dataset: dataset, cutoffs: cutoffs)
        if let oracle { report.add("oracle") { oracle.evaluate(on: dataset, split: $0, protocol: $1) } }
        print(report.table())
        print(report.bootstrapTable())
        if let path = options.perUserCSV { try writeText(report.perUserCSV(), to: path, what: "per-user ranks") }
        if let path = options.metricsJSON {
            var json = report.dictionary()
            json["steps"] = result.stepsTaken
            json["chosen_step"] = result.bestStep
            json["stopped_early"] = result.stoppedEarly
            json["divergence"] = result.divergence ?? NSNull()
            json["selected_by"] = fit.selectBy.rawValue
            json["transition_prior_weight"] = report.transitionPriorWeight.map { Double($0) as Any } ?? NSNull()
            json["train_seconds"] = trainSeconds
            json["users"] = ["train": d.trainUserCount, "valid": d.valid.count, "test": d.test.count]
            json["items"] = d.itemCount
            json["items_not_in_training"] = d.itemsNotInTraining
            json["learning_curve"] = result.curve.map { p -> [String: Any] in
                // The --curve-csv columns (and Python's fit records) by the same names, then every
                // metric of both protocols.
                var row: [String: Any] = ["step": p.step, "elapsed_seconds": p.elapsed, "steps_per_second": p.stepsPerSecond,
                                          "valid_sampled_mrr": p.sampled.mrr, "valid_sampled_hits10": p.sampled.hits10,
                                          "valid_full_mrr": p.full.mrr, "valid_full_hits10": p.full.hits10,
                                          "valid_sampled": metricsDictionary(p.sampled), "valid_full": metricsDictionary(p.full)]
                if let loss = p.trainLoss { row["train_loss"] = loss }
                return row
            }
            // The settings under the names of mt_config and of Python's Model().config.
            json["configuration"] = [
                "K": configuration.K, "dim": configuration.dim, "hidden": [configuration.hidden1, configuration.hidden2],
                "batch_size": configuration.batchSize, "learning_rate": Double(configuration.learningRate),
                "beta": Double(configuration.beta), "margin": Double(configuration.margin),
                "dropout": Double(configuration.dropout), "seed": configuration.seed,
                "sampler": configuration.sampler.rawValue, "inner_step": configuration.innerStep.rawValue,
                "threads": configuration.threads, "eval_mode_after": configuration.evalModeAfter.map { $0 as Any } ?? NSNull(),
                "negatives": (configuration.negatives ?? .uniform).rawValue,
                "loss": configuration.loss.rawValue, "shared_negatives": configuration.sharedNegatives,
                "tail_embeddings": configuration.tailEmbeddings, "item_bias": configuration.itemBias,
                "zero_initial_relation": configuration.zeroInitialRelation,
                "relation_penalty": Double(configuration.relationPenalty), "table_decay": Double(configuration.tableDecay),
                "query_margin": configuration.queryMargin, "optimizer": configuration.optimizer.rawValue,
                "select_by": fit.selectBy.rawValue,
                "max_steps": fit.maxSteps, "eval_every": fit.evalEvery, "patience": fit.patience,
            ] as [String: Any]
            try writeJSON(json, to: path)
        }
    }
}

/// The metrics under the same names as the report's.
func metricsDictionary(_ m: Metrics) -> [String: Any] {
    Dictionary(uniqueKeysWithValues: m.named.map { ($0.name, $0.value as Any) })
}

/// The learning curve as CSV: one row per validation.
func writeCurveCSV(_ curve: [ValidationPoint], to path: String) throws {
    var text = "step,elapsed_seconds,steps_per_second,train_loss,valid_sampled_mrr,valid_sampled_hits10,valid_full_mrr,valid_full_hits10\n"
    for p in curve {
        text += "\(p.step),\(p.elapsed),\(p.stepsPerSecond),\(p.trainLoss.map { String($0) } ?? ""),"
            + "\(p.sampled.mrr),\(p.sampled.hits10),\(p.full.mrr),\(p.full.hits10)\n"
    }
    do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        throw CLIError("cannot write \(path): \(error.localizedDescription)")
    }
    log("learning curve written to \(path)")
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

/// Writes text to `path` atomically, logging what was written.
func writeText(_ text: String, to path: String, what: String) throws {
    do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        throw CLIError("cannot write \(path): \(error.localizedDescription)")
    }
    log("\(what) written to \(path)")
}
