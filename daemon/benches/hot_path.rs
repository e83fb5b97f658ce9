//! Micro-benchmarks of the request path's pieces (not tests; run with
//! `cargo bench -p variantd` after `cargo build --release --workspace`).
//!
//! - `plugin_call`: one `handle` call through the C ABI into app_a (ns/call)
//! - `decision/*`: one routing decision: Statsig evaluation uncached, and
//!   through the daemon's decision cache (hit)
//! - `envelope`: building the original example's envelope around an answer
//! - `metrics/request`: recording one answered request (counter + duration
//!   histogram), as the access-log middleware does for every routed request

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use variantd::backends::plugin::{Loader, PluginInstance, PluginRequest, Retention};
use variantd::backends::{Answer, AnswerBody};
use variantd::control::config::{DecisionHeaders, VariantConfig, VariantTarget};
use variantd::request::decide::{Decider, RequestUser};
use variantd::request::dispatch::Served;
use variantd::snapshot::{Backend, Variant};
use variantd_decision::{DecisionEngine, DecisionSpec, StatsigSettings, UserContext};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn plugin_path() -> PathBuf {
    std::env::var_os("VARIANTD_BENCH_PLUGIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/release/libapp_a.so"))
}

fn plugin_call(c: &mut Criterion) {
    let path = plugin_path();
    assert!(
        path.exists(),
        "{} missing: run `cargo build --release --workspace` first",
        path.display()
    );
    let loader = Loader::new(Arc::new(Retention::new(8)));
    let lib = loader.load(&path).unwrap();
    let instance = PluginInstance::init(&lib, "app_a", "{}").unwrap();
    let headers: Vec<(&[u8], &[u8])> = vec![
        (b"host", b"127.0.0.1:8080"),
        (b"user-agent", b"wrk"),
        (b"accept", b"*/*"),
    ];
    c.bench_function("plugin_call/app_a_process", |b| {
        b.iter(|| {
            let r = instance
                .call(&PluginRequest {
                    method: "GET",
                    path: black_box("/process/hello"),
                    query: "user_key=user1",
                    headers: headers.clone(),
                    body: b"",
                    user_key: "user1",
                    variant: "app_a",
                    decided_by: "variant_b",
                    rule_id: "rollout50",
                })
                .unwrap();
            black_box(r.body.len())
        })
    });
}

fn decision(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = Arc::new(
        rt.block_on(DecisionEngine::start(StatsigSettings::offline(
            workspace().join("config/statsig_specs.json"),
        )))
        .unwrap(),
    );
    let spec = DecisionSpec::Gate {
        name: "variant_b".into(),
        pass: "app_b".into(),
        fail: "app_a".into(),
    };
    let users: Vec<RequestUser> = (0..10_000)
        .map(|i| RequestUser {
            user_key: format!("user{i}"),
            ip: Some([127, 0, 0, 1].into()),
            ..RequestUser::default()
        })
        .collect();
    let statsig_users: Vec<UserContext> = users.iter().map(RequestUser::to_statsig).collect();
    let mut i = 0usize;
    let _guard = rt.enter();
    c.bench_function("decision/gate_uncached", |b| {
        b.iter(|| {
            i = (i + 1) % users.len();
            black_box(engine.decide(&statsig_users[i], &spec).variant.len())
        })
    });
    let decider = Decider::new(engine.clone(), 100_000);
    for u in &users {
        decider.decide(1, 0, &spec, u);
    }
    c.bench_function("decision/gate_cached_hit", |b| {
        b.iter(|| {
            i = (i + 1) % users.len();
            black_box(
                decider
                    .decide(1, 0, &spec, &users[i])
                    .decision
                    .variant
                    .len(),
            )
        })
    });
}

fn envelope(c: &mut Criterion) {
    let body = Bytes::from_static(
        br#"{"variant":"A","message":"App A processed: hello","algorithm":"fast-processing"}"#,
    );
    let app_a = Variant::new(
        VariantConfig {
            name: "app_a".into(),
            label: "A".into(),
            target: VariantTarget::Plugin {
                plugin: "app_a".into(),
                config_json: "{}".into(),
                blocking: false,
            },
            fallback: None,
        },
        Backend::Plugin {
            instance: None,
            plugin: "app_a".into(),
            blocking: false,
        },
    );
    c.bench_function("envelope/build", |b| {
        b.iter(|| {
            let served = Served {
                variant: &app_a,
                fallback_from: None,
                answer: Answer {
                    status: StatusCode::OK,
                    headers: Vec::new(),
                    body: AnswerBody::Full(body.clone()),
                },
            };
            black_box(variantd::request::shaping::envelope(
                served,
                None,
                "user1",
                DecisionHeaders::All,
            ))
        })
    });
}

fn request_metrics(c: &mut Criterion) {
    variantd::telemetry::metrics::install();
    let route = "/process/{message}";
    c.bench_function("metrics/request", |b| {
        b.iter(|| {
            variantd::telemetry::metrics::request(
                black_box("app_a"),
                black_box(route),
                200,
                Duration::from_micros(300),
            )
        })
    });
}

criterion_group!(benches, plugin_call, decision, envelope, request_metrics);
criterion_main!(benches);
