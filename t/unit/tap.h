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

/* Minimal TAP producer for the core's unit tests (read by prove). */
#ifndef MQL_TAP_H
#define MQL_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

static int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), unused));
static int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    printf("%s %d - ", pass ? "ok" : "not ok", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!pass) {
        tap_failed++;
        printf("#   Failed at %s line %d\n", file, line);
    }
    fflush(stdout);
    return pass;
}

/* The test's name, formatted (static: one test at a time). */
static const char *tap_name(const char *fmt, va_list ap)
{
    static char name[512];

    vsnprintf(name, sizeof name, fmt, ap);
    return name;
}

static int tap_is_int(long long got, long long want, const char *file, int line,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6), unused));
static int tap_is_int(long long got, long long want, const char *file, int line,
                      const char *fmt, ...)
{
    va_list ap;
    int pass;

    va_start(ap, fmt);
    pass = tap_ok(got == want, file, line, "%s", tap_name(fmt, ap));
    va_end(ap);
    if (!pass)
        printf("#          got: %lld\n#     expected: %lld\n", got, want);
    return pass;
}

static int tap_is_str(const char *got, const char *want, const char *file, int line,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6), unused));
static int tap_is_str(const char *got, const char *want, const char *file, int line,
                      const char *fmt, ...)
{
    va_list ap;
    int pass;

    va_start(ap, fmt);
    pass = tap_ok(got && want && strcmp(got, want) == 0, file, line, "%s", tap_name(fmt, ap));
    va_end(ap);
    if (!pass)
        printf("#          got: '%s'\n#     expected: '%s'\n", got ? got : "(null)",
               want ? want : "(null)");
    return pass;
}

static int done_testing(void) __attribute__((unused));
static int done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
