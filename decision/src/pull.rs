//! `variantd specs pull`: what Statsig serves, saved as a specs file, so an
//! offline deployment can start from the real console's rules.
//!
//! The request goes through statsig-rust's own HTTP client (the one live mode
//! uses, with its TLS roots, proxy handling and SDK headers), asking for JSON
//! rather than the protobuf the SDK prefers, because the result is a file
//! people read and `specs::validate` checks.

use crate::settings::SecretKey;
use crate::specs;
use crate::statsig_log::{register_secret, TracingOutputLogger, STATSIG_LOG_LEVEL};
use statsig_rust::networking::{NetworkClient, RequestArgs};
use statsig_rust::statsig_metadata::StatsigMetadata;
use statsig_rust::StatsigOptions;
use std::sync::Arc;
use std::time::Duration;

/// Statsig's CDN for `download_config_specs`, as statsig-rust uses it.
pub const DEFAULT_API_URL: &str = "https://api.statsigcdn.com";

/// Why a pull failed. Never contains the key.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("Statsig did not answer: {0}")]
    Network(String),
    #[error("Statsig answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("Statsig's answer is not a usable specs document: {0}")]
    Invalid(String),
}

/// Downloads `{api_url}/v2/download_config_specs/{key}.json` (api_url defaults
/// to [`DEFAULT_API_URL`]) and returns the document as Statsig sent it, after
/// checking it is a dcs-v2 document the engine would load.
pub async fn pull_specs(
    api_key: &SecretKey,
    api_url: Option<&str>,
    timeout: Duration,
) -> Result<String, PullError> {
    // statsig's client logs through statsig's logger; route it to tracing with
    // the key scrubbed, as the engine does, before the first request.
    register_secret(api_key);
    statsig_rust::output_logger::initialize_output_logger(
        &Some(STATSIG_LOG_LEVEL),
        Some(Arc::new(TracingOutputLogger)),
    );
    let redact = |text: String| api_key.redact(&text);

    let base = api_url.unwrap_or(DEFAULT_API_URL).trim_end_matches('/');
    let options = StatsigOptions::new();
    let headers = StatsigMetadata::get_constant_request_headers(api_key.expose(), None);
    let client = NetworkClient::new(api_key.expose(), Some(headers), Some(&options));
    let request = RequestArgs {
        url: format!("{base}/v2/download_config_specs/{}.json", api_key.expose()),
        timeout_ms: timeout.as_millis().max(1) as u64,
        retries: 0,
        accept_gzip_response: false,
        ..RequestArgs::new()
    };
    let fetched = tokio::time::timeout(timeout + Duration::from_millis(500), client.get(request))
        .await
        .map_err(|_| PullError::Network(format!("no answer within {} ms", timeout.as_millis())))?;
    let mut response = match fetched {
        Ok(response) => response,
        Err(e) => {
            // statsig reports HTTP errors as errors too; keep the status when it has one.
            let status = match &e {
                statsig_rust::networking::NetworkError::RequestNotRetryable(_, Some(s), _)
                | statsig_rust::networking::NetworkError::RequestFailed(_, Some(s), _)
                | statsig_rust::networking::NetworkError::RetriesExhausted(_, Some(s), _, _) => {
                    Some(*s)
                }
                _ => None,
            };
            let message = redact(e.to_string());
            return Err(match status {
                Some(status) => PullError::Status {
                    status,
                    body: message,
                },
                None => PullError::Network(message),
            });
        }
    };
    let status = response.status_code.unwrap_or(0);
    let body = match response.data.as_mut() {
        Some(data) => data
            .read_to_string()
            .map_err(|e| PullError::Invalid(redact(e.to_string())))?,
        None => String::new(),
    };
    if !(200..300).contains(&status) {
        let body: String = body.chars().take(200).collect();
        return Err(PullError::Status {
            status,
            body: redact(body),
        });
    }
    specs::validate(&body).map_err(|e| PullError::Invalid(redact(e.to_string())))?;
    Ok(body)
}
