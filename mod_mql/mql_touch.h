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
 * Where a visitor came from: a touch (source, medium, campaign, landing
 * path) read from a page view, its short ID, and the bounded dictionary
 * that turns IDs back into strings.  The visitor's record keeps only the
 * IDs of its first and last touch (mql_fields.h: ft, lt), 8 bytes each;
 * docs/attribution.md has the design and its limits.
 *
 * An ID is a keyed hash of the touch's strings (SipHash with the cookie
 * key), so every server of a fleet that shares the key gives the same
 * touch the same ID without asking anyone, and a client cannot choose
 * strings that collide with a real campaign's ID.
 */
#ifndef MQL_TOUCH_H
#define MQL_TOUCH_H

#include <stddef.h>
#include <stdint.h>
#include "mql_types.h"

/* MQL_TOUCH_ID_LEN (mql_fields.h): the record's field, 7 characters and a NUL */
#define MQL_TOUCH_SOURCE   48       /* each string's bytes, its NUL included */
#define MQL_TOUCH_MEDIUM   24
#define MQL_TOUCH_CAMPAIGN 64
#define MQL_TOUCH_LANDING  96

/* What a touch ID nobody can resolve any more stands for. */
#define MQL_TOUCH_OTHER "other"

typedef struct mql_touch {
    char source[MQL_TOUCH_SOURCE];     /* utm_source, else the referring host, else "direct" */
    char medium[MQL_TOUCH_MEDIUM];     /* utm_medium, else "referral" or "direct" */
    char campaign[MQL_TOUCH_CAMPAIGN]; /* utm_campaign, or "" */
    char landing[MQL_TOUCH_LANDING];   /* the page view's path */
} mql_touch_t;

/*
 * The touch of a page view: its path, its raw query, its Referer (NULL
 * when none) and the site's own host name (a Referer from it is no
 * referral; "www." aside).  Client strings are cut to their fields at a
 * character's end, invalid UTF-8 and control bytes each become '?'.
 * Returns 1 when the page view is a touch of its own (it carries utm_
 * parameters or comes from another host: it becomes the last touch), 0
 * when it is direct (a touch only as a visitor's first).
 */
int mql_touch_read(const char *path, const char *query, const char *referer,
                   const char *own_host, mql_touch_t *t);

/* The touch's ID under key: 7 characters of [A-Za-z0-9_-] and a NUL. */
void mql_touch_id(const uint8_t key[MQL_KEY_BYTES], const mql_touch_t *t,
                  char id[MQL_TOUCH_ID_LEN]);

/* One dimension of a touch by name ("source", "medium", "campaign",
 * "landing"), or NULL when there is no such. */
const char *mql_touch_get(const mql_touch_t *t, const char *dimension);

/*
 * The dictionary: touch IDs to their strings, in a block of memory the
 * caller provides (shared memory, shared by every process) with room for
 * a fixed number of entries.  An entry is found among MQL_TOUCH_PROBE
 * places from its ID's hash; a new one takes a free place there, else the
 * place of the entry longest unused for more than idle seconds that no
 * lead holds, else it is refused and counted (overflow): a flood of
 * distinct campaigns can fill the places nobody needs, never take the
 * place of an entry a lead holds (mql_touch_dict_hold).  Every call is
 * bounded (one short critical section, a lock of atomic operations that
 * gives up rather than waits).
 */
#define MQL_TOUCH_PROBE 16

typedef struct mql_touch_dict mql_touch_dict_t;

typedef struct mql_touch_stats {
    uint32_t capacity;
    uint32_t used;                 /* entries */
    uint32_t held;                 /* entries a lead holds */
    uint64_t added;                /* entries made */
    uint64_t replaced;             /* idle entries a new one took the place of */
    uint64_t overflow;             /* touches refused: their leads read "other" */
    uint64_t busy;                 /* calls that gave up on the lock */
} mql_touch_stats_t;

/* Bytes a dictionary of capacity entries takes. */
size_t mql_touch_dict_size(uint32_t capacity);

/* The dictionary in mem (mql_touch_dict_size(capacity) bytes, 8-byte
 * aligned); fresh: made empty, else found as an earlier call left it
 * (shared memory kept across a restart), made empty when it is none. */
mql_touch_dict_t *mql_touch_dict_attach(void *mem, uint32_t capacity, int fresh);

/* Keep t under id, used at now; 1 when kept (or there already), 0 when
 * refused (overflow or busy, counted). */
int mql_touch_dict_put(mql_touch_dict_t *d, const char *id, const mql_touch_t *t,
                       uint32_t now, uint32_t idle);

/*
 * A fleet (MQLStore redis://) shares the dictionary through Redis
 * (docs/attribution.md): an entry learnt from the fleet's dictionary
 * (learn) is not sent back; unshared gives up to max entries made here
 * that the fleet lacks, and marks them sent -- held_only: only those a
 * lead holds are given (the fleet's dictionary is full), the rest are
 * marked all the same.  Without a new entry it costs one atomic read.
 */
int mql_touch_dict_learn(mql_touch_dict_t *d, const char *id, const mql_touch_t *t,
                         uint32_t now, uint32_t idle);
unsigned mql_touch_dict_unshared(mql_touch_dict_t *d, char (*ids)[MQL_TOUCH_ID_LEN],
                                 mql_touch_t *ts, unsigned max, int held_only);

/* A touch as the fleet's dictionary keeps it: its four strings, each
 * ended by a NUL (buf: sizeof(mql_touch_t) bytes); its length.  Unpacked,
 * the strings are neutralised again; 0 when s is no touch. */
size_t mql_touch_pack(const mql_touch_t *t, char *buf);
int mql_touch_unpack(const char *s, size_t len, mql_touch_t *t);

/* The strings of id into t; 1 when known. */
int mql_touch_dict_get(mql_touch_dict_t *d, const char *id, mql_touch_t *t);

/* A lead holds id: its entry is never replaced (until mql_touch_dict_forget). */
void mql_touch_dict_hold(mql_touch_dict_t *d, const char *id);

/* Entries no lead holds and unused since before, dropped; how many. */
uint32_t mql_touch_dict_expire(mql_touch_dict_t *d, uint32_t before);

void mql_touch_dict_stats(mql_touch_dict_t *d, mql_touch_stats_t *st);

/*
 * The process's dictionary, for the code that turns a record into a lead
 * (mql_record.c): set by the module once its shared memory is there;
 * NULL (the default, and in tools) resolves nothing.
 */
void mql_touch_dict_use(mql_touch_dict_t *d);
mql_touch_dict_t *mql_touch_dict_current(void);

#endif
