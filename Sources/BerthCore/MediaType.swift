/// Media types of the manifests Berth accepts and of the descriptors it inspects.
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"
    public static let dockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    public static let ociNondistributableLayerPrefix = "application/vnd.oci.image.layer.nondistributable."

    /// Manifest media types a PUT may carry.
    public static let manifestTypes: Set<String> = [ociManifest, ociIndex, dockerManifest, dockerManifestList]

    /// True for the index/list types, whose descriptors point at other manifests.
    public static func isIndex(_ type: String) -> Bool { type == ociIndex || type == dockerManifestList }

    /// A Content-Type header without parameters (`; charset=…`) and surrounding space.
    public static func essence(_ headerValue: String) -> String {
        let base = headerValue.split(separator: ";", maxSplits: 1).first ?? ""
        return base.trimmingCharacters(in: " \t").lowercased()
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
