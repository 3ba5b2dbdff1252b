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
 * The directives and the configuration records' lifecycle
 * (mod_mql_config.c): what the module record names and what it calls
 * once the configuration is read.  The records themselves, which every
 * glue file reads, stay in mod_mql_private.h.
 */
#ifndef MOD_MQL_CONFIG_H
#define MOD_MQL_CONFIG_H

#include "mod_mql_private.h"

extern const command_rec mql_cmds[];
void *mql_create_srv_conf(apr_pool_t *p, server_rec *s);
void *mql_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);
void *mql_create_dir_conf(apr_pool_t *p, char *dir);
void *mql_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
const char *mql_finish_srv_conf(apr_pool_t *p, server_rec *s, mql_srv_conf_t *sc);
/* Once every directive is read and merged: keep the leads files the
 * servers use, take back the ones this read made for nothing. */
void mql_settle_early_dbm(apr_pool_t *p, server_rec *s);

#endif
