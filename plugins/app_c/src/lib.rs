//! Carrier package for the C example plugin `app_c`.
//!
//! The plugin itself is `app_c.c`, written against
//! `plugin-api/include/variantd_plugin.h` alone. `build.rs` compiles it with
//! the system C compiler (`-shared -fPIC -fvisibility=hidden -O2 -Wall -Wextra
//! -Werror`) into `target/<profile>/libapp_c.so`, next to the Rust plugins, so
//! a plain `cargo build --workspace` (or `--release`) builds it too.
//! This library is empty on purpose.

/// File name of the shared object the build script produces in
/// `target/<profile>/`.
pub const ARTIFACT_FILE_NAME: &str = "libapp_c.so";

/// The plugin name `app_c.c` declares in its descriptor.
pub const PLUGIN_NAME: &str = "app_c";
