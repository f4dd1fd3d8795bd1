/// berth-fuzz: the fuzz targets of BerthFuzzing as libFuzzer entry points. `scripts/fuzz` builds
/// it with `-sanitize=fuzzer -D BERTH_LIBFUZZER` (then `berth_fuzz_main` starts libFuzzer) and chooses the
/// target with BERTH_FUZZ_TARGET. Built plainly, it replays inputs instead:
/// `berth-fuzz TARGET FILE...` runs each file through the target and reports what failed.
import BerthFuzzing
import Foundation

#if BERTH_LIBFUZZER
let selected: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["BERTH_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget.named(name) else {
        fatalError("set BERTH_FUZZ_TARGET to one of \(FuzzTarget.all.map(\.name).joined(separator: ", ")), not \"\(name)\"")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do { _ = try selected.check(input) } catch {
        // A trap is how libFuzzer learns of a failure; it then saves the input as crash-<sha1>.
        fatalError("fuzz \(selected.name): \(error)\ninput: \(FuzzTarget.literal(input))")
    }
    return 0
}

/// libFuzzer's driver (in the fuzzer runtime -sanitize=fuzzer links), declared by hand: a C
/// function with C arguments, called from Swift.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM links every executable with `main` defined as `<module>_main`, so libFuzzer's own
/// `main` is never used: this one starts its driver.
@_cdecl("berth_fuzz_main")
public func berthFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) }
}
#else
@main
struct BerthFuzz {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget.named(name) else {
            print("usage: berth-fuzz TARGET FILE...   (targets: \(FuzzTarget.all.map(\.name).joined(separator: ", ")))")
            exit(2)
        }
        var failed = 0
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("\(path): cannot read"); failed += 1; continue
            }
            do { print("\(path): \(try target.check(Array(data)))") } catch {
                print("\(path): FAILED: \(error)"); failed += 1
            }
        }
        exit(failed == 0 ? 0 : 1)
    }
}
#endif
