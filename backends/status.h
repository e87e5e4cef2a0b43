/* Status codes and error messages shared by every layer of esft.
 *
 * Every fallible function returns an esft_status and, on failure, writes one
 * human-readable line into an esft_err that names the file, tensor, flag or
 * device at fault. There is no global error state. */
#ifndef ESFT_STATUS_H
#define ESFT_STATUS_H

#include <stddef.h>

/* esft_status (the codes) comes from the public header. */
#include "esft.h"

/* Exit codes of esft's commands: a usage error (the flags or files given,
 * ESFT_ERR_INVALID_ARG) exits 2, any other failure 1. */
enum { ESFT_EXIT_OK = 0, ESFT_EXIT_RUNTIME = 1, ESFT_EXIT_USAGE = 2 };
int esft_exit_code(esft_status status);

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
