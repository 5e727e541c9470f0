import CMetaTL
import Foundation
import MetaTL

// The thread-local last error and the mapping from engine errors to status codes.

private let errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

/// Records `message` as this thread's last error (a malloc'd copy, freed on replacement and at
/// thread exit). A NUL inside it would end the C string early: it is written as `\x00` (the
/// engine shows file contents escaped already; this keeps any other message whole too).
func setLastError(_ message: String) {
    let whole = message.utf8.contains(0) ? message.replacingOccurrences(of: "\u{0}", with: "\\x00") : message
    let old = pthread_getspecific(errorKey)
    pthread_setspecific(errorKey, strdup(whole))
    free(old)
}

func lastErrorPointer() -> UnsafePointer<CChar>? {
    pthread_getspecific(errorKey).map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) }
}

/// An argument problem found at the boundary, before the engine is called.
struct BoundaryError: Error {
    let status: mt_status
    let message: String
    static func argument(_ m: String) -> BoundaryError { BoundaryError(status: MT_ERR_INVALID_ARGUMENT, message: m) }
}

func status(for kind: MetaTLError.Kind) -> mt_status {
    switch kind {
    case .invalidArgument: return MT_ERR_INVALID_ARGUMENT
    case .invalidData: return MT_ERR_INVALID_DATA
    case .fileNotFound: return MT_ERR_NOT_FOUND
    case .io: return MT_ERR_IO
    case .invalidState: return MT_ERR_INVALID_STATE
    case .unknownItem: return MT_ERR_UNKNOWN_ITEM
    case .busy: return MT_ERR_BUSY
    case .badCheckpoint: return MT_ERR_BAD_CHECKPOINT
    case .diverged: return MT_ERR_DIVERGED
    }
}

/// Runs one exported call: any thrown error becomes its status code and this thread's message.
func guarded(_ function: String, _ body: () throws -> Void) -> mt_status {
    do {
        try body()
        return MT_OK
    } catch let e as MetaTLError {
        setLastError("\(function): \(e.message)")
        return status(for: e.kind)
    } catch let e as BoundaryError {
        setLastError("\(function): \(e.message)")
        return e.status
    } catch {
        setLastError("\(function): internal error: \(error)")
        return MT_ERR_INTERNAL
    }
}
