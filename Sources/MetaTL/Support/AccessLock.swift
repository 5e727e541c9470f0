import Foundation

/// Many readers (serving, evaluation) or one writer (training, loading state), never waiting:
/// a call that cannot get access at once fails with a "busy" error instead of blocking or racing.
final class AccessLock: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` with shared access, or throws `.busy` while a writer holds the lock.
    func reading<T>(_ what: String, _ body: () throws(MetaTLError) -> T) throws(MetaTLError) -> T {
        guard pthread_rwlock_tryrdlock(lock) == 0 else {
            throw MetaTLError(.busy, "cannot \(what): the model is being trained or modified by another call")
        }
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Runs `body` with exclusive access, or throws `.busy` while anyone else holds the lock.
    func writing<T>(_ what: String, _ body: () throws(MetaTLError) -> T) throws(MetaTLError) -> T {
        guard pthread_rwlock_trywrlock(lock) == 0 else {
            throw MetaTLError(.busy, "cannot \(what): the model is in use by another call (training needs exclusive use)")
        }
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}
