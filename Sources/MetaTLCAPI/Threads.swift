import MetaTL

// The process-level calls of include/metatl.h ("The process", "Threads").

@_cdecl("mt_threads_release")
public func mt_threads_release() {
    WorkerThreads.release()
}
