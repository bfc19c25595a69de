/* The one place check.h is included, so -Werror pragmas live here only. */
#ifndef MT_CHECK_H
#define MT_CHECK_H
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#include <check.h>
#pragma GCC diagnostic pop

Suite *make_error_suite(void);
Suite *make_filter_suite(void);
Suite *make_filter_bool_suite(void);
Suite *make_gate_suite(void);
Suite *make_validate_suite(void);
Suite *make_json_suite(void);
Suite *make_arena_suite(void);
Suite *make_path_suite(void);
Suite *make_scrape_suite(void);
Suite *make_cmdflags_suite(void);
Suite *make_spool_suite(void);
Suite *make_bundle_suite(void);
Suite *make_sample_suite(void);
Suite *make_rollup_suite(void);
Suite *make_http_suite(void);
Suite *make_fields_suite(void);
Suite *make_auth_suite(void);
Suite *make_redact_suite(void);
Suite *make_cookie_suite(void);
Suite *make_scope_suite(void);
Suite *make_sweep_suite(void);
Suite *make_profile_suite(void);
Suite *make_pgbin_suite(void);
#endif
