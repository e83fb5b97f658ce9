//! `variantd explain`: how the config and rules route one request, offline,
//! without calling a variant or logging an exposure.

use std::sync::Arc;

use anyhow::Context;
use variantd_decision::{DecisionEngine, StatsigSettings};

use crate::cli::{DaemonArgs, ExplainArgs};
use crate::control::config::Config;
use crate::request::decide::Decider;
use crate::request::routed::{resolve, Evaluation};
use crate::snapshot::Snapshot;

pub async fn run(args: ExplainArgs, daemon: &DaemonArgs) -> anyhow::Result<i32> {
    let config = Arc::new(Config::load(&daemon.config, &daemon.overrides())?);
    let settings = StatsigSettings {
        environment: config.statsig.environment.clone(),
        ..StatsigSettings::offline(config.statsig.specs_file.clone())
    };
    let engine = Arc::new(
        DecisionEngine::start(settings)
            .await
            .context("starting the Statsig engine offline")?,
    );
    let decider = Decider::new(engine.clone(), 0);
    let snapshot = Snapshot::for_explaining(config.clone());

    // The request as a client would send it: the user key where the config
    // reads it first, plus the given headers.
    let mut uri = args.path.clone();
    let mut request = actix_web::test::TestRequest::get();
    if let Some(user) = &args.user {
        let user_config = &config.user;
        if let Some(q) = &user_config.key_query {
            let sep = if uri.contains('?') { '&' } else { '?' };
            let pair: String = form_urlencoded::Serializer::new(String::new())
                .append_pair(q, user)
                .finish();
            uri = format!("{uri}{sep}{pair}");
        } else if let Some(h) = &user_config.key_header {
            request = request.insert_header((h.as_str(), user.as_str()));
        } else if let Some(c) = &user_config.key_cookie {
            request = request.cookie(actix_web::cookie::Cookie::new(c.clone(), user.clone()));
        }
    }
    for header in &args.header {
        let Some((name, value)) = header.split_once(':') else {
            anyhow::bail!("--header `{header}`: expected `Name: value`");
        };
        request = request.insert_header((name.trim(), value.trim()));
    }
    let req = request.uri(&uri).to_http_request();
    let path = req.path().to_string();
    let outcome = resolve(&req, &decider, &snapshot, &path, Evaluation::Explain);
    let code = match outcome {
        Ok(resolved) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&resolved.explanation(&snapshot))?
            );
            0
        }
        Err(resp) => {
            let status = resp.status();
            let body = actix_web::body::to_bytes(resp.into_body())
                .await
                .unwrap_or_default();
            println!("{}", String::from_utf8_lossy(&body));
            eprintln!("variantd explain: a request like this would be answered {status}");
            1
        }
    };
    engine.shutdown().await;
    Ok(code)
}
