//! Compiles `tests/layout_probe.c` against `include/variantd_plugin.h` and
//! links the object into the integration tests only (`rustc-link-arg-tests`),
//! so `tests/layout.rs` can compare the C layouts with the Rust `abi` module.
//! Nothing from C ends up in the library itself or in any plugin.

fn main() {
    println!("cargo:rerun-if-changed=include/variantd_plugin.h");
    println!("cargo:rerun-if-changed=tests/layout_probe.c");
    println!("cargo:rerun-if-changed=build.rs");

    let objects = cc::Build::new()
        .file("tests/layout_probe.c")
        .include("include")
        .std("c11") // for <stdalign.h>; the header itself is C99
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .flag_if_supported("-Wpedantic")
        .cargo_metadata(false)
        .compile_intermediates();
    for object in objects {
        println!("cargo:rustc-link-arg-tests={}", object.display());
    }
}
