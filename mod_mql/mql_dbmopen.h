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
