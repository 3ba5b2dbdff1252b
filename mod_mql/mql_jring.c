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
 * The journal's event ring (see mql_jring.h).  Atomics only: producers
 * are request threads, which must never wait.
 */
#include <string.h>

#include <apr_atomic.h>

#include "mql_jring.h"

size_t mql_jring_bytes(uint32_t size)
{
    return sizeof(mql_jring_head_t) + 64 + (size_t)size * sizeof(mql_jevent_t);
}

void mql_jring_attach(mql_jring_t *r, void *mem, uint32_t size)
{
    r->h = mem;
    /* the slots start on a cache line of their own */
    r->slots = (mql_jevent_t *)((char *)mem + ((sizeof(mql_jring_head_t) + 63) & ~(size_t)63));
    r->mask = size - 1;
}

void mql_jring_init(mql_jring_t *r, void *mem, uint32_t size)
{
    memset(mem, 0, mql_jring_bytes(size));
    mql_jring_attach(r, mem, size);
    r->h->size = size;
}

int mql_jring_put(mql_jring_t *r, const mql_jevent_t *ev)
{
    uint64_t t = apr_atomic_read64(&r->h->head), seen;
    mql_jevent_t *slot;

    for (;;) {
        if (t - apr_atomic_read64(&r->h->tail) > r->mask) {
            apr_atomic_inc64(&r->h->dropped);
            return 0;
        }
        if ((seen = apr_atomic_cas64(&r->h->head, t + 1, t)) == t)
            break;
        t = seen;
    }
    slot = &r->slots[t & r->mask];
    /* everything but seq, then seq: the consumer reads seq first */
    memcpy((char *)slot + sizeof slot->seq, (const char *)ev + sizeof ev->seq,
           sizeof *ev - sizeof ev->seq);
    /* a release store: apr_atomic_set32 is a full barrier, 20 ns more a request */
    __atomic_store_n(&slot->seq, (uint32_t)(t + 1), __ATOMIC_RELEASE);
    return 1;
}

unsigned mql_jring_take(mql_jring_t *r, mql_jevent_t *out, unsigned max, uint64_t now_ms)
{
    uint64_t tail = apr_atomic_read64(&r->h->tail);
    uint64_t head = apr_atomic_read64(&r->h->head);
    unsigned n = 0;

    while (n < max && tail < head) {
        mql_jevent_t *slot = &r->slots[tail & r->mask];
        uint32_t want = (uint32_t)(tail + 1);

        if (apr_atomic_read32(&slot->seq) != want) {
            /* reserved and not yet complete: wait a while, then take
             * it as lost so one dead process cannot stop the ring */
            if (!r->h->stale_since)
                r->h->stale_since = now_ms ? now_ms : 1;
            else if (now_ms - r->h->stale_since > MQL_JRING_STALE_MS) {
                r->h->stale_since = 0;
                apr_atomic_inc64(&r->h->lost);
                tail++;
                apr_atomic_set64(&r->h->tail, tail);
                continue;
            }
            break;
        }
        r->h->stale_since = 0;
        out[n] = *slot;
        /* a late writer of a skipped ticket may have overwritten it
         * meanwhile: keep the copy only when seq is unchanged (the copy's
         * loads before seq's: a fence, which APR has not) */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (apr_atomic_read32(&slot->seq) == want)
            n++;
        tail++;
        apr_atomic_set64(&r->h->tail, tail);
    }
    apr_atomic_add64(&r->h->taken, n);
    return n;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

void mql_jring_referer_host(const char *referer, char *host)
{
    const char *p, *at, *end;
    size_t n = 0;

    host[0] = '\0';
    if (!referer || !(p = strstr(referer, "://")))
        return;
    p += 3;
    end = p + strcspn(p, "/?#");
    /* user:password@ is no part of the host (and is not kept): the last
     * '@' of the authority ends it */
    for (at = end; at > p && at[-1] != '@'; at--)
        ;
    p = at;
    if (*p == '[') {                 /* an IPv6 literal: up to its bracket */
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close)
            return;
        end = close + 1;
    }
    else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon)
            end = colon;
    }
    for (; p < end && n < MQL_JHOST_LEN - 1; p++) {
        char c = *p;

        /* a host name's bytes (a name, an IPv4 or IPv6 literal); anything
         * else is no host */
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']')) {
            n = 0;
            break;
        }
        host[n++] = lower(c);
    }
    host[n] = '\0';
}
