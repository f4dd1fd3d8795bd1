@testable import BerthServer

/// The problems a configuration is refused with; empty when it loads.
func configurationProblems(_ yaml: String, environment: [String: String] = [:]) -> [String] {
    do {
        _ = try ConfigurationLoader.load(yaml: yaml, environment: environment)
        return []
    } catch let error as ConfigurationError {
        return error.problems
    } catch {
        return ["unexpected \(error)"]
    }
}
