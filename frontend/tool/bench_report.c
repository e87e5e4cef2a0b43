/* esft bench report / compare / device (see bench_report.h). */
#include "bench_report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "cli.h"
#include "esft_fs.h"
#include "generate.h"
#include "gguf.h"
#include "registry.h"

#ifndef ESFT_BUILD_INFO
#define ESFT_BUILD_INFO "unknown build"
#endif

#define REPORT_SCHEMA "esft-bench-report"
#define REPORT_SCHEMA_VERSION 1

/* ---- the child ---- */

int bench_device_command(int argc, char **argv) {
    bench_device_args a = {.device = 0};
    const cli_opt opts[] = {
        {"backend", CLI_STR, &a.backend, "B", "the backend", 0, 0},
        {"device", CLI_INT, &a.device, "I", "the device index within it", 0, 64},
        {"threads", CLI_INT, &a.threads, "N", "host threads (default: all cores)", 0, 4096},
        {"model", CLI_STR, &a.model, "PATH", "model: a GGUF file or a Hugging Face directory", 0, 0},
        {"quick", CLI_FLAG, &a.quick, NULL, "shorter timings and fewer shapes", 0, 0},
        {"json", CLI_STR, &a.json_path, "FILE", "where the device's results go", 0, 0},
    };
    const cli_command cmd = {"bench device", "--backend B --device I --model FILE --json FILE [--quick]",
                             "One device of 'esft bench report', which runs it in a process of its own.",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    if (!a.backend || !a.model || !a.json_path) {
        fprintf(stderr, "esft bench device: --backend, --model and --json are required\n");
        return ESFT_EXIT_USAGE;
    }
    return bench_device_main(&a);
}

/* ---- running one device ---- */

typedef struct device_job {
    esft_ranked_device rd;
    const char *status;   /* "ok", "failed", "timeout", "unavailable" */
    char error[600];
    double seconds;
    cJSON *results;       /* the child's object, when ok */
} device_job;

/* Runs `esft bench device` for job within budget seconds, showing its
 * progress lines; fills status, error, seconds and results. */
static void run_device(device_job *job, const char *model, bool quick, int threads, double budget,
                       const char *tmp_dir, int k, int n) {
    const esft_device_info *d = &job->rd.info;
    char json[1100], dev[16], thr[16];
    snprintf(json, sizeof json, "%s/%s-%d.json", tmp_dir, d->backend, d->index);
    snprintf(dev, sizeof dev, "%d", d->index);
    snprintf(thr, sizeof thr, "%d", threads);
    char *args[16] = {"esft", "bench", "device", "--backend", (char *)d->backend, "--device", dev,
                      "--model", (char *)model, "--json", json, "--threads", thr};
    int na = 13;
    if (quick) args[na++] = "--quick";
    args[na] = NULL;
    int pipe_fd[2];
    const double t0 = esft_now_seconds();
    job->status = "failed";
    if (pipe(pipe_fd)) {
        snprintf(job->error, sizeof job->error, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipe_fd[1], STDERR_FILENO);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, STDOUT_FILENO);
        close(pipe_fd[0]), close(pipe_fd[1]);
        execv("/proc/self/exe", args);
        fprintf(stderr, "cannot run /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    close(pipe_fd[1]);
    if (pid < 0) {
        close(pipe_fd[0]);
        snprintf(job->error, sizeof job->error, "fork: %s", strerror(errno));
        return;
    }
    /* progress: the child's lines as they come; the last one is its error */
    char buf[4096], last[600] = "";
    size_t used = 0;
    bool timed_out = false, open_pipe = true;
    while (open_pipe) {
        double left = budget - (esft_now_seconds() - t0);
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = pipe_fd[0], .events = POLLIN};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t got = read(pipe_fd[0], buf + used, sizeof buf - 1 - used);
        if (got <= 0) {
            open_pipe = false;
            break;
        }
        used += (size_t)got;
        buf[used] = '\0';
        char *nl;
        while ((nl = strchr(buf, '\n'))) {
            *nl = '\0';
            if (buf[0]) {
                snprintf(last, sizeof last, "%.500s", buf);
                fprintf(stderr, "  [%d/%d] %s %d, %3.0f s: %s\n", k, n, d->backend, d->index,
                        esft_now_seconds() - t0, buf);
            }
            used -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, used + 1);
        }
        if (used == sizeof buf - 1) used = 0; /* a line too long to show */
    }
    close(pipe_fd[0]);
    int wstatus = 0;
    if (timed_out) kill(pid, SIGKILL);
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {}
    job->seconds = esft_now_seconds() - t0;
    /* what the child measured: all of it, or the parts before it stopped */
    size_t len = 0;
    char *text = esft_read_file(json, ESFT_READ_MAX, &len);
    job->results = text ? cJSON_Parse(text) : NULL;
    free(text);
    unlink(json);
    if (timed_out) {
        job->status = "timeout";
        snprintf(job->error, sizeof job->error, "no result within the budget of %.0f s (last: %s)", budget,
                 last[0] ? last : "nothing");
        return;
    }
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
        if (WIFSIGNALED(wstatus))
            snprintf(job->error, sizeof job->error, "killed by signal %d (last: %s)", WTERMSIG(wstatus), last);
        else
        {
            static const char prefix[] = "esft bench device: "; /* the child's own name adds nothing here */
            const char *msg = strncmp(last, prefix, sizeof prefix - 1) == 0 ? last + sizeof prefix - 1 : last;
            snprintf(job->error, sizeof job->error, "%s", msg[0] ? msg : "failed without a message");
        }
        return;
    }
    if (!cJSON_IsObject(job->results)) {
        snprintf(job->error, sizeof job->error, "its results (%.500s) are missing or not JSON", json);
        return;
    }
    job->status = "ok";
}

/* ---- the report ---- */

void bench_json_number(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static cJSON *device_json(const device_job *j) {
    const esft_device_info *d = &j->rd.info;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "backend", d->backend);
    cJSON_AddNumberToObject(o, "index", d->index);
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddBoolToObject(o, "is_gpu", d->is_gpu);
    cJSON_AddStringToObject(o, "pci_address", d->pci_id);
    char ids[16] = "";
    if (d->pci_vendor) snprintf(ids, sizeof ids, "%04x:%04x", d->pci_vendor, d->pci_device);
    cJSON_AddStringToObject(o, "pci_ids", ids);
    cJSON_AddStringToObject(o, "hwloc", j->rd.hwloc);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)d->memory_bytes);
    cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
    cJSON_AddNumberToObject(o, "clock_mhz", d->clock_mhz);
    cJSON_AddStringToObject(o, "driver", d->driver);
    cJSON_AddStringToObject(o, "status", j->status);
    cJSON_AddStringToObject(o, "error", j->error);
    bench_json_number(o, "seconds", j->seconds);
    if (j->results)
        for (cJSON *c = j->results->child; c; c = c->next)
            cJSON_AddItemToObject(o, c->string, cJSON_Duplicate(c, true));
    return o;
}

static void iso_date(char *out, size_t cap) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cJSON *model_json(const char *path) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    gguf_file *f = NULL;
    if (esft_gguf_open(path, &f, NULL) == ESFT_OK) {
        const char *arch = esft_gguf_get_str(f, "general.architecture");
        double params = 0;
        for (size_t i = 0; i < esft_gguf_n_tensors(f); i++) params += (double)esft_gguf_tensor_at(f, i)->n_elements;
        cJSON_AddStringToObject(o, "arch", arch ? arch : "");
        cJSON_AddNumberToObject(o, "params", params);
        esft_gguf_close(f);
    }
    return o;
}

static cJSON *host_json(int threads) {
    cJSON *o = cJSON_CreateObject();
    esft_device_info cpu[1];
    const esft_backend_driver *drv = esft_registry_find("cpu");
    if (drv && drv->enumerate(cpu, 1, NULL) == 1) {
        cJSON_AddStringToObject(o, "cpu", cpu[0].name);
        cJSON_AddNumberToObject(o, "cores", cpu[0].compute_units);
        cJSON_AddNumberToObject(o, "memory_bytes", (double)cpu[0].memory_bytes);
    }
    struct utsname u;
    if (uname(&u) == 0) {
        char k[300];
        snprintf(k, sizeof k, "%s %s %s", u.sysname, u.release, u.machine);
        cJSON_AddStringToObject(o, "kernel", k);
    }
    cJSON_AddNumberToObject(o, "threads", threads);
    return o;
}

/* Number at a dotted path ("limits.gflops") of o, or NAN. */
static double num_at(const cJSON *o, const char *path) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        o = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(o) ? o->valuedouble : NAN;
}

/* "12.3 (45%)" or "-" for missing numbers. */
static void cell(char *out, size_t cap, double v, double of) {
    if (!isfinite(v)) snprintf(out, cap, "-");
    else if (isfinite(of)) snprintf(out, cap, "%.4g (%.0f%%)", v, 100 * of);
    else snprintf(out, cap, "%.4g", v);
}

/* A device with results: all of them (ok), or those measured before it
 * failed or ran out of its budget. */
static bool measured(const cJSON *d) { return cJSON_GetObjectItem(d, "limits") != NULL; }

/* The first device that measured `part`, or NULL. */
static const cJSON *first_with(const cJSON *devs, const char *part) {
    for (const cJSON *d = devs->child; d; d = d->next)
        if (cJSON_GetObjectItem(d, part)) return d;
    return NULL;
}

static void md_devices_header(FILE *f, cJSON *devs, const char *first) {
    fprintf(f, "| %s |", first);
    for (cJSON *d = devs->child; d; d = d->next)
        if (measured(d))
            fprintf(f, " %s %d |", cJSON_GetStringValue(cJSON_GetObjectItem(d, "backend")),
                    (int)num_at(d, "index"));
    fprintf(f, "\n|---|");
    for (cJSON *d = devs->child; d; d = d->next)
        if (measured(d)) fprintf(f, "---|");
    fputc('\n', f);
}

/* Row i of array `key` of every ok device: the cell of value/of fields. */
static void md_array_row(FILE *f, cJSON *devs, const char *key, int i, const char *value, const char *of) {
    for (cJSON *d = devs->child; d; d = d->next) {
        if (!measured(d)) continue;
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(d, key), i);
        char c[64];
        cell(c, sizeof c, num_at(e, value), of ? num_at(e, of) : NAN);
        fprintf(f, " %s |", c);
    }
    fputc('\n', f);
}

static void write_markdown(FILE *f, const cJSON *report) {
    const cJSON *esft = cJSON_GetObjectItem(report, "esft"), *host = cJSON_GetObjectItem(report, "host");
    const cJSON *model = cJSON_GetObjectItem(report, "model");
    cJSON *devs = cJSON_GetObjectItem(report, "devices");
    fprintf(f, "# esft bench report\n\n");
    fprintf(f, "- esft %s (%s), %s%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(esft, "version")),
            cJSON_GetStringValue(cJSON_GetObjectItem(esft, "build")),
            cJSON_GetStringValue(cJSON_GetObjectItem(report, "date")),
            cJSON_IsTrue(cJSON_GetObjectItem(report, "quick")) ? ", --quick" : "");
    fprintf(f, "- host: %s, %d cores, %.1f GiB, %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(host, "cpu")),
            (int)num_at(host, "cores"), num_at(host, "memory_bytes") / (1 << 30),
            cJSON_GetStringValue(cJSON_GetObjectItem(host, "kernel")));
    fprintf(f, "- model: %s (%s, %.1fM parameters)\n\n", cJSON_GetStringValue(cJSON_GetObjectItem(model, "path")),
            cJSON_GetStringValue(cJSON_GetObjectItem(model, "arch")), num_at(model, "params") / 1e6);
    fprintf(f, "## Devices\n\nLimits are measured on the device: peak = its best matmul GFLOP/s at a large square "
               "shape, bandwidth = device-to-device copy (read + write). Nominal = from the clock and units the "
               "driver reports, where esft knows the lanes per unit.\n\n");
    fprintf(f, "| device | status | units x MHz | work dtype | peak GFLOP/s | nominal GFLOP/s | copy GB/s | "
               "driver | seconds |\n|---|---|---|---|---|---|---|---|---|\n");
    for (cJSON *d = devs->child; d; d = d->next) {
        const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(d, "status"));
        char peak[64], nominal[64], bw[64];
        cell(peak, sizeof peak, num_at(d, "limits.gflops"), num_at(d, "limits.measured_of_nominal"));
        cell(nominal, sizeof nominal, num_at(d, "limits.nominal_gflops"), NAN);
        cell(bw, sizeof bw, num_at(d, "limits.bandwidth_gbps"), NAN);
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(d, "error"));
        const char *wd = cJSON_GetStringValue(cJSON_GetObjectItem(d, "work_dtype"));
        char who[300], units[64] = "-", secs[32] = "-";
        const int index = (int)num_at(d, "index");
        if (index >= 0)
            snprintf(who, sizeof who, "%s %d: %s", cJSON_GetStringValue(cJSON_GetObjectItem(d, "backend")), index,
                     cJSON_GetStringValue(cJSON_GetObjectItem(d, "name")));
        else
            snprintf(who, sizeof who, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(d, "backend")));
        const int cu = (int)num_at(d, "compute_units"), mhz = (int)num_at(d, "clock_mhz");
        if (cu > 0 && mhz > 0) snprintf(units, sizeof units, "%d x %d", cu, mhz);
        else if (cu > 0) snprintf(units, sizeof units, "%d", cu);
        if (isfinite(num_at(d, "seconds"))) snprintf(secs, sizeof secs, "%.0f", num_at(d, "seconds"));
        fprintf(f, "| %s | %s%s%s | %s | %s | %s | %s | %s | %s | %s |\n", who, strcmp(status, "unavailable") ? status : "",
                err && err[0] && strcmp(status, "unavailable") ? ": " : "", err ? err : "", units, wd ? wd : "-",
                peak, nominal, bw, cJSON_GetStringValue(cJSON_GetObjectItem(d, "driver")), secs);
    }
    if (!first_with(devs, "limits")) {
        fprintf(f, "\nNo device produced results.\n");
        return;
    }
    fprintf(f, "\n## Matmul y = x·Wᵀ at the model's shapes\n\nGFLOP/s (%% of the device's peak); T = rows of x.\n\n");
    md_devices_header(f, devs, "weight [N x K], T");
    const cJSON *mm = cJSON_GetObjectItem(first_with(devs, "matmul"), "matmul");
    for (int i = 0; i < cJSON_GetArraySize(mm); i++) {
        const cJSON *e = cJSON_GetArrayItem(mm, i);
        fprintf(f, "| %s [%d x %d], T=%d |", cJSON_GetStringValue(cJSON_GetObjectItem(e, "weight")),
                (int)num_at(e, "N"), (int)num_at(e, "K"), (int)num_at(e, "T"));
        md_array_row(f, devs, "matmul", i, "gflops", "of_peak");
    }
    fprintf(f, "\n## ES noise\n\nG normals/s (%% of copy bandwidth in bytes moved).\n\n");
    md_devices_header(f, devs, "op");
    const cJSON *noise = cJSON_GetObjectItem(first_with(devs, "noise"), "noise");
    for (int i = 0; i < cJSON_GetArraySize(noise); i++) {
        const cJSON *e = cJSON_GetArrayItem(noise, i);
        fprintf(f, "| %s, %d member%s |", cJSON_GetStringValue(cJSON_GetObjectItem(e, "op")), (int)num_at(e, "members"),
                num_at(e, "members") > 1 ? "s" : "");
        md_array_row(f, devs, "noise", i, "gnormals_per_s", "of_bandwidth");
    }
    fprintf(f, "\n## Greedy decode\n\nTokens/s; below each, the matmul GFLOP/s (%% of peak) and the weight "
               "GB/s read (%% of bandwidth): batch 1 is bound by the second, large batches by the first.\n\n");
    md_devices_header(f, devs, "batch");
    const cJSON *dec = cJSON_GetObjectItem(first_with(devs, "decode"), "decode");
    for (int i = 0; i < cJSON_GetArraySize(dec); i++) {
        const int b = (int)num_at(cJSON_GetArrayItem(dec, i), "batch");
        fprintf(f, "| %d: tokens/s |", b);
        md_array_row(f, devs, "decode", i, "tokens_per_s", NULL);
        fprintf(f, "| %d: GFLOP/s |", b);
        md_array_row(f, devs, "decode", i, "gflops", "of_peak");
        fprintf(f, "| %d: weight GB/s |", b);
        md_array_row(f, devs, "decode", i, "weight_gbps", "of_bandwidth");
    }
    fprintf(f, "\n## One ES iteration\n\nPopulation %d on the conciseness task's %d prompts, %d new tokens; seconds.\n\n",
            (int)num_at(first_with(devs, "es_iteration"), "es_iteration.pop"),
            (int)num_at(first_with(devs, "es_iteration"), "es_iteration.prompts"),
            (int)num_at(first_with(devs, "es_iteration"), "es_iteration.max_new"));
    md_devices_header(f, devs, "");
    static const char *const rows[][2] = {{"total", "seconds"}, {"generate", "seconds_generate"},
                                          {"perturb", "seconds_perturb"}, {"update", "seconds_update"},
                                          {"tokens/s", "tokens_per_s"}};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        fprintf(f, "| %s |", rows[r][0]);
        for (cJSON *d = devs->child; d; d = d->next) {
            if (!measured(d)) continue;
            char path[64], c[64];
            snprintf(path, sizeof path, "es_iteration.%s", rows[r][1]);
            cell(c, sizeof c, num_at(d, path), NAN);
            fprintf(f, " %s |", c);
        }
        fputc('\n', f);
    }
}

static int write_text(const char *path, const char *text, const char *what) {
    esft_err err = {{0}};
    if (esft_atomic_write(path, text, strlen(text), &err)) {
        fprintf(stderr, "esft bench report: %s: %s\n", what, err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    return ESFT_EXIT_OK;
}

int bench_report_command(int argc, char **argv) {
    const char *model = NULL, *md_path = NULL, *json_path = NULL, *only = NULL;
    bool quick = false;
    int threads = 0;
    float budget = 0;
    const cli_opt opts[] = {
        {"model", CLI_STR, &model, "PATH", "model: a GGUF file or a Hugging Face directory (default: SmolLM2-135M-Instruct)", 0, 0},
        {"quick", CLI_FLAG, &quick, NULL, "shorter timings, fewer shapes (minutes for cpu, PoCL and lavapipe)", 0, 0},
        {"out", CLI_STR, &md_path, "FILE", "(-o) write the Markdown report here (default: standard output)", 0, 0},
        {"json", CLI_STR, &json_path, "FILE", "also write the report as JSON (schema in README)", 0, 0},
        {"budget", CLI_FLOAT, &budget, "S", "seconds per device before it is stopped (default 300, --quick 240)", 1, 86400},
        {"backend", CLI_STR, &only, "B", "only this backend's devices (default: every backend)", 0, 0},
        {"threads", CLI_INT, &threads, "N", "host threads (default: all cores)", 0, 4096},
    };
    const cli_command cmd = {"bench report", "[--model FILE] [--quick] [-o report.md] [--json report.json]",
                             "Measures every device esft can open, each in a process of its own with a\n"
                             "time budget: matmul at the model's shapes, perturb and es_update, greedy\n"
                             "decode at batch 1/16/64 and one small ES iteration, each figure also as a\n"
                             "fraction of the device's measured peak FLOP/s or copy bandwidth.",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    if (only && !esft_backend_name_known(only)) {
        fprintf(stderr, "esft bench report: --backend %s: no such backend\n", only);
        return ESFT_EXIT_USAGE;
    }
    char path[1024];
    if ((rc = cli_model_path("bench report", model, path, sizeof path))) return rc;
    char *abs = realpath(path, NULL);
    if (!abs) {
        fprintf(stderr, "esft bench report: %s: %s\n", path, strerror(errno));
        return ESFT_EXIT_RUNTIME;
    }
    /* refuse unwritable outputs before minutes of measuring */
    esft_err err = {{0}};
    if ((md_path && esft_atomic_check_target(md_path, &err)) || (json_path && esft_atomic_check_target(json_path, &err))) {
        fprintf(stderr, "esft bench report: %s\n", err.msg);
        free(abs);
        return ESFT_EXIT_RUNTIME;
    }
    const double per_device = budget > 0 ? budget : quick ? 240 : 300;
    enum { MAX_DEVICES = 32 };
    esft_ranked_device ranked[MAX_DEVICES];
    int n_ranked = esft_registry_rank(ranked, MAX_DEVICES, 0);
    device_job *jobs = calloc(MAX_DEVICES, sizeof *jobs);
    char tmp_dir[] = "/tmp/esft-bench.XXXXXX";
    if (!jobs || !mkdtemp(tmp_dir)) {
        fprintf(stderr, "esft bench report: %s\n", jobs ? strerror(errno) : "out of memory");
        free(jobs), free(abs);
        return ESFT_EXIT_RUNTIME;
    }
    int n = 0, n_run = 0;
    for (int i = 0; i < n_ranked; i++) {
        if (only && strcmp(ranked[i].info.backend, only) != 0) continue;
        jobs[n].rd = ranked[i];
        jobs[n].seconds = NAN;
        const bool usable = ranked[i].info.index >= 0 && esft_driver_built(esft_registry_find(ranked[i].info.backend)) &&
                            !(ranked[i].order < 0 && ranked[i].reason[0]);
        if (!usable) {
            jobs[n].status = "unavailable";
            snprintf(jobs[n].error, sizeof jobs[n].error, "%s", ranked[i].reason[0] ? ranked[i].reason : "not built");
        } else {
            n_run++;
        }
        n++;
    }
    fprintf(stderr, "esft bench report: %d device%s to measure, up to %.0f s each%s\n", n_run, n_run == 1 ? "" : "s",
            per_device, quick ? " (--quick)" : "");
    for (int i = 0, k = 0; i < n; i++) {
        if (jobs[i].status) continue;
        k++;
        fprintf(stderr, "[%d/%d] %s %d: %s\n", k, n_run, jobs[i].rd.info.backend, jobs[i].rd.info.index,
                jobs[i].rd.info.name);
        run_device(&jobs[i], abs, quick, threads, per_device, tmp_dir, k, n_run);
        fprintf(stderr, "[%d/%d] %s %d: %s%s%s (%.0f s)\n", k, n_run, jobs[i].rd.info.backend, jobs[i].rd.info.index,
                jobs[i].status, jobs[i].error[0] ? ": " : "", jobs[i].error, jobs[i].seconds);
    }
    rmdir(tmp_dir);

    cJSON *report = cJSON_CreateObject();
    char date[32];
    iso_date(date, sizeof date);
    cJSON_AddStringToObject(report, "schema", REPORT_SCHEMA);
    cJSON_AddNumberToObject(report, "schema_version", REPORT_SCHEMA_VERSION);
    cJSON_AddStringToObject(report, "date", date);
    cJSON *esft = cJSON_AddObjectToObject(report, "esft");
    cJSON_AddStringToObject(esft, "version", ESFT_VERSION);
    cJSON_AddStringToObject(esft, "build", ESFT_BUILD_INFO);
    cJSON_AddItemToObject(report, "host", host_json(threads));
    cJSON_AddItemToObject(report, "model", model_json(abs));
    cJSON_AddBoolToObject(report, "quick", quick);
    cJSON_AddNumberToObject(report, "budget_seconds", per_device);
    cJSON *devs = cJSON_AddArrayToObject(report, "devices");
    for (int i = 0; i < n; i++) {
        cJSON_AddItemToArray(devs, device_json(&jobs[i]));
        cJSON_Delete(jobs[i].results);
    }
    free(jobs), free(abs);

    char *md = NULL;
    size_t md_len = 0;
    FILE *mf = open_memstream(&md, &md_len);
    if (mf) {
        write_markdown(mf, report);
        fclose(mf);
    }
    char *js = cJSON_Print(report);
    cJSON_Delete(report);
    rc = md && js ? ESFT_EXIT_OK : ESFT_EXIT_RUNTIME;
    if (!rc && md_path) rc = write_text(md_path, md, md_path);
    else if (!rc) fputs(md, stdout);
    if (!rc && json_path) rc = write_text(json_path, js, json_path);
    if (!rc && (md_path || json_path))
        fprintf(stderr, "esft bench report: wrote%s%s%s%s\n", md_path ? " " : "", md_path ? md_path : "",
                json_path ? " " : "", json_path ? json_path : "");
    free(md), free(js);
    return rc;
}

/* ---- compare ---- */

static cJSON *read_report(const char *path) {
    size_t len = 0;
    char *text = esft_read_file(path, ESFT_READ_MAX, &len);
    if (!text) {
        fprintf(stderr, "esft bench compare: %s: %s\n", path, esft_read_error(errno));
        return NULL;
    }
    cJSON *o = cJSON_Parse(text);
    free(text);
    const cJSON *schema = cJSON_GetObjectItem(o, "schema");
    if (!cJSON_IsString(schema) || strcmp(schema->valuestring, REPORT_SCHEMA) != 0 ||
        !cJSON_IsArray(cJSON_GetObjectItem(o, "devices"))) {
        fprintf(stderr, "esft bench compare: %s: not an esft bench report (no \"schema\": \"%s\" with devices)\n", path,
                REPORT_SCHEMA);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The device of b's report matching a's d: same backend and name. */
static const cJSON *match_device(const cJSON *report, const cJSON *d) {
    const char *be = cJSON_GetStringValue(cJSON_GetObjectItem(d, "backend"));
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(d, "name"));
    for (const cJSON *e = cJSON_GetObjectItem(report, "devices")->child; e; e = e->next)
        if (be && name && strcmp(be, cJSON_GetStringValue(cJSON_GetObjectItem(e, "backend"))) == 0 &&
            strcmp(name, cJSON_GetStringValue(cJSON_GetObjectItem(e, "name"))) == 0)
            return e;
    return NULL;
}

/* One metric of a device in both reports, with the ratio B/A ("-" when
 * either is missing or A is 0). */
static void compare_line(const char *label, double a, double b) {
    if (!isfinite(a) && !isfinite(b)) return;
    char ratio[32] = "-";
    if (isfinite(a) && isfinite(b) && a != 0) snprintf(ratio, sizeof ratio, "%.3f", b / a);
    printf("| %s | %.4g | %.4g | %s |\n", label, a, b, ratio);
}

int bench_compare_command(int argc, char **argv) {
    const char *pos[2];
    int n_pos = 0;
    const cli_command cmd = {"bench compare", "A.json B.json",
                             "Ratios B/A of two 'esft bench report --json' files, device by device\n"
                             "(matched by backend and name). Times: lower is better; the rest: higher.",
                             NULL, 0, 2, 2};
    int rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    cJSON *a = read_report(pos[0]), *b = a ? read_report(pos[1]) : NULL;
    if (!a || !b) {
        cJSON_Delete(a);
        return ESFT_EXIT_RUNTIME;
    }
    printf("A: %s (%s)\nB: %s (%s)\n", pos[0], cJSON_GetStringValue(cJSON_GetObjectItem(a, "date")), pos[1],
           cJSON_GetStringValue(cJSON_GetObjectItem(b, "date")));
    int matched = 0;
    for (const cJSON *da = cJSON_GetObjectItem(a, "devices")->child; da; da = da->next) {
        const cJSON *db = match_device(b, da);
        if (!db) continue;
        matched++;
        printf("\n### %s %d: %s (A %s, B %s)\n\n| metric | A | B | B/A |\n|---|---|---|---|\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(da, "backend")), (int)num_at(da, "index"),
               cJSON_GetStringValue(cJSON_GetObjectItem(da, "name")),
               cJSON_GetStringValue(cJSON_GetObjectItem(da, "status")),
               cJSON_GetStringValue(cJSON_GetObjectItem(db, "status")));
        compare_line("peak GFLOP/s", num_at(da, "limits.gflops"), num_at(db, "limits.gflops"));
        compare_line("copy GB/s", num_at(da, "limits.bandwidth_gbps"), num_at(db, "limits.bandwidth_gbps"));
        const cJSON *ma = cJSON_GetObjectItem(da, "matmul"), *mb = cJSON_GetObjectItem(db, "matmul");
        for (int i = 0; i < cJSON_GetArraySize(ma); i++) {
            const cJSON *ea = cJSON_GetArrayItem(ma, i);
            for (int j = 0; j < cJSON_GetArraySize(mb); j++) {
                const cJSON *eb = cJSON_GetArrayItem(mb, j);
                if (num_at(ea, "T") != num_at(eb, "T") || num_at(ea, "N") != num_at(eb, "N") ||
                    num_at(ea, "K") != num_at(eb, "K"))
                    continue;
                char label[96];
                snprintf(label, sizeof label, "matmul %dx%dx%d GFLOP/s", (int)num_at(ea, "T"), (int)num_at(ea, "N"),
                         (int)num_at(ea, "K"));
                compare_line(label, num_at(ea, "gflops"), num_at(eb, "gflops"));
            }
        }
        for (int i = 0; i < cJSON_GetArraySize(cJSON_GetObjectItem(da, "noise")); i++) {
            const cJSON *ea = cJSON_GetArrayItem(cJSON_GetObjectItem(da, "noise"), i);
            const cJSON *eb = cJSON_GetArrayItem(cJSON_GetObjectItem(db, "noise"), i);
            char label[96];
            snprintf(label, sizeof label, "%s G normals/s", cJSON_GetStringValue(cJSON_GetObjectItem(ea, "op")));
            compare_line(label, num_at(ea, "gnormals_per_s"), num_at(eb, "gnormals_per_s"));
        }
        for (int i = 0; i < cJSON_GetArraySize(cJSON_GetObjectItem(da, "decode")); i++) {
            const cJSON *ea = cJSON_GetArrayItem(cJSON_GetObjectItem(da, "decode"), i);
            const cJSON *eb = cJSON_GetArrayItem(cJSON_GetObjectItem(db, "decode"), i);
            char label[96];
            snprintf(label, sizeof label, "decode batch %d tokens/s", (int)num_at(ea, "batch"));
            compare_line(label, num_at(ea, "tokens_per_s"), num_at(eb, "tokens_per_s"));
        }
        compare_line("ES iteration seconds (lower is better)", num_at(da, "es_iteration.seconds"),
                     num_at(db, "es_iteration.seconds"));
    }
    if (!matched) printf("\nno device of A is in B\n");
    cJSON_Delete(a), cJSON_Delete(b);
    return ESFT_EXIT_OK;
}
