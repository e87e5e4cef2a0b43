#include "run_dir.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "esft_fs.h"
#include "esft_hash.h"

/* The files a run writes: what "holds a run" looks for and --overwrite removes. */
static const char *const run_files[] = {"run.json", "metrics.jsonl", "checkpoint.gguf", "final.gguf",
                                        "samples.jsonl"};
enum { N_RUN_FILES = sizeof run_files / sizeof run_files[0] };

char *esft_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

esft_status esft_run_dir_create(const char *dir, esft_err *err) {
    if (!dir[0]) return esft_errf(err, ESFT_ERR_INVALID_ARG, "--out: the directory name is empty");
    if (esft_mkdir_p(dir, 0777) != 0) {
        int e = errno;
        struct stat st;
        if (e == ENOTDIR && stat(dir, &st) == 0) /* dir itself is a file */
            return esft_errf(err, ESFT_ERR_IO, "--out %s: not a directory", dir);
        return esft_errf(err, e == ENOMEM ? ESFT_ERR_OUT_OF_MEMORY : ESFT_ERR_IO,
                         "--out %s: cannot create the directory (%s)", dir, strerror(e));
    }
    if (access(dir, W_OK | X_OK))
        return esft_errf(err, ESFT_ERR_IO, "--out %s: the directory is not writable (%s)", dir, strerror(errno));
    return ESFT_OK;
}

int esft_run_dir_lock(const char *dir, esft_err *err) {
    char *path = esft_path_join(dir, ".lock");
    if (!path) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory"), -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        esft_errf(err, ESFT_ERR_IO, "%s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        char holder[32] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        free(path);
        if (e == EWOULDBLOCK)
            esft_errf(err, ESFT_ERR_IO, "--out %s: another esft train (pid %s) is using this directory", dir,
                      holder[0] ? holder : "unknown");
        else
            esft_errf(err, ESFT_ERR_IO, "--out %s: cannot lock the directory (%s)", dir, strerror(e));
        return -1;
    }
    free(path);
    /* the holder's pid, for the message another run prints */
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n) { /* informational only */ }
    return fd;
}

void esft_run_dir_unlock(int fd) {
    if (fd >= 0) close(fd); /* releases the flock */
}

bool esft_run_dir_holds_run(const char *dir) {
    for (int i = 0; i < N_RUN_FILES; i++) {
        char *p = esft_path_join(dir, run_files[i]);
        struct stat st;
        bool there = p && lstat(p, &st) == 0;
        free(p);
        if (there) return true;
    }
    return false;
}

/* optstate-<digits>.gguf: an optimizer's state beside a checkpoint (optimizer.h). */
static bool is_optimizer_state(const char *name) {
    const char *d = name + strlen("optstate-");
    if (strncmp(name, "optstate-", strlen("optstate-")) || !isdigit((unsigned char)*d)) return false;
    while (isdigit((unsigned char)*d)) d++;
    return strcmp(d, ".gguf") == 0;
}

/* Removes the optimizer state files a run left in dir (regular files only). */
static esft_status clear_optimizer_states(const char *dir, esft_err *err) {
    DIR *dp = opendir(dir);
    if (!dp) return ESFT_OK;
    esft_status st = ESFT_OK;
    for (struct dirent *e; !st && (e = readdir(dp));) {
        if (!is_optimizer_state(e->d_name)) continue;
        char *p = esft_path_join(dir, e->d_name);
        if (!p) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
        else if (esft_atomic_check_target(p, err)) st = esft_err_prefix(err, ESFT_ERR_IO, "--overwrite");
        else if (unlink(p) && errno != ENOENT)
            st = esft_errf(err, ESFT_ERR_IO, "--overwrite: cannot remove %s (%s)", p, strerror(errno));
        free(p);
    }
    closedir(dp);
    return st;
}

esft_status esft_run_dir_clear(const char *dir, esft_err *err) {
    for (int i = 0; i < N_RUN_FILES; i++) {
        char *p = esft_path_join(dir, run_files[i]);
        if (!p) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
        /* a run writes regular files only: anything else is the user's */
        if (esft_atomic_check_target(p, err)) {
            free(p);
            return esft_err_prefix(err, ESFT_ERR_IO, "--overwrite");
        }
        if (unlink(p) && errno != ENOENT) {
            esft_errf(err, ESFT_ERR_IO, "--overwrite: cannot remove %s (%s)", p, strerror(errno));
            free(p);
            return ESFT_ERR_IO;
        }
        free(p);
    }
    return clear_optimizer_states(dir, err);
}

/* ---- data fingerprints ---- */

esft_status esft_file_print_take(const char *path, esft_file_print *out, esft_err *err) {
    memset(out, 0, sizeof *out);
    if (!path) return ESFT_OK;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* a pipe cannot be read twice: recorded, but not fingerprinted */
        out->path = strdup(path);
        out->size = -1;
        return out->path ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    FILE *f = fopen(path, "rb");
    if (!f) return esft_errf(err, ESFT_ERR_IO, "%s: %s", path, strerror(errno));
    static const size_t chunk = 1 << 16;
    unsigned char *buf = malloc(chunk);
    uint64_t h = ESFT_FNV1A64_INIT;
    long long size = 0;
    size_t got;
    while (buf && (got = fread(buf, 1, chunk, f)) > 0) {
        h = esft_fnv1a64_words(h, buf, got);
        size += (long long)got;
    }
    bool bad = !buf || ferror(f);
    fclose(f);
    free(buf);
    if (bad) return esft_errf(err, ESFT_ERR_IO, "%s: read failed", path);
    /* absolute, so that a run resumed from another directory finds it */
    out->path = realpath(path, NULL);
    if (!out->path) return esft_errf(err, ESFT_ERR_IO, "%s: %s", path, strerror(errno));
    out->hash = h;
    out->size = size;
    return ESFT_OK;
}

bool esft_file_print_equal(const esft_file_print *a, const esft_file_print *b) {
    if (!a->path || !b->path) return !a->path && !b->path;
    if (a->size < 0 || b->size < 0) return true; /* not fingerprinted: cannot tell */
    return a->hash == b->hash && a->size == b->size;
}

void esft_file_print_free(esft_file_print *p) {
    free(p->path);
    p->path = NULL;
}

/* ---- run.json ---- */

/* The numbers run.json holds, by offset in the record. */
typedef struct number_field {
    const char *key;
    size_t offset;
    bool is_float; /* float, else int */
} number_field;

static const number_field numbers[] = {
    {"iters", offsetof(esft_run_record, iters), false},
    {"pop", offsetof(esft_run_record, cfg.pop), false},
    {"sigma", offsetof(esft_run_record, cfg.sigma), true},
    {"alpha", offsetof(esft_run_record, cfg.alpha), true},
    {"batch", offsetof(esft_run_record, cfg.batch), false},
    {"max_new", offsetof(esft_run_record, cfg.max_new), false},
    {"weight_decay", offsetof(esft_run_record, cfg.weight_decay), true},
    {"eval_every", offsetof(esft_run_record, eval_every), false},
    {"eval_limit", offsetof(esft_run_record, eval_limit), false},
    {"checkpoint_every", offsetof(esft_run_record, checkpoint_every), false},
    {"max_slots", offsetof(esft_run_record, max_slots), false},
    {"log_samples", offsetof(esft_run_record, log_samples), false},
};
enum { N_NUMBERS = sizeof numbers / sizeof numbers[0] };

static cJSON *print_to_json(const esft_file_print *p) {
    if (!p->path) return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)p->hash);
    cJSON_AddStringToObject(o, "path", p->path);
    cJSON_AddStringToObject(o, "fnv1a64", hex);
    cJSON_AddNumberToObject(o, "bytes", (double)p->size);
    return o;
}

static bool print_from_json(const cJSON *o, esft_file_print *p) {
    memset(p, 0, sizeof *p);
    if (!o || cJSON_IsNull(o)) return true;
    const cJSON *path = cJSON_GetObjectItem(o, "path"), *hex = cJSON_GetObjectItem(o, "fnv1a64"),
                *bytes = cJSON_GetObjectItem(o, "bytes");
    if (!cJSON_IsString(path) || !cJSON_IsString(hex) || !cJSON_IsNumber(bytes)) return false;
    char *end = NULL;
    p->hash = strtoull(hex->valuestring, &end, 16);
    if (!end || *end) return false;
    p->size = (long long)bytes->valuedouble;
    p->path = strdup(path->valuestring);
    return p->path != NULL;
}

esft_status esft_run_record_write(const char *dir, const esft_run_record *r, esft_err *err) {
    const esft_run_config *c = &r->cfg;
    cJSON *o = cJSON_CreateObject();
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->run_seed);
    cJSON_AddStringToObject(o, "esft_version", ESFT_VERSION);
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON_AddStringToObject(o, "task", c->task);
    cJSON_AddStringToObject(o, "reward", c->reward);
    cJSON_AddStringToObject(o, "reward_arg", c->reward_arg);
    cJSON_AddNumberToObject(o, "eval_split", c->eval_split);
    cJSON_AddStringToObject(o, "reward_cmd", c->reward_cmd);
    cJSON_AddNumberToObject(o, "reward_timeout", c->reward_timeout);
    cJSON_AddNumberToObject(o, "reward_timeout_score", c->reward_timeout_score);
    cJSON_AddItemToObject(o, "data", print_to_json(&r->data));
    cJSON_AddItemToObject(o, "eval_data", print_to_json(&r->eval_data));
    for (size_t i = 0; i < N_NUMBERS; i++) {
        const void *at = (const char *)r + numbers[i].offset;
        cJSON_AddNumberToObject(o, numbers[i].key, numbers[i].is_float ? *(const float *)at : *(const int *)at);
    }
    cJSON_AddStringToObject(o, "seed", seed); /* a string: 64 bits do not fit a JSON double */
    cJSON_AddStringToObject(o, "shaping", esft_shaping_name(c->shaping));
    cJSON_AddBoolToObject(o, "antithetic", c->antithetic);
    cJSON_AddStringToObject(o, "noise", esft_noise_mode_name(esft_noise_mode_of(c)));
    cJSON_AddNumberToObject(o, "rank", c->rank);
    cJSON_AddStringToObject(o, "params", c->params);
    esft_opt_config_to_json(o, &c->opt);
    cJSON_AddBoolToObject(o, "chat", c->chat);
    if (c->chat) cJSON_AddStringToObject(o, "chat_template", c->chat_template);
    if (c->chat) cJSON_AddStringToObject(o, "system", c->system);
    cJSON_AddStringToObject(o, "save_dtype", r->save_dtype);
    cJSON_AddStringToObject(o, "save_format", r->save_format[0] ? r->save_format : "gguf");
    if (r->work_dtype[0]) cJSON_AddStringToObject(o, "work_dtype", r->work_dtype);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    char *path = esft_path_join(dir, "run.json");
    esft_status st = text && path ? esft_atomic_write(path, text, strlen(text), err)
                                  : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    free(text), free(path);
    return st;
}

esft_status esft_run_record_read(const char *dir, esft_run_record *r, esft_err *err) {
    memset(r, 0, sizeof *r);
    char *path = esft_path_join(dir, "run.json");
    if (!path) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    size_t len = 0;
    char *text = esft_read_file(path, ESFT_READ_MAX, &len);
    if (!text) {
        int e = errno;
        esft_errf(err, ESFT_ERR_IO, "%s: %s", path, strerror(e));
        free(path);
        errno = e;
        return ESFT_ERR_IO;
    }
    cJSON *o = cJSON_Parse(text);
    free(text);
    esft_run_config *c = &r->cfg;
#define FIELD(key) cJSON_GetObjectItem(o, key)
    const cJSON *model = FIELD("model"), *task = FIELD("task"), *seed = FIELD("seed"), *shaping = FIELD("shaping"),
                *params = FIELD("params"), *save = FIELD("save_dtype");
    bool ok = o && cJSON_IsString(model) && cJSON_IsString(task) && cJSON_IsString(seed) &&
              cJSON_IsString(shaping) && cJSON_IsString(params) && cJSON_IsString(save) &&
              cJSON_IsBool(FIELD("antithetic")) && cJSON_IsBool(FIELD("chat"));
    for (size_t i = 0; ok && i < N_NUMBERS; i++) {
        const cJSON *v = FIELD(numbers[i].key);
        void *at = (char *)r + numbers[i].offset;
        if (!(ok = cJSON_IsNumber(v))) break;
        if (numbers[i].is_float) *(float *)at = (float)v->valuedouble;
        else *(int *)at = v->valueint;
    }
    ok = ok && print_from_json(FIELD("data"), &r->data) && print_from_json(FIELD("eval_data"), &r->eval_data);
    ok = ok && esft_shaping_from_name(shaping->valuestring, &c->shaping);
    ok = ok && esft_opt_config_from_json(o, &c->opt);
    if (ok) {
        r->model = strdup(model->valuestring);
        snprintf(c->task, sizeof c->task, "%s", task->valuestring);
        snprintf(c->params, sizeof c->params, "%s", params->valuestring);
        /* absent in runs of built-in tasks recorded before data sets */
        const cJSON *reward = FIELD("reward"), *reward_arg = FIELD("reward_arg"), *split = FIELD("eval_split");
        snprintf(c->reward, sizeof c->reward, "%s", cJSON_IsString(reward) ? reward->valuestring : "");
        snprintf(c->reward_arg, sizeof c->reward_arg, "%s", cJSON_IsString(reward_arg) ? reward_arg->valuestring : "");
        c->eval_split = cJSON_IsNumber(split) ? (float)split->valuedouble : 0.0f;
        /* absent in runs recorded before reward commands */
        const cJSON *cmd = FIELD("reward_cmd"), *timeout = FIELD("reward_timeout"),
                    *timeout_score = FIELD("reward_timeout_score");
        snprintf(c->reward_cmd, sizeof c->reward_cmd, "%s", cJSON_IsString(cmd) ? cmd->valuestring : "");
        c->reward_timeout = cJSON_IsNumber(timeout) ? (float)timeout->valuedouble : 0.0f;
        c->reward_timeout_score = cJSON_IsNumber(timeout_score) ? (float)timeout_score->valuedouble : 0.0f;
        snprintf(r->save_dtype, sizeof r->save_dtype, "%s", save->valuestring);
        const cJSON *format = FIELD("save_format"); /* absent in runs recorded before Hugging Face export */
        snprintf(r->save_format, sizeof r->save_format, "%s", cJSON_IsString(format) ? format->valuestring : "gguf");
        /* absent in runs on the backend's default working weights */
        const cJSON *work = FIELD("work_dtype");
        snprintf(r->work_dtype, sizeof r->work_dtype, "%s", cJSON_IsString(work) ? work->valuestring : "");
        c->run_seed = strtoull(seed->valuestring, NULL, 10);
        c->antithetic = cJSON_IsTrue(FIELD("antithetic"));
        /* absent in runs recorded before low-rank members: full mode */
        const cJSON *noise = FIELD("noise"), *rank = FIELD("rank");
        c->noise = ESFT_NOISE_FULL;
        if (cJSON_IsString(noise)) ok = esft_noise_mode_from_name(noise->valuestring, &c->noise);
        c->rank = c->noise == ESFT_NOISE_LOWRANK && cJSON_IsNumber(rank) ? rank->valueint : 0;
        c->chat = cJSON_IsTrue(FIELD("chat"));
        const cJSON *tmpl = FIELD("chat_template"), *sys = FIELD("system");
        esft_run_config_chat_keys(c, cJSON_IsString(tmpl) ? tmpl->valuestring : NULL,
                                  cJSON_IsString(sys) ? sys->valuestring : NULL);
        ok = r->model != NULL;
    }
#undef FIELD
    cJSON_Delete(o);
    if (!ok) {
        esft_run_record_free(r);
        esft_errf(err, ESFT_ERR_FORMAT, "%s: not a run record of esft train (missing or invalid fields)", path);
        free(path);
        return ESFT_ERR_FORMAT;
    }
    free(path);
    return ESFT_OK;
}

void esft_run_record_free(esft_run_record *r) {
    free(r->model);
    r->model = NULL;
    esft_file_print_free(&r->data);
    esft_file_print_free(&r->eval_data);
}
