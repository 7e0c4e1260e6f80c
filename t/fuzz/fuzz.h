/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * fuzz.h — shared by the libFuzzer targets in t/fuzz (one fuzz_<x>.c per
 * parser fed by the network or the client). Each target defines
 * LLVMFuzzerTestOneInput and runs one input in a FRESH APR pool that it
 * destroys before returning, so every pool cleanup (jansson, cjose,
 * OpenSSL) runs per input and a leak shows up under LeakSanitizer or
 * valgrind. The same sources link either with libFuzzer (`make fuzz`,
 * clang) or with replay.c (`make check`, any compiler), which feeds every
 * file of the committed corpus.
 */
#ifndef CIS2_FUZZ_H
#define CIS2_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A pool for one input; APR is initialised on first use (libFuzzer and
 * replay.c both call us without any other set-up). */
static inline apr_pool_t *fuzz_pool(void)
{
    static int initialised;
    apr_pool_t *p;

    if (!initialised) {
        apr_initialize();
        initialised = 1;
    }
    apr_pool_create(&p, NULL);
    return p;
}

/* The input as a NUL-terminated string from p (parsers that take a C
 * string see exactly the bytes up to the first NUL, as httpd would give
 * them). */
static inline const char *fuzz_cstr(apr_pool_t *p, const uint8_t *data,
                                    size_t size)
{
    return apr_pstrmemdup(p, (const char *)data, size);
}

/* Abort loudly when an invariant of the code under test breaks: libFuzzer
 * and replay.c both report an abort as a crash with the input. */
#define FUZZ_ASSERT(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, \
                    __LINE__, #cond); \
            abort(); \
        } \
    } while (0)

#endif /* CIS2_FUZZ_H */
