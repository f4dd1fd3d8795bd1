import Foundation

/// Images and artifacts for the web UI tests: an image whose config has everything the manifest
/// page shows, a multi-platform index, and referrers (an SBOM and a signature) pushed as `oras
/// attach` and `cosign` push them: blobs by monolithic upload, then the manifest with a subject.
enum UITestContent {
    /// An image whose config names an entrypoint, command, environment, labels, ports and history.
    static func richImage() -> TestImage {
        let tars = (0..<2).map { Tar.archive(name: "greeter/part\($0).bin", contents: randomBytes(20_000)) }
        var image = TestImage(layerTars: tars)
        let diffIDs = tars.map { "\"\(Blob.digest($0))\"" }.joined(separator: ",")
        image.config = Blob(mediaType: MediaTypes.config, bytes: Data("""
            {"architecture":"amd64","os":"linux","created":"2026-01-02T03:04:05Z","config":{"User":"app",\
            "Env":["PATH=/usr/local/bin:/usr/bin","GREETING=hello"],"Entrypoint":["/usr/bin/greeter","--listen"],\
            "Cmd":["0.0.0.0:8080"],"WorkingDir":"/srv","ExposedPorts":{"8080/tcp":{}},\
            "Labels":{"org.opencontainers.image.source":"https://example.invalid/greeter","maintainer":"ops"}},\
            "rootfs":{"type":"layers","diff_ids":[\(diffIDs)]},\
            "history":[{"created":"2026-01-02T03:04:05Z","created_by":"COPY greeter /usr/bin/greeter"},\
            {"created":"2026-01-02T03:04:06Z","created_by":"RUN adduser app"},\
            {"created":"2026-01-02T03:04:07Z","created_by":"ENTRYPOINT [\\"/usr/bin/greeter\\"]","empty_layer":true}]}
            """.utf8))
        let layerList = image.layers.map { $0.descriptor() }.joined(separator: ",")
        image.manifest = Blob(mediaType: MediaTypes.manifest, bytes: Data("""
            {"schemaVersion":2,"mediaType":"\(MediaTypes.manifest)","config":\(image.config.descriptor()),"layers":[\(layerList)]}
            """.utf8))
        return image
    }

    static let sbomType = "application/spdx+json"
    static let signatureType = "application/vnd.dev.cosign.artifact.sig.v1+json"

    /// Pushes an artifact of `artifactType` whose subject is `subject` into `repository`; returns its digest.
    @discardableResult
    static func pushReferrer(_ artifactType: String, subject: Blob, repository: String, to registry: TestRegistry) async throws -> String {
        let empty = Blob(mediaType: "application/vnd.oci.empty.v1+json", bytes: Data("{}".utf8))
        let document = Blob(mediaType: artifactType, bytes: Data(#"{"about":"\#(subject.digest)","kind":"\#(artifactType)"}"#.utf8))
        for blob in [empty, document] {
            let response = try await HTTP.request(
                "POST", URL(string: "\(registry.baseURL)/v2/\(repository)/blobs/uploads/?digest=\(blob.digest)")!,
                headers: ["Content-Type": "application/octet-stream"], body: blob.bytes)
            guard response.status == 201 else { throw TestFailure("blob upload: \(response.status) \(response.text)") }
        }
        let manifest = Blob(mediaType: MediaTypes.manifest, bytes: Data("""
            {"schemaVersion":2,"mediaType":"\(MediaTypes.manifest)","artifactType":"\(artifactType)",\
            "config":\(empty.descriptor()),"layers":[\(document.descriptor())],"subject":\(subject.descriptor()),\
            "annotations":{"org.opencontainers.image.created":"2026-01-02T03:04:05Z"}}
            """.utf8))
        let put = try await HTTP.request("PUT", URL(string: "\(registry.baseURL)/v2/\(repository)/manifests/\(manifest.digest)")!,
                                         headers: ["Content-Type": MediaTypes.manifest], body: manifest.bytes)
        guard put.status == 201 else { throw TestFailure("referrer manifest PUT: \(put.status) \(put.text)") }
        return manifest.digest
    }
}
