//! Loads the built plugin through variantd's real loader, in a child process:
//! `variantd plugin check` (the binary from `VARIANTD_BIN`, else `variantd`
//! on `PATH`). It refuses the file for every reason the daemon would.

use std::path::PathBuf;
use std::process::Command;

/// `cargo test` builds the library before this test; its `.so` sits in
/// `target/<profile>/deps`, beside this test's executable, or one level up.
fn plugin_file() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps directory");
    let file = "lib{{lib_name}}.so";
    [deps.to_path_buf(), deps.join("..")]
        .into_iter()
        .map(|dir| dir.join(file))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{file} not found beside {}", exe.display()))
}

#[test]
fn loads_through_the_daemon_loader_and_answers() {
    let variantd = std::env::var_os("VARIANTD_BIN").unwrap_or_else(|| "variantd".into());
    let out = Command::new(&variantd)
        .args(["plugin", "check"])
        .arg(plugin_file())
        .args(["--config", r#"{"greeting":"hi"}"#])
        .args(["--request", "GET /hello/world", "--route", "/hello/{name}"])
        .output()
        .unwrap_or_else(|e| panic!("running {variantd:?} failed ({e}); set VARIANTD_BIN to the variantd binary"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "refused:\n{stdout}{stderr}");
    assert!(stdout.contains("name:      {{name}}"), "{stdout}");
    assert!(stdout.contains("status:    200"), "{stdout}");
    assert!(stdout.contains(r#""message":"hi, world!""#), "{stdout}");
}
