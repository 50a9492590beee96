#if canImport(Glibc)
import Glibc
#endif

/// A plain POSIX thread that runs one closure: the log's periodic flusher, the checkpointer.
///
/// A pthread, not a Swift task: these threads sleep and block in `fdatasync`, which a task on
/// the cooperative pool must never do.
struct PlainThread {
    private let thread: pthread_t

    /// The closure, boxed so it can cross into C as one pointer.
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts a thread running `body`.
    init(_ body: @escaping @Sendable () -> Void) {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        let result = pthread_create(&thread, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, context)
        precondition(result == 0, "pthread_create failed with \(result)")
        self.thread = thread
    }

    /// Waits for the thread to return.
    func join() {
        pthread_join(thread, nil)
    }
}
