/* esft bench es: ES generation tokens/s of one iteration (full-rank
 * members one after another, or low-rank members as one batch) beside
 * plain batched decoding at the same total batch. */
#ifndef ESFT_BENCH_ES_H
#define ESFT_BENCH_ES_H

int bench_es_command(int argc, char **argv);

#endif
