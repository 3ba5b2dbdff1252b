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
 * A stand-in for code that runs as the server's user inside a child (a
 * PHP or CGI bug): `SetHandler mql-scribble` finds mod_mql's visitor
 * table among the child's own mappings, as such code could, and damages
 * it as the query asks:
 *   ?indexes   every slot's contact index and the free list's head and
 *              the clock hand set to 0xFFFFFFFF, the header's capacity
 *              doubled
 *   ?hold      the table's lock taken and kept (until this process dies)
 *   ?lockword  the lock's word set to a thread that does not exist, so
 *              nobody ever gets it
 * It knows the layout the way an attacker would: from the source.
 * Built and loaded by t/rootsafe.t only.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"

/* the record's size, from the module's own list of its fields */
#include "mql_types.h"

#define MAGIC "MQLSTOR1"

/* The table header's first byte, found by its magic (which follows the
 * write sequence and the event counters: 64 bytes) in a shared mapping. */
static unsigned char *find_table(void)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned char *found = NULL;

    if (!maps)
        return NULL;
    while (!found && fgets(line, sizeof line, maps)) {
        unsigned long lo, hi;
        char perms[8];
        unsigned long off;

        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || strcmp(perms, "rw-s"))
            continue;
        for (off = 0; off + 8 <= 4096 && lo + off + 8 <= hi; off += 8)
            if (!memcmp((void *)(lo + off), MAGIC, 8) && off >= 64) {
                found = (unsigned char *)(lo + off - 64);
                break;
            }
    }
    fclose(maps);
    return found;
}

static uint32_t u32(const unsigned char *h, size_t off)
{
    uint32_t v;

    memcpy(&v, h + off, 4);
    return v;
}

static uint64_t u64(const unsigned char *h, size_t off)
{
    uint64_t v;

    memcpy(&v, h + off, 8);
    return v;
}

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* Header offsets (mql_shm.c): magic 64, version 72, hdr_size 76,
 * total_size 80, capacity 88, nbuckets 92, ncontacts 96, nring 100,
 * off_buckets 104, off_slots 112, off_contacts 120, off_ring 128,
 * hash_key 136, created 152, restored 156, used 160, free_head 164,
 * contacts_used 168, contact_free 172, hand 176.  A slot is the record
 * and 16 bytes, its contact index 4 bytes after the record and its marks
 * 12 after. */
#define SLOT_SIZE (sizeof(mql_visitor_t) + 16)
#define SLOT_CONTACT (sizeof(mql_visitor_t) + 4)
#define SLOT_MARK (sizeof(mql_visitor_t) + 12)
static int scribble_indexes(unsigned char *h)
{
    uint32_t cap = u32(h, 88), i, n = 0;
    unsigned char *slots = h + u64(h, 112);

    for (i = 0; i < cap; i++) {
        unsigned char *v = slots + (size_t)i * SLOT_SIZE;
        if (v[SLOT_MARK] & 1) {
            put32(v + SLOT_CONTACT, 0xFFFFFFFFu);
            n++;
        }
    }
    put32(h + 164, 0xFFFFFFFFu);
    put32(h + 176, 0xFFFFFFFFu);
    put32(h + 88, cap * 2);
    return (int)n;
}

static int scribble_handler(request_rec *r)
{
    unsigned char *h;
    pthread_mutex_t *m;

    if (!r->handler || strcmp(r->handler, "mql-scribble"))
        return DECLINED;
    ap_set_content_type(r, "text/plain");
    if (!(h = find_table())) {
        ap_rputs("no table\n", r);
        return OK;
    }
    m = (pthread_mutex_t *)(h - 64);
    if (r->args && !strcmp(r->args, "indexes"))
        ap_rprintf(r, "scribbled %d slots\n", scribble_indexes(h));
    else if (r->args && !strcmp(r->args, "hold"))
        ap_rprintf(r, "held %d\n", pthread_mutex_lock(m));
    else if (r->args && !strcmp(r->args, "lockword")) {
        int ghost = 0x3ffffff0;
        memcpy(m, &ghost, sizeof ghost);
        ap_rputs("lock word set\n", r);
    }
    else
        ap_rputs("what?\n", r);
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_handler(scribble_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(mql_scribble) = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, register_hooks,
    AP_MODULE_FLAG_NONE
};
