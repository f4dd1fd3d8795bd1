/// BerthAPI: the OCI Distribution HTTP API — one route collection per API area, the single
/// mapping from errors to the spec's JSON error responses, and signed upload state.
import BerthStorage
import Hummingbird
import Logging
import NIOCore

/// Per-request context.
public struct RegistryContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's address, when the connection has one.
    public let remoteAddress: SocketAddress?
    /// The loop that reads the connection's socket.
    public let eventLoop: any EventLoop

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        eventLoop = source.channel.eventLoop
    }

    /// Only manifests are ever collected whole; blobs stream.
    public var maxUploadSize: Int { RegistryStorage.maxManifestBytes }
}
