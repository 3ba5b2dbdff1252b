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
 * mqlctl deliveries: the webhooks' outbox (MQLStateDir/outbox.sqlite,
 * mql_webhook.h), read as the server's user.
 */
#ifndef MQLCTL_DELIVERIES_H
#define MQLCTL_DELIVERIES_H

#include <apr_pools.h>

/* Every row kept, or the failed ones; with retry (a delivery ID, or
 * "all" for every failed one), those rows pending again.  format: NULL
 * or "text", or "json".  Exit status. */
int mqlctl_deliveries(apr_pool_t *p, const char *state_dir, int failed_only, const char *retry,
                      const char *format);

#endif
