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
 * What mqlctl's commands print, shared: a time and a CSV field.
 */
#ifndef MQLCTL_OUT_H
#define MQLCTL_OUT_H

#include <stdint.h>
#include "apr_pools.h"

/* t (seconds since the epoch, UTC) as ISO 8601; none when t is 0 */
const char *mqlctl_iso_time(apr_pool_t *p, uint32_t t, const char *none);

/* An RFC 4180 field ("" for NULL).  With defuse, text a spreadsheet would
 * run as a formula is prefixed with ' (contacts and campaigns come from
 * clients). */
const char *mqlctl_csv(apr_pool_t *p, const char *s, int defuse);

#endif
