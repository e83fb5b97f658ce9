/*
 * Layout probe for tests/layout.rs: compiled against include/variantd_plugin.h
 * into a shared object by that test itself (at test time, never by a build
 * script: building the crate or a plugin needs no C compiler) and loaded with
 * dlopen, so the test can compare what a C compiler sees with the Rust `abi`
 * module.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "variantd_plugin.h"

struct vd_probe_entry {
    const char *name;
    uint64_t value;
};

#define TYPE(t) {"sizeof " #t, sizeof(t)}, {"alignof " #t, alignof(t)}
#define FIELD(t, f) {"offsetof " #t "." #f, offsetof(t, f)}, \
                    {"sizeof " #t "." #f, sizeof(((t *)0)->f)}
#define CONST(c) {"const " #c, (uint64_t)(c)}

static const struct vd_probe_entry entries[] = {
    TYPE(vd_bytes),
    FIELD(vd_bytes, ptr),
    FIELD(vd_bytes, len),

    TYPE(vd_header),
    FIELD(vd_header, name),
    FIELD(vd_header, value),

    TYPE(vd_request),
    FIELD(vd_request, method),
    FIELD(vd_request, path),
    FIELD(vd_request, query),
    FIELD(vd_request, headers),
    FIELD(vd_request, headers_len),
    FIELD(vd_request, body),
    FIELD(vd_request, user_key),
    FIELD(vd_request, variant),
    FIELD(vd_request, decided_by),
    FIELD(vd_request, rule_id),

    TYPE(vd_host_api),
    FIELD(vd_host_api, size),
    FIELD(vd_host_api, log),
    FIELD(vd_host_api, response_set_status),
    FIELD(vd_host_api, response_add_header),
    FIELD(vd_host_api, response_append_body),
    FIELD(vd_host_api, request_route_params),

    TYPE(vd_plugin_descriptor),
    FIELD(vd_plugin_descriptor, abi_version_major),
    FIELD(vd_plugin_descriptor, abi_version_minor),
    FIELD(vd_plugin_descriptor, descriptor_size),
    FIELD(vd_plugin_descriptor, reserved),
    FIELD(vd_plugin_descriptor, name),
    FIELD(vd_plugin_descriptor, version),
    FIELD(vd_plugin_descriptor, init),
    FIELD(vd_plugin_descriptor, handle),
    FIELD(vd_plugin_descriptor, shutdown),

    TYPE(vd_status),
    TYPE(vd_log_level),
    TYPE(vd_instance_plugin_ptr),
    TYPE(vd_host_context_host_ptr),
    TYPE(vd_response_builder_host_ptr),
    TYPE(vd_init_fn),
    TYPE(vd_handle_fn),
    TYPE(vd_shutdown_fn),
    TYPE(vd_entry_fn),

    CONST(VD_ABI_VERSION_MAJOR),
    CONST(VD_ABI_VERSION_MINOR),
    CONST(VD_OK),
    CONST(VD_ERR_INVALID_CONFIG),
    CONST(VD_ERR_INTERNAL),
    CONST(VD_ERR_PANIC),
    CONST(VD_ERR_UNAVAILABLE),
    CONST(VD_LOG_ERROR),
    CONST(VD_LOG_WARN),
    CONST(VD_LOG_INFO),
    CONST(VD_LOG_DEBUG),
    CONST(VD_LOG_TRACE),
};

const struct vd_probe_entry *vd_probe_entries(size_t *len) {
    *len = sizeof(entries) / sizeof(entries[0]);
    return entries;
}

const char *vd_probe_entry_symbol(void) { return VD_ENTRY_SYMBOL; }

/* The hook typedefs must accept functions of exactly these C signatures;
 * a mismatch is a compile error under -Werror. */
static vd_status probe_init(vd_host_api_host_ptr host, vd_host_context_host_ptr ctx,
                            vd_bytes config_json, vd_instance_plugin_ptr *out_instance) {
    (void)host; (void)ctx; (void)config_json; (void)out_instance;
    return VD_OK;
}
static vd_status probe_handle(vd_instance_plugin_ptr instance, vd_request_host_ptr request,
                              vd_response_builder_host_ptr response) {
    (void)instance; (void)request; (void)response;
    return VD_OK;
}
static void probe_shutdown(vd_instance_plugin_ptr instance) { (void)instance; }

const vd_plugin_descriptor vd_probe_descriptor = {
    VD_ABI_VERSION_MAJOR, VD_ABI_VERSION_MINOR, (uint32_t)sizeof(vd_plugin_descriptor), 0,
    {(const uint8_t *)"probe", 5}, {(const uint8_t *)"0.0.0", 5},
    probe_init, probe_handle, probe_shutdown,
};

/* VD_HOST_API_HAS as a C plugin uses it, for tables of a given `size`. */
int vd_probe_has_route_params(uint32_t size) {
    vd_host_api api;
    memset(&api, 0, sizeof api);
    api.size = size;
    return VD_HOST_API_HAS(&api, request_route_params);
}
