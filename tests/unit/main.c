/* main.c: every Check suite in one runner.  CK_RUN_SUITE / CK_RUN_CASE
 * select; CK_FORK=no for gdb. */
#include <stdlib.h>

#include "mt_check.h"

int main(void)
{
	SRunner *sr = srunner_create(make_error_suite());
	int failed;

	srunner_add_suite(sr, make_arena_suite());
	srunner_add_suite(sr, make_json_suite());
	srunner_add_suite(sr, make_validate_suite());
	srunner_add_suite(sr, make_filter_suite());
	srunner_add_suite(sr, make_filter_bool_suite());
	srunner_add_suite(sr, make_gate_suite());
	srunner_add_suite(sr, make_path_suite());
	srunner_add_suite(sr, make_scrape_suite());
	srunner_add_suite(sr, make_cmdflags_suite());
	srunner_add_suite(sr, make_spool_suite());
	srunner_add_suite(sr, make_bundle_suite());
	srunner_add_suite(sr, make_sample_suite());
	srunner_add_suite(sr, make_rollup_suite());
	srunner_add_suite(sr, make_http_suite());
	srunner_add_suite(sr, make_fields_suite());
	srunner_add_suite(sr, make_auth_suite());
	srunner_add_suite(sr, make_redact_suite());
	srunner_add_suite(sr, make_cookie_suite());
	srunner_add_suite(sr, make_scope_suite());
	srunner_add_suite(sr, make_sweep_suite());
	srunner_add_suite(sr, make_profile_suite());
	srunner_add_suite(sr, make_pgbin_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
