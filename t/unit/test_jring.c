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

/* The journal's event ring: order, a full ring drops (never waits), a
 * slot reserved and never completed is skipped, concurrent producers lose
 * nothing; and the referring host taken from a Referer. */
#include <pthread.h>
#include "tap.h"
#include <apr_general.h>
#include "mql_jring.h"

static mql_jevent_t ev_of(uint32_t n)
{
    mql_jevent_t e;

    memset(&e, 0, sizeof e);
    e.time = n;
    e.id[0] = (uint8_t)n;
    return e;
}

static void test_order_and_full(void)
{
    void *mem = calloc(1, mql_jring_bytes(8));
    mql_jevent_t out[16], e;
    mql_jring_t r;
    unsigned n, i;
    int put = 0;

    mql_jring_init(&r, mem, 8);
    for (i = 0; i < 10; i++) {
        e = ev_of(i);
        put += mql_jring_put(&r, &e);
    }
    is_int(put, 8, "a ring of 8 takes 8 events");
    is_int(r.h->dropped, 2, "... and drops (counts) the other 2, never waiting");
    n = mql_jring_take(&r, out, 16, 1);
    is_int(n, 8, "the consumer takes the 8");
    for (i = 0; i < n && out[i].time == i; i++)
        ;
    is_int(i, 8, "... oldest first");
    e = ev_of(42);
    ok(mql_jring_put(&r, &e), "room again once taken");
    n = mql_jring_take(&r, out, 16, 1);
    ok(n == 1 && out[0].time == 42, "... and the next event comes out");
    free(mem);
}

static void test_stale(void)
{
    void *mem = calloc(1, mql_jring_bytes(8));
    mql_jevent_t out[8], e = ev_of(7);
    mql_jring_t r;
    unsigned n = 0;
    int rounds;

    mql_jring_init(&r, mem, 8);
    r.h->head = 1;                  /* a producer reserved ticket 0 and died */
    mql_jring_put(&r, &e);
    n = mql_jring_take(&r, out, 8, 1000);
    is_int(n, 0, "a slot reserved and not complete is waited for");
    n = mql_jring_take(&r, out, 8, 1000 + MQL_JRING_STALE_MS);
    is_int(n, 0, "... for a while");
    for (rounds = 0; rounds < 2 && !n; rounds++)
        n = mql_jring_take(&r, out, 8, 1000 + MQL_JRING_STALE_MS + 1);
    ok(n == 1 && out[0].time == 7, "a slot never completed is skipped after some rounds");
    is_int(r.h->lost, 1, "... and counted as lost");
    free(mem);
}

#define THREADS 4
#define PER_THREAD 20000
static mql_jring_t shared;
static volatile int producing;

static void *producer(void *arg)
{
    uint32_t base = (uint32_t)(uintptr_t)arg * PER_THREAD, i;

    for (i = 0; i < PER_THREAD; i++) {
        mql_jevent_t e = ev_of(base + i);
        while (!mql_jring_put(&shared, &e))
            ;                       /* the test waits; the module drops */
    }
    __atomic_sub_fetch(&producing, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_concurrent(void)
{
    void *mem = calloc(1, mql_jring_bytes(1024));
    static unsigned char seen[THREADS * PER_THREAD];
    pthread_t t[THREADS];
    mql_jevent_t out[256];
    unsigned long total = 0, dup = 0;
    uintptr_t i;

    mql_jring_init(&shared, mem, 1024);
    producing = THREADS;
    for (i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, producer, (void *)i);
    for (;;) {
        unsigned n = mql_jring_take(&shared, out, 256, 1), k;
        for (k = 0; k < n; k++) {
            dup += seen[out[k].time]++ != 0;
            total++;
        }
        if (!n && !__atomic_load_n(&producing, __ATOMIC_ACQUIRE)
            && shared.h->head == shared.h->tail)
            break;
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    is_int(total, THREADS * PER_THREAD, "4 threads' events all taken");
    is_int(dup, 0, "... each once");
    free(mem);
}

static void host_is(const char *referer, const char *want)
{
    char host[MQL_JHOST_LEN];

    mql_jring_referer_host(referer, host);
    is_str(host, want, "referring host of '%s'", referer ? referer : "(none)");
}

int main(void)
{
    apr_initialize();
    test_order_and_full();
    test_stale();
    test_concurrent();
    host_is("https://News.Example.org:8443/a?b", "news.example.org");
    host_is("http://user:secret@example.com/x", "example.com");
    host_is("https://[2001:db8::1]:443/", "[2001:db8::1]");
    host_is("android-app://com.google.android.gm/", "com.google.android.gm");
    host_is("http://a@b@example.com/", "example.com");
    host_is("http://user:pw@[200er:pw@[2001:dx", "");
    host_is("http://ex%61mple.com/", "");
    host_is("/relative", "");
    host_is(NULL, "");
    host_is("http://<script>/", "");
    host_is("http://a-very-long-host-name-that-goes-on.and-on.example.com/", 
            "a-very-long-host-name-that-goes-on.and-");
    return done_testing();
}
