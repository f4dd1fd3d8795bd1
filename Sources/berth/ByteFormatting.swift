/// Sizes for people: `0 B`, `512 B`, `1.5 KiB`, `216.3 MiB` (binary units, as `du -h`).
func formatBytes(_ n: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    var value = Double(n)
    var unit = 0
    while abs(value) >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(n) B" : String(format: "%.1f", value) + " " + units[unit]
}
