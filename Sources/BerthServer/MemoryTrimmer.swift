import CBerthSystem
import ServiceLifecycle

/// Gives the malloc heap's free pages back to the system every `interval`. glibc keeps freed
/// memory inside the process; after a burst of uploads and pulls the resident size would stay at
/// its peak for good. Trimming costs well under a millisecond when little is free.
struct MemoryTrimmer: Service {
    var interval: Duration = .seconds(15)

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                _ = berth_release_free_memory()
            }
        }
    }
}
