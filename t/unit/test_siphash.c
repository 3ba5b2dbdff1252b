/* SipHash-2-4 against the reference vectors of the SipHash paper. */
#include "tap.h"
#include "mql_siphash.h"

int main(void)
{
    uint8_t key[16], msg[64];
    int i;

    for (i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;

    /* appendix A of the paper: 15-byte message 00..0e */
    ok(mql_siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL, "paper vector, 15 bytes");
    /* first entries of the reference vectors.h (little-endian output) */
    ok(mql_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL, "empty message");
    ok(mql_siphash24(key, msg, 1) == 0x74f839c593dc67fdULL, "1 byte");
    ok(mql_siphash24(key, msg, 8) == 0x93f5f5799a932462ULL, "8 bytes (one full block)");
    key[0] ^= 1;
    ok(mql_siphash24(key, msg, 15) != 0xa129ca6149be45e5ULL, "another key, another tag");
    return done_testing();
}
