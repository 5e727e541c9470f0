import ArgumentParser
import Foundation
import MetaTL

struct Recommend: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recommend next items for a new user from a few interactions, with a saved model.",
        discussion: """
        The history is the user's item ids, oldest first; the most recent K are used and at least 2 \
        are needed. Prints one line per item: rank, item id, score (higher is better). A model \
        trained on string ids (ASINs, RecBole tokens) takes and prints them.
        """
    )

    @Option(help: "A checkpoint written by `metatl train --out`.")
    var model: String
    @Option(help: "Comma-separated item ids, oldest first, e.g. 12,55,7.")
    var history: String
    @Option(name: [.customLong("top-n"), .customLong("top")], help: "How many items to recommend (top_n in C and Python; --top is the old name).")
    var topN = 10
    @Flag(help: "Allow items of the history to be recommended.")
    var includeHistory = false
    @Flag(help: "Allow items that were not in the model's training data (never learned) to be recommended.")
    var includeUntrained = false
    @Flag(help: "Rank through an approximate index built after loading (attach_index in C and Python): scores only the items of the searched k-means cells. It pays for many users per model; one command serves one.")
    var index = false
    @Option(help: "The index's k-means cells (0: √items).")
    var indexLists = IndexSettings().lists
    @Option(help: "The index's cells searched per user.")
    var indexProbes = IndexSettings().probes

    func run() throws {
        guard topN >= 1 else { throw ValidationError("--top-n must be at least 1 (got \(topN))") }
        let m = try MetaTLModel.load(from: model, servingOnly: true)   // never trained or saved here
        if index {
            var settings = IndexSettings()
            settings.lists = indexLists
            settings.probes = indexProbes
            try m.attachIndex(settings)
        }
        var ids: [Int64] = []
        for field in history.split(separator: ",", omittingEmptySubsequences: false) {
            let text = field.trimmingCharacters(in: .whitespaces)
            if let strings = m.itemStrings {
                guard let code = strings.code(of: text) else {
                    throw ValidationError("--history: item id '\(text)' is not in the model's vocabulary of \(strings.count) items")
                }
                ids.append(code)
            } else {
                guard let id = Int64(text), id >= 0 else {
                    throw ValidationError("--history: expected comma-separated non-negative item ids, found '\(text)'")
                }
                ids.append(id)
            }
        }
        for (rank, entry) in try m.recommend(history: ids, topN: topN, excludeHistory: !includeHistory,
                                                    includeUntrained: includeUntrained).enumerated() {
            let item = m.itemStrings?[entry.item] ?? String(entry.item)
            print("\(rank + 1)\t\(item)\t\(String(format: "%.6f", entry.score))")
        }
    }
}
