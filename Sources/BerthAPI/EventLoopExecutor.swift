import NIOCore

/// Runs a task's jobs on one event loop: the loop that reads the connection's socket.
///
/// An upload body consumed on the global executor crosses threads twice per socket read (the
/// loop resumes the consumer on a pool thread; the consumer asks the loop for more). Run on the
/// connection's own loop, the bytes a read has just copied in are hashed there, still in the
/// core's cache, and no thread is woken to hand them over. Besides hashing, only the storage's
/// small metadata calls run there (a `stat`, a rename, a marker written without a sync), as they
/// would on any executor; writes and syncs wait on the thread pool. Other connections of the loop
/// are served between socket reads, a hash of at most one read (256 KiB, ~0.15 ms) apart.
final class EventLoopExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
