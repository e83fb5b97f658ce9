/*
 * app_c - an example variantd plugin written in C against
 * variantd_plugin.h alone (no Rust involved).
 *
 *   GET /process/{message} -> 200 {"variant":"C","message":"App C processed: <message>",
 *                                  "algorithm":"native-c-processing"}
 *   other method there     -> 405 JSON
 *   anything else          -> 404 {"error":"not found","variant":"C","path":"<path>"}
 *
 * {message} is one raw path segment, percent-decoded, then JSON-escaped
 * (invalid UTF-8 becomes U+FFFD). The response is streamed to the host
 * through a small stack buffer: the host copies every chunk, so nothing this
 * plugin allocates crosses the boundary.
 *
 * Build: cc -std=c99 -shared -fPIC -fvisibility=hidden -O2 -Wall -Wextra \
 *           -I plugin-api/include -o libapp_c.so app_c.c
 */
#include <stdlib.h>
#include <string.h>

#include "variantd_plugin.h"

#define APP_C_NAME "app_c"
#define APP_C_VERSION "0.1.0"

/* Plugin-owned instance: created by init, freed by shutdown. Read-only after
 * init, so concurrent handle calls need no locking. */
typedef struct app_c_instance {
    vd_host_api_host_ptr host;    /* host-owned, valid until shutdown returns */
    vd_host_context_host_ptr ctx; /* host-owned, valid until shutdown returns */
} app_c_instance;

static vd_bytes bytes_of(const char *s) {
    vd_bytes b;
    b.ptr = (const uint8_t *)s;
    b.len = strlen(s);
    return b;
}

static void log_line(const app_c_instance *inst, vd_log_level level, const char *msg) {
    inst->host->log(inst->ctx, level, bytes_of(msg));
}

static int bytes_eq(vd_bytes b, const char *s) {
    size_t n = strlen(s);
    return b.len == n && (n == 0 || memcmp(b.ptr, s, n) == 0);
}

/* ---- response body writer: buffers on the stack, flushes to the host ---- */

typedef struct body_writer {
    vd_host_api_host_ptr host;
    vd_response_builder_host_ptr response;
    size_t len;
    uint8_t buf[512];
} body_writer;

static void w_flush(body_writer *w) {
    if (w->len > 0) {
        vd_bytes b;
        b.ptr = w->buf;
        b.len = w->len;
        w->host->response_append_body(w->response, b);
        w->len = 0;
    }
}

static void w_byte(body_writer *w, uint8_t c) {
    if (w->len == sizeof w->buf) {
        w_flush(w);
    }
    w->buf[w->len++] = c;
}

static void w_str(body_writer *w, const char *s) {
    while (*s) {
        w_byte(w, (uint8_t)*s++);
    }
}

/* Length of the valid UTF-8 sequence starting at s[0], or 0 if invalid. */
static size_t utf8_seq_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    size_t len, i;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;      /* no overlongs */
        if (c == 0xED) hi = 0x9F;      /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;      /* no overlongs */
        if (c == 0xF4) hi = 0x8F;      /* <= U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    return len;
}

/* Write s[0..n) JSON-escaped, without quotes. */
static void w_json_chars(body_writer *w, const uint8_t *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len = utf8_seq_len(s + i, n - i);
        if (len == 0) {
            w_str(w, "\\ufffd"); /* invalid UTF-8 byte */
            i++;
            continue;
        }
        if (len > 1) {
            size_t k;
            for (k = 0; k < len; k++) {
                w_byte(w, s[i + k]);
            }
            i += len;
            continue;
        }
        switch (c) {
        case '"': w_str(w, "\\\""); break;
        case '\\': w_str(w, "\\\\"); break;
        case '\b': w_str(w, "\\b"); break;
        case '\f': w_str(w, "\\f"); break;
        case '\n': w_str(w, "\\n"); break;
        case '\r': w_str(w, "\\r"); break;
        case '\t': w_str(w, "\\t"); break;
        default:
            if (c < 0x20) {
                w_str(w, "\\u00");
                w_byte(w, (uint8_t)hex[c >> 4]);
                w_byte(w, (uint8_t)hex[c & 0xF]);
            } else {
                w_byte(w, c);
            }
        }
        i++;
    }
}

/* Write s[0..n) as a JSON string literal, quotes included. */
static void w_json_string(body_writer *w, const uint8_t *s, size_t n) {
    w_byte(w, '"');
    w_json_chars(w, s, n);
    w_byte(w, '"');
}

static int hex_val(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (at least n bytes); returns the length.
 * Invalid escapes are kept literally; '+' stays '+' (path semantics). */
static size_t percent_decode(const uint8_t *s, size_t n, uint8_t *out) {
    size_t i = 0, o = 0;
    while (i < n) {
        if (s[i] == '%' && i + 2 < n) {
            int h = hex_val(s[i + 1]), l = hex_val(s[i + 2]);
            if (h >= 0 && l >= 0) {
                out[o++] = (uint8_t)(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out[o++] = s[i++];
    }
    return o;
}

static void set_json_headers(vd_host_api_host_ptr host, vd_response_builder_host_ptr response,
                             uint16_t status) {
    host->response_set_status(response, status);
    host->response_add_header(response, bytes_of("content-type"), bytes_of("application/json"));
}

/* ---------------------------------------------------------------- hooks -- */

static vd_status app_c_init(vd_host_api_host_ptr host, vd_host_context_host_ptr ctx,
                            vd_bytes config_json, vd_instance_plugin_ptr *out_instance) {
    app_c_instance *inst;
    (void)config_json; /* app_c has no settings; any config is accepted */
    inst = (app_c_instance *)malloc(sizeof *inst);
    if (inst == NULL) {
        host->log(ctx, VD_LOG_ERROR, bytes_of("app_c: out of memory in init"));
        return VD_ERR_UNAVAILABLE;
    }
    inst->host = host;
    inst->ctx = ctx;
    log_line(inst, VD_LOG_INFO, "app_c " APP_C_VERSION " (C) initialised");
    *out_instance = inst;
    return VD_OK;
}

static vd_status app_c_handle(vd_instance_plugin_ptr instance, vd_request_host_ptr request,
                              vd_response_builder_host_ptr response) {
    static const char prefix[] = "/process/";
    const size_t prefix_len = sizeof prefix - 1;
    const app_c_instance *inst = (const app_c_instance *)instance;
    vd_bytes path = request->path;
    body_writer w;
    w.host = inst->host;
    w.response = response;
    w.len = 0;

    if (path.len > prefix_len && memcmp(path.ptr, prefix, prefix_len) == 0 &&
        memchr(path.ptr + prefix_len, '/', path.len - prefix_len) == NULL) {
        const uint8_t *segment = path.ptr + prefix_len;
        size_t segment_len = path.len - prefix_len;
        uint8_t *decoded;
        size_t decoded_len;

        if (!bytes_eq(request->method, "GET")) {
            set_json_headers(inst->host, response, 405);
            inst->host->response_add_header(response, bytes_of("allow"), bytes_of("GET"));
            w_str(&w, "{\"error\":\"method not allowed\",\"variant\":\"C\",\"method\":");
            w_json_string(&w, request->method.ptr, request->method.len);
            w_str(&w, ",\"path\":");
            w_json_string(&w, path.ptr, path.len);
            w_str(&w, "}");
            w_flush(&w);
            return VD_OK;
        }

        decoded = (uint8_t *)malloc(segment_len);
        if (decoded == NULL) {
            log_line(inst, VD_LOG_ERROR, "app_c: out of memory in handle");
            return VD_ERR_INTERNAL;
        }
        decoded_len = percent_decode(segment, segment_len, decoded);

        set_json_headers(inst->host, response, 200);
        w_str(&w, "{\"variant\":\"C\",\"message\":\"App C processed: ");
        w_json_chars(&w, decoded, decoded_len);
        w_str(&w, "\",\"algorithm\":\"native-c-processing\"}");
        w_flush(&w);
        free(decoded);
        return VD_OK;
    }

    set_json_headers(inst->host, response, 404);
    w_str(&w, "{\"error\":\"not found\",\"variant\":\"C\",\"path\":");
    w_json_string(&w, path.ptr, path.len);
    w_str(&w, "}");
    w_flush(&w);
    return VD_OK;
}

static void app_c_shutdown(vd_instance_plugin_ptr instance) {
    app_c_instance *inst = (app_c_instance *)instance;
    if (inst != NULL) {
        log_line(inst, VD_LOG_INFO, "app_c shutting down");
        free(inst);
    }
}

/* ------------------------------------------------------------ descriptor -- */

static const vd_plugin_descriptor app_c_descriptor = {
    .abi_version_major = VD_ABI_VERSION_MAJOR,
    .abi_version_minor = VD_ABI_VERSION_MINOR,
    .descriptor_size = (uint32_t)sizeof(vd_plugin_descriptor),
    .reserved = 0,
    .name = {(const uint8_t *)APP_C_NAME, sizeof APP_C_NAME - 1},
    .version = {(const uint8_t *)APP_C_VERSION, sizeof APP_C_VERSION - 1},
    .init = app_c_init,
    .handle = app_c_handle,
    .shutdown = app_c_shutdown,
};

VD_PLUGIN_EXPORT vd_plugin_descriptor_plugin_ptr variantd_plugin_entry_v1(void) {
    return &app_c_descriptor;
}
