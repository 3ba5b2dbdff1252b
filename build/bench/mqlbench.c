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
 * mqlbench: the benchmark's helper, linked to the mod_mql core.
 *
 *   mqlbench prefill KEYFILE N SNAPSHOT COOKIES
 *       N visitors with random IDs, written as a snapshot the server
 *       restores at start (MQLStateDir/visitors.snapshot), and their
 *       cookie values ("ID.SIG", one a line) signed with the key derived
 *       from KEYFILE exactly as the server derives it from the same file.
 *   mqlbench snaptime N DIR
 *       Time a snapshot save and a restore of N visitors (files in DIR),
 *       and print the shared memory per visitor of a table of N.
 *   mqlbench path N
 *       Time the table side of the request path (cookie walk, decoding,
 *       signature, lookup, locked update) for a random visitor of N per
 *       request, with the caches stirred between requests as the rest
 *       of a request's work (the kernel's above all) stirs them.
 *
 * Output lines are "name=value" for build/bench.sh to read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "mql_cookie.h"
#include "mql_secret.h"
#include "mql_shm.h"

/* xorshift64*: fast, good enough to spread visitor ages and counts. */
static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static void die(const char *what, apr_status_t rv)
{
    char buf[256];

    fprintf(stderr, "mqlbench: %s: %s\n", what, apr_strerror(rv, buf, sizeof buf));
    exit(1);
}

static uint32_t parse_count(const char *s)
{
    char *end;
    unsigned long n = strtoul(s, &end, 10);

    if (*end || n < 1 || n > 50000000UL) {
        fprintf(stderr, "mqlbench: bad visitor count '%s'\n", s);
        exit(2);
    }
    return (uint32_t)n;
}

/* A heap table of capacity n (no lock: this tool is single-threaded). */
static mql_shm_t *new_table(apr_pool_t *p, uint32_t n)
{
    uint8_t hash_key[MQL_KEY_BYTES];
    /* on a cache line, as the server lays it out */
    void *base = aligned_alloc(64, mql_shm_size(n));
    apr_status_t rv;
    mql_shm_t *s;

    if (!base) {
        fprintf(stderr, "mqlbench: no memory for a table of %u\n", n);
        exit(1);
    }
    if ((rv = apr_generate_random_bytes(hash_key, sizeof hash_key)) != APR_SUCCESS)
        die("random", rv);
    mql_shm_format(base, n, hash_key);
    if (!(s = mql_shm_attach(p, base, n, NULL, NULL, NULL))) {
        fprintf(stderr, "mqlbench: cannot attach the table\n");
        exit(1);
    }
    return s;
}

/*
 * Fill the table with n plain visitors seen over the last weeks, a few
 * views each (well below any threshold).  ids (n * 16 bytes) receives
 * their IDs when not NULL.
 */
static void fill(mql_shm_t *s, uint32_t n, uint8_t *ids)
{
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now()), i;
    mql_visitor_t v;
    apr_status_t rv;

    for (i = 0; i < n; i++) {
        uint64_t a = rng(), b = rng();

        memset(&v, 0, sizeof v);
        memcpy(v.id, &a, 8);
        memcpy(v.id + 8, &b, 8);
        v.first_seen = now - 86400 * 7 - (uint32_t)(rng() % (86400 * 21));
        v.last_seen = now - (uint32_t)(rng() % (86400 * 7));
        v.stage_since = v.first_seen;
        v.counts[MQL_EV_VIEW] = (uint16_t)(1 + rng() % 8);
        v.score = v.counts[MQL_EV_VIEW];
        rv = mql_shm_put_record(s, &v, NULL, 0, NULL);
        if (rv != APR_SUCCESS)
            die("put_record", rv);
        if (ids)
            memcpy(ids + (size_t)i * MQL_ID_BYTES, v.id, MQL_ID_BYTES);
    }
}

static int cmd_prefill(apr_pool_t *p, int argc, const char *const *argv)
{
    uint8_t key[MQL_KEY_BYTES];
    char value[MQL_COOKIE_VALUE_LEN + 1];
    uint32_t n, count = 0, i;
    uint8_t *ids;
    mql_shm_t *s;
    apr_status_t rv;
    FILE *out;

    if (argc != 6) {
        fprintf(stderr, "usage: mqlbench prefill KEYFILE N SNAPSHOT COOKIES\n");
        return 2;
    }
    if ((rv = mql_secret_load(p, argv[2], key)) != APR_SUCCESS)
        die(argv[2], rv);
    n = parse_count(argv[3]);
    s = new_table(p, n);
    if (!(ids = malloc((size_t)n * MQL_ID_BYTES))) {
        fprintf(stderr, "mqlbench: no memory\n");
        return 1;
    }
    fill(s, n, ids);
    if ((rv = mql_snapshot_save(mql_shm_visitors(p, s), argv[4], p, &count)) != APR_SUCCESS)
        die(argv[4], rv);
    if (!(out = fopen(argv[5], "w"))) {
        perror(argv[5]);
        return 1;
    }
    for (i = 0; i < n; i++) {
        mql_cookie_sign(key, ids + (size_t)i * MQL_ID_BYTES, value);
        fprintf(out, "%s\n", value);
    }
    if (fclose(out) != 0) {
        perror(argv[5]);
        return 1;
    }
    printf("visitors=%u\n", count);
    free(ids);
    return 0;
}

static double seconds_since(apr_time_t t0)
{
    return (double)(apr_time_now() - t0) / 1e6;
}


#define PATH_REQUESTS 400000
#define STIR_BYTES    (512 * 1024)     /* about what a request's syscalls touch */

static int cmd_path(apr_pool_t *p, int argc, const char *const *argv)
{
    static const char *const names[] = { "mql_vid", "mql_optout" };
    uint8_t key[MQL_KEY_BYTES], *ids;
    char (*headers)[160];
    uint32_t n, i, now = (uint32_t)apr_time_sec(apr_time_now());
    unsigned char *stir;
    mql_shm_t *s;
    mql_visitors_t *vs;
    mql_scoring_t scoring;
    mql_hit_t hit;
    mql_delta_t delta;
    apr_time_t spent = 0, t0;
    unsigned long found = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: mqlbench path N\n");
        return 2;
    }
    n = parse_count(argv[2]);
    if (apr_generate_random_bytes(key, sizeof key) != APR_SUCCESS)
        return 1;
    s = new_table(p, n + n / 4);         /* as the bench's servers: 25% room */
    vs = mql_shm_visitors(p, s);
    /* a page view, as the request path hands it to the store */
    mql_scoring_defaults(&scoring);
    memset(&hit, 0, sizeof hit);
    hit.events = MQL_EV_BIT(MQL_EV_VIEW);
    hit.path = "/pricing.html";
    ids = malloc((size_t)n * MQL_ID_BYTES);
    headers = malloc((size_t)n * sizeof *headers);
    stir = calloc(1, STIR_BYTES);
    if (!ids || !headers || !stir) {
        fprintf(stderr, "mqlbench: no memory\n");
        return 1;
    }
    fill(s, n, ids);
    for (i = 0; i < n; i++) {
        char value[MQL_COOKIE_VALUE_LEN + 1];

        mql_cookie_sign(key, ids + (size_t)i * MQL_ID_BYTES, value);
        snprintf(headers[i], sizeof headers[i], "Apache=127.0.0.1.%u; mql_vid=%s",
                 1700000000u + i, value);
    }
    for (i = 0; i < PATH_REQUESTS; i++) {
        char h[sizeof *headers];
        mql_cookie_found_t f[2];
        mql_cookie_claim_t claim;
        mql_visitor_ref_t ref;
        mql_visitor_t v;
        size_t k;

        for (k = 0; k < STIR_BYTES; k += 64)
            stir[k]++;
        /* a request's headers were just read from its socket: in the cache */
        memcpy(h, headers[rng() % n], sizeof h);
        t0 = apr_time_now();
        mql_cookie_find(h, names, 2, f);
        if (f[0].val && mql_cookie_parse(f[0].val, f[0].vlen, &claim)) {
            mql_visitors_ref(vs, claim.id, &ref);
            if (mql_cookie_check(key, &claim)) {
                mql_visitors_prefetch(vs, &ref);
                found += mql_visitors_get(vs, &ref, now, &v, NULL);
                /* resolved in the request path, before the lock */
                mql_score_resolve(&scoring, &hit, &delta);
                mql_visitors_hit(vs, &ref, &delta, now, NULL);
            }
        }
        spent += apr_time_now() - t0;
    }
    printf("visitors=%u\nrequests=%u\nfound=%lu\npath_ns=%.0f\n", n, PATH_REQUESTS, found,
           (double)spent * 1000.0 / PATH_REQUESTS);
    free(ids);
    free(headers);
    free(stir);
    return found == PATH_REQUESTS ? 0 : 1;
}

static int cmd_snaptime(apr_pool_t *p, int argc, const char *const *argv)
{
    uint32_t n, saved = 0, restored = 0;
    const char *path, *why = NULL;
    mql_shm_t *s, *fresh;
    apr_time_t t0;
    apr_status_t rv;
    double save_s, restore_s;

    if (argc != 4) {
        fprintf(stderr, "usage: mqlbench snaptime N DIR\n");
        return 2;
    }
    n = parse_count(argv[2]);
    path = apr_pstrcat(p, argv[3], "/snaptime.snapshot", NULL);
    s = new_table(p, n);
    fill(s, n, NULL);
    t0 = apr_time_now();
    rv = mql_snapshot_save(mql_shm_visitors(p, s), path, p, &saved);
    save_s = seconds_since(t0);
    if (rv != APR_SUCCESS)
        die("save", rv);
    fresh = new_table(p, n);
    t0 = apr_time_now();
    rv = mql_snapshot_restore(mql_shm_visitors(p, fresh), path, p, &restored, &why);
    restore_s = seconds_since(t0);
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "mqlbench: restore: %s\n", why ? why : "failed");
        return 1;
    }
    remove(path);
    printf("visitors=%u\nrestored=%u\n", saved, restored);
    printf("table_bytes=%zu\nbytes_per_visitor=%.1f\n", mql_shm_size(n),
           (double)mql_shm_size(n) / n);
    printf("save_s=%.3f\nrestore_s=%.3f\n", save_s, restore_s);
    return saved == n && restored == n ? 0 : 1;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    int rc = 2;

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&p, NULL);
    if (apr_generate_random_bytes((unsigned char *)&rng_state, sizeof rng_state) != APR_SUCCESS
        || !rng_state)
        rng_state = 0x9E3779B97F4A7C15ULL;
    if (argc >= 2 && !strcmp(argv[1], "prefill"))
        rc = cmd_prefill(p, argc, argv);
    else if (argc >= 2 && !strcmp(argv[1], "snaptime"))
        rc = cmd_snaptime(p, argc, argv);
    else if (argc >= 2 && !strcmp(argv[1], "path"))
        rc = cmd_path(p, argc, argv);
    else
        fprintf(stderr, "usage: mqlbench prefill KEYFILE N SNAPSHOT COOKIES\n"
                        "       mqlbench snaptime N DIR\n"
                        "       mqlbench path N\n");
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
