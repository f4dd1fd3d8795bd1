import BerthCore
import Foundation
import NIOCore

/// Hashing blobs, and setting corrupt ones aside.
extension ScrubRun {
    enum HashResult {
        case matches
        case differs(Digest)
        /// Nothing at the path (a collection moved it away meanwhile).
        case gone
        case failed(String)
    }

    /// Checks one blob's content against its digest; quarantines it on `repair` when it is wrong.
    mutating func checkBlob(_ digest: Digest) async throws {
        let path = StoragePath.blobData(digest).path
        // No data file: a collection's leftover directory, or content set aside right now.
        guard let info = try await driver.statIfExists(path) else { return }
        report.blobsChecked += 1
        var finding: ScrubFinding
        if info.size == 0, digest != Digest.compute([UInt8](), algorithm: digest.algorithm) {
            finding = ScrubFinding(kind: .blobEmpty, path: path, digest: digest.description,
                                   message: "blob \(digest) has an empty data file (a crash or a full disk cut its write short): pulls of it fail. Repair quarantines it; then push the images that use it again")
        } else {
            // Content is written to a temporary file and renamed into place, so one read sees one
            // whole version of the file. A mismatch is read again: if a push stored the content
            // meanwhile, the second read sees the new file.
            switch try await hash(path, digest) {
            case .matches, .gone:
                return
            case .failed(let reason):
                let index = record(ScrubFinding(kind: .blobUnreadable, path: path, digest: digest.description,
                                                message: "blob \(digest) cannot be read (\(reason)): check the disk and the file's permissions"))
                blobProblems.updateValue(index, forKey: digest)
                return
            case .differs:
                break
            }
            guard case .differs(let actual) = try await hash(path, digest) else { return }
            finding = ScrubFinding(kind: .blobCorrupt, path: path, digest: digest.description,
                                   message: "blob \(digest) (\(info.size) bytes) hashes to \(actual): its content is damaged and clients reject it. Repair quarantines it; then push the images that use it again")
        }
        finding.size = info.size
        if options.repair, let done = try await quarantine(digest, seen: info) {
            finding.repaired = true
            finding.repair = done
        }
        blobProblems.updateValue(record(finding), forKey: digest)
    }

    /// Hashes the object at `path` with `digest`'s algorithm, within the rate limit.
    mutating func hash(_ path: String, _ digest: Digest, throttled: Bool = true) async throws -> HashResult {
        let reader: any StorageReader
        do {
            reader = try await driver.openForReading(path)
        } catch StorageDriverError.notFound {
            return .gone
        } catch {
            return .failed("\(error)")
        }
        var hasher = DigestHasher(digest.algorithm)
        var bucket = throttled ? self.bucket : nil
        var bytes: Int64 = 0
        defer {
            if throttled { self.bucket = bucket }
            report.bytesHashed += bytes
        }
        do {
            try await reader.read(range: nil) { chunk in
                try await bucket?.consume(chunk.readableBytes)
                chunk.withUnsafeReadableBytes { hasher.update($0) }
                bytes += Int64(chunk.readableBytes)
            }
        } catch let error as CancellationError {
            throw error
        } catch {
            return .failed("\(error)")
        }
        let actual = hasher.finalize()
        return actual == digest ? .matches : .differs(actual)
    }

    /// Moves a corrupt blob into `/berth/scrub/quarantine/`. Returns what was done, or nil when
    /// the blob stays (gone meanwhile, or replaced by correct content from a push).
    mutating func quarantine(_ digest: Digest, seen: FileInfo) async throws -> String? {
        let path = StoragePath.blobData(digest).path
        let target = StoragePath.scrubQuarantineEntry(digest, stamp: stamp).path
        do {
            try await driver.move(from: path, to: target)
        } catch StorageDriverError.notFound {
            return nil
        }
        // A push that stored the right content between the check and the move (it replaces a
        // blob whose size differs): what was moved is then another file, which hashes right, so
        // it goes back. The file checked is recognised by its change token, without hashing it again.
        let moved = try await driver.statIfExists(target)
        let same = !seen.changeToken.isEmpty && moved?.changeToken == seen.changeToken && moved?.size == seen.size
        if !same, case .matches = try await hash(target, digest, throttled: false) {
            if try await driver.statIfExists(path) == nil { try await driver.move(from: target, to: path) }
            report.note("blob \(digest) was replaced by a push while it was checked; it was left in place")
            return nil
        }
        storage.content.forget(digest)
        await storage.descriptors?.forget(digest, in: nil)
        storage.statistics.record(blobs: -1, bytes: -seen.size)
        quarantined.insert(digest)
        return "moved to \(target)"
    }
}
