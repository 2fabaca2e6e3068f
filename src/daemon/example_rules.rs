//! The example ruleset from `routing-rules/`, built into the binary so `acd demo` works from any
//! directory, not only from a checkout.

use std::path::Path;

/// (file name, content) of every file in `routing-rules/`.
pub const FILES: [(&str, &str); 4] = [
    (
        "00-settings.toml",
        include_str!("../../routing-rules/00-settings.toml"),
    ),
    (
        "10-agents.toml",
        include_str!("../../routing-rules/10-agents.toml"),
    ),
    (
        "20-queues.toml",
        include_str!("../../routing-rules/20-queues.toml"),
    ),
    (
        "30-routes.toml",
        include_str!("../../routing-rules/30-routes.toml"),
    ),
];

/// Writes the example ruleset into `dir` (created if needed).
pub fn write_to(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, content) in FILES {
        std::fs::write(dir.join(name), content)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file added to `routing-rules/` must be added here too, or the demo would run a
    /// different ruleset than the one in the repository.
    #[test]
    fn embedded_files_are_exactly_the_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, embedded);
        for (name, content) in FILES {
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), content);
        }
    }
}
