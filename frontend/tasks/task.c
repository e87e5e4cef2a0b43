/* The task registry: load a task by name, free it, and the JSON helpers the
 * task loaders share. */
#include "task.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esft_fs.h"
#include "task_internal.h"

const char *const esft_task_names[] = {"countdown", "conciseness", NULL};

esft_task *esft_task_alloc(const char *name, int n_items) {
    esft_task *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->items = calloc((size_t)(n_items > 0 ? n_items : 1), sizeof *t->items);
    if (!t->items) {
        free(t);
        return NULL;
    }
    t->name = name;
    t->n_items = n_items;
    return t;
}

esft_status esft_task_read_json_array(const char *path, cJSON **out, esft_err *err) {
    *out = NULL;
    size_t n = 0;
    errno = 0;
    char *buf = esft_read_file(path, ESFT_READ_MAX, &n);
    if (!buf)
        return esft_errf(err, errno == ENOMEM ? ESFT_ERR_OUT_OF_MEMORY : ESFT_ERR_IO,
                         "%s: cannot read: %s", path, esft_read_error(errno ? errno : EIO));
    if (strlen(buf) != n) {
        free(buf);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: not a JSON text (contains a NUL byte)", path);
    }
    size_t ws = strspn(buf, " \t\r\n");
    if (buf[ws] == '\0') {
        free(buf);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: the file is empty (expected a JSON array of items)", path);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(buf, &end, 1);
    if (!root) {
        /* Line and column of the parser's stopping point. */
        size_t pos = end && end >= buf && end <= buf + n ? (size_t)(end - buf) : 0;
        int line = 1, col = 1;
        for (size_t i = 0; i < pos; i++) {
            if (buf[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        free(buf);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s:%d:%d: not valid JSON", path, line, col);
    }
    free(buf);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: expected a JSON array of items at the top level", path);
    }
    if (cJSON_GetArraySize(root) == 0) {
        cJSON_Delete(root);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: the array holds no items", path);
    }
    *out = root;
    return ESFT_OK;
}

esft_status esft_task_get_string(const char *path, int index, const cJSON *item, const char *key,
                                 bool required, bool allow_empty, const char **out, esft_err *err) {
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, key);
    if (!v) {
        if (!required) return ESFT_OK;
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: item %d: field '%s' is missing", path, index, key);
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: item %d: field '%s' must be a string", path, index, key);
    if (!allow_empty && v->valuestring[0] == '\0')
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: item %d: field '%s' is empty", path, index, key);
    *out = v->valuestring;
    return ESFT_OK;
}

esft_status esft_task_load(const char *name, const char *path, const char *split, esft_task **out,
                           esft_err *err) {
    if (!out) return esft_errf(err, ESFT_ERR_INVALID_ARG, "esft_task_load: out is NULL");
    *out = NULL;
    if (!name) return esft_errf(err, ESFT_ERR_INVALID_ARG, "no task given (countdown, conciseness)");
    esft_status st;
    if (strcmp(name, "countdown") == 0) st = esft_countdown_load(path, out, err);
    else if (strcmp(name, "conciseness") == 0) st = esft_conciseness_load(path, split, out, err);
    else return esft_errf(err, ESFT_ERR_INVALID_ARG, "unknown task '%s' (countdown, conciseness)", name);
    if (st == ESFT_OK && path) snprintf((*out)->source, sizeof (*out)->source, "%s", path);
    else if (st == ESFT_OK) snprintf((*out)->source, sizeof (*out)->source, "built-in %s set", name);
    return st;
}

/* Frees the task: its private data first (free_data), then each item's
 * prompt and target, the items and the task. */
void esft_task_free(esft_task *t) {
    if (!t) return;
    if (t->free_data) t->free_data(t);
    if (t->items) {
        for (int i = 0; i < t->n_items; i++) {
            free(t->items[i].prompt);
            free(t->items[i].target);
        }
        free(t->items);
    }
    free(t);
}
