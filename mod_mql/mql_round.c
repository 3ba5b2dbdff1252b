/*
 * The background writer's decisions in a round (mql_round.h).
 */
#include "mql_round.h"

int mql_round_publish_due(int final, int forget, apr_time_t now, apr_time_t next_publish)
{
    return final || forget || now >= next_publish;
}

uint32_t mql_round_min_interval(int final)
{
    return final ? 0 : MQL_ROUND_MIN_INTERVAL;
}

int mql_round_snapshot_due(int final, int forget, uint32_t now, uint32_t last_snapshot)
{
    return !final && (forget || now - last_snapshot >= MQL_ROUND_SNAPSHOT_EVERY);
}

int mql_round_controls_done(int forget, int published)
{
    return published || !forget;
}
