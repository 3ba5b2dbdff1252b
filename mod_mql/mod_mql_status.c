/*
 * The mql-status handler.  (Being written.)
 */
#include "mod_mql_private.h"

void mql_register_status(apr_pool_t *p)
{
}
