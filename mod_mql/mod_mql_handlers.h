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
 * The content handlers other than the status page (mod_mql_handlers.c),
 * for the module record to register.
 */
#ifndef MOD_MQL_HANDLERS_H
#define MOD_MQL_HANDLERS_H

#include "apr_pools.h"

void mql_register_handlers(apr_pool_t *p);

#endif
