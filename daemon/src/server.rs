//! Wiring: config → engine → control → HTTP server → signals → orderly stop.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use variantd_decision::{DecisionEngine, SecretKey, StatsigSettings};

use crate::cli::DaemonArgs;
use crate::control::config::Config;
use crate::control::{Control, ReloadScope};
use crate::http::{self, AppState};
use crate::request::decide::Decider;

/// Run the daemon until SIGTERM/SIGINT. Returns once in-flight requests have
/// finished and exposures are flushed.
pub async fn run(cli: DaemonArgs) -> anyhow::Result<()> {
    let overrides = cli.overrides();
    let config = Config::load(&cli.config, &overrides)?;
    crate::telemetry::init(config.log_format);
    if cli.check {
        match crate::commands::check::run(&config, cli.allow_degraded) {
            0 => return Ok(()),
            code => std::process::exit(code),
        }
    }
    let listen = config.listen_addr()?;
    let prometheus = crate::telemetry::metrics::install();
    raise_fd_limit();

    let api_key = std::env::var("STATSIG_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .map(SecretKey::new);
    let settings = StatsigSettings {
        specs_path: config.statsig.specs_file.clone(),
        api_key,
        init_timeout: Duration::from_millis(config.statsig.init_timeout_ms),
        exposures_path: config.statsig.exposures_file.clone(),
        exposures_rotation: variantd_decision::Rotation {
            max_bytes: config.statsig.exposures_max_bytes,
            keep: config.statsig.exposures_keep,
        },
        exposures_flush_interval: config.statsig.exposures_flush,
        environment: config.statsig.environment.clone(),
        api_url: config.statsig.api_url.clone(),
    };
    let engine = Arc::new(
        DecisionEngine::start(settings)
            .await
            .context("starting the Statsig engine")?,
    );
    let flusher = engine.spawn_flusher();
    let status = engine.status();
    tracing::info!(mode = status.mode, source = status.source, ready = status.ready, specs = %status.specs_path, "statsig engine started");
    if let Some(e) = &status.last_error {
        tracing::warn!(error = %e, "statsig: serving with a problem");
    }

    let config_path = config.source.clone();
    let (workers, shutdown_timeout, max_body, watch, cache) = (
        worker_threads(config.workers),
        config.shutdown_timeout_secs,
        config.max_body_bytes,
        config.plugins.watch,
        config.statsig.decision_cache_entries,
    );
    let max_connections = config.max_connections;
    // Built before anything starts, so a certificate that does not load
    // stops the start with its reason.
    let tls = match &config.tls {
        Some(t) => Some(crate::tls::server::server_config(t).context("server.tls")?),
        None => None,
    };
    let admin_listen = match &config.admin_listen {
        Some(a) => Some(a.parse::<std::net::SocketAddr>().with_context(|| {
            format!("server.admin_listen `{a}` is not an address like 127.0.0.1:9090")
        })?),
        None => None,
    };
    let control = Control::start(config, config_path, overrides, engine.clone())?;
    if watch {
        crate::control::watch::spawn(control.clone()).context("starting the file watcher")?;
    }
    warn_unknown_decisions(&control, &engine);

    // Results and dashboard samples are made in the background, never on
    // a request.
    let results = Arc::new(crate::results::ResultsCache::new());
    let results_refresher =
        crate::results::spawn_refresher(results.clone(), control.snapshot_handle(), engine.clone());
    let sampler = Arc::new(crate::results::sampler::Sampler::new());
    let dashboard_sampler =
        crate::results::sampler::spawn(sampler.clone(), prometheus.clone(), control.clone());

    let state = web::Data::new(AppState {
        snapshots: control.snapshot_handle(),
        control: control.clone(),
        engine: engine.clone(),
        decider: Decider::new(engine.clone(), cache_per_worker(cache, workers)),
        metrics: prometheus,
        admin_token: std::env::var("VARIANTD_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        admin_listener: std::sync::OnceLock::new(),
        results,
        sampler,
    });
    let app_state = state.clone();
    let connections = crate::http::ConnectionLimit::new(max_connections);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .wrap(middleware::from_fn(http::access_log))
            .configure(http::configure)
    })
    .workers(workers)
    .shutdown_timeout(shutdown_timeout)
    .disable_signals()
    // actix counts per worker; the configured bound is for the whole daemon.
    .max_connections(max_connections.div_ceil(workers).max(1))
    .on_connect(move |_, extensions| connections.opened(extensions));
    // HTTPS when `[server.tls]` is set: the certificate is chosen per
    // handshake and reread when its files change; actix offers h2 and
    // http/1.1 by ALPN.
    let scheme = if tls.is_some() { "https" } else { "http" };
    server = match tls {
        Some(tls) => server.bind_rustls_0_23(listen, tls),
        None => server.bind(listen),
    }
    .with_context(|| format!("binding {listen}"))?;
    let public = server.addrs();
    if let Some(admin) = admin_listen {
        server = server
            .bind(admin)
            .with_context(|| format!("binding server.admin_listen {admin}"))?;
    }
    for addr in &public {
        // Tests and scripts read this line to find an ephemeral port.
        println!("variantd listening on {scheme}://{addr}");
    }
    if let Some(addr) = server.addrs().into_iter().find(|a| !public.contains(a)) {
        let _ = state.admin_listener.set(addr);
        println!("variantd admin listening on http://{addr}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let server = server.run();
    let handle = server.handle();

    let signals = tokio::spawn(handle_signals(handle, control.clone()));
    server.await.context("HTTP server")?;
    signals.abort();

    match crate::http::in_flight() {
        0 => tracing::info!("stopped accepting; in-flight requests finished; flushing exposures"),
        cut => tracing::warn!(
            requests = cut,
            timeout_secs = shutdown_timeout,
            "stopped accepting; the shutdown timeout ended requests still in flight; flushing exposures"
        ),
    }
    if let Some(flusher) = flusher {
        flusher.abort();
    }
    results_refresher.abort();
    dashboard_sampler.abort();
    engine.shutdown().await;
    control.retention().drain();
    tracing::info!("bye");
    Ok(())
}

/// SIGTERM/SIGINT: graceful stop. SIGHUP: reload config, plugins and specs.
async fn handle_signals(handle: actix_web::dev::ServerHandle, control: Arc<Control>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping gracefully"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping gracefully"); break; }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading config, plugins and specs");
                let c = control.clone();
                let _ = tokio::task::spawn_blocking(move || c.reload(ReloadScope::All)).await;
            }
        }
    }
    // Requests still waiting for a client's body give up now rather than
    // holding the stop for the whole shutdown timeout.
    crate::http::begin_shutdown();
    handle.stop(true).await;
}

/// Each connection holds a file descriptor; the usual soft limit (1024) is
/// far below what `max_connections` allows, and the hard limit is the
/// operator's real bound.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let from = limit.current;
        limit.current = limit.maximum;
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => {
                tracing::debug!(
                    from = from.unwrap_or(0),
                    to = limit.current.unwrap_or(0),
                    "raised the open-file limit"
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot raise the open-file limit to its hard limit")
            }
        }
    }
}

fn warn_unknown_decisions(control: &Control, engine: &DecisionEngine) {
    let snapshot = control.snapshot_handle().load_full();
    for (route, spec) in crate::request::decide::unknown_to_specs(&snapshot.routes, engine) {
        tracing::warn!(route = %route.path, kind = spec.kind().as_str(), name = spec.name(), "not in the Statsig specs; evaluates to its default until the specs contain it");
    }
}

/// Worker threads to run: as configured, or for 0 actix's own default (one
/// per CPU, at most 512). Resolved once, here, so that the decision cache is
/// shared out among exactly the workers that run.
fn worker_threads(configured: usize) -> usize {
    const ACTIX_MAX_WORKERS: usize = 512;
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(ACTIX_MAX_WORKERS)
}

/// The configured decision-cache size bounds the cache in all; each of the
/// `workers` threads keeps its share.
fn cache_per_worker(entries: usize, workers: usize) -> usize {
    entries.div_ceil(workers)
}

#[cfg(test)]
mod tests {
    use super::{cache_per_worker, worker_threads};

    #[test]
    fn the_decision_cache_size_is_shared_out_among_workers() {
        assert_eq!(cache_per_worker(100_000, 1), 100_000);
        assert_eq!(cache_per_worker(100_000, 3), 33_334);
        assert_eq!(cache_per_worker(0, 4), 0, "0 keeps the cache off");
    }

    #[test]
    fn zero_workers_means_one_per_cpu_as_actix_would_run() {
        assert_eq!(worker_threads(3), 3);
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert_eq!(worker_threads(0), cpus.min(512));
    }
}
