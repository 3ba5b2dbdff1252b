/*
 * Opening a DBM file with none of its descriptors left to the programs
 * the process starts (mql_dbmopen.c).
 */
#ifndef MQL_DBMOPEN_H
#define MQL_DBMOPEN_H

#include <apr_dbm.h>

/* apr_dbm_open_ex, then close-on-exec on every descriptor of the file
 * (APR's gdbm driver opens it without). */
apr_status_t mql_dbm_open(apr_dbm_t **db, const char *type, const char *path,
                          apr_int32_t mode, apr_fileperms_t perm, apr_pool_t *p);

#endif
