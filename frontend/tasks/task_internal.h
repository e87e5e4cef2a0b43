/* Helpers shared by the task implementations (not part of the public API). */
#ifndef ESFT_TASK_INTERNAL_H
#define ESFT_TASK_INTERNAL_H

#include <cjson/cJSON.h>

#include "task.h"

/* A zeroed task with n_items zeroed items; NULL when out of memory. */
esft_task *esft_task_alloc(const char *name, int n_items);

/* Reads and parses `path`, which must hold a non-empty JSON array. On success
 * *out is the array (the caller cJSON_Deletes it). Errors name the file. */
esft_status esft_task_read_json_array(const char *path, cJSON **out, esft_err *err);

/* The string field `key` of item `index` of the data set in `path`; errors
 * name the file, the item and the field. Empty strings are refused when
 * allow_empty is false. */
esft_status esft_task_get_string(const char *path, int index, const cJSON *item, const char *key,
                                 bool required, bool allow_empty, const char **out, esft_err *err);

/* Loaders behind esft_task_load. */
esft_status esft_countdown_load(const char *path, esft_task **out, esft_err *err);
esft_status esft_conciseness_load(const char *path, const char *split, esft_task **out, esft_err *err);

#endif
