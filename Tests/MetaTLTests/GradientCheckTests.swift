import Testing
@testable import MetaTL

/// Central finite differences of L_s + L_q against the fused backward, for every element of
/// every parameter tensor, on tiny shapes. The inner step β·g_s is held fixed at its value at
/// the unperturbed point, as the first-order method treats it.
@Suite("Gradient checks")
struct GradientCheckTests {
    static func tinyModel(dropout: Float, inner: InnerStepScaling, evalModeAfter: Int? = nil) throws -> (MetaTLModel, TaskBatch) {
        var c = Configuration.reference   // the margin loss and its single item table
        c.evalModeAfter = evalModeAfter
        c.K = 3; c.dim = 4; c.hidden1 = 5; c.hidden2 = 3
        c.batchSize = 3; c.dropout = dropout; c.innerStep = inner
        c.margin = 4   // every margin term active: the loss is smooth around the point
        c.beta = 0.7; c.seed = 7
        let model = try MetaTLModel(configuration: c, items: 7)
        let batch = TaskBatch(tasks: 3, positions: 2)
        var rng = RandomGenerator(seed: 11)
        let fill: [IndexBuffer] = [batch.supportHead, batch.supportTail, batch.supportNegativeHead, batch.supportNegativeTail,
                                   batch.queryHead, batch.queryTail, batch.queryNegativeHead, batch.queryNegativeTail]
        for buffer in fill { for i in 0..<buffer.count { buffer[i] = Int32(rng.below(8)) } }
        batch.supportHead[0] = 0; batch.supportTail[0] = 0   // padding pair, as the reference makes
        return (model, batch)
    }

    /// The softmax query loss with a tail table, an item bias and a learned scale: over shared
    /// negatives that repeat and hit a target by accident, and over every item (N = 0).
    @Test(arguments: [(4, true, true, false), (0, true, false, true), (5, false, true, true)])
    func softmaxLossMatchesFiniteDifferences(negatives: Int, tail: Bool, bias: Bool, queryMargin: Bool) throws {
        var c = Configuration.reference   // the reference's settings but for the loss's own below
        c.K = 3; c.dim = 4; c.hidden1 = 5; c.hidden2 = 3
        c.batchSize = 3; c.dropout = 0.3; c.margin = 4; c.beta = 0.7; c.seed = 7
        c.loss = .softmax; c.sharedNegatives = negatives; c.tailEmbeddings = tail; c.itemBias = bias
        c.relationPenalty = 0.3; c.tableDecay = 0.2; c.queryMargin = queryMargin
        let model = try MetaTLModel(configuration: c, items: 7)
        // Away from the initial values, so that every parameter's gradient is visible.
        for name in [ModelLayout.itemBiasName, ModelLayout.logScaleName] {
            if let v = model.tensor(named: name) { try model.setTensor(named: name, to: v.indices.map { 0.1 * Float($0 % 5) - 0.2 }) }
        }
        let batch = TaskBatch(tasks: 3, positions: 2, sharedNegatives: negatives)
        var rng = RandomGenerator(seed: 11)
        for buffer in [batch.supportHead, batch.supportTail, batch.supportNegativeHead, batch.supportNegativeTail,
                       batch.queryHead, batch.queryTail, batch.queryNegativeHead, batch.queryNegativeTail] {
            for i in 0..<buffer.count { buffer[i] = Int32(1 + rng.below(7)) }
        }
        batch.supportHead[0] = 0; batch.supportTail[0] = 0   // a padding pair
        batch.queryHead[2] = 0                               // a padding query: not in the loss
        if negatives > 0 {
            for k in 0..<negatives { batch.sharedNegatives[k] = Int32(1 + (k * 3) % 7) }
            batch.sharedNegatives[1] = batch.sharedNegatives[0]   // a repeated draw
            batch.sharedNegatives[2] = batch.queryTail[0]         // an accidental hit
        }
        // The log-Q correction of popularity draws (a made-up proposal) with the shared negatives.
        try Self.check(model, batch, logProposal: negatives == 4 ? (0...7).map { 0.3 * Float($0) - 1 } : nil)
    }

    /// Central differences of L_s + L_q for every parameter against the analytic gradient.
    static func check(_ model: MetaTLModel, _ batch: TaskBatch, logProposal: [Float]? = nil) throws {
        let ws = MetaStepWorkspace(capacity: batch.tasks, configuration: model.configuration, rows: model.rows)
        ws.softmax?.logProposal = logProposal
        model.prepareGradients(for: batch)
        _ = model.metaGradients(batch, workspace: ws)
        let frozen = ws.innerStep.array
        let analytic = Array(UnsafeBufferPointer(start: model.arena.grads, count: model.arena.total))
        func loss() -> Double {
            frozen.withUnsafeBufferPointer { f in
                model.prepareGradients(for: batch)
                let r = model.metaGradients(batch, workspace: ws, frozenInnerStep: f.baseAddress)
                return Double(r.supportLoss) + Double(r.queryLoss)
            }
        }
        let h: Float = 5e-4
        for slot in model.arena.slots {
            var worst = 0.0
            for i in 0..<slot.count {
                let p = model.arena.params + slot.offset + i
                let saved = p.pointee
                p.pointee = saved + h
                let up = loss()
                p.pointee = saved - h
                let down = loss()
                p.pointee = saved
                let numeric = (up - down) / Double(2 * h)
                let a = Double(analytic[slot.offset + i])
                worst = max(worst, abs(numeric - a) / (2e-3 + 2e-2 * abs(a)))
            }
            #expect(worst <= 1, "\(slot.name): finite differences disagree (worst normalised error \(worst))")
            let moved = (0..<slot.count).contains { abs(analytic[slot.offset + $0]) > 1e-3 }
            #expect(moved, "\(slot.name): no gradient at all (the check would be vacuous)")
        }
    }

    /// The third case trains in evaluation mode (the reference's accidental regime): BatchNorm
    /// with fixed statistics, dropout off.
    @Test(arguments: [(Float(0), InnerStepScaling.reference, Int?.none), (Float(0.3), .perTask, nil), (Float(0.3), .reference, 0)])
    func everyParameterMatchesFiniteDifferences(dropout: Float, inner: InnerStepScaling, evalModeAfter: Int?) throws {
        let (model, batch) = try Self.tinyModel(dropout: dropout, inner: inner, evalModeAfter: evalModeAfter)
        if evalModeAfter != nil {
            // Running statistics away from (0, 1), so that using them is visible.
            for l in 0..<3 {
                for s in 0..<2 { model.running.mean(l)[s] = 0.1 * Float(l + s); model.running.variance(l)[s] = 0.5 + Float(s) }
            }
        }
        let ws = MetaStepWorkspace(capacity: 3, configuration: model.configuration, rows: model.rows)
        model.prepareGradients(for: batch)
        _ = model.metaGradients(batch, workspace: ws)
        let frozen = ws.innerStep.array
        let analytic = Array(UnsafeBufferPointer(start: model.arena.grads, count: model.arena.total))

        func loss() -> Double {
            frozen.withUnsafeBufferPointer { f in
                model.prepareGradients(for: batch)
                let r = model.metaGradients(batch, workspace: ws, frozenInnerStep: f.baseAddress)
                return Double(r.supportLoss) + Double(r.queryLoss)
            }
        }
        let h: Float = 5e-4
        var checked = 0
        for slot in model.arena.slots {
            var worst = 0.0
            for i in 0..<slot.count {
                let p = model.arena.params + slot.offset + i
                let saved = p.pointee
                p.pointee = saved + h
                let up = loss()
                p.pointee = saved - h
                let down = loss()
                p.pointee = saved
                let numeric = (up - down) / Double(2 * h)
                let a = Double(analytic[slot.offset + i])
                let error = abs(numeric - a) / (2e-3 + 2e-2 * abs(a))
                worst = max(worst, error)
                checked += 1
            }
            #expect(worst <= 1, "\(slot.name): finite differences disagree (worst normalised error \(worst))")
        }
        #expect(checked == model.arena.slots.reduce(0) { $0 + $1.count })
        // The check is not vacuous: the loss does move with the parameters.
        #expect(analytic.contains { abs($0) > 1e-2 })
    }
}
