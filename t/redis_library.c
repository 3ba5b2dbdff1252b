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
