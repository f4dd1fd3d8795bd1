import BerthStorage

/// Sizes for people, as the registry's own messages write them.
func formatBytes(_ n: Int64) -> String { RegistryStorage.formatBytes(n) }
