/* The pure parts of running ES over MPI ranks: how members are dealt to
 * ranks, how cores are shared on a node, the weights hash and the mismatch
 * report; and the one-process job a run without a launcher is. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distributed.h"
#include "esft_hash.h"
#include "placement.h"
#include "testutil.h"

/* every n and size: blocks tile [0, n) in rank order, sizes differ by <= 1 */
static void test_blocks(void) {
    for (int n = 0; n <= 40; n++)
        for (int size = 1; size <= 12; size++) {
            int next = 0, min_len = n + 1, max_len = -1, bad = 0;
            for (int r = 0; r < size; r++) {
                int lo, hi;
                esft_dist_block(n, size, r, &lo, &hi);
                bad += lo != next || hi < lo;
                next = hi;
                if (hi - lo < min_len) min_len = hi - lo;
                if (hi - lo > max_len) max_len = hi - lo;
            }
            CHECKF(!bad && next == n && max_len - min_len <= 1, "n %d size %d", n, size);
        }
    /* the cases: P not dividing N, P > N (idle ranks) */
    int lo, hi;
    esft_dist_block(5, 3, 0, &lo, &hi);
    CHECK(lo == 0 && hi == 2);
    esft_dist_block(5, 3, 2, &lo, &hi);
    CHECK(lo == 4 && hi == 5);
    esft_dist_block(4, 6, 5, &lo, &hi);
    CHECK(lo == hi);
    esft_dist_block(4, 6, 3, &lo, &hi);
    CHECK(lo == 3 && hi == 4);
    esft_dist_block(4, 2, 7, &lo, &hi); /* not a rank */
    CHECK(lo == 0 && hi == 0);
}

static void test_core_share(void) {
    int first, count;
    esft_core_share(8, 1, 4, &first, &count);
    CHECK(first == 2 && count == 2);
    esft_core_share(10, 0, 4, &first, &count); /* 3,3,2,2 */
    CHECK(first == 0 && count == 3);
    esft_core_share(10, 3, 4, &first, &count);
    CHECK(first == 8 && count == 2);
    esft_core_share(2, 2, 3, &first, &count); /* oversubscribed */
    CHECK(first == 0 && count == 1);
    esft_core_share(4, 0, 1, &first, &count);
    CHECK(first == 0 && count == 4);
}

/* any single flipped bit of any element changes the hash; so do order and
 * length; a trailing partial word counts */
static void test_hash(void) {
    float w[37];
    for (int i = 0; i < 37; i++) w[i] = 0.001f * (float)i - 0.01f;
    const uint64_t h0 = esft_fnv1a64_words(ESFT_FNV1A64_INIT, w, sizeof w);
    CHECK(h0 == esft_fnv1a64_words(ESFT_FNV1A64_INIT, w, sizeof w));
    int unchanged = 0;
    for (size_t byte = 0; byte < sizeof w; byte++)
        for (int bit = 0; bit < 8; bit++) {
            ((unsigned char *)w)[byte] ^= (unsigned char)(1u << bit);
            unchanged += esft_fnv1a64_words(ESFT_FNV1A64_INIT, w, sizeof w) == h0;
            ((unsigned char *)w)[byte] ^= (unsigned char)(1u << bit);
        }
    CHECKF(unchanged == 0, "%d single-bit flips kept the hash", unchanged);
    CHECK(esft_fnv1a64_words(ESFT_FNV1A64_INIT, w, sizeof w - 4) != h0);
    /* chaining over tensors: swapping two tensors changes the result */
    const uint64_t ab = esft_fnv1a64_words(esft_fnv1a64_words(ESFT_FNV1A64_INIT, w, 64), w + 16, 64);
    const uint64_t ba = esft_fnv1a64_words(esft_fnv1a64_words(ESFT_FNV1A64_INIT, w + 16, 64), w, 64);
    CHECK(ab != ba);
}

static void test_mismatch(void) {
    char buf[64];
    const uint64_t same[3] = {7, 7, 7}, two_bad[4] = {7, 8, 7, 9};
    CHECK(esft_dist_hash_mismatch(same, 3, buf, sizeof buf) == 0 && buf[0] == '\0');
    CHECK(esft_dist_hash_mismatch(two_bad, 4, buf, sizeof buf) == 2 && strcmp(buf, "1,3") == 0);
    CHECK(esft_dist_hash_mismatch(two_bad, 1, buf, sizeof buf) == 0);
}

/* Without a launcher the job is one process, and gathering copies. */
static void test_single_process(void) {
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMI_SIZE");
    unsetenv("PMI_RANK");
    unsetenv("PMIX_RANK");
    esft_dist d;
    char msg[128] = "";
    CHECK(esft_dist_init(&d, 5, msg, sizeof msg) == 0);
    CHECK(d.rank == 0 && d.size == 1 && d.local_rank == 0 && d.local_size == 1 && !d.mpi);
    const double mine[6] = {1, 2, 3, 4, 5, 6};
    double all[6] = {0};
    CHECK(esft_dist_gather_items(&d, mine, 3, 2, all, "test", 1) == 0);
    CHECK(memcmp(mine, all, sizeof all) == 0);
    uint64_t h[1] = {0};
    int mx = 0;
    CHECK(esft_dist_allgather_u64(&d, 42, h, "test", 1) == 0 && h[0] == 42);
    CHECK(esft_dist_max_int(&d, 3, &mx, "test", 1) == 0 && mx == 3);
    esft_dist_finalize(&d);
    /* a lone process keeps the plain device choice and is not bound */
    esft_placement p;
    CHECK(esft_place_rank("cpu", -1, 0, 1, true, &p, msg, sizeof msg) == 0);
    CHECK(strcmp(p.backend, "cpu") == 0 && p.device == 0 && p.cpuset[0] == '\0');
    CHECK(esft_place_rank("auto", 3, 0, 1, true, &p, msg, sizeof msg) == 0);
    CHECK(strcmp(p.backend, "auto") == 0 && p.device == 3);
}

int main(void) {
    test_blocks();
    test_core_share();
    test_hash();
    test_mismatch();
    test_single_process();
    return TEST_EXIT();
}
