/*
 * SipHash-2-4 (Aumasson & Bernstein): a fast keyed MAC for short inputs.
 * Used to sign visitor cookies and to hash client-chosen visitor IDs into
 * the shared table, so that nobody can aim collisions at one bucket.
 */
#ifndef MQL_SIPHASH_H
#define MQL_SIPHASH_H

#include <stdint.h>
#include <stddef.h>

uint64_t mql_siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
