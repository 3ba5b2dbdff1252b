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
 * The Function library exactly as the module loads it: mql_redis.lua with
 * the record's layout from mql_fields.h spliced in (mql_redis_library),
 * for the tests that load it into a redis-server of their own.
 *   redis_library        prints it
 */
#include <stdio.h>
#include <apr_general.h>
#include "mql_redis_proto.h"
#include "mql_redis_sync.h"

int main(int argc, const char *const *argv)
{
    apr_pool_t *pool;

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);
    fputs(mql_redis_library(pool, mql_redis_lua), stdout);
    return 0;
}
