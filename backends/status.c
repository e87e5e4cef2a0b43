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

const char *esft_status_name(esft_status status) {
    switch (status) {
    case ESFT_OK: return "ok";
    case ESFT_ERR_INVALID_ARG: return "invalid argument";
    case ESFT_ERR_OUT_OF_MEMORY: return "out of memory";
    case ESFT_ERR_UNSUPPORTED: return "unsupported";
    case ESFT_ERR_DEVICE: return "device error";
    case ESFT_ERR_IO: return "i/o error";
    case ESFT_ERR_FORMAT: return "format error";
    }
    return "unknown status";
}
