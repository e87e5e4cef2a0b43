/* The conciseness task (Qiu et al. 2025, §4.2): answer in as many characters
 * as the target. reward = -|len(response) - len(target)| with len counting
 * Unicode code points as Python's len(str) does; the response is not
 * stripped (the reference scores the decoded text as is). */
#ifndef ESFT_CONCISENESS_H
#define ESFT_CONCISENESS_H

#include <stddef.h>

/* Characters in s[0..len) as Python counts them after decoding the bytes
 * with errors="replace": each well-formed UTF-8 sequence is one, and each
 * maximal ill-formed subpart (one U+FFFD) is one. */
size_t esft_utf8_length(const char *s, size_t len);

#endif
