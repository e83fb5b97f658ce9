//! Issue 2: real .so files through the real loader, and through a real daemon.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;
use variantd::backends::plugin::{LoadError, Loader, PluginInstance, PluginRequest, Retention};

fn loader() -> Loader {
    Loader::new(Arc::new(Retention::new(64)))
}

fn request<'a>(method: &'a str, path: &'a str, body: &'a [u8]) -> PluginRequest<'a> {
    PluginRequest {
        method,
        path,
        query: "",
        headers: vec![(b"x-test".as_slice(), b"1".as_slice())],
        body,
        user_key: "user-1",
        variant: "v",
        decided_by: "variant_b",
        rule_id: "rollout50",
    }
}

fn call_json(instance: &PluginInstance, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let r = instance
        .call(&request(method, path, body))
        .expect("plugin answers");
    (
        r.status,
        serde_json::from_slice(&r.body).expect("JSON body"),
    )
}

#[test]
fn example_plugins_answer_like_the_original_apps() {
    let loader = loader();
    let cases = [
        (
            "app_a",
            "A",
            "App A processed: hello world",
            "fast-processing",
        ),
        (
            "app_b",
            "B",
            "App B processed: hello world",
            "enhanced-processing",
        ),
        (
            "app_c",
            "C",
            "App C processed: hello world",
            "native-c-processing",
        ),
    ];
    for (name, variant, message, algorithm) in cases {
        let lib = loader
            .load(&artifact(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            lib.name, name,
            "plugins are identified by their declared name"
        );
        let inst = PluginInstance::init(&lib, name, "{}").unwrap();
        let (status, body) = call_json(&inst, "GET", "/process/hello%20world", b"");
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({ "variant": variant, "message": message, "algorithm": algorithm }),
            "{name}"
        );
        let (status, body) = call_json(&inst, "GET", "/nope", b"");
        assert_eq!(status, 404, "{name}: {body}");
        assert!(body.get("error").is_some());
    }
}

#[test]
fn analyze_differs_by_variant_and_rejects_bad_json() {
    let loader = loader();
    let text = br#"{"text":"good great product but bad delivery"}"#;
    let mut answers = Vec::new();
    for name in ["app_a", "app_b"] {
        let lib = loader.load(&artifact(name)).unwrap();
        let inst = PluginInstance::init(&lib, name, "{}").unwrap();
        let (status, body) = call_json(&inst, "POST", "/analyze", text);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["word_count"], 6, "{name}: {body}");
        answers.push(body);
        let (status, _) = call_json(&inst, "POST", "/analyze", b"{not json");
        assert_eq!(status, 400);
    }
    assert_eq!(answers[0]["variant"], "A");
    assert_eq!(answers[1]["variant"], "B");
    assert_ne!(answers[0], answers[1]);
}

#[test]
fn every_refusal_has_its_own_reason() {
    let loader = loader();
    let dir = tempfile::tempdir().unwrap();
    let text_so = dir.path().join("notes.so");
    std::fs::write(&text_so, "this is not a library\n").unwrap();
    assert_eq!(
        loader.load(&text_so).err(),
        Some(LoadError::NotSharedLibrary)
    );

    assert_eq!(
        loader.load(&artifact("fixture_no_entry")).err(),
        Some(LoadError::MissingEntrySymbol)
    );
    assert_eq!(
        loader.load(&artifact("fixture_bad_abi")).err(),
        Some(LoadError::AbiMajorMismatch {
            found: 2,
            expected: 1
        })
    );
    assert!(matches!(
        loader.load(&artifact("fixture_small_descriptor")).err(),
        Some(LoadError::DescriptorTooSmall { found: 16, .. })
    ));
    assert_eq!(
        loader.load(&artifact("fixture_null_hooks")).err(),
        Some(LoadError::MissingHook("handle"))
    );

    let failing = loader
        .load(&artifact("fixture_failing_init"))
        .expect("loads; init is per variant");
    match PluginInstance::init(&failing, "v", "{}") {
        Err(LoadError::InitFailed { code, .. }) => {
            assert_eq!(code, variantd_plugin_api::abi::VD_ERR_INVALID_CONFIG)
        }
        other => panic!("expected init failure, got {:?}", other.map(|_| ())),
    }
    // A panic inside init is caught by the SDK and is an init failure, not a crash.
    let panicking = loader.load(&artifact("fixture_panicking")).unwrap();
    assert!(matches!(
        PluginInstance::init(&panicking, "v", r#"{"panic_in_init":true}"#),
        Err(LoadError::InitFailed {
            code: variantd_plugin_api::abi::VD_ERR_PANIC,
            ..
        })
    ));
}

#[test]
fn a_panic_in_handle_is_an_error_code_and_the_next_call_is_served() {
    let loader = loader();
    let lib = loader.load(&artifact("fixture_panicking")).unwrap();
    let inst = PluginInstance::init(&lib, "p", "{}").unwrap();
    let err = inst.call(&request("GET", "/panic", b"")).unwrap_err();
    assert_eq!(err.code, variantd_plugin_api::abi::VD_ERR_PANIC);
    let (status, body) = call_json(&inst, "GET", "/fine", b"");
    assert_eq!((status, body), (200, json!({ "ok": true })));
}

#[test]
fn echo_plugin_sees_every_request_field() {
    let loader = loader();
    let lib = loader.load(&artifact("fixture_echo")).unwrap();
    let inst = PluginInstance::init(&lib, "echo_variant", r#"{"greeting":"hi"}"#).unwrap();
    let req = PluginRequest {
        query: "a=1&b=2",
        ..request("PUT", "/x/y", b"payload")
    };
    let r = inst.call(&req).unwrap();
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["path"], "/x/y");
    assert_eq!(body["query"], "a=1&b=2");
    assert_eq!(body["body"], "payload");
    assert_eq!(body["headers"]["x-test"], "1");
    assert_eq!(body["user_key"], "user-1");
    assert_eq!(body["decided_by"], "variant_b");
    assert_eq!(body["rule_id"], "rollout50");
    assert_eq!(body["greeting"], "hi");
}

/// The same through a real daemon: refusals are logged and listed, the
/// daemon keeps serving, and a plugin panic is a JSON 5xx naming the variant.
#[test]
fn daemon_refuses_bad_plugins_and_survives_panics() {
    let work = Workdir::new().with_example_plugins();
    let plugins = work.plugins();
    for bad in [
        "fixture_bad_abi",
        "fixture_no_entry",
        "fixture_small_descriptor",
        "fixture_failing_init",
    ] {
        deploy(bad, &plugins, &format!("lib{bad}.so"));
    }
    deploy("fixture_panicking", &plugins, "libpanicking.so");
    // A second file declaring `app_a`: refused as a duplicate.
    deploy("app_a", &plugins, "libapp_a_copy.so");
    std::fs::write(plugins.join("garbage.so"), "not a library").unwrap();
    work.write_config(&example_config(
        r#"
[variants.boom]
plugin = "panicking"
[variants.broken]
plugin = "failing_init"
fallback = "app_a"
"#,
    ));
    let d = work.start();
    let (status, admin) = get_json(&d.url("/admin/plugins"));
    assert_eq!(status, 200);
    let refused: Vec<(String, String)> = admin["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["file"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reason = |file: &str| {
        refused
            .iter()
            .find(|(f, _)| f == file)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{file} not refused: {refused:?}"))
    };
    assert!(reason("libfixture_bad_abi.so").contains("ABI major version 2"));
    assert!(reason("libfixture_no_entry.so").contains("missing entry symbol"));
    assert!(reason("libfixture_small_descriptor.so").contains("descriptor is 16 bytes"));
    assert!(reason("libfixture_failing_init.so").contains("init failed"));
    assert!(reason("garbage.so").contains("not a shared library"));
    assert!(
        reason("libapp_a_copy.so").contains("already served"),
        "{refused:?}"
    );
    for line in [
        "ABI major version 2",
        "missing entry symbol",
        "not a shared library",
    ] {
        assert!(d.logs().contains(line), "log lacks `{line}`");
    }

    // The good plugins still serve.
    let (status, body) = get_json(&d.url("/variants/app_c/process/hi"));
    assert_eq!((status, body["variant"].as_str()), (200, Some("C")));

    // Panic → JSON 5xx naming the variant; the very next request is served.
    let (status, body) = get_json(&d.url("/variants/boom/panic"));
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["variant"], "boom");
    assert!(body["error"].as_str().unwrap().contains("panic"), "{body}");
    let (status, body) = get_json(&d.url("/variants/boom/ok"));
    assert_eq!((status, body), (200, json!({ "ok": true })));
    assert!(
        d.wait_for_log("panicked", Duration::from_secs(2)),
        "plugin's panic message reaches the daemon log"
    );

    // A variant whose plugin failed init answers with its fallback.
    let r = client()
        .get(d.url("/variants/broken/process/x"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-variantd-fallback-from"], "broken");
    assert_eq!(r.headers()["x-variantd-variant"], "app_a");
}

#[test]
fn plugin_log_lines_are_attributed_to_their_plugin() {
    let work = Workdir::new();
    deploy("fixture_echo", &work.plugins(), "libecho.so");
    work.write_config(&example_config("[variants.e]\nplugin = \"echo\"\n"));
    let d = work.start();
    let r = client()
        .get(d.url("/variants/e/x"))
        .header("x-echo-log", "hello from the plugin")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(d.wait_for_log("hello from the plugin", Duration::from_secs(2)));
    let line = d
        .logs()
        .lines()
        .find(|l| l.contains("hello from the plugin"))
        .unwrap()
        .to_string();
    assert!(line.contains("plugin") && line.contains("echo"), "{line}");
}

#[test]
fn plugins_are_mapped_from_sealed_memory_and_a_killed_daemon_leaves_no_copies() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let plugin_dir = work.plugins();
    let daemon_tmp = tempfile::tempdir_in(scratch_root()).unwrap();
    let d = work.start_with_env(&[("TMPDIR", daemon_tmp.path().to_str().unwrap())]);
    let r = client()
        .get(d.url("/process/hi?user_key=u1"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let maps = std::fs::read_to_string(format!("/proc/{}/maps", d.pid())).unwrap();
    for plugin in ["app_a", "app_b", "app_c"] {
        assert!(
            maps.contains(&format!("/memfd:variantd:lib{plugin}.so")),
            "{plugin} mapped from its memfd copy"
        );
    }
    assert!(
        !maps.contains(plugin_dir.to_str().unwrap()),
        "the operator's files are never mapped"
    );

    // SIGKILL: no chance to clean up, and nothing to clean.
    drop(d);
    let left: Vec<_> = std::fs::read_dir(daemon_tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
}
