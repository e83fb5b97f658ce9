/*
 * variantd_plugin.h - the variantd plugin ABI, version 1.1, in C.
 *
 * 1.0  the first version.
 * 1.1  vd_host_api.request_route_params: the matched route's {params}.
 *      A 1.1 plugin runs on a 1.0 host (it checks vd_host_api.size first);
 *      a 1.0 plugin runs on a 1.1 host unchanged.
 *
 * A variantd "variant" is a shared library that exports exactly one symbol,
 * VD_ENTRY_SYMBOL ("variantd_plugin_entry_v1"), returning a static
 * vd_plugin_descriptor. The host (the variantd daemon) calls the plugin's
 * hooks (init / handle / shutdown) through that descriptor; the plugin calls
 * back into the host through the vd_host_api table it receives in init.
 *
 * This header is the C twin of the Rust module `variantd_plugin_api::abi`
 * (plugin-api/src/abi.rs). Both must agree byte for byte; plugin-api's
 * tests/layout.rs compiles this header and compares every size, alignment,
 * field offset and constant with the Rust definitions.
 *
 * ---------------------------------------------------------------------------
 * OWNERSHIP (names say who owns what, as in Envoy's dynamic-module ABI)
 * ---------------------------------------------------------------------------
 *   *_host_ptr    points to memory owned by the HOST. The plugin never frees
 *                 it, never writes through it, and must not use it after the
 *                 lifetime stated where the pointer is handed over.
 *   *_plugin_ptr  points to memory owned by the PLUGIN. The host never frees
 *                 it and never dereferences opaque plugin pointers.
 *   Neither side ever frees memory the other side allocated. No allocation
 *   crosses the boundary: responses are written through host callbacks and
 *   the host copies every byte it is given before the callback returns.
 *
 * ---------------------------------------------------------------------------
 * THREADS
 * ---------------------------------------------------------------------------
 *   - The entry symbol, init and shutdown are called on a host control
 *     thread, never concurrently with each other for the same instance.
 *   - handle is called from ANY number of request threads AT THE SAME TIME
 *     for the same instance, between init returning VD_OK and shutdown being
 *     called. Instance state touched by handle must be thread-safe.
 *   - Every vd_host_api function may be called from any thread, but a
 *     vd_response_builder_host_ptr only on the thread whose handle call
 *     received it, and only during that call.
 *
 * ---------------------------------------------------------------------------
 * LIFETIME OF THE LIBRARY
 * ---------------------------------------------------------------------------
 *   The host may load one library file several times (each version from its
 *   own private copy), may create several instances from one library, and
 *   may or may not unload (dlclose) a library after the last shutdown. A
 *   plugin must therefore stop every thread it started in shutdown, keep no
 *   global state that assumes a single instance, and never rely on being
 *   unloaded (or on not being unloaded).
 *
 * ---------------------------------------------------------------------------
 * BUILDING A C PLUGIN
 * ---------------------------------------------------------------------------
 *   cc -std=c99 -shared -fPIC -fvisibility=hidden -O2 -Wall -Wextra \
 *      -I path/to/plugin-api/include -o libmy_plugin.so my_plugin.c
 *   Define the entry point with VD_PLUGIN_EXPORT so it is exported even under
 *   -fvisibility=hidden. Do not let a C++ exception or longjmp cross a hook.
 *
 * ---------------------------------------------------------------------------
 * EVOLUTION
 * ---------------------------------------------------------------------------
 *   Minor (VD_ABI_VERSION_MINOR + 1, same entry symbol): append fields at the
 *   END of vd_plugin_descriptor or vd_host_api (readers check
 *   descriptor_size / size before touching them); add status codes or log
 *   levels (a host treats an unknown non-zero status as a generic error, an
 *   unknown level as INFO). Major: any change to an existing field, offset,
 *   type or meaning. A new major gets a new entry symbol
 *   ("variantd_plugin_entry_v2"), so old hosts never call new plugins.
 */
#ifndef VARIANTD_PLUGIN_H
#define VARIANTD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Versions, entry symbol, export macro                                      */
/* ------------------------------------------------------------------------ */

/** Major ABI version. Part of the entry symbol's name. */
#define VD_ABI_VERSION_MAJOR 1u
/** Minor ABI version: bumped when fields are appended (see EVOLUTION). */
#define VD_ABI_VERSION_MINOR 1u

/** Name of the one symbol a plugin exports. Its type is vd_entry_fn. */
#define VD_ENTRY_SYMBOL "variantd_plugin_entry_v1"

/**
 * Marks a symbol as exported from the shared object even when the plugin is
 * compiled with -fvisibility=hidden (recommended). Use it on the entry point.
 */
#if defined(_WIN32) || defined(__CYGWIN__)
#define VD_PLUGIN_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define VD_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define VD_PLUGIN_EXPORT
#endif

/* ------------------------------------------------------------------------ */
/* Status codes (returned by init and handle)                                */
/* ------------------------------------------------------------------------ */

/** Status of a hook. VD_OK is success, anything else an error. A host treats
 *  a value it does not know as a generic error (like VD_ERR_INTERNAL). */
typedef int32_t vd_status;

/** Success. */
#define VD_OK 0
/** init: the JSON config was rejected (malformed or invalid values).
 *  The host refuses the plugin version and keeps the previous one serving. */
#define VD_ERR_INVALID_CONFIG 1
/** init/handle: the plugin failed for a reason of its own. From handle: the
 *  host discards the response and answers a JSON 5xx naming the variant. */
#define VD_ERR_INTERNAL 2
/** init/handle: the plugin panicked (Rust SDK) or crashed in a way it caught
 *  itself. Handled like VD_ERR_INTERNAL, but counted/logged as a panic. */
#define VD_ERR_PANIC 3
/** init: a resource the plugin needs is unavailable (file, port, memory). */
#define VD_ERR_UNAVAILABLE 4

/* ------------------------------------------------------------------------ */
/* Log levels (for vd_host_api.log)                                          */
/* ------------------------------------------------------------------------ */

/** Log level. A host maps a level it does not know to INFO. */
typedef uint32_t vd_log_level;

#define VD_LOG_ERROR 1u
#define VD_LOG_WARN 2u
#define VD_LOG_INFO 3u
#define VD_LOG_DEBUG 4u
#define VD_LOG_TRACE 5u

/* ------------------------------------------------------------------------ */
/* Buffers                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * A borrowed byte buffer: `len` bytes at `ptr`, NOT NUL-terminated. Text
 * fields are UTF-8 (but a plugin must not crash on invalid UTF-8). `ptr` may
 * be NULL only when `len` is 0. Who owns the bytes and for how long is said by
 * the field or parameter that holds the vd_bytes; the receiver never frees it.
 */
typedef struct vd_bytes {
    const uint8_t *ptr;
    size_t len;
} vd_bytes;

/** One HTTP header: name and value, both text, borrowed like vd_bytes.
 *  Names are as received (HTTP/1 case may vary; compare case-insensitively). */
typedef struct vd_header {
    vd_bytes name;
    vd_bytes value;
} vd_header;

/* ------------------------------------------------------------------------ */
/* Request (host -> plugin)                                                  */
/* ------------------------------------------------------------------------ */

/**
 * One request, as the host hands it to handle.
 *
 * Owned by the HOST. The struct, the header array and every buffer they point
 * to are valid only until handle returns, and must not be modified. A plugin
 * that needs any of it later (another thread, after returning) must copy it.
 */
typedef struct vd_request {
    /** Text: "GET", "POST", ... */
    vd_bytes method;
    /** Text: the path below the variant's mount point, starting with '/'
     *  ("/process/hi" for "/variants/app_a/process/hi", or for a routed
     *  "/process/hi"). NOT percent-decoded. */
    vd_bytes path;
    /** Text: the raw query string without '?'; empty when there is none. */
    vd_bytes query;
    /** headers_len headers at headers; NULL only when headers_len is 0. */
    const vd_header *headers;
    size_t headers_len;
    /** The whole request body; empty when there is none. */
    vd_bytes body;
    /** Routing context. Text: the user key the decision was made for; when
     *  the variant was addressed directly (no decision), the user key the
     *  request carries, if any; else empty. */
    vd_bytes user_key;
    /** Text: the name of the variant this request was routed to (the
     *  plugin's variant in the host config; may differ from the plugin name). */
    vd_bytes variant;
    /** Text: the gate, experiment or dynamic config that chose the variant;
     *  empty when the variant was addressed directly. */
    vd_bytes decided_by;
    /** Text: the Statsig rule id that matched; empty when none or unknown. */
    vd_bytes rule_id;
} vd_request;

/** A request as passed to handle: host-owned, valid until handle returns. */
typedef const vd_request *vd_request_host_ptr;

/* ------------------------------------------------------------------------ */
/* Opaque handles                                                            */
/* ------------------------------------------------------------------------ */

/**
 * The host's per-plugin-instance context. Opaque, owned by the HOST. Passed
 * to init; pass it back to every vd_host_api.log call so log lines are
 * attributed to the plugin. Valid from init until shutdown returns; it may be
 * used from any thread in that window (a plugin may store it).
 */
typedef struct vd_host_context vd_host_context;
typedef const vd_host_context *vd_host_context_host_ptr;

/**
 * The response being built for ONE handle call. Opaque, owned by the HOST.
 * Valid only during that handle call and only on the thread that received it.
 * Never store it.
 */
typedef struct vd_response_builder vd_response_builder;
typedef vd_response_builder *vd_response_builder_host_ptr;

/**
 * One initialised plugin instance. Opaque, owned by the PLUGIN: created by
 * init (written to *out_instance), released by shutdown. The host only passes
 * it back to handle and shutdown; it never dereferences it. It may be NULL if
 * the plugin needs no state.
 */
typedef void *vd_instance_plugin_ptr;

/* ------------------------------------------------------------------------ */
/* Host API (host -> plugin function table)                                  */
/* ------------------------------------------------------------------------ */

/** Write one log line attributed to the plugin. `message` is text borrowed
 *  for the call only (copied before return). Never fails; lines above the
 *  host's log level are dropped. Any thread. `ctx` must be the context the
 *  instance got in init. */
typedef void (*vd_host_log_fn)(vd_host_context_host_ptr ctx, vd_log_level level,
                               vd_bytes message);

/** Set the response status (100..=599; anything else becomes 500). If never
 *  called the status is 200. May be called again; the last call wins. */
typedef void (*vd_response_set_status_fn)(vd_response_builder_host_ptr response,
                                          uint16_t status);

/** Append one header to the response. `name` and `value` are text, copied
 *  before the call returns. Invalid header names or values are dropped and
 *  logged by the host. Appending the same name twice sends it twice. */
typedef void (*vd_response_add_header_fn)(vd_response_builder_host_ptr response,
                                          vd_bytes name, vd_bytes value);

/** Append bytes to the response body; may be called any number of times.
 *  `data` is copied before the call returns. */
typedef void (*vd_response_append_body_fn)(vd_response_builder_host_ptr response,
                                           vd_bytes data);

/**
 * ABI 1.1. The {name} parameters of the route pattern that matched `request`,
 * as name/value pairs (vd_header is reused as the pair type).
 *
 *   request     the pointer the host passed to the running handle call,
 *               exactly (not a copy: the host finds its own data from it).
 *   out_params  where to write a pointer to the HOST-owned array of pairs
 *               (NULL when there are none). May itself be NULL to ask for
 *               the count only.
 *   returns     the number of pairs; 0 when the request was not routed
 *               through a pattern with parameters (for example a variant
 *               addressed directly by /variants/<name>/...).
 *
 * Ownership: the array and every byte it points to belong to the HOST and
 * are valid until that handle call returns, like the request itself; the
 * plugin never frees or writes them. Thread: any thread, during that handle
 * call. Names are the pattern's without braces or '*' ("{*rest}" gives
 * "rest"); values are the matched path text, NOT percent-decoded (like
 * vd_request.path), in pattern order; a catch-all value has no leading '/'.
 * Example: route "/users/{id}/posts/{*rest}", request path
 * "/users/42/posts/2026/05" gives ("id","42"), ("rest","2026/05").
 */
typedef size_t (*vd_request_route_params_fn)(vd_request_host_ptr request,
                                             const vd_header **out_params);

/**
 * Functions the host offers to the plugin.
 *
 * Owned by the HOST. The table is valid (and unchanged) from init until
 * shutdown returns; a plugin may keep the pointer for that long. Every
 * function pointer of v1.0 is non-NULL. Fields past `size` bytes do not exist
 * in the host that passed the table (minor-version evolution): check `size`
 * (VD_HOST_API_HAS) before using a field appended after v1.0.
 */
typedef struct vd_host_api {
    /** sizeof(vd_host_api) as the host compiled it. */
    uint32_t size;
    vd_host_log_fn log;
    vd_response_set_status_fn response_set_status;
    vd_response_add_header_fn response_add_header;
    vd_response_append_body_fn response_append_body;
    /* ---- ABI 1.1. Exists only when VD_HOST_API_HAS(host, field) holds. ---- */
    /** See vd_request_route_params_fn. NULL: the host offers none (0 params). */
    vd_request_route_params_fn request_route_params;
} vd_host_api;

/**
 * Whether the host table `api` (a vd_host_api_host_ptr) has `field`: true
 * when the host compiled a table at least as long as the end of that field.
 * Check it before touching any field appended after 1.0:
 *
 *   const vd_header *params = NULL;
 *   size_t n = VD_HOST_API_HAS(host, request_route_params) && host->request_route_params
 *                  ? host->request_route_params(req, &params) : 0;
 */
#define VD_HOST_API_HAS(api, field) \
    ((api)->size >= offsetof(vd_host_api, field) + sizeof(((vd_host_api *)0)->field))

/** The host table as passed to init: host-owned, valid until shutdown returns. */
typedef const vd_host_api *vd_host_api_host_ptr;

/* ------------------------------------------------------------------------ */
/* Plugin hooks (plugin -> host function table)                              */
/* ------------------------------------------------------------------------ */

/**
 * init: create an instance from the plugin's config. Control thread.
 *
 *   host          the host's function table (see vd_host_api for lifetime).
 *   ctx           the host context to pass back to host->log.
 *   config_json   the plugin's config from the host config file as a JSON
 *                 document ("{}" when none was given). Borrowed for the call
 *                 only; copy what you keep.
 *   out_instance  where to write the new instance on success. Never NULL.
 *                 Ignored on error.
 *
 * Returns VD_OK, or an error code (VD_ERR_INVALID_CONFIG, VD_ERR_UNAVAILABLE,
 * VD_ERR_INTERNAL, VD_ERR_PANIC). On error the host refuses the plugin, never
 * calls handle or shutdown for it, and logs why: log the details yourself
 * through host->log before returning. On error the plugin must have released
 * everything it allocated.
 */
typedef vd_status (*vd_init_fn)(vd_host_api_host_ptr host, vd_host_context_host_ptr ctx,
                                vd_bytes config_json, vd_instance_plugin_ptr *out_instance);

/**
 * handle: answer one request by writing into `response` with the host's
 * response_* functions. Called CONCURRENTLY from many request threads.
 *
 *   instance  what init wrote to *out_instance.
 *   request   host-owned, never NULL, valid until handle returns.
 *   response  host-owned, never NULL, valid until handle returns, this thread.
 *
 * Returns VD_OK: the host sends what was written (status 200 if none was set).
 * Any other value: whatever was written is discarded and the host answers a
 * JSON 5xx naming the variant. handle must not block for long: it runs on a
 * host request thread.
 */
typedef vd_status (*vd_handle_fn)(vd_instance_plugin_ptr instance, vd_request_host_ptr request,
                                  vd_response_builder_host_ptr response);

/**
 * shutdown: release the instance. Called once per successful init, after the
 * last handle call on the instance has returned, on a host control thread.
 * The plugin must stop and join any threads it started before returning: the
 * library may be unloaded right after. After shutdown returns the plugin must
 * not use the host table or context again.
 */
typedef void (*vd_shutdown_fn)(vd_instance_plugin_ptr instance);

/**
 * What the entry symbol returns: the plugin's identity and hooks.
 *
 * Owned by the PLUGIN and static: it (and the name/version bytes it points
 * to) must stay valid and unchanged for as long as the library is loaded.
 *
 * The host refuses the plugin (and never calls a hook) when
 * abi_version_major != its own major, or descriptor_size is smaller than the
 * v1.0 layout (sizeof(vd_plugin_descriptor) in this header), or name is not
 * one or more of A-Z a-z 0-9 _ - (it appears in config, log fields and
 * metric labels), or init/handle is NULL. shutdown may be NULL (nothing to release).
 */
typedef struct vd_plugin_descriptor {
    /** Must be VD_ABI_VERSION_MAJOR of the header the plugin was built with. */
    uint32_t abi_version_major;
    /** VD_ABI_VERSION_MINOR of that header. */
    uint32_t abi_version_minor;
    /** sizeof(vd_plugin_descriptor) as the plugin compiled it. */
    uint32_t descriptor_size;
    /** Reserved, must be 0. Keeps the following pointers 8-byte aligned. */
    uint32_t reserved;
    /** Text: the plugin's name, how the host config refers to it: one or
     *  more of A-Z a-z 0-9 _ -. Static. */
    vd_bytes name;
    /** Text: the plugin's own version, for operators. Static. */
    vd_bytes version;
    vd_init_fn init;
    vd_handle_fn handle;
    vd_shutdown_fn shutdown;
} vd_plugin_descriptor;

/** The descriptor as returned by the entry symbol: plugin-owned, static. */
typedef const vd_plugin_descriptor *vd_plugin_descriptor_plugin_ptr;

/**
 * The entry symbol's type. Called once per load, on a control thread, before
 * anything else. Returns the plugin's static descriptor, or NULL if the
 * plugin cannot run in this process at all (the host then refuses it).
 */
typedef vd_plugin_descriptor_plugin_ptr (*vd_entry_fn)(void);

/**
 * The entry point every plugin defines, exactly once, exported:
 *
 *   VD_PLUGIN_EXPORT vd_plugin_descriptor_plugin_ptr variantd_plugin_entry_v1(void)
 *   {
 *       return &my_descriptor;
 *   }
 *
 * The host looks it up by name (VD_ENTRY_SYMBOL) with dlsym.
 */
VD_PLUGIN_EXPORT vd_plugin_descriptor_plugin_ptr variantd_plugin_entry_v1(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VARIANTD_PLUGIN_H */
