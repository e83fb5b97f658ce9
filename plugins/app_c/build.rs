//! Compiles `app_c.c` into `target/<profile>/libapp_c.so`.
//!
//! The profile directory is derived from OUT_DIR
//! (`target/<profile>/build/app_c-<hash>/out` -> `../../..`), which follows
//! CARGO_TARGET_DIR and `--target <triple>` by construction. The file is
//! written under a temporary name and renamed into place, so a watcher never
//! sees a half-written library.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let source = manifest_dir.join("app_c.c");
    let include = manifest_dir.join("../../plugin-api/include");
    println!("cargo:rerun-if-changed={}", source.display());
    println!(
        "cargo:rerun-if-changed={}",
        include.join("variantd_plugin.h").display()
    );
    println!("cargo:rerun-if-changed=build.rs");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is target/<profile>/build/<pkg>/out")
        .to_path_buf();
    let target = profile_dir.join("libapp_c.so");
    let tmp = profile_dir.join(format!(".libapp_c.so.tmp-{}", std::process::id()));

    let compiler = cc::Build::new().get_compiler();
    let mut cmd: Command = compiler.to_command();
    cmd.args(["-std=c99", "-shared", "-fPIC", "-fvisibility=hidden", "-O2"])
        .args(["-Wall", "-Wextra", "-Werror", "-Wpedantic"])
        .arg("-I")
        .arg(&include)
        .arg("-o")
        .arg(&tmp)
        .arg(&source);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("failed to run the C compiler {cmd:?}: {e}"));
    if !status.success() {
        let _ = std::fs::remove_file(&tmp);
        panic!("compiling {} failed ({status}): {cmd:?}", source.display());
    }
    std::fs::rename(&tmp, &target)
        .unwrap_or_else(|e| panic!("renaming {} to {}: {e}", tmp.display(), target.display()));
}
