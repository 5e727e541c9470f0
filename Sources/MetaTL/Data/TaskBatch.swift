/// One batch of training tasks as item rows (0 = padding), struct-of-arrays.
///
/// Task b has support pairs (supportHead[n] → supportTail[n]) for n = b·S ..< (b+1)·S, each
/// with a negative pair (supportNegativeHead[n] → supportNegativeTail[n]), and one query pair
/// (queryHead[b] → queryTail[b]) with its negative (queryNegativeHead[b] → queryNegativeTail[b]).
final class TaskBatch: @unchecked Sendable {
    let tasks: Int
    let positions: Int
    let supportHead, supportTail, supportNegativeHead, supportNegativeTail: IndexBuffer
    let queryHead, queryTail, queryNegativeHead, queryNegativeTail: IndexBuffer
    /// The softmax loss's negatives, shared by every query of the batch (empty otherwise, and
    /// with an exact softmax, whose candidates are every item).
    let sharedNegatives: IndexBuffer

    init(tasks: Int, positions S: Int, sharedNegatives N: Int = 0) {
        self.tasks = tasks
        positions = S
        supportHead = IndexBuffer(count: tasks * S); supportTail = IndexBuffer(count: tasks * S)
        supportNegativeHead = IndexBuffer(count: tasks * S); supportNegativeTail = IndexBuffer(count: tasks * S)
        queryHead = IndexBuffer(count: tasks); queryTail = IndexBuffer(count: tasks)
        queryNegativeHead = IndexBuffer(count: tasks); queryNegativeTail = IndexBuffer(count: tasks)
        sharedNegatives = IndexBuffer(count: N)
    }
}
