#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

esft_status esft_errf(esft_err *err, esft_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

esft_status esft_err_prefix(esft_err *err, esft_status status, const char *fmt, ...) {
    if (!err) return status;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3;
    size_t m = strnlen(old, room);
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = '\0';
    return status;
}

const char *esft_quote(const char *s, size_t len, char *buf, size_t bufsz) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < bufsz; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 60) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            buf[o++] = (char)c;
        } else {
            o += (size_t)snprintf(buf + o, bufsz - o, "\\x%02x", c);
        }
    }
    buf[o] = 0;
    return buf;
}

const char *esft_status_name(esft_status status) {
    switch (status) {
    case ESFT_OK: return "ok";
    case ESFT_ERR_INVALID_ARG: return "invalid argument";
    case ESFT_ERR_OUT_OF_MEMORY: return "out of memory";
    case ESFT_ERR_UNSUPPORTED: return "unsupported";
    case ESFT_ERR_DEVICE: return "device error";
    case ESFT_ERR_IO: return "i/o error";
    case ESFT_ERR_FORMAT: return "format error";
    case ESFT_ERR_CALLBACK: return "callback failed";
    }
    return "unknown status";
}

int esft_exit_code(esft_status status) {
    return status == ESFT_OK ? ESFT_EXIT_OK : status == ESFT_ERR_INVALID_ARG ? ESFT_EXIT_USAGE : ESFT_EXIT_RUNTIME;
}
