/*
 * The background writer.  (Being written.)
 */
#include "mod_mql_private.h"

void mql_register_writer(apr_pool_t *p)
{
}
