import Foundation
import Testing
@testable import MetaTL

/// Reproduces the reference's golden numbers: two training steps (scores, losses, r, r',
/// every gradient, parameters after Adam, BatchNorm running statistics) and one evaluated user.
@Suite("Reference parity")
struct ReferenceParityTests {
    @Test func trainingStepsAndEvaluationMatchTheReference() throws {
        let fixture = try ReferenceFixture.load()
        let K = fixture.config["K"] as? Int ?? 3
        let steps = fixture.trainSteps
        #expect(steps.count == 2)
        let model = try fixture.makeModel(batchSize: 4)
        let ws = MetaStepWorkspace(capacity: 4, configuration: model.configuration, rows: model.rows)
        let d = model.configuration.dim

        for (t, step) in steps.enumerated() {
            let batch = try ReferenceFixture.batch(step, K: K)
            // The gradients are read between the backward and the Adam step, which clears them.
            model.prepareGradients(for: batch)
            let result = model.metaGradients(batch, workspace: ws)
            var gradients: [String: [Float]] = [:]
            for name in model.parameterNames { gradients[name] = model.gradient(named: name) }
            model.adamStep(lazy: false)
            let B = batch.tasks, S = K - 1

            func check(_ what: String, _ actual: [Float], _ key: String) {
                let mismatch = firstMismatch(actual, doubles(step[key]))
                #expect(mismatch == nil, "step \(t + 1) \(what): \(mismatch ?? "")")
            }
            check("support positive scores", Array(ws.supportPosScore.array.prefix(B * S)), "support_pos_score")
            check("support negative scores", Array(ws.supportNegScore.array.prefix(B * S)), "support_neg_score")
            check("query positive scores", Array(ws.queryPosScore.array.prefix(B)), "query_pos_score")
            check("query negative scores", Array(ws.queryNegScore.array.prefix(B)), "query_neg_score")
            check("r", Array(ws.relation.array.prefix(B * d)), "rel")
            check("r'", Array(ws.adapted.array.prefix(B * d)), "rel_q")
            #expect(close(result.supportLoss, step["support_loss"] as? Double ?? .nan), "step \(t + 1) support loss \(result.supportLoss)")
            #expect(close(result.queryLoss, step["query_loss"] as? Double ?? .nan), "step \(t + 1) query loss \(result.queryLoss)")

            let grads = step["grads"] as? [String: [String: Any]] ?? [:]
            let after = step["params_after_step"] as? [String: [String: Any]] ?? [:]
            #expect(grads.count == model.parameterNames.count)
            for name in model.parameterNames {
                let g = try #require(gradients[name])
                compare(g, grads[name], "step \(t + 1) gradient of \(name)")
                let p = try #require(model.tensor(named: name))
                compare(p, after[name], "step \(t + 1) \(name) after Adam")
            }
            let running = step["bn_running_after_step"] as? [String: Any] ?? [:]
            #expect(running.count == 6)
            for (name, values) in running {
                let actual = try #require(model.tensor(named: name))
                let mismatch = firstMismatch(actual, doubles(values))
                #expect(mismatch == nil, "step \(t + 1) \(name): \(mismatch ?? "")")
            }
        }

        // One user in evaluation mode.
        let ev = fixture.evalUser
        let support = try #require(ev["support"] as? [[[Int]]])[0]
        let supportNeg = try #require(ev["support_negative"] as? [[[Int]]])[0]
        let query = try #require(ev["query"] as? [[[Int]]])[0][0]
        let negatives = try #require(ev["negative"] as? [[[Int]]])[0]
        let S = K - 1
        let heads = IndexBuffer(support.map { Int32($0[0]) }), tails = IndexBuffer(support.map { Int32($0[1]) })
        let nh = IndexBuffer(supportNeg.map { Int32($0[0]) }), nt = IndexBuffer(supportNeg.map { Int32($0[1]) })
        #expect(heads.count == S)
        let aws = AdaptationWorkspace(capacity: 1, configuration: model.configuration)
        let r = FloatBuffer(count: d), rq = FloatBuffer(count: d)
        model.adapt(users: 1, heads: heads.pointer, tails: tails.pointer, negativeHeads: nh.pointer, negativeTails: nt.pointer,
                    workspace: aws, relation: r.pointer, adapted: rq.pointer)
        #expect(firstMismatch(r.array, doubles(ev["rel"])) == nil, "eval r: \(firstMismatch(r.array, doubles(ev["rel"])) ?? "")")
        #expect(firstMismatch(rq.array, doubles(ev["rel_q"])) == nil, "eval r': \(firstMismatch(rq.array, doubles(ev["rel_q"])) ?? "")")
        let scorer = model.pairScorer(relations: rq.pointer, prior: nil)
        let pos = scorer.score(user: 0, head: Int32(query[0]), tail: Int32(query[1]))
        let negs = negatives.map { scorer.score(user: 0, head: Int32($0[0]), tail: Int32($0[1])) }
        #expect(close(pos, doubles(ev["query_pos_score"])[0]))
        #expect(firstMismatch(negs, doubles(ev["query_neg_score"])) == nil)
        let rank = 1 + negs.filter { $0 >= pos }.count
        #expect(rank == ev["rank_pessimistic"] as? Int)
    }

    /// Compares a tensor with the fixture's record of it: every value (`full`), or sampled
    /// values plus the L2 norm and the sum (big tensors).
    private func compare(_ actual: [Float], _ record: [String: Any]?, _ what: String) {
        guard let record else { Issue.record("\(what): not in the fixture"); return }
        if record["full"] != nil {
            let mismatch = firstMismatch(actual, doubles(record["full"]))
            #expect(mismatch == nil, "\(what): \(mismatch ?? "")")
        }
        for pair in record["samples"] as? [[Any]] ?? [] {
            guard let i = (pair[0] as? NSNumber)?.intValue, let v = (pair[1] as? NSNumber)?.doubleValue else { continue }
            #expect(i < actual.count && close(actual[i], v), "\(what)[\(i)]: \(i < actual.count ? actual[i] : .nan) vs \(v)")
        }
        let l2 = (actual.reduce(0.0) { $0 + Double($1) * Double($1) }).squareRoot()
        let sum = actual.reduce(0.0) { $0 + Double($1) }
        let l2Ref = record["l2"] as? Double ?? .nan, sumRef = record["sum"] as? Double ?? .nan
        #expect(abs(l2 - l2Ref) <= 1e-4 * l2Ref + 1e-5, "\(what) l2: \(l2) vs \(l2Ref)")
        // A sum can cancel to ~0; measure its error against the tensor's scale.
        #expect(abs(sum - sumRef) <= 1e-4 * max(abs(sumRef), l2Ref) + 1e-5, "\(what) sum: \(sum) vs \(sumRef)")
    }
}
