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
 * The cookie signing key.  A key file of any length (MQLSecret, or the
 * one generated in MQLStateDir) is reduced to the 128-bit SipHash key, so
 * servers sharing the file share the key.  The module and the tools that
 * must sign or check cookies (the benchmark's cookie minter) derive it
 * here, the same way.
 */
#ifndef MQL_SECRET_H
#define MQL_SECRET_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include <apr_errno.h>
#include "mql_types.h"

/* Bytes of a key file that are read; the rest is ignored. */
#define MQL_SECRET_MAX_READ 4096

/* The SipHash key of a key file's contents (len >= MQL_KEY_BYTES). */
void mql_secret_derive(const void *data, size_t len, uint8_t key[MQL_KEY_BYTES]);

/* Read the key file at path and derive its key.  APR_EINVAL when it holds
 * fewer than MQL_KEY_BYTES bytes; the file's error otherwise. */
apr_status_t mql_secret_load(apr_pool_t *p, const char *path, uint8_t key[MQL_KEY_BYTES]);

#endif
