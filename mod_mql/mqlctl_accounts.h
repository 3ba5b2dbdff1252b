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
 * mqlctl accounts (mqlctl_accounts.c): the accounts the server's
 * background writer last counted, read from MQLStateDir/accounts after
 * mqlctl has become the state directory's owner.
 */
#ifndef MQLCTL_ACCOUNTS_H
#define MQLCTL_ACCOUNTS_H

#include <apr_pools.h>

/* site: only that site's accounts (NULL: every site's); format text
 * (NULL), csv or json.  0 done, 1 failure, 2 bad usage. */
int mqlctl_accounts(apr_pool_t *p, const char *state_dir, const char *site,
                    const char *format);

#endif
