//! Which cargo profile this binary was built with, and where its target directory is.

use std::path::PathBuf;

/// The build being measured.
pub(crate) struct Build {
    /// The cargo profile: `BENCH_PROFILE` if set, else from the binary's directory
    /// (`target/release/deps/` is `bench`'s, `target/<profile>/deps/` a custom one's).
    pub(crate) profile: String,
    /// The target directory the binary lives in.
    pub(crate) target_dir: PathBuf,
}

impl Build {
    pub(crate) fn detect() -> Self {
        let exe = std::env::current_exe().unwrap_or_default();
        // <target>/<profile dir>/deps/<binary>
        let profile_dir = exe.parent().and_then(|deps| deps.parent());
        let target_dir = profile_dir.and_then(|p| p.parent()).map_or_else(|| PathBuf::from("target"), PathBuf::from);
        let dir_name = profile_dir.and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("release");
        let profile = std::env::var("BENCH_PROFILE").unwrap_or_else(|_| match dir_name {
            "release" => "bench".to_owned(),
            other => other.to_owned(),
        });
        Self { profile, target_dir }
    }

    /// What the profile is, for the report.
    pub(crate) fn describe(&self) -> &'static str {
        match self.profile.as_str() {
            "bench" => {
                "cargo's default release profile (`opt-level = 3`, `lto = false`: thin local LTO over 16 codegen \
                 units), with `debug = 1`"
            }
            "bench-lto" => "`bench` with fat LTO and `codegen-units = 1` (`[profile.bench-lto]` in Cargo.toml)",
            "release" => "cargo's release profile",
            _ => "a custom profile (see the workspace's Cargo.toml)",
        }
    }

    /// Where this profile's part of the report goes: `<target>/bench-report/<profile>.md`
    /// and `.goals.tsv`.
    pub(crate) fn section_path(&self, profile: &str, ext: &str) -> PathBuf {
        self.target_dir.join("bench-report").join(format!("{profile}.{ext}"))
    }
}
