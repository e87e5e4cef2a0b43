/* The bottom-layer utilities (backends/util): pinned hash values, the half
 * conversions against a reference written here with double arithmetic, the
 * bounded file reader's refusals, mkdir -p and the cache directory lookup. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "esft_fs.h"
#include "esft_half.h"
#include "esft_hash.h"
#include "noise.h"
#include "testutil.h"

/* ------------------------------------------------------------ hashes */

static void test_hashes(void) {
    /* FNV-1a 32: DESIGN.md's tensor id and the published FNV test vectors */
    const char *q = "blk.0.attn_q.weight";
    CHECKF(esft_fnv1a32(ESFT_FNV1A32_INIT, q, strlen(q)) == 0x17265f1bu, "%08x",
           esft_fnv1a32(ESFT_FNV1A32_INIT, q, strlen(q)));
    CHECK(esft_tensor_id(q) == 0x17265f1bu);
    CHECK(esft_fnv1a32(ESFT_FNV1A32_INIT, "", 0) == 0x811c9dc5u);
    CHECK(esft_fnv1a32(ESFT_FNV1A32_INIT, "a", 1) == 0xe40c292cu);
    CHECK(esft_fnv1a32(ESFT_FNV1A32_INIT, "foobar", 6) == 0xbf9cf968u);

    /* FNV-1a 64 (checkpoint fingerprints, program-cache keys, vocab lookup) */
    CHECK(esft_fnv1a64(ESFT_FNV1A64_INIT, "", 0) == 0xcbf29ce484222325ull);
    CHECK(esft_fnv1a64(ESFT_FNV1A64_INIT, "a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(esft_fnv1a64(ESFT_FNV1A64_INIT, "foobar", 6) == 0x85944171f73967e8ull);
    CHECKF(esft_fnv1a64(ESFT_FNV1A64_INIT, q, strlen(q)) == 0xb2d88a5454e26c3bull, "%016" PRIx64,
           esft_fnv1a64(ESFT_FNV1A64_INIT, q, strlen(q)));
    /* streaming: any split of the input gives the same value */
    uint64_t h = esft_fnv1a64(ESFT_FNV1A64_INIT, "foo", 3);
    CHECK(esft_fnv1a64(h, "bar", 3) == 0x85944171f73967e8ull);
    uint32_t h32 = esft_fnv1a32(ESFT_FNV1A32_INIT, "fo", 2);
    CHECK(esft_fnv1a32(h32, "obar", 4) == 0xbf9cf968u);

    /* the word-wise variant (weight hashes across ranks, data-file prints):
     * little-endian 64-bit words of bytes 0..19, the last one zero-padded */
    unsigned char b[20];
    for (int i = 0; i < 20; i++) b[i] = (unsigned char)i;
    const uint16_t one = 1;
    if (*(const unsigned char *)&one == 1)
        CHECKF(esft_fnv1a64_words(ESFT_FNV1A64_INIT, b, sizeof b) == 0x7242dc785feca43full,
               "%016" PRIx64, esft_fnv1a64_words(ESFT_FNV1A64_INIT, b, sizeof b));
    CHECK(esft_fnv1a64_words(ESFT_FNV1A64_INIT, b, 0) == ESFT_FNV1A64_INIT);
    CHECK(esft_fnv1a64_words(esft_fnv1a64_words(ESFT_FNV1A64_INIT, b, 16), b + 16, 4) ==
          esft_fnv1a64_words(ESFT_FNV1A64_INIT, b, 20));
}

static void test_splitmix(void) {
    /* Vigna's splitmix64 from state 0 */
    uint64_t s = 0;
    CHECK(esft_splitmix64_next(&s) == 0xe220a8397b1dcdafull);
    CHECK(esft_splitmix64_next(&s) == 0x6e789e6aa1b965f4ull);
    CHECK(esft_splitmix64_next(&s) == 0x06c45d188009454full);
    CHECK(s == 3 * ESFT_SPLITMIX64_GAMMA);
    CHECK(esft_splitmix64(0) == 0xe220a8397b1dcdafull);
    /* DESIGN.md's member seed */
    CHECKF(esft_member_seed(42, 0, 0) == 0x6310bf04d8207f46ull, "%016" PRIx64,
           esft_member_seed(42, 0, 0));
}

/* ------------------------------------------------------------ half / bf16 */

/* A binary format with man_bits stored mantissa bits, exp_bits exponent bits,
 * decoded by arithmetic. */
static double ref_decode(uint32_t h, int exp_bits, int man_bits) {
    const uint32_t man = h & ((1u << man_bits) - 1), ex = (h >> man_bits) & ((1u << exp_bits) - 1);
    const int bias = (1 << (exp_bits - 1)) - 1;
    const double sign = (h >> (exp_bits + man_bits)) & 1 ? -1.0 : 1.0;
    if (ex == (1u << exp_bits) - 1) return man ? NAN : sign * INFINITY;
    if (ex == 0) return sign * ldexp((double)man, 1 - bias - man_bits);
    return sign * ldexp((double)(man | (1u << man_bits)), (int)ex - bias - man_bits);
}

/* Nearest (ties to even) encoding of a finite x, by scaling to the format's
 * unit in the last place and rounding there. */
static uint32_t ref_encode(double x, int exp_bits, int man_bits) {
    const int bias = (1 << (exp_bits - 1)) - 1;
    const uint32_t sign = signbit(x) ? 1u << (exp_bits + man_bits) : 0;
    const uint32_t inf = ((1u << exp_bits) - 1) << man_bits;
    double a = fabs(x);
    if (a == 0) return sign;
    int e;
    frexp(a, &e); /* a = m 2^e, m in [0.5, 1) */
    const int emin = 2 - bias;  /* frexp exponent of the smallest normal */
    if (e < emin) e = emin;     /* subnormals share the smallest normal's ulp */
    const double ulp = ldexp(1.0, e - 1 - man_bits);
    const double q = nearbyint(a / ulp) * ulp; /* default mode: ties to even */
    if (q >= ldexp(1.0, bias + 1)) return sign | inf;
    if (q == 0) return sign;
    frexp(q, &e);
    if (e < emin) return sign | (uint32_t)(q / ldexp(1.0, emin - 1 - man_bits)); /* subnormal */
    const uint32_t man = (uint32_t)(ldexp(q, man_bits + 1 - e)) - (1u << man_bits);
    return sign | ((uint32_t)(e - 1 + bias) << man_bits) | man;
}

static bool is_nan16(uint16_t h, int exp_bits, int man_bits) {
    const uint32_t inf = ((1u << exp_bits) - 1) << man_bits;
    return (h & inf) == inf && (h & ((1u << man_bits) - 1));
}

/* Every f16 and bf16 value decodes as the reference does, and comes back
 * unchanged (a NaN comes back quieted, sign and payload top bits kept). */
static void test_half_exhaustive(void) {
    int bad_f16 = 0, bad_bf16 = 0, bad_rt = 0, bad_nan = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = esft_f16_to_f32((uint16_t)h), b = esft_bf16_to_f32((uint16_t)h);
        const double rf = ref_decode(h, 5, 10), rb = ref_decode(h, 8, 7);
        if (isnan(rf) ? !isnan(f) : (f != rf || !signbit(f) != !signbit(rf))) bad_f16++;
        if (isnan(rb) ? !isnan(b) : (b != rb || !signbit(b) != !signbit(rb))) bad_bf16++;
        if (is_nan16((uint16_t)h, 5, 10)) {
            bad_nan += esft_f32_to_f16(f) != (h | 0x200u);
        } else {
            bad_rt += esft_f32_to_f16(f) != h;
        }
        if (is_nan16((uint16_t)h, 8, 7)) {
            bad_nan += esft_f32_to_bf16(b) != (h | 0x40u);
        } else {
            bad_rt += esft_f32_to_bf16(b) != h;
        }
    }
    CHECKF(bad_f16 == 0, "%d f16 values decode wrongly", bad_f16);
    CHECKF(bad_bf16 == 0, "%d bf16 values decode wrongly", bad_bf16);
    CHECKF(bad_rt == 0, "%d values do not round-trip", bad_rt);
    CHECKF(bad_nan == 0, "%d NaNs not kept", bad_nan);
}

/* f32 -> f16/bf16 for one float against the reference; returns mismatches. */
static int check_encode(float f) {
    const uint32_t x = esft_f32_bits(f);
    const uint16_t h = esft_f32_to_f16(f), b = esft_f32_to_bf16(f);
    if (isnan(f)) /* quiet NaN, same sign, the payload's top bits */
        return !(is_nan16(h, 5, 10) && (h & 0x200u) && (h >> 15) == (x >> 31) &&
                 (h & 0x1ffu) == ((x >> 13) & 0x1ffu)) +
               !(is_nan16(b, 8, 7) && (b & 0x40u) && (b >> 15) == (x >> 31) &&
                 (b & 0x3fu) == ((x >> 16) & 0x3fu));
    return (h != ref_encode(f, 5, 10)) + (b != ref_encode(f, 8, 7));
}

static void test_half_encode(void) {
    int bad = 0;
    long n = 0;
    /* every f16 midpoint (ties), and the floats on either side of it */
    for (uint32_t h = 0; h < 0x7c00u; h++) {
        const double lo = ref_decode(h, 5, 10), hi = h + 1 < 0x7c00u ? ref_decode(h + 1, 5, 10) : 65536.0;
        const float mid = (float)((lo + hi) / 2); /* exact: 12 significant bits */
        const float around[3] = {nextafterf(mid, 0.0f), mid, nextafterf(mid, INFINITY)};
        for (int k = 0; k < 3; k++) bad += check_encode(around[k]) + check_encode(-around[k]), n += 2;
    }
    /* the same for every bf16 midpoint of positive finite values */
    for (uint32_t h = 0; h < 0x7f80u; h++) {
        const float mid = esft_bits_f32((h << 16) | 0x8000u);
        const float around[3] = {nextafterf(mid, 0.0f), mid, nextafterf(mid, INFINITY)};
        for (int k = 0; k < 3; k++) bad += check_encode(around[k]) + check_encode(-around[k]), n += 2;
    }
    /* random bit patterns (every class: NaNs, infinities, subnormals), and
     * random floats in f16's range where most of its rounding happens */
    uint64_t s = 0x2545f4914f6cdd1dull; /* xorshift64, independent of splitmix */
    for (int i = 0; i < (1 << 21); i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        const uint32_t u = (uint32_t)(s >> 32);
        bad += check_encode(esft_bits_f32(u));
        /* exponent field 101..143: |x| in [2^-26, 2^17) */
        bad += check_encode(esft_bits_f32((u & 0x807fffffu) | ((101u + (uint32_t)(s % 43)) << 23)));
        n += 2;
    }
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, 65504.0f, 65519.996f, 65520.0f,
                             0x1p-24f, 0x1p-25f, 0x1.000002p-25f, 0x1p-14f, 3.3895314e38f,
                             3.4028235e38f};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) bad += check_encode(special[i]), n++;
    CHECKF(bad == 0, "%d of %ld floats encode unlike the reference", bad, n);
    /* a few by hand, so that the reference itself is pinned */
    CHECK(esft_f32_to_f16(1.0f) == 0x3c00u && esft_f32_to_f16(-2.0f) == 0xc000u);
    CHECK(esft_f32_to_f16(65520.0f) == 0x7c00u && esft_f32_to_f16(0x1p-25f) == 0x0000u);
    CHECK(esft_f32_to_f16(0x1.8p-25f) == 0x0001u && esft_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00u);
    CHECK(esft_f32_to_bf16(1.0f) == 0x3f80u && esft_f32_to_bf16(esft_bits_f32(0x3f818000u)) == 0x3f82u);
    CHECK(esft_f32_to_bf16(esft_bits_f32(0x7f7fffffu)) == 0x7f80u);
}

/* ------------------------------------------------------------ files */

static char g_tmp[256];

static char *tmp_path(const char *name) {
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", g_tmp, name);
    return p;
}

static void write_bytes(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_read_file_refusals(void) {
    size_t len = 99;
    const char *hello = tmp_path("hello");
    write_bytes(hello, "hello\0x", 7);
    char *b = esft_read_file(hello, ESFT_READ_MAX, &len);
    CHECK(b && len == 7 && memcmp(b, "hello\0x", 8) == 0); /* NUL-terminated too */
    free(b);

    const char *empty = tmp_path("empty");
    write_bytes(empty, "", 0);
    b = esft_read_file(empty, ESFT_READ_MAX, &len);
    CHECK(b && len == 0 && b[0] == '\0');
    free(b);

    errno = 0;
    CHECK(esft_read_file(g_tmp, ESFT_READ_MAX, &len) == NULL && errno == EISDIR);
    CHECK(strcmp(esft_read_error(EISDIR), "is a directory") == 0);
    errno = 0;
    CHECK(esft_read_file("/dev/zero", ESFT_READ_MAX, &len) == NULL && errno == ENODEV);
    CHECK(strcmp(esft_read_error(ENODEV), "is a device, not a file") == 0);
    errno = 0;
    CHECK(esft_read_file(tmp_path("missing"), ESFT_READ_MAX, &len) == NULL && errno == ENOENT);

    /* the cap: a regular file of max bytes is read, one byte more is not */
    errno = 0;
    CHECK(esft_read_file(hello, 6, &len) == NULL && errno == EFBIG);
    CHECK(strcmp(esft_read_error(EFBIG), "larger than the 1 GiB limit") == 0);
    b = esft_read_file(hello, 7, &len);
    CHECK(b && len == 7);
    free(b);

    /* "-" is standard input, a stream: the cap is checked while reading */
    char big[10000];
    memset(big, 'z', sizeof big);
    const size_t sizes[2] = {100, sizeof big};
    for (int k = 0; k < 2; k++) {
        const char *in = tmp_path("stdin");
        write_bytes(in, big, sizes[k]);
        int saved = dup(0), fds[2];
        if (saved < 0 || pipe(fds) != 0) {
            CHECK(!"pipe");
            return;
        }
        /* a pipe (not a regular file), filled by a child */
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            FILE *f = fopen(in, "rb");
            char chunk[4096];
            size_t got;
            while (f && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
                if (write(fds[1], chunk, got) < 0) break;
            _exit(0);
        }
        close(fds[1]);
        dup2(fds[0], 0);
        close(fds[0]);
        clearerr(stdin);
        errno = 0;
        b = esft_read_file("-", 5000, &len);
        if (k == 0)
            CHECK(b && len == 100 && b[99] == 'z' && b[100] == '\0');
        else
            CHECK(b == NULL && errno == EFBIG);
        free(b);
        dup2(saved, 0);
        close(saved);
        clearerr(stdin);
        int st;
        waitpid(pid, &st, 0);
    }
}

static void test_mkdir_p(void) {
    const char *nested = tmp_path("a/b/c");
    CHECK(esft_mkdir_p(nested, 0755) == 0 && is_dir(nested));
    CHECK(esft_mkdir_p(nested, 0755) == 0); /* existing */
    CHECK(esft_mkdir_p(tmp_path("a//d/"), 0755) == 0 && is_dir(tmp_path("a/d")));

    const char *file = tmp_path("a/file");
    write_bytes(file, "x", 1);
    errno = 0;
    CHECK(esft_mkdir_p(file, 0755) == -1 && errno == ENOTDIR); /* the last part */
    errno = 0;
    CHECK(esft_mkdir_p(tmp_path("a/file/sub/deeper"), 0755) == -1 && errno == ENOTDIR); /* a parent */
    errno = 0;
    CHECK(esft_mkdir_p("", 0755) == -1 && errno == ENOENT);
}

static void test_cache_dir(void) {
    char out[512], want[512];
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", tmp_path("home"), 1);

    setenv("ESFT_CACHE_DIR", tmp_path("cache/deep"), 1);
    snprintf(want, sizeof want, "%s", tmp_path("cache/deep"));
    CHECK(esft_cache_dir(out, sizeof out) && strcmp(out, want) == 0 && is_dir(want));

    setenv("ESFT_CACHE_DIR", "", 1); /* empty: skipped */
    setenv("XDG_CACHE_HOME", tmp_path("xdg"), 1);
    snprintf(want, sizeof want, "%s", tmp_path("xdg/esft"));
    CHECK(esft_cache_dir(out, sizeof out) && strcmp(out, want) == 0 && is_dir(want));

    unsetenv("ESFT_CACHE_DIR");
    unsetenv("XDG_CACHE_HOME");
    snprintf(want, sizeof want, "%s", tmp_path("home/.cache/esft"));
    CHECK(esft_cache_dir(out, sizeof out) && strcmp(out, want) == 0 && is_dir(want));
    CHECK(!esft_cache_dir(out, 8) && out[0] == '\0'); /* does not fit */

    unsetenv("HOME");
    strcpy(out, "junk");
    CHECK(!esft_cache_dir(out, sizeof out) && out[0] == '\0');

    setenv("ESFT_CACHE_DIR", tmp_path("a/file"), 1); /* a file is in the way */
    CHECK(!esft_cache_dir(out, sizeof out) && out[0] == '\0');
    unsetenv("ESFT_CACHE_DIR");
}

int main(void) {
    test_hashes();
    test_splitmix();
    test_half_exhaustive();
    test_half_encode();

    if (!test_make_tmpdir(g_tmp, sizeof g_tmp, "esft_test_util")) return 1;
    test_read_file_refusals();
    test_mkdir_p();
    test_cache_dir();
    test_remove_tmpdir(g_tmp);
    return TEST_EXIT();
}
