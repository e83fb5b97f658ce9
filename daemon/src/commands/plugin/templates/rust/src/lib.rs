//! `{{name}}`: a variantd plugin.
//!
//! Build: `cargo build --release` -> `target/release/lib{{lib_name}}.so`.
//! Check: `variantd plugin check target/release/lib{{lib_name}}.so --request "GET /hello/world" --route "/hello/{name}"`.

use variantd_plugin_api::serde_json::json;
use variantd_plugin_api::{export_plugin, Host, InitContext, Plugin, PluginError, Request, Response};

pub struct {{type_name}} {
    greeting: String,
    host: Host,
}

impl Plugin for {{type_name}} {
    /// Once per variant that uses this plugin, with that variant's
    /// `config` table as JSON (`{}` when it has none).
    fn init(ctx: InitContext<'_>) -> Result<Self, PluginError> {
        let greeting = match ctx.config().get("greeting") {
            None => "hello".to_owned(),
            Some(v) => v
                .as_str()
                .ok_or_else(|| PluginError::invalid_config("`greeting` must be a string"))?
                .to_owned(),
        };
        ctx.host().info("{{name}} ready");
        Ok({{type_name}} {
            greeting,
            host: ctx.host(),
        })
    }

    /// Called from many threads at once. `req.path()` is the path below the
    /// route's `strip_prefix` (or below `/variants/<variant>`), not decoded.
    fn handle(&self, req: &Request<'_>) -> Result<Response, PluginError> {
        let path = req.path();
        if req.method() != "GET" || !(path == "/hello" || path.starts_with("/hello/")) {
            return Ok(Response::not_found_json(path));
        }
        // A route `/hello/{name}` hands the plugin `name` (ABI 1.1); addressed
        // directly (or on an older daemon) fall back to the path's last segment.
        let name = match req.route_param("name") {
            Some(n) => n.into_owned(),
            None => path.trim_start_matches("/hello").trim_start_matches('/').to_owned(),
        };
        let name = variantd_plugin_api::percent_decode(&name).into_owned();
        self.host.debug(&format!("greeting {name}"));
        Ok(Response::json(
            200,
            &json!({
                "plugin": "{{name}}",
                "message": format!("{}, {}!", self.greeting, if name.is_empty() { "world" } else { &name }),
                "variant": req.variant(),
                "user_key": req.user_key(),
            }),
        ))
    }
}

// The declared name: what a variant's `plugin = "{{name}}"` refers to.
// The version defaults to this crate's (Cargo.toml).
export_plugin!({{type_name}}, name = "{{name}}");
