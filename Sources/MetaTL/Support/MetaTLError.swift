/// An error from the MetaTL engine: what kind of failure it is and a message a person can act on.
///
/// Messages about input files name the file, the line and the field, and say what was expected.
public struct MetaTLError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The class of failure; the C ABI maps each to its own status code.
    public enum Kind: Sendable, Equatable {
        /// An argument was out of range or inconsistent (a count, an id, a setting).
        case invalidArgument
        /// A data file or array did not have the expected shape or content.
        case invalidData
        /// A file could not be found or opened.
        case fileNotFound
        /// Reading or writing a file failed.
        case io
        /// The object is not in a state that allows the call (for example, no evaluation users).
        case invalidState
        /// An item id is not in the model's vocabulary.
        case unknownItem
        /// Another training call is running on the model (one at a time; see ``MetaTLModel``).
        case busy
        /// A checkpoint is damaged, truncated or incompatible.
        case badCheckpoint
        /// Training produced a non-finite or out-of-bound value (a loss, a gradient, a parameter,
        /// an optimiser moment or a running statistic); the model is left as it was before the
        /// failing step.
        case diverged
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func invalidArgument(_ message: String) -> MetaTLError { MetaTLError(.invalidArgument, message) }
    static func invalidData(_ message: String) -> MetaTLError { MetaTLError(.invalidData, message) }
}
