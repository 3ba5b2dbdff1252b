/*
 * Copyright 2026 mod_mql maintainers
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*
 * A snapshot file as the next server generation finds it in MQLStateDir:
 * maybe truncated, maybe from another build, maybe tampered with.  The
 * input is written to a file and restored into a small table: it must be
 * refused or restored without a crash, and the table must stay consistent
 * (mql_shm_validate) either way.
 *
 * The checksum would stop almost every mutation at the door, so each
 * input is tried a second time with its checksum recomputed: that lets
 * the fuzzer reach the record checks and the inserts behind them.
 */
#include <unistd.h>
#include "fuzz.h"
#include "mql_shm.h"
#include <apr_siphash.h>

#define VISITORS 8
#define HDR_BYTES 48
#define SUM_BYTES 8
#define SNAP_BLOCK ((size_t)1 << 20)

static const uint8_t hash_key[MQL_KEY_BYTES] = { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3 };
/* the same key and chaining as mql_snapshot.c */
static const uint8_t snap_key[MQL_KEY_BYTES] = {
    'm', 'o', 'd', '_', 'm', 'q', 'l', ' ', 's', 'n', 'a', 'p', 's', 'h', 'o', 't'
};
static void *table;
static char path[64];

static uint64_t chain_block(uint64_t acc, const void *d, size_t len)
{
    uint8_t key[MQL_KEY_BYTES];
    int i;

    memcpy(key, snap_key, sizeof key);
    for (i = 0; i < 8; i++)
        key[i] ^= (uint8_t)(acc >> (8 * i));
    return apr_siphash24(d, len, key);
}

/* Put the right checksum at the end of buf (size >= HDR_BYTES + SUM_BYTES). */
static void fix_sum(uint8_t *buf, size_t size)
{
    uint8_t tail[HDR_BYTES + 8];
    const uint8_t *body = buf + HDR_BYTES;
    size_t len = size - HDR_BYTES - SUM_BYTES, n;
    uint64_t acc = 0, sum;

    for (; len; body += n, len -= n) {
        n = len < SNAP_BLOCK ? len : SNAP_BLOCK;
        acc = chain_block(acc, body, n);
    }
    memcpy(tail, buf, HDR_BYTES);
    memcpy(tail + HDR_BYTES, &acc, 8);
    sum = apr_siphash24(tail, sizeof tail, snap_key);
    memcpy(buf + size - SUM_BYTES, &sum, SUM_BYTES);
}

static void remove_file(void)
{
    if (path[0])
        unlink(path);
}

static void write_file(const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0)
        abort();
}

static void restore(apr_pool_t *p, mql_shm_t *s)
{
    uint32_t count = 12345;
    const char *why = NULL, *problem;
    apr_status_t rv = mql_snapshot_restore(mql_shm_visitors(p, s), path, p, &count, &why);

    if (rv == APR_SUCCESS)
        FUZZ_CHECK(why == NULL && count <= VISITORS * 2);
    else
        FUZZ_CHECK(why != NULL && count == 0);
    problem = mql_shm_validate(s, p);
    if (problem)
        fprintf(stderr, "store after restore: %s\n", problem);
    FUZZ_CHECK(problem == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    mql_shm_t *s;
    uint8_t *copy;

    if (!table) {
        int fd;
        /* memory-backed when there is /dev/shm: a file per input */
        snprintf(path, sizeof path, "%s/mql-fuzz-snapshot-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if ((fd = mkstemp(path)) < 0)
            abort();
        close(fd);
        atexit(remove_file);
        if (!(table = malloc(mql_shm_size(VISITORS))))
            abort();
    }
    mql_shm_format(table, VISITORS, hash_key);
    s = mql_shm_attach(p, table, VISITORS, NULL, NULL, NULL);
    FUZZ_CHECK(s != NULL);

    write_file(data, size);
    restore(p, s);

    if (size >= HDR_BYTES + SUM_BYTES) {
        copy = malloc(size);
        if (!copy)
            abort();
        memcpy(copy, data, size);
        fix_sum(copy, size);
        write_file(copy, size);
        free(copy);
        /* into the table as the first restore left it, then again: the
         * second time every visitor is already there */
        restore(p, s);
        restore(p, s);
    }
    apr_pool_destroy(p);
    return 0;
}
