//! Issue 22, item 6: the plugin kit. `variantd plugin new` projects build
//! outside this workspace and load through the real loader; `variantd plugin
//! check` reports good plugins and refuses bad ones with their reason, in a
//! child process that a crashing plugin cannot take down; route parameters
//! reach plugins through a real daemon (ABI 1.1) and 1.0 plugins still serve.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

fn variantd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_variantd"));
    cmd.env_remove("VARIANTD_CONFIG").env_remove("RUST_LOG");
    cmd
}

/// `variantd plugin check ARGS…`: (exit code, stdout, stderr).
fn check(args: &[&str]) -> (i32, String, String) {
    let out = variantd()
        .args(["plugin", "check"])
        .args(args)
        .output()
        .unwrap();
    outcome(out)
}

fn outcome(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn scratch() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("variantd-kit-")
        .tempdir_in(scratch_root())
        .unwrap();
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

fn plugin_new(args: &[&str]) {
    let (code, out, err) = outcome(
        variantd()
            .args(["plugin", "new"])
            .args(args)
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "plugin new {args:?}: {out}{err}");
}

/// Compile C source (a file) into a shared object with the flags the kit
/// documents.
fn cc(source: &Path, include: &Path, out: &Path) {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(cc)
        .args(["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"])
        .args(["-fvisibility=hidden", "-shared", "-fPIC", "-I"])
        .arg(include)
        .arg("-o")
        .arg(out)
        .arg(source)
        .status()
        .expect("a C compiler (cc, or $CC)");
    assert!(status.success(), "compiling {}", source.display());
}

#[test]
fn a_new_rust_project_builds_outside_the_workspace_and_loads() {
    let tmp = scratch();
    let project = tmp.path().join("kit_rust");
    plugin_new(&["kit-rust", "--dir", path_str(&project)]);
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    // By version, never by a path into this repository; the path is a comment.
    assert!(manifest.contains(&format!(
        "variantd-plugin-api = \"{}\"",
        variantd_plugin_api::VERSION
    )));
    assert!(manifest.contains("# variantd-plugin-api = { path = "));
    assert!(
        manifest.contains("crate-type = [\"cdylib\", \"rlib\"]")
            && manifest.contains("panic = \"unwind\"")
    );

    // Build it and run its own test (which runs `variantd plugin check` on
    // the built file). No registry: the SDK comes from this checkout by a
    // [patch] given on the command line, the project's files stay as
    // generated. One target dir for every run keeps rebuilds incremental.
    let root = workspace_root();
    let target = root.join("target/plugin-kit");
    let patch = format!(
        "patch.crates-io.variantd-plugin-api.path={:?}",
        path_str(&root.join("plugin-api"))
    );
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&project)
        .args(["test", "--offline", "--config", &patch, "--target-dir"])
        .arg(&target)
        .env("VARIANTD_BIN", env!("CARGO_BIN_EXE_variantd"))
        .output()
        .unwrap();
    let (code, stdout, stderr) = outcome(out);
    assert_eq!(
        code, 0,
        "the generated project's cargo test:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("loads_through_the_daemon_loader_and_answers ... ok"),
        "{stdout}"
    );

    // And the built file through `check` here, with a route parameter.
    // `cargo test` leaves the cdylib in deps/ (only `cargo build` copies it up).
    let so = target.join("debug/deps/libkit_rust.so");
    let (code, out, err) = check(&[
        path_str(&so),
        "--config",
        r#"{"greeting":"hey"}"#,
        "--request",
        "GET /hello/alice?x=1",
        "--route",
        "/hello/{name}",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for needle in [
        "name:      kit-rust",
        "version:   0.1.0",
        "abi:       1.1 ",
        "params:    name=alice",
        "status:    200",
        "header:    content-type: application/json",
        r#""message":"hey, alice!""#,
        "ok: the daemon can load",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // A config the plugin rejects is init's refusal, with the plugin's reason logged.
    let (code, _, err) = check(&[path_str(&so), "--config", r#"{"greeting":5}"#]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused: init failed") && err.contains("invalid config"),
        "{err}"
    );
    assert!(err.contains("`greeting` must be a string"), "{err}");
}

/// The C project builds with the documented `cc` line and loads; deployed by
/// rename into a real daemon, a route's `{name}` reaches it (ABI 1.1), a
/// direct address gives none, and a variant whose plugin is missing is
/// reported with the names that are loaded.
#[test]
fn a_new_c_project_builds_with_cc_loads_and_gets_route_params_from_the_daemon() {
    let tmp = scratch();
    let project = tmp.path().join("kit_c");
    plugin_new(&["kit_c", "--lang", "c", "--dir", path_str(&project)]);
    let makefile = std::fs::read_to_string(project.join("Makefile")).unwrap();
    assert!(
        makefile.contains("-fvisibility=hidden -shared -fPIC"),
        "{makefile}"
    );
    assert_eq!(
        std::fs::read_to_string(project.join("include/variantd_plugin.h")).unwrap(),
        variantd_plugin_api::C_HEADER
    );
    let so = project.join("libkit_c.so");
    cc(&project.join("app.c"), &project.join("include"), &so);

    let (code, out, err) = check(&[
        path_str(&so),
        "--request",
        "GET /hello/bob",
        "--route",
        "/hello/{name}",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("name:      kit_c") && out.contains("abi:       1.1 "),
        "{out}"
    );
    assert!(out.contains(r#""message":"hello, bob!""#), "{out}");

    // A real daemon: deploy by rename (a dot-name first, which it ignores).
    let work = Workdir::new();
    let tmp_name = work.plugins().join(".libkit_c.so.tmp");
    std::fs::copy(&so, &tmp_name).unwrap();
    std::fs::set_permissions(&tmp_name, PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::rename(&tmp_name, work.plugins().join("libkit_c.so")).unwrap();
    work.write_config(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 2
[plugins]
dir = "plugins"
include = ["lib*.so"]
debounce_ms = 50
[statsig]
specs_file = "statsig_specs.json"
exposures_file = "exposures.jsonl"

[variants.hello]
plugin = "kit_c"
[variants.ghost]
plugin = "kit_c_typo"

[[routes]]
path = "/hello/{name}"
variant = "hello"
[[routes]]
path = "/ghost"
variant = "ghost"
"#,
    );
    let daemon = work.start();
    let (status, body) = get_json(&daemon.url("/hello/alice"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["message"], "hello, alice!",
        "the route's {{name}} reached the plugin"
    );
    let (status, body) = get_json(&daemon.url("/variants/hello/hello/alice"));
    assert_eq!(
        (status, &body["message"]),
        (200, &"hello, world!".into()),
        "addressed directly: no params"
    );

    let (status, _) = get_json(&daemon.url("/ghost"));
    assert_eq!(status, 503);
    let ready = client()
        .get(daemon.url("/readyz"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        ready.contains("no file declares `kit_c_typo` (loaded plugins: kit_c)"),
        "{ready}"
    );
    assert!(daemon.logs().contains("loaded=kit_c"), "{}", daemon.logs());
}

#[test]
fn check_refuses_bad_plugins_with_their_reason() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "fixture_bad_abi",
            &[],
            "refused: ABI major version 2, this daemon speaks 1",
        ),
        (
            "fixture_no_entry",
            &[],
            "refused: missing entry symbol `variantd_plugin_entry_v1`",
        ),
        (
            "fixture_small_descriptor",
            &[],
            "refused: descriptor is 16 bytes",
        ),
        (
            "fixture_null_hooks",
            &[],
            "refused: descriptor lacks the `handle` hook",
        ),
        (
            "fixture_failing_init",
            &[],
            "refused: init failed for variant `failing_init` with code 1 (invalid config)",
        ),
        (
            "fixture_panicking",
            &["--config", r#"{"panic_in_init":true}"#],
            "with code 3 (panic)",
        ),
        (
            "fixture_panicking",
            &["--request", "GET /panic"],
            "refused: handle GET /panic: plugin `panicking` failed with code 3 (panic)",
        ),
    ];
    for (fixture, extra, reason) in cases {
        let so = artifact(fixture);
        let mut args = vec![path_str(&so)];
        args.extend_from_slice(extra);
        let (code, out, err) = check(&args);
        assert_eq!(code, 1, "{fixture} {extra:?}:\n{out}{err}");
        assert!(
            err.contains(reason),
            "{fixture}: want {reason:?} in:\n{out}{err}"
        );
    }
    // The panic's own message is logged, attributed to the plugin.
    let (_, _, err) = check(&[
        path_str(&artifact("fixture_panicking")),
        "--request",
        "GET /panic",
    ]);
    assert!(
        err.contains("plugin panicked in handle GET /panic"),
        "{err}"
    );

    let tmp = scratch();
    let text = tmp.path().join("notes.so");
    std::fs::write(&text, "not a library\n").unwrap();
    let (code, _, err) = check(&[path_str(&text)]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused: not a shared library (no ELF header)"),
        "{err}"
    );
    let truncated = tmp.path().join("half.so");
    let bytes = std::fs::read(artifact("fixture_echo")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, err) = check(&[path_str(&truncated)]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused: truncated or malformed ELF file"),
        "{err}"
    );

    // A good plugin others could change: loads here, with the daemon's
    // refusal reason as a warning.
    let writable = tmp.path().join("libecho.so");
    std::fs::copy(artifact("fixture_echo"), &writable).unwrap();
    std::fs::set_permissions(&writable, PermissionsExt::from_mode(0o664)).unwrap();
    let (code, out, err) = check(&[path_str(&writable)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("trust:     WARNING: a daemon running as uid"),
        "{out}"
    );
    assert!(
        out.contains("file is group- or world-writable (mode 0664)"),
        "{out}"
    );

    // Usage errors are not refusals.
    let (code, _, err) = check(&[path_str(&writable), "--config", "{not json"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--config is not JSON"), "{err}");
}

/// A plugin that crashes the process (SIGSEGV in init) kills only the
/// child; the checker reports the signal. A plugin built against the 1.0
/// header (descriptor minor 0, a host table it reads only up to 1.0) still
/// loads and answers on this 1.1 host.
#[test]
fn check_survives_a_crashing_plugin_and_old_plugins_still_answer() {
    let tmp = scratch();
    let include = workspace_root().join("plugin-api/include");
    let source = |name: &str, init_body: &str, minor: &str| -> PathBuf {
        let c = tmp.path().join(format!("{name}.c"));
        std::fs::write(
            &c,
            format!(
                r#"#include <string.h>
#include "variantd_plugin.h"
static vd_status init(vd_host_api_host_ptr h, vd_host_context_host_ptr ctx, vd_bytes cfg,
                      vd_instance_plugin_ptr *out) {{
    (void)h; (void)ctx; (void)cfg;
    {init_body}
    *out = NULL;
    return VD_OK;
}}
static const vd_host_api *host_table;
static vd_status handle(vd_instance_plugin_ptr i, vd_request_host_ptr req, vd_response_builder_host_ptr resp) {{
    (void)i; (void)req; (void)resp;
    return VD_OK;
}}
static const vd_plugin_descriptor d = {{1u, {minor}, (uint32_t)sizeof(vd_plugin_descriptor), 0,
    {{(const uint8_t *)"{name}", sizeof "{name}" - 1}}, {{(const uint8_t *)"1.0.0", 5}}, init, handle, NULL}};
VD_PLUGIN_EXPORT vd_plugin_descriptor_plugin_ptr variantd_plugin_entry_v1(void) {{ (void)host_table; return &d; }}
"#
            ),
        )
        .unwrap();
        let so = tmp.path().join(format!("lib{name}.so"));
        cc(&c, &include, &so);
        so
    };
    let crashing = source("crasher", "*(volatile int *)0 = 1;", "1u");
    let (code, out, err) = check(&[path_str(&crashing)]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("name:      crasher"),
        "the lines before the crash are kept:\n{out}"
    );
    assert!(
        err.contains("refused: the plugin crashed the checking process: signal 11 (SIGSEGV"),
        "{err}"
    );

    // 1.0: an answer written only through the 1.0 callbacks (status 200,
    // empty body, the default when nothing is written).
    let old = source("old_one", "", "0u");
    let (code, out, err) = check(&[path_str(&old), "--request", "GET /x"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("abi:       1.0 (descriptor 72 bytes; this daemon speaks 1.1)"),
        "{out}"
    );
    assert!(out.contains("status:    200"), "{out}");
    // `--request METHOD PATH` as the issue writes it: two words, unquoted.
    let (code, out, err) = check(&[path_str(&old), "--request", "POST", "/y?q=1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("request:   POST /y?q=1"), "{out}");
}
