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
 * The writer's job for leads that came back after they made room in a
 * full table: the request path notes a signed visitor the table did not
 * know (mod_mql_returns.c), and the writer looks for it in the records it
 * still has to publish and then in the DBM files; a lead found is merged
 * with what its return earned (the store's restore).  Only leads whose
 * record is in their file may make room (the round tells the store once
 * a publication went through), so the file always has it.
 */
#include <string.h>

#include "apr_dbm.h"

#include "mod_mql_jobs.h"
#include "mod_mql_returns.h"
#include "mql_cookie.h"
#include "mql_dbmopen.h"
#include "mql_record.h"

APLOG_USE_MODULE(mql);

#define RETURNS_BATCH   256        /* returning strangers looked up per round */

/* The DBM files of one round, opened when first needed. */
typedef struct published_files {
    apr_pool_t *p;
    apr_dbm_t **db;                /* per site; NULL until opened */
    char *tried;
} published_files_t;

static void published_files_open(published_files_t *f, apr_pool_t *p)
{
    f->p = p;
    f->db = apr_pcalloc(p, sizeof *f->db * (apr_size_t)mql_g->sites->nelts);
    f->tried = apr_pcalloc(p, (apr_size_t)mql_g->sites->nelts);
}

static void published_files_close(published_files_t *f)
{
    int i;

    for (i = 0; f->db && i < mql_g->sites->nelts; i++)
        if (f->db[i])
            apr_dbm_close(f->db[i]);
}

/* A lead's last published record: what this writer still has to publish
 * first, then the file.  1 and v filled when found, 0 when the site has
 * none, -1 when a forget is on its way (never brought back). */
static int find_published(published_files_t *f, int site, const uint8_t id[MQL_ID_BYTES],
                          const char *id_text, mql_visitor_t *v, const char **contact)
{
    const mql_site_t *st = &((const mql_site_t *)mql_g->sites->elts)[site];
    const char *value = NULL;
    apr_size_t len;
    mql_lead_t lead;
    apr_datum_t key, val;

    if (mql_publish_queued(site, id_text, &value) < 0)
        return -1;
    len = value ? strlen(value) : 0;
    if (!value) {
        if (!f->tried[site]) {
            f->tried[site] = 1;
            if (mql_dbm_open(&f->db[site], st->dbm_type, st->dbm_file, APR_DBM_READONLY, 0,
                             f->p) != APR_SUCCESS)
                f->db[site] = NULL;
        }
        if (!f->db[site])
            return 0;
        key.dptr = (char *)id_text;
        key.dsize = MQL_ID_TEXT_LEN;
        if (apr_dbm_fetch(f->db[site], key, &val) != APR_SUCCESS || !val.dptr)
            return 0;
        value = val.dptr;
        len = val.dsize;
    }
    if (!mql_record_decode(f->p, value, len, &lead) || !MQL_STAGE_IS_LEAD(lead.stage))
        return 0;
    mql_lead_to_visitor(&lead, id, v);
    v->site = (uint8_t)site;
    *contact = lead.contact;
    return 1;
}

/* Put the visitor back from the files, its site's first; APR_ENOENT when
 * none holds it (or a forget is on its way). */
static apr_status_t restore_published(published_files_t *f, const uint8_t id[MQL_ID_BYTES],
                                      int site, uint32_t now)
{
    char id_text[MQL_ID_TEXT_LEN + 1];
    const char *contact = NULL;
    mql_visitor_t v;
    int i, found = 0;

    mql_id_to_text(id, id_text);
    if (site < 0 || site >= mql_g->sites->nelts)
        site = 0;
    found = find_published(f, site, id, id_text, &v, &contact);
    for (i = 0; !found && i < mql_g->sites->nelts; i++)
        if (i != site)
            found = find_published(f, i, id, id_text, &v, &contact);
    if (found <= 0)
        return APR_ENOENT;
    return mql_visitors_restore(mql_g->store, &v, contact, (uint32_t)mql_g->half_life, now);
}

void mql_restore_returns(mql_writer_stats_t *st, apr_pool_t *p, uint32_t now)
{
    mql_return_t batch[RETURNS_BATCH];
    published_files_t f;
    uint64_t lost = 0;
    unsigned n, i;

    n = mql_returns_next(batch, RETURNS_BATCH, &lost);
    if (lost)
        MQL_STAT_ADD(st, returns_lost, lost);
    if (!n)
        return;
    MQL_STAT_ADD(st, returns_seen, n);
    published_files_open(&f, p);
    for (i = 0; i < n; i++)
        if (restore_published(&f, batch[i].id, (int)batch[i].site, now) == APR_SUCCESS)
            MQL_STAT_ADD(st, leads_restored, 1);
    published_files_close(&f);
}

apr_status_t mql_restore_lead(apr_pool_t *p, const uint8_t id[MQL_ID_BYTES], uint32_t now)
{
    published_files_t f;
    apr_status_t rv;

    published_files_open(&f, p);
    rv = restore_published(&f, id, 0, now);
    published_files_close(&f);
    return rv;
}
