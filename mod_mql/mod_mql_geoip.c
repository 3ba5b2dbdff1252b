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
 * GeoIP: the visitor's country from a MaxMind DB (libmaxminddb).
 *
 * The database is opened once per configuration generation, in
 * post_config, with MMDB_MODE_MMAP; the children inherit the mapping.
 * It is looked up once per new visitor (the request path keeps the result
 * with the visitor), with r->useragent_ip so that mod_remoteip's view of
 * the client counts.
 *
 * A database replaced on disk (mod_maxminddb issue 74):
 *   - Each process checks the file's identity (inode, size, mtime) at most
 *     every MQL_GEOIP_CHECK_SECS seconds, on a lookup, one thread at a
 *     time.  When it changed, the new file is opened next to the old one;
 *     only when MMDB_open accepts it is the pointer swapped, under the
 *     write side of a reader/writer lock, and the old mapping unmapped once
 *     no lookup holds the read side.  A half-written file is refused by
 *     MMDB_open (its metadata comes last) and retried at the next check,
 *     while lookups keep using the old, complete mapping.
 *   - Replace the file atomically (write a new file, then rename it over
 *     the old one: what geoipupdate and `mv` do).  The old inode then stays
 *     intact for as long as it is mapped.  Overwriting the file in place
 *     (cp over it, truncate) changes pages under every mmap reader and is
 *     not supported by libmaxminddb; the answers are still checked (two
 *     ASCII letters, or "--"), so garbage never reaches a visitor record.
 */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include <maxminddb.h>

#include "apr_atomic.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_thread_rwlock.h"
#include "http_core.h"
#include "http_request.h"

#include "mod_mql_private.h"
#include "mod_mql_geoip.h"

APLOG_USE_MODULE(mql);

#define MQL_GEOIP_CHECK_SECS 2

typedef struct geo_db {
    MMDB_s mmdb;
    apr_ino_t inode;
    apr_off_t size;
    apr_time_t mtime;
} geo_db_t;

/* Per process.  The database opened in post_config belongs to pconf (its
 * cleanup closes it); later ones are malloc'ed by the child that opened
 * them and freed when they are replaced. */
static geo_db_t *geo_current;
static geo_db_t *geo_initial;
static const char *geo_path;
static apr_thread_rwlock_t *geo_lock;
static apr_uint32_t geo_next_check;      /* Unix seconds */
static apr_uint32_t geo_reloading;       /* 1 while a thread reopens */
static apr_time_t geo_refused_mtime;      /* last refused file, logged once */

static void identify(geo_db_t *db, const apr_finfo_t *fi)
{
    db->inode = fi->inode;
    db->size = fi->size;
    db->mtime = fi->mtime;
}

static int same_file(const geo_db_t *db, const apr_finfo_t *fi)
{
    return db->inode == fi->inode && db->size == fi->size && db->mtime == fi->mtime;
}

static apr_status_t close_initial(void *data)
{
    geo_db_t *db = data;

    if (geo_current == db)
        geo_current = NULL;
    MMDB_close(&db->mmdb);
    if (geo_initial == db)
        geo_initial = NULL;
    return APR_SUCCESS;
}

apr_status_t mql_geoip_open(apr_pool_t *pconf, server_rec *s)
{
    geo_db_t *db;
    apr_finfo_t fi;
    apr_status_t rv;
    int status;

    geo_current = geo_initial = NULL;
    geo_lock = NULL;
    if (!mql_g || !mql_g->geoip_db)
        return APR_SUCCESS;
    geo_path = apr_pstrdup(pconf, mql_g->geoip_db);
    db = apr_pcalloc(pconf, sizeof *db);
    rv = apr_stat(&fi, geo_path, APR_FINFO_INODE | APR_FINFO_SIZE | APR_FINFO_MTIME, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL04001: MQLGeoIPDatabase %s: cannot read the file", geo_path);
        return rv;
    }
    status = MMDB_open(geo_path, MMDB_MODE_MMAP, &db->mmdb);
    if (status != MMDB_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "MQL04002: MQLGeoIPDatabase %s: not a usable MaxMind DB: %s",
                     geo_path, MMDB_strerror(status));
        return APR_EGENERAL;
    }
    identify(db, &fi);
    apr_pool_cleanup_register(pconf, db, close_initial, apr_pool_cleanup_null);
    /* Created here, unlocked, and inherited by every child: the parent
     * never looks anything up. */
    rv = apr_thread_rwlock_create(&geo_lock, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "MQL04003: no lock for GeoIP reloads; a database replaced on "
                     "disk is seen after the next restart");
        geo_lock = NULL;
    }
    geo_initial = geo_current = db;
    apr_atomic_set32(&geo_next_check,
                     (apr_uint32_t)apr_time_sec(apr_time_now()) + MQL_GEOIP_CHECK_SECS);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "MQL04004: GeoIP database %s (%s, built %llu) opened", geo_path,
                 db->mmdb.metadata.database_type,
                 (unsigned long long)db->mmdb.metadata.build_epoch);
    return APR_SUCCESS;
}

static void reload_if_changed(request_rec *r);

/* Open the file again when it changed; one thread per process at a time. */
static void maybe_reload(request_rec *r)
{
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(r->request_time ? r->request_time
                                                                 : apr_time_now());
    apr_uint32_t due = apr_atomic_read32(&geo_next_check);

    if (!geo_lock || now < due
        || apr_atomic_cas32(&geo_next_check, now + MQL_GEOIP_CHECK_SECS, due) != due)
        return;
    /* a slow reopen must not meet the next check's */
    if (apr_atomic_cas32(&geo_reloading, 1, 0) != 0)
        return;
    reload_if_changed(r);
    apr_atomic_set32(&geo_reloading, 0);
}

static void reload_if_changed(request_rec *r)
{
    geo_db_t *fresh, *old;
    apr_finfo_t fi;
    int status;

    if (apr_stat(&fi, geo_path, APR_FINFO_INODE | APR_FINFO_SIZE | APR_FINFO_MTIME,
                 r->pool) != APR_SUCCESS)
        return;                 /* moved away for a moment: keep the old one */
    /* Only this thread swaps geo_current, so reading it here is safe. */
    if (!geo_current || same_file(geo_current, &fi))
        return;
    fresh = calloc(1, sizeof *fresh);
    if (!fresh)
        return;
    status = MMDB_open(geo_path, MMDB_MODE_MMAP, &fresh->mmdb);
    if (status != MMDB_SUCCESS) {
        free(fresh);
        if (geo_refused_mtime != fi.mtime) {
            geo_refused_mtime = fi.mtime;
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          "MQL04005: MQLGeoIPDatabase %s changed on disk but cannot be "
                          "opened (%s); still using the previous database. Replace the "
                          "file atomically (write a new file, then rename it)",
                          geo_path, MMDB_strerror(status));
        }
        return;
    }
    identify(fresh, &fi);
    apr_thread_rwlock_wrlock(geo_lock);
    old = geo_current;
    geo_current = fresh;
    apr_thread_rwlock_unlock(geo_lock);
    /* No lookup holds the old mapping any more. */
    if (old != geo_initial) {
        MMDB_close(&old->mmdb);
        free(old);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  "MQL04006: MQLGeoIPDatabase %s changed on disk; reopened", geo_path);
}

/* Two ASCII letters, upper-cased into cc; 0 for anything else. */
static int iso_code(MMDB_entry_s *entry, const char *where, char cc[3])
{
    MMDB_entry_data_s data;
    char a, b;

    if (MMDB_get_value(entry, &data, where, "iso_code", NULL) != MMDB_SUCCESS
        || !data.has_data || data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size != 2)
        return 0;
    a = data.utf8_string[0];
    b = data.utf8_string[1];
    if (!apr_isalpha(a) || !apr_isalpha(b) || (a & 0x80) || (b & 0x80))
        return 0;
    cc[0] = (char)apr_toupper(a);
    cc[1] = (char)apr_toupper(b);
    cc[2] = '\0';
    return 1;
}

/*
 * The client's country: two upper-case letters, "--" when the database
 * does not know the address, NULL when no database is configured or the
 * lookup failed (the request path then asks again on a later request).
 */
const char *mql_geoip_country(request_rec *r)
{
    const char *ip = r->useragent_ip;
    MMDB_lookup_result_s res;
    int gai_error = 0, mmdb_error = MMDB_SUCCESS, found = 0;
    char cc[3] = "--";

    if (!geo_current || !ip)
        return NULL;
    maybe_reload(r);
    /* An IPv4 client on an IPv6 socket: look up the IPv4 address. */
    if (!strncasecmp(ip, "::ffff:", 7) && strchr(ip + 7, '.'))
        ip += 7;

    if (geo_lock)
        apr_thread_rwlock_rdlock(geo_lock);
    res = MMDB_lookup_string(&geo_current->mmdb, ip, &gai_error, &mmdb_error);
    if (gai_error == 0 && mmdb_error == MMDB_SUCCESS && res.found_entry)
        found = iso_code(&res.entry, "country", cc)
                || iso_code(&res.entry, "registered_country", cc);
    if (geo_lock)
        apr_thread_rwlock_unlock(geo_lock);

    if (gai_error || mmdb_error != MMDB_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "MQL04007: GeoIP lookup of %s failed: %s", ip,
                      gai_error ? gai_strerror(gai_error) : MMDB_strerror(mmdb_error));
        return NULL;
    }
    return found ? apr_pstrdup(r->pool, cc) : "--";
}
