#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

#ifndef ESFT_SOURCE_DIR
#define ESFT_SOURCE_DIR "."
#endif

void cli_print_help(const cli_command *cmd) {
    printf("usage: esft %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->usage, cmd->summary);
    for (int i = 0; i < cmd->n_opts; i++) {
        const cli_opt *o = &cmd->opts[i];
        char left[64];
        if (o->kind == CLI_FLAG)
            snprintf(left, sizeof left, "--%s", o->name);
        else
            snprintf(left, sizeof left, "--%s %s", o->name, o->metavar ? o->metavar : "V");
        if (o->kind == CLI_BACKEND) {
            char names[128];
            esft_registry_names(names, sizeof names, true, "|", "|");
            printf("  %-26s %s %s\n", left, names, o->help);
        } else {
            printf("  %-26s %s\n", left, o->help);
        }
    }
    printf("  %-26s %s\n", "--help", "show this help");
}

static int usage_error(const cli_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const cli_command *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "esft %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'esft %s --help')\n", cmd->name);
    return ESFT_EXIT_USAGE;
}

static int set_value(const cli_command *cmd, const cli_opt *o, const char *val) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case CLI_STR:
    case CLI_BACKEND:
        *(const char **)o->dst = val;
        return ESFT_EXIT_OK;
    case CLI_LIST: {
        cli_list *l = o->dst;
        if (l->n >= (int)(sizeof l->items / sizeof l->items[0]))
            return usage_error(cmd, "too many --%s values", o->name);
        l->items[l->n++] = val;
        return ESFT_EXIT_OK;
    }
    case CLI_INT: {
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end)
            return usage_error(cmd, "--%s expects an integer, got '%s'", o->name, val);
        if (o->min != o->max && (v < o->min || v > o->max)) {
            char range[64];
            snprintf(range, sizeof range, "%s (allowed %.0f..%.0f)", val, o->min, o->max);
            return usage_error(cmd, "--%s out of range: %s", o->name, range);
        }
        *(int *)o->dst = (int)v;
        return ESFT_EXIT_OK;
    }
    case CLI_U64: {
        if (val[0] == '-') return usage_error(cmd, "--%s expects a non-negative integer, got '%s'", o->name, val);
        unsigned long long v = strtoull(val, &end, 0);
        if (errno || end == val || *end)
            return usage_error(cmd, "--%s expects a non-negative integer, got '%s'", o->name, val);
        *(uint64_t *)o->dst = (uint64_t)v;
        return ESFT_EXIT_OK;
    }
    case CLI_FLOAT: {
        double v = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(v))
            return usage_error(cmd, "--%s expects a number, got '%s'", o->name, val);
        if (o->min != o->max && (v < o->min || v > o->max)) {
            char range[64];
            snprintf(range, sizeof range, "%s (allowed %g..%g)", val, o->min, o->max);
            return usage_error(cmd, "--%s out of range: %s", o->name, range);
        }
        *(float *)o->dst = (float)v;
        return ESFT_EXIT_OK;
    }
    case CLI_FLAG:
        *(bool *)o->dst = true;
        return ESFT_EXIT_OK;
    }
    return ESFT_EXIT_USAGE;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, const char **pos, int *n_pos) {
    int np = 0;
    bool only_positional = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_positional && strcmp(a, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            if (np >= cmd->max_positional)
                return usage_error(cmd, "unexpected argument '%s'", a);
            pos[np++] = a;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(cmd);
            return -1;
        }
        /* the one short option: -o for --out, where a command has --out */
        const char *name = strcmp(a, "-o") == 0 ? "out" : a[1] == '-' ? a + 2 : NULL;
        if (!name) return usage_error(cmd, "unknown option '%s'", a);
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = NULL;
        for (int k = 0; k < cmd->n_opts; k++)
            if (strlen(cmd->opts[k].name) == name_len &&
                strncmp(cmd->opts[k].name, name, name_len) == 0)
                o = &cmd->opts[k];
        if (!o) return usage_error(cmd, "unknown option '%s'", a);
        if (o->kind == CLI_FLAG) {
            if (eq) return usage_error(cmd, "--%s takes no value", o->name);
            set_value(cmd, o, NULL);
            continue;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (i + 1 >= argc) return usage_error(cmd, "--%s needs a value", o->name);
            val = argv[++i];
        }
        int rc = set_value(cmd, o, val);
        if (rc) return rc;
    }
    if (np < cmd->min_positional)
        return usage_error(cmd, "missing argument: usage: esft %s %s", cmd->name, cmd->usage);
    if (n_pos) *n_pos = np;
    return ESFT_EXIT_OK;
}

/* Default model path: $ESFT_MODEL_DIR or the source tree's models/cache. */
static const char *default_model(char *buf, size_t cap) {
    const char *dir = getenv("ESFT_MODEL_DIR");
    if (dir && *dir)
        snprintf(buf, cap, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", dir);
    else
        snprintf(buf, cap, "%s/models/cache/SmolLM2-135M-Instruct.Q4_1.gguf", ESFT_SOURCE_DIR);
    return buf;
}

int cli_model_path(const char *cmd, const char *given, char *out, size_t cap) {
    if (given) {
        if (strlen(given) < cap) {
            memcpy(out, given, strlen(given) + 1);
            return ESFT_EXIT_OK;
        }
        fprintf(stderr, "esft %s: --model: the path is longer than %zu bytes\n", cmd, cap - 1);
        return ESFT_EXIT_USAGE;
    }
    default_model(out, cap);
    struct stat sb;
    if (stat(out, &sb) == 0) return ESFT_EXIT_OK;
    fprintf(stderr,
            "esft %s: the default model %s is missing (%s): get it with 'bash scripts/setup.sh' or "
            "'scripts/fetch-model.sh smollm2-135m', or pick another with --model FILE\n",
            cmd, out, strerror(errno));
    return ESFT_EXIT_RUNTIME;
}

int cli_open_backend(const cli_common *c, esft_backend **out) {
    return cli_open_backend_info(c, NULL, out, NULL);
}

int cli_open_backend_info(const cli_common *c, const char *dtype, esft_backend **out,
                          esft_device_info *info) {
    const char *name = c->backend ? c->backend : "auto";
    if (!esft_backend_name_known(name)) {
        char names[128];
        esft_registry_names(names, sizeof names, false, ", ", " or ");
        fprintf(stderr, "esft: --backend %s: unknown backend (expected %s)\n", name, names);
        return ESFT_EXIT_USAGE;
    }
    esft_backend_options o = {.n_threads = c->threads, .device_index = c->device};
    const char *flag = dtype ? "--dtype" : "--work-dtype";
    if (!dtype) dtype = c->work_dtype;
    if (dtype) {
        if (!esft_work_dtype_from_name(dtype, &o.work_dtype)) {
            fprintf(stderr, "esft: %s %s: expected f32, f16 or bf16\n", flag, dtype);
            return ESFT_EXIT_USAGE;
        }
        o.work_dtype_set = true;
    }
    esft_err err = {{0}};
    if (esft_backend_open_device(name, &o, out, info, &err) != ESFT_OK) {
        fprintf(stderr, "esft: %s\n", err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    return ESFT_EXIT_OK;
}
