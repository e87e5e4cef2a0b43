/* Status codes and error messages shared by every layer of esft.
 *
 * Every fallible function returns an esft_status and, on failure, writes one
 * human-readable line into an esft_err that names the file, tensor, flag or
 * device at fault. There is no global error state. */
#ifndef ESFT_STATUS_H
#define ESFT_STATUS_H

#include <stddef.h>

typedef enum esft_status {
    ESFT_OK = 0,
    ESFT_ERR_INVALID_ARG,   /* caller passed something nonsensical */
    ESFT_ERR_OUT_OF_MEMORY, /* host or device allocation failed */
    ESFT_ERR_UNSUPPORTED,   /* op/dtype/feature not available here */
    ESFT_ERR_DEVICE,        /* the backend API reported a failure */
    ESFT_ERR_IO,            /* open/read/write/rename failed */
    ESFT_ERR_FORMAT,        /* malformed input file or data */
} esft_status;

/* Exit codes of esft's commands, which esft_train also returns. */
enum { ESFT_EXIT_OK = 0, ESFT_EXIT_RUNTIME = 1, ESFT_EXIT_USAGE = 2 };

typedef struct esft_err {
    char msg[512];
} esft_err;

/* Formats msg into err (if err is non-NULL) and returns status. */
esft_status esft_errf(esft_err *err, esft_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message: "prefix: old message". Returns status. */
esft_status esft_err_prefix(esft_err *err, esft_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *esft_status_name(esft_status status);

/* A name or value taken from an input file, made safe to quote in an error
 * message: one line, control, quote and non-ASCII bytes escaped (\xNN), at
 * most ~60 input bytes shown ("..." after). Writes into buf (ESFT_QUOTE_MAX
 * bytes suffice) and returns it. */
#define ESFT_QUOTE_MAX 256
const char *esft_quote(const char *s, size_t len, char *buf, size_t bufsz);

#endif
