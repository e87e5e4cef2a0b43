/* The external reward command: spawning it, the JSON-lines batch protocol
 * and its failures (reward_cmd.h). */
#define _GNU_SOURCE
#include "reward_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

extern char **environ;

#define TAIL_MAX 2048   /* bytes of the command's stderr kept for errors */
#define PART_NAME_MAX 64
#define LINE_MAX_BYTES (64u << 20) /* an answer line longer than this is not an answer */

struct esft_reward_cmd {
    int refs;                      /* owners (tasks scored by this process) */
    char *command;
    double timeout, timeout_score;
    pid_t pid;                     /* 0: not running */
    int to_fd, from_fd, err_fd;    /* its stdin (a socket: no SIGPIPE), stdout, stderr; -1: closed */
    bool answered_once;            /* the startup allowance is spent */
    bool idle;                     /* the clock ran out since its last answer (in any batch) */
    long long next_id;
    long long *late;               /* ids that timed out: their answers may still come */
    int n_late, cap_late;
    char *in;                      /* stdout bytes after the last complete line */
    size_t in_len, in_cap;
    char tail[TAIL_MAX];           /* the last bytes of its stderr */
    size_t tail_len;
    int n_parts;
    char part_names[ESFT_TASK_MAX_PARTS][PART_NAME_MAX];
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- splitting a command line ---- */

static bool is_shell_syntax(char c) { return c && strchr("|&;<>()$`*?~#", c) != NULL; }

esft_status esft_command_split(const char *line, char ***argv_out, bool *needs_shell, esft_err *err) {
    *argv_out = NULL;
    *needs_shell = false;
    size_t len = strlen(line);
    /* at most len/1 words: pointers, then the words' bytes and NULs */
    char **argv = malloc((len + 2) * sizeof *argv + 2 * len + 2);
    if (!argv) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    char *w = (char *)(argv + len + 2);
    int n = 0;
    bool in_word = false, open = false; /* open: an unclosed quote or a last backslash */
    for (const char *p = line; *p; p++) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\n') {
            if (in_word) *w++ = '\0';
            in_word = false;
            continue;
        }
        if (!in_word) argv[n++] = w;
        in_word = true;
        if (c == '\'') {
            const char *q = strchr(p + 1, '\'');
            if ((open = !q)) break;
            memcpy(w, p + 1, (size_t)(q - p - 1));
            w += q - p - 1;
            p = q;
        } else if (c == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1] && strchr("\"\\$`", p[1])) p++;
                else if (*p == '$' || *p == '`') *needs_shell = true; /* expansion inside quotes */
                *w++ = *p;
            }
            if ((open = !*p)) break;
        } else if (c == '\\') {
            if ((open = !p[1])) break;
            *w++ = *++p;
        } else {
            if (is_shell_syntax(c)) *needs_shell = true;
            *w++ = c;
        }
    }
    if (in_word) *w++ = '\0';
    argv[n] = NULL;
    if (open) {
        free(argv);
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "--reward-cmd '%.200s': an unclosed quote or a trailing backslash",
                         line);
    }
    if (n == 0) {
        free(argv);
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "--reward-cmd is empty");
    }
    /* VAR=value before the program is a shell's environment assignment */
    if (strchr(argv[0], '=')) *needs_shell = true;
    *argv_out = argv;
    return ESFT_OK;
}

/* ---- the process ---- */

esft_reward_cmd *esft_reward_cmd_new(const char *command, double timeout, double timeout_score) {
    esft_reward_cmd *rc = calloc(1, sizeof *rc);
    if (!rc || !(rc->command = strdup(command))) {
        free(rc);
        return NULL;
    }
    rc->refs = 1;
    rc->timeout = timeout > 0 ? timeout : ESFT_REWARD_CMD_DEFAULT_TIMEOUT_S;
    rc->timeout_score = timeout_score;
    rc->to_fd = rc->from_fd = rc->err_fd = -1;
    return rc;
}

int esft_reward_cmd_parts(const esft_reward_cmd *rc, const char **names, int max) {
    int n = rc->n_parts < max ? rc->n_parts : max;
    for (int k = 0; k < n; k++) names[k] = rc->part_names[k];
    return n;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Keeps the last TAIL_MAX bytes the process wrote to stderr. */
static void read_stderr(esft_reward_cmd *rc) {
    char buf[4096];
    ssize_t got = read(rc->err_fd, buf, sizeof buf);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
        close_fd(&rc->err_fd);
        return;
    }
    if (got < 0) return;
    size_t k = (size_t)got;
    if (k >= TAIL_MAX) {
        memcpy(rc->tail, buf + k - TAIL_MAX, TAIL_MAX);
        rc->tail_len = TAIL_MAX;
        return;
    }
    size_t keep = rc->tail_len + k > TAIL_MAX ? TAIL_MAX - k : rc->tail_len;
    memmove(rc->tail, rc->tail + rc->tail_len - keep, keep);
    memcpy(rc->tail + keep, buf, k);
    rc->tail_len = keep + k;
}

/* Reads what is left of stderr, for `seconds` at most (a crash's traceback). */
static void drain_stderr(esft_reward_cmd *rc, double seconds) {
    double end = now_s() + seconds;
    while (rc->err_fd >= 0) {
        int ms = (int)((end - now_s()) * 1000);
        if (ms <= 0) break;
        struct pollfd p = {rc->err_fd, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0) break;
        read_stderr(rc);
    }
}

/* Ends the process: EOF on its stdin, a moment to exit, then its whole
 * group is killed and it is reaped. *status: its wait status (-1: none). */
static void stop(esft_reward_cmd *rc, int *status) {
    if (status) *status = -1;
    close_fd(&rc->to_fd);
    if (rc->pid > 0) {
        siginfo_t si;
        for (int i = 0; i < 50; i++) { /* 0.5 s: WNOWAIT keeps the group id ours until the kill */
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)rc->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == rc->pid) break;
            usleep(10000);
        }
        kill(-rc->pid, SIGKILL);
        int ws = 0;
        while (waitpid(rc->pid, &ws, 0) < 0 && errno == EINTR) {
        }
        if (status) *status = ws;
    }
    rc->pid = 0;
    close_fd(&rc->from_fd);
    close_fd(&rc->err_fd);
    rc->in_len = 0;
    rc->n_late = 0;
    rc->answered_once = rc->idle = false;
}

esft_reward_cmd *esft_reward_cmd_ref(esft_reward_cmd *rc) {
    rc->refs++;
    return rc;
}

void esft_reward_cmd_free(esft_reward_cmd *rc) {
    if (!rc || --rc->refs > 0) return;
    stop(rc, NULL);
    free(rc->command);
    free(rc->late);
    free(rc->in);
    free(rc);
}

/* One line naming the command, the item (label, may be NULL) and what
 * went wrong, with the tail of the command's stderr. */
static esft_status fail(esft_reward_cmd *rc, esft_err *err, esft_status st, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static esft_status fail(esft_reward_cmd *rc, esft_err *err, esft_status st, const char *label, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* the last 160 bytes of stderr on one line */
    size_t n = rc->tail_len;
    while (n > 0 && (rc->tail[n - 1] == '\n' || rc->tail[n - 1] == '\r' || rc->tail[n - 1] == ' ')) n--;
    size_t from = n > 160 ? n - 160 : 0;
    char *tail = esft_utf8_sanitize(rc->tail + from, n - from);
    for (char *c = tail; c && *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
    esft_errf(err, st, "reward command '%.100s'%s%s: %s; its stderr %s%s%s", rc->command, label ? ": item " : "",
              label ? label : "", what, n ? "ends: \"" : "is empty", n && tail ? tail : "", n ? "\"" : "");
    free(tail);
    return st;
}

static esft_status start(esft_reward_cmd *rc, esft_err *err) {
    char **argv = NULL;
    bool shell = false;
    esft_status st = esft_command_split(rc->command, &argv, &shell, err);
    if (st) return st;
    int in_sv[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_sv) || pipe2(out_p, O_CLOEXEC) ||
        pipe2(err_p, O_CLOEXEC)) {
        int e = errno;
        for (int i = 0; i < 2; i++) close(in_sv[i]), close(out_p[i]), close(err_p[i]);
        free(argv);
        return esft_errf(err, ESFT_ERR_IO, "reward command '%.100s': cannot make pipes: %s", rc->command, strerror(e));
    }
    /* Python buffers a pipe's output; the protocol needs each line at once */
    size_t n_env = 0;
    while (environ[n_env]) n_env++;
    char **envp = malloc((n_env + 2) * sizeof *envp);
    char unbuffered[] = "PYTHONUNBUFFERED=1";
    if (envp) {
        memcpy(envp, environ, n_env * sizeof *envp);
        envp[n_env] = getenv("PYTHONUNBUFFERED") ? NULL : unbuffered;
        envp[n_env + 1] = NULL;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&fa, in_sv[1], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_p[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err_p[1], STDERR_FILENO);
    sigset_t none, dflt;
    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0); /* its own group: closing kills its children too */
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dflt);
    char *sh_argv[] = {"/bin/sh", "-c", rc->command, NULL};
    pid_t pid = 0;
    int r = envp ? posix_spawnp(&pid, shell ? sh_argv[0] : argv[0], &fa, &attr, shell ? sh_argv : argv, envp)
                 : ENOMEM;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(envp);
    char prog[256];
    snprintf(prog, sizeof prog, "%s", shell ? sh_argv[0] : argv[0]);
    free(argv);
    close(in_sv[1]), close(out_p[1]), close(err_p[1]);
    if (r) {
        close(in_sv[0]), close(out_p[0]), close(err_p[0]);
        return esft_errf(err, ESFT_ERR_IO, "reward command '%.100s': cannot run %s: %s", rc->command, prog,
                         strerror(r));
    }
    rc->pid = pid;
    rc->to_fd = in_sv[0];
    rc->from_fd = out_p[0];
    rc->err_fd = err_p[0];
    fcntl(rc->to_fd, F_SETFL, fcntl(rc->to_fd, F_GETFL) | O_NONBLOCK);
    fcntl(rc->from_fd, F_SETFL, fcntl(rc->from_fd, F_GETFL) | O_NONBLOCK);
    fcntl(rc->err_fd, F_SETFL, fcntl(rc->err_fd, F_GETFL) | O_NONBLOCK);
    rc->tail_len = 0;
    rc->answered_once = false;
    return ESFT_OK;
}

/* ---- one batch ---- */

/* The requests of a batch, one JSON line each, ids base..base+n-1. */
static char *write_requests(const esft_reward_request *reqs, int n, long long base, size_t *len) {
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    for (int i = 0; buf && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        char *line = NULL;
        if (o && cJSON_AddNumberToObject(o, "id", (double)(base + i)) &&
            cJSON_AddStringToObject(o, "prompt", reqs[i].prompt ? reqs[i].prompt : "") &&
            esft_utf8_json_add(o, "response", reqs[i].response, reqs[i].len) &&
            (reqs[i].record ? cJSON_AddItemReferenceToObject(o, "item", (cJSON *)reqs[i].record)
                            : cJSON_AddObjectToObject(o, "item") != NULL))
            line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        size_t k = line ? strlen(line) : 0;
        if (line && used + k + 1 > cap) {
            while (used + k + 1 > cap) cap *= 2;
            char *grown = realloc(buf, cap);
            if (!grown) free(line), line = NULL;
            else buf = grown;
        }
        if (!line) {
            free(buf);
            return NULL;
        }
        memcpy(buf + used, line, k);
        buf[used + k] = '\n';
        used += k + 1;
        free(line);
    }
    *len = used;
    return buf;
}

typedef struct batch {
    const esft_reward_request *reqs;
    int n;
    long long base;
    esft_score *out;
    bool *done;
    int left;       /* requests neither answered nor timed out */
} batch;

/* The first request not yet answered (the one a failure is about). */
static const char *oldest_label(const batch *b) {
    for (int i = 0; i < b->n; i++)
        if (!b->done[i]) return b->reqs[i].label;
    return b->n ? b->reqs[b->n - 1].label : NULL;
}

static bool take_late(esft_reward_cmd *rc, long long id) {
    for (int i = 0; i < rc->n_late; i++)
        if (rc->late[i] == id) {
            rc->late[i] = rc->late[--rc->n_late];
            return true;
        }
    return false;
}

static esft_status add_part(esft_reward_cmd *rc, const char *name, int *slot, const char *label, esft_err *err) {
    for (int k = 0; k < rc->n_parts; k++)
        if (strcmp(rc->part_names[k], name) == 0) return *slot = k, ESFT_OK;
    if (rc->n_parts == ESFT_TASK_MAX_PARTS)
        return fail(rc, err, ESFT_ERR_FORMAT, label, "part '%.60s' is one more than the %d parts esft keeps", name,
                    ESFT_TASK_MAX_PARTS);
    if (!name[0] || strlen(name) >= PART_NAME_MAX)
        return fail(rc, err, ESFT_ERR_FORMAT, label, "a part name must have 1 to %d bytes", PART_NAME_MAX - 1);
    snprintf(rc->part_names[rc->n_parts], PART_NAME_MAX, "%s", name);
    *slot = rc->n_parts++;
    return ESFT_OK;
}

/* One line of the process's stdout: an answer to a request of the batch. */
static esft_status take_answer(esft_reward_cmd *rc, batch *b, const char *line, esft_err *err) {
    if (line[strspn(line, " \t\r")] == '\0') return ESFT_OK; /* blank lines are allowed */
    cJSON *o = cJSON_ParseWithOpts(line, NULL, true);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return fail(rc, err, ESFT_ERR_FORMAT, oldest_label(b), "it printed a line that is not a JSON object: '%.80s'",
                    line);
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    esft_status st = ESFT_OK;
    long long v = cJSON_IsNumber(id) ? (long long)id->valuedouble : -1;
    if (!cJSON_IsNumber(id) || id->valuedouble != (double)v) {
        st = fail(rc, err, ESFT_ERR_FORMAT, oldest_label(b), "an answer without an integer 'id': '%.80s'", line);
    } else if (take_late(rc, v)) { /* a timed-out request answered late: already scored */
    } else if (v < 0 || v >= b->base + b->n) {
        st = fail(rc, err, ESFT_ERR_FORMAT, oldest_label(b), "it answered id %lld, which esft never sent (ids %lld..%lld)",
                  v, b->base, b->base + b->n - 1);
    } else if (v < b->base || b->done[v - b->base]) { /* earlier ids were all answered or are late */
        st = fail(rc, err, ESFT_ERR_FORMAT, v < b->base ? oldest_label(b) : b->reqs[v - b->base].label,
                  "it answered id %lld twice", v);
    } else {
        int i = (int)(v - b->base);
        const char *label = b->reqs[i].label;
        const cJSON *reward = cJSON_GetObjectItemCaseSensitive(o, "reward");
        const cJSON *correct = cJSON_GetObjectItemCaseSensitive(o, "correct");
        const cJSON *parts = cJSON_GetObjectItemCaseSensitive(o, "parts");
        esft_score s = {0};
        if (!cJSON_IsNumber(reward)) st = fail(rc, err, ESFT_ERR_FORMAT, label, "the answer has no number 'reward'");
        else if (!isfinite(reward->valuedouble))
            st = fail(rc, err, ESFT_ERR_FORMAT, label, "the reward is not finite");
        else if (correct && !cJSON_IsBool(correct))
            st = fail(rc, err, ESFT_ERR_FORMAT, label, "'correct' must be true or false");
        else if (parts && !cJSON_IsObject(parts))
            st = fail(rc, err, ESFT_ERR_FORMAT, label, "'parts' must be an object of numbers");
        if (!st) {
            s.reward = reward->valuedouble;
            s.correct = correct ? cJSON_IsTrue(correct) : s.reward > 0;
        }
        for (const cJSON *p = parts ? parts->child : NULL; !st && p; p = p->next) {
            int k = 0;
            if (!cJSON_IsNumber(p) || !isfinite(p->valuedouble))
                st = fail(rc, err, ESFT_ERR_FORMAT, label, "part '%.60s' is not a finite number", p->string);
            else if (!(st = add_part(rc, p->string, &k, label, err)))
                s.parts[k] = p->valuedouble;
        }
        if (!st) {
            b->out[i] = s;
            b->done[i] = true;
            b->left--;
            rc->answered_once = true;
        }
    }
    cJSON_Delete(o);
    return st;
}

/* Reads stdout and handles every complete line. *answered: some request
 * was answered (the clock restarts). EOF: the process is gone. */
static esft_status read_answers(esft_reward_cmd *rc, batch *b, bool *answered, esft_err *err) {
    if (rc->in_len > LINE_MAX_BYTES)
        return fail(rc, err, ESFT_ERR_FORMAT, oldest_label(b), "it printed a line of more than %u MiB",
                    LINE_MAX_BYTES >> 20);
    if (rc->in_cap - rc->in_len < 4096) {
        size_t cap = rc->in_cap ? rc->in_cap * 2 : 65536;
        char *grown = realloc(rc->in, cap);
        if (!grown) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
        rc->in = grown, rc->in_cap = cap;
    }
    ssize_t got = read(rc->from_fd, rc->in + rc->in_len, rc->in_cap - rc->in_len - 1);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return ESFT_OK;
    if (got <= 0) {
        drain_stderr(rc, 2.0);
        int ws;
        stop(rc, &ws);
        char how[64] = "closed its stdout";
        if (ws >= 0 && WIFEXITED(ws)) snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(ws));
        else if (ws >= 0 && WIFSIGNALED(ws)) snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(ws));
        return fail(rc, err, ESFT_ERR_IO, oldest_label(b), "the command %s before answering it", how);
    }
    rc->in_len += (size_t)got;
    size_t start = 0;
    int before = b->left;
    for (char *nl; (nl = memchr(rc->in + start, '\n', rc->in_len - start));) {
        *nl = '\0';
        if (memchr(rc->in + start, '\0', (size_t)(nl - rc->in) - start))
            return fail(rc, err, ESFT_ERR_FORMAT, oldest_label(b), "it printed a NUL byte");
        esft_status st = take_answer(rc, b, rc->in + start, err);
        if (st) return st;
        start = (size_t)(nl - rc->in) + 1;
    }
    memmove(rc->in, rc->in + start, rc->in_len - start);
    rc->in_len -= start;
    *answered = b->left < before;
    return ESFT_OK;
}

/* Its stdin broke: when it exited, its stdout ends within a second, and
 * the failure reports how it exited; else it closed its stdin. */
static esft_status stdin_closed(esft_reward_cmd *rc, batch *b, int e, esft_err *err) {
    double end = now_s() + 1.0;
    for (int ms; (ms = (int)((end - now_s()) * 1000)) > 0;) {
        struct pollfd p = {rc->from_fd, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0) break;
        bool answered = false;
        esft_status st = read_answers(rc, b, &answered, err);
        if (st) return st;
    }
    return fail(rc, err, ESFT_ERR_IO, oldest_label(b), "it closed its stdin: %s", strerror(e));
}

/* The clock ran out: the oldest unanswered request times out, or the
 * process is hung (it ran out before with no answer since). */
static esft_status expire(esft_reward_cmd *rc, batch *b, esft_err *err) {
    int i = 0;
    while (b->done[i]) i++;
    double limit = rc->timeout + (rc->answered_once ? 0 : ESFT_REWARD_CMD_STARTUP_S);
    if (rc->idle)
        return fail(rc, err, ESFT_ERR_IO, b->reqs[i].label,
                    "no answer for %g s after a timed-out request (--reward-timeout %g): the command hangs", limit,
                    rc->timeout);
    if (rc->n_late == rc->cap_late) {
        int cap = rc->cap_late ? 2 * rc->cap_late : 16;
        long long *grown = realloc(rc->late, (size_t)cap * sizeof *grown);
        if (!grown) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
        rc->late = grown, rc->cap_late = cap;
    }
    rc->late[rc->n_late++] = b->base + i;
    b->out[i] = (esft_score){.reward = rc->timeout_score, .timed_out = true};
    b->done[i] = true;
    b->left--;
    rc->idle = true;
    return ESFT_OK;
}

static esft_status run_batch(esft_reward_cmd *rc, batch *b, const char *buf, size_t len, esft_err *err) {
    size_t sent = 0;
    double clock = now_s();
    while (b->left > 0) {
        double limit = rc->timeout + (rc->answered_once ? 0 : ESFT_REWARD_CMD_STARTUP_S);
        double wait = clock + limit - now_s();
        if (wait <= 0) {
            esft_status st = expire(rc, b, err);
            if (st) return st;
            clock = now_s();
            continue;
        }
        struct pollfd p[3] = {{sent < len ? rc->to_fd : -1, POLLOUT, 0},
                              {rc->from_fd, POLLIN, 0},
                              {rc->err_fd, POLLIN, 0}};
        int r = poll(p, 3, (int)ceil(wait * 1000));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fail(rc, err, ESFT_ERR_IO, oldest_label(b), "poll: %s", strerror(errno));
        if (p[0].revents) {
            ssize_t k = send(rc->to_fd, buf + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k > 0) sent += (size_t)k;
            else if (k < 0 && errno != EAGAIN && errno != EINTR) {
                return stdin_closed(rc, b, errno, err);
            }
        }
        if (p[2].revents) read_stderr(rc);
        if (p[1].revents) {
            bool answered = false;
            esft_status st = read_answers(rc, b, &answered, err);
            if (st) return st;
            if (answered) clock = now_s(), rc->idle = false;
        }
    }
    return ESFT_OK;
}

esft_status esft_reward_cmd_score(esft_reward_cmd *rc, const esft_reward_request *reqs, int n, esft_score *out,
                                  esft_err *err) {
    if (n <= 0) return ESFT_OK;
    esft_status st;
    if (!rc->pid && (st = start(rc, err))) return st;
    size_t len = 0;
    char *buf = write_requests(reqs, n, rc->next_id, &len);
    bool *done = calloc((size_t)n, sizeof *done);
    if (!buf || !done) {
        free(buf), free(done);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    batch b = {reqs, n, rc->next_id, out, done, n};
    rc->next_id += n;
    memset(out, 0, (size_t)n * sizeof *out);
    st = run_batch(rc, &b, buf, len, err);
    if (st) stop(rc, NULL); /* its state is unknown: the next batch starts a fresh one */
    free(buf), free(done);
    return st;
}
