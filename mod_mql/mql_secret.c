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
 * Key derivation: two SipHash passes under fixed keys turn a key file of
 * any length into the 128-bit cookie signing key.
 */
#include <string.h>
#include <apr_file_io.h>

#include "mql_secret.h"
#include <apr_siphash.h>

void mql_secret_derive(const void *data, size_t len, uint8_t key[MQL_KEY_BYTES])
{
    static const uint8_t k1[16] = "mod_mql secret 1", k2[16] = "mod_mql secret 2";
    uint64_t a = apr_siphash24(data, len, k1), b = apr_siphash24(data, len, k2);

    memcpy(key, &a, 8);
    memcpy(key + 8, &b, 8);
}

apr_status_t mql_secret_load(apr_pool_t *p, const char *path, uint8_t key[MQL_KEY_BYTES])
{
    char buf[MQL_SECRET_MAX_READ];
    apr_size_t len = sizeof buf;
    apr_file_t *f;
    apr_status_t rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, p);

    if (rv == APR_SUCCESS) {
        rv = apr_file_read(f, buf, &len);
        apr_file_close(f);
    }
    if (rv == APR_SUCCESS && len < MQL_KEY_BYTES)
        rv = APR_EINVAL;
    if (rv == APR_SUCCESS)
        mql_secret_derive(buf, len, key);
    memset(buf, 0, sizeof buf);
    return rv;
}
