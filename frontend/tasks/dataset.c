/* Data sets of records (JSONL or a JSON array), the eval hold-out, and a
 * data set scored by a reward as a task. See dataset.h. */
#include "dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esft_hash.h"
#include "task_internal.h"

#define WHERE_MAX 1100 /* "FILE:LINE" */
#define DEFAULT_MAX_NEW 256

/* Line numbers met while walking forward through a text. */
typedef struct line_counter {
    const char *buf;
    size_t pos;
    int line;
} line_counter;

static int line_of(line_counter *lc, size_t pos) {
    for (; lc->pos < pos; lc->pos++) lc->line += lc->buf[lc->pos] == '\n';
    return lc->line;
}

static size_t skip_space(const char *buf, size_t n, size_t pos) {
    while (pos < n && strchr(" \t\r\n", buf[pos])) pos++;
    return pos;
}

static esft_status add_record(esft_dataset *d, int *cap, cJSON *record, int line, esft_err *err) {
    if (d->n == *cap) {
        int want = *cap ? 2 * *cap : 64;
        cJSON **r = realloc(d->records, (size_t)want * sizeof *r);
        if (r) d->records = r;
        int *l = realloc(d->lines, (size_t)want * sizeof *l);
        if (l) d->lines = l;
        if (!r || !l) {
            cJSON_Delete(record);
            return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory reading records");
        }
        *cap = want;
    }
    d->records[d->n] = record;
    d->lines[d->n++] = line;
    return ESFT_OK;
}

/* One JSON value at buf[pos..n); *end after it. Errors name the line where
 * the parser stopped. */
static esft_status parse_value(const char *path, const char *buf, size_t n, size_t pos, line_counter *lc,
                               const char *hint, cJSON **out, size_t *end, esft_err *err) {
    const char *stop = NULL;
    *out = cJSON_ParseWithLengthOpts(buf + pos, n - pos, &stop, 0);
    size_t at = stop && stop >= buf + pos && stop <= buf + n ? (size_t)(stop - buf) : pos;
    if (!*out) return esft_errf(err, ESFT_ERR_FORMAT, "%s:%d: not valid JSON%s", path, line_of(lc, at), hint);
    *end = at;
    return ESFT_OK;
}

/* One object per non-blank line. */
static esft_status read_jsonl(const char *path, const char *buf, size_t n, esft_dataset *d, esft_err *err) {
    line_counter lc = {buf, 0, 1};
    int cap = 0;
    for (size_t at = 0; at < n;) {
        const char *nl = memchr(buf + at, '\n', n - at);
        size_t eol = nl ? (size_t)(nl - buf) : n, start = skip_space(buf, eol, at);
        int line = line_of(&lc, at);
        if (start < eol) {
            cJSON *v;
            size_t end = 0;
            esft_status st = parse_value(path, buf, eol, start, &lc, " (JSONL: one record per line)", &v, &end, err);
            if (st) return st;
            if (skip_space(buf, eol, end) < eol) {
                cJSON_Delete(v);
                return esft_errf(err, ESFT_ERR_FORMAT, "%s:%d: text after the record (JSONL: one record per line)",
                                 path, line);
            }
            if ((st = add_record(d, &cap, v, line, err))) return st;
        }
        at = eol + 1;
    }
    return ESFT_OK;
}

/* '[' record (',' record)* ']', each record's line remembered. */
static esft_status read_array(const char *path, const char *buf, size_t n, size_t pos, esft_dataset *d,
                              esft_err *err) {
    line_counter lc = {buf, 0, 1};
    int cap = 0;
    pos = skip_space(buf, n, pos + 1);
    if (pos < n && buf[pos] == ']') pos = skip_space(buf, n, pos + 1);
    else
        for (;;) {
            cJSON *v;
            size_t end = 0;
            int line = line_of(&lc, pos);
            esft_status st = parse_value(path, buf, n, pos, &lc, "", &v, &end, err);
            if (!st) st = add_record(d, &cap, v, line, err);
            if (st) return st;
            pos = skip_space(buf, n, end);
            if (pos < n && buf[pos] == ',') {
                pos = skip_space(buf, n, pos + 1);
                continue;
            }
            if (pos < n && buf[pos] == ']') {
                pos = skip_space(buf, n, pos + 1);
                break;
            }
            return esft_errf(err, ESFT_ERR_FORMAT, "%s:%d: expected ',' or ']' after the record of line %d", path,
                             line_of(&lc, pos), line);
        }
    if (pos < n) return esft_errf(err, ESFT_ERR_FORMAT, "%s:%d: text after the JSON array", path, line_of(&lc, pos));
    return ESFT_OK;
}

esft_status esft_dataset_read(const char *path, esft_dataset *out, esft_err *err) {
    memset(out, 0, sizeof *out);
    char *buf;
    size_t n;
    esft_status st = esft_task_read_text(path, &buf, &n, err);
    if (st) return st;
    size_t first = skip_space(buf, n, 0);
    st = buf[first] == '[' ? read_array(path, buf, n, first, out, err) : read_jsonl(path, buf, n, out, err);
    free(buf);
    if (!st && out->n == 0) st = esft_errf(err, ESFT_ERR_FORMAT, "%s: holds no records", path);
    if (st) esft_dataset_free(out);
    return st;
}

void esft_dataset_free(esft_dataset *d) {
    for (int i = 0; d->records && i < d->n; i++) cJSON_Delete(d->records[i]);
    free(d->records);
    free(d->lines);
    memset(d, 0, sizeof *d);
}

/* ---- records ---- */

static const char *const roles[] = {"system", "user", "assistant", "tool", NULL};

/* messages: a non-empty array of {role, content} with known roles. */
static esft_status check_messages(const cJSON *m, const char *where, esft_err *err) {
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'messages' must be a non-empty array of {role, content}",
                         where);
    int i = 0;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, m) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        bool known = false;
        for (int r = 0; cJSON_IsString(role) && roles[r]; r++) known |= strcmp(role->valuestring, roles[r]) == 0;
        if (!cJSON_IsObject(msg))
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'messages[%d]' must be an object {role, content}",
                             where, i);
        if (!known)
            return esft_errf(err, ESFT_ERR_FORMAT,
                             "%s: field 'messages[%d].role' must be system, user, assistant or tool", where, i);
        if (!cJSON_IsString(content))
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'messages[%d].content' must be a string", where, i);
        i++;
    }
    return ESFT_OK;
}

esft_status esft_record_prompt(const cJSON *record, const char *where, const char **prompt, esft_err *err) {
    *prompt = NULL;
    if (!cJSON_IsObject(record))
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: a record must be a JSON object (with a field 'prompt')", where);
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(record, "messages");
    bool has_prompt = cJSON_GetObjectItemCaseSensitive(record, "prompt") != NULL;
    if (messages && has_prompt)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: fields 'prompt' and 'messages' are both given (give one)", where);
    if (messages) {
        esft_status st = check_messages(messages, where, err);
        if (st) return st;
        return esft_errf(err, ESFT_ERR_FORMAT,
                         "%s: field 'messages' needs a chat template, which esft does not apply yet; give the "
                         "record a 'prompt' string instead",
                         where);
    }
    return esft_task_get_string(where, record, "prompt", true, false, prompt, err);
}

/* ---- eval hold-out ---- */

typedef struct keyed {
    uint64_t key;
    int index;
} keyed;

static int by_key(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

esft_status esft_dataset_hold_out(const char *path, const char *const *prompts, int n, double fraction, bool *held,
                                  esft_err *err) {
    if (!(fraction > 0 && fraction < 1))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "--eval-split %g: the held-out fraction must be in (0, 1)",
                         fraction);
    keyed *order = malloc((size_t)n * sizeof *order);
    if (!order) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        uint64_t h = esft_fnv1a64(ESFT_FNV1A64_INIT, prompts[i], strlen(prompts[i]));
        order[i] = (keyed){esft_splitmix64(h), i};
        held[i] = false;
    }
    qsort(order, (size_t)n, sizeof *order, by_key);
    int want = (int)floor(fraction * n + 0.5), taken = 0, i = 0;
    if (want < 1) want = 1;
    while (i < n && taken < want) { /* whole groups of one prompt */
        uint64_t key = order[i].key;
        for (; i < n && order[i].key == key; i++, taken++) held[order[i].index] = true;
    }
    free(order);
    if (taken >= n)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "%s: --eval-split %g holds out all %d records (too few distinct prompts), leaving none to "
                         "train on",
                         path, fraction, n);
    return ESFT_OK;
}

/* ---- a data set as a task ---- */

/* The record's prompt and the reward's view of it, in item. */
static esft_status prepare_item(const char *path, const esft_dataset *d, int i, const esft_reward *reward,
                                const char *arg, esft_task_item *item, esft_err *err) {
    char where[WHERE_MAX];
    snprintf(where, sizeof where, "%s:%d", path, d->lines[i]);
    const char *prompt;
    esft_status st = esft_record_prompt(d->records[i], where, &prompt, err);
    if (!st) st = reward->prepare(d->records[i], where, arg, &item->data, &item->target, err);
    if (!st && !(item->prompt = strdup(prompt))) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    return st;
}

/* Frees what prepare_item made (items a task does not keep). */
static void drop_item(const esft_reward *reward, esft_task_item *item) {
    if (reward->free_data) reward->free_data(item->data);
    else free(item->data);
    free(item->prompt);
    free(item->target);
    memset(item, 0, sizeof *item);
}

esft_status esft_dataset_task_load(const char *path, const esft_reward *reward, const char *arg, const char *split,
                                   double eval_split, esft_task **out, esft_err *err) {
    *out = NULL;
    bool want_eval = split && strcmp(split, "eval") == 0;
    if (eval_split > 0 && !want_eval && !(split && strcmp(split, "train") == 0))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "unknown split '%s' (train, eval)", split ? split : "(none)");
    esft_dataset d;
    esft_status st = esft_dataset_read(path, &d, err);
    if (st) return st;
    /* every record is checked, held out or not, before any is used */
    esft_task_item *all = calloc((size_t)d.n, sizeof *all);
    bool *held = calloc((size_t)d.n, sizeof *held);
    const char **prompts = calloc((size_t)d.n, sizeof *prompts);
    if (!all || !held || !prompts) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    int n_ok = 0;
    for (; !st && n_ok < d.n; n_ok++) {
        st = prepare_item(path, &d, n_ok, reward, arg, &all[n_ok], err);
        if (st) drop_item(reward, &all[n_ok]);
        else prompts[n_ok] = all[n_ok].prompt;
    }
    if (!st && eval_split > 0) st = esft_dataset_hold_out(path, prompts, d.n, eval_split, held, err);
    int n_keep = 0;
    for (int i = 0; !st && i < d.n; i++) n_keep += eval_split > 0 ? held[i] == want_eval : 1;
    esft_task *t = st ? NULL : esft_task_alloc(reward->name, n_keep);
    if (!st && !t) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int i = 0, k = 0; i < n_ok && all; i++) {
        bool keep = !st && (eval_split > 0 ? held[i] == want_eval : true);
        if (!keep) {
            drop_item(reward, &all[i]);
            continue;
        }
        t->items[k] = all[i];
        t->items[k].line = d.lines[i];
        t->items[k++].record = d.records[i];
        d.records[i] = NULL; /* the task owns it now */
    }
    if (t) {
        esft_task_use_reward(t, reward);
        t->default_max_new = DEFAULT_MAX_NEW;
        t->chat = false;
    }
    free(all), free(held), free(prompts);
    esft_dataset_free(&d);
    if (st) return st;
    *out = t;
    return ESFT_OK;
}
