/*
 * {{name}}: a variantd plugin in C.
 *
 * Build: make            -> lib{{lib_name}}.so
 * Check: make check      (runs `variantd plugin check` on it)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "variantd_plugin.h"

static vd_bytes text(const char *s) {
    vd_bytes b = {(const uint8_t *)s, strlen(s)};
    return b;
}

/* Per-instance state, malloc'ed in init, freed in shutdown. The host table
 * and context stay valid until shutdown returns. */
typedef struct instance {
    vd_host_api_host_ptr host;
    vd_host_context_host_ptr ctx;
} instance;

static vd_status app_init(vd_host_api_host_ptr host, vd_host_context_host_ptr ctx,
                          vd_bytes config_json, vd_instance_plugin_ptr *out_instance) {
    (void)config_json; /* the variant's `config` as JSON; "{}" when none */
    instance *self = malloc(sizeof *self);
    if (self == NULL) {
        return VD_ERR_UNAVAILABLE;
    }
    self->host = host;
    self->ctx = ctx;
    host->log(ctx, VD_LOG_INFO, text("{{name}} (C) ready"));
    *out_instance = self;
    return VD_OK;
}

static int has_prefix(vd_bytes b, const char *prefix) {
    size_t n = strlen(prefix);
    return b.len >= n && memcmp(b.ptr, prefix, n) == 0;
}

/* Called from many threads at once: touch only immutable state. The request
 * and everything it points to are the host's, valid until we return. */
static vd_status app_handle(vd_instance_plugin_ptr inst, vd_request_host_ptr req,
                            vd_response_builder_host_ptr resp) {
    const instance *self = inst;
    const vd_host_api *host = self->host;
    if (!(req->path.len == 6 && has_prefix(req->path, "/hello")) && !has_prefix(req->path, "/hello/")) {
        host->response_set_status(resp, 404);
        host->response_add_header(resp, text("content-type"), text("application/json"));
        host->response_append_body(resp, text("{\"error\":\"not found\"}"));
        return VD_OK;
    }
    /* ABI 1.1: the matched route's {params}, if this host offers them. */
    vd_bytes name = text("world");
    if (VD_HOST_API_HAS(host, request_route_params) && host->request_route_params != NULL) {
        const vd_header *params = NULL;
        size_t n = host->request_route_params(req, &params);
        for (size_t i = 0; i < n; i++) {
            if (params[i].name.len == 4 && memcmp(params[i].name.ptr, "name", 4) == 0) {
                name = params[i].value;
            }
        }
    }
    /* The value is the client's text: keep only safe characters so the JSON
     * below stays JSON. */
    char who[201];
    size_t w = 0;
    for (size_t i = 0; i < name.len && w < sizeof who - 1; i++) {
        char c = (char)name.ptr[i];
        int safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_' || c == '.';
        who[w++] = safe ? c : '?';
    }
    who[w] = '\0';
    char body[512];
    int len = snprintf(body, sizeof body, "{\"plugin\":\"{{name}}\",\"message\":\"hello, %s!\"}", who);
    host->response_set_status(resp, 200);
    host->response_add_header(resp, text("content-type"), text("application/json"));
    vd_bytes out = {(const uint8_t *)body, len > 0 ? (size_t)len : 0};
    host->response_append_body(resp, out);
    return VD_OK;
}

static void app_shutdown(vd_instance_plugin_ptr inst) { free(inst); }

static const vd_plugin_descriptor descriptor = {
    VD_ABI_VERSION_MAJOR, VD_ABI_VERSION_MINOR, (uint32_t)sizeof(vd_plugin_descriptor), 0,
    /* The declared name: what a variant's `plugin = "{{name}}"` refers to. */
    {(const uint8_t *)"{{name}}", sizeof "{{name}}" - 1},
    {(const uint8_t *)"0.1.0", 5},
    app_init, app_handle, app_shutdown,
};

VD_PLUGIN_EXPORT vd_plugin_descriptor_plugin_ptr variantd_plugin_entry_v1(void) {
    return &descriptor;
}
