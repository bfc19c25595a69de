/*
 * git_probe.c: a test driver for cli/git.c, built as build/<variant>/git_probe
 * and used by tests/cli/test_git_provenance.py until `mltrack run` calls the
 * module itself.
 *
 *   git_probe [--diff PATCH] [DIR]   print struct cli_git of DIR (default ".")
 *                                    as one JSON object; with --diff also
 *                                    write the patch and add "diff_bytes"
 *   git_probe --dirty-patch PATCH [DIR]
 *                                    the same through cli_git_provenance_patch
 *                                    (what `mltrack run` calls): the patch only
 *                                    for a dirty tree, "patch_bytes" (-1: none)
 *                                    and "patch_err"
 *   git_probe --strip URL            print cli_git_strip_credentials(URL)
 *
 * Exit 0, or 1 after "git_probe: <message>" on stderr, or 2 for bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "git.h"

static int usage(void)
{
	fputs("usage: git_probe [--diff PATCH | --dirty-patch PATCH] [DIR] | git_probe --strip URL\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct cli_git g;
	const char *dir = ".", *patch = NULL, *dirty_patch = NULL;
	char err[512], perr[512] = "", url[4096];
	long long bytes = 0, patch_bytes = -1;
	int rc;
	json_t *o;
	char *s;
	int i;

	if (argc == 3 && strcmp(argv[1], "--strip") == 0) {
		cli_git_strip_credentials(url, sizeof(url), argv[2]);
		puts(url);
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--diff") == 0 && i + 1 < argc)
			patch = argv[++i];
		else if (strcmp(argv[i], "--dirty-patch") == 0 && i + 1 < argc)
			dirty_patch = argv[++i];
		else if (argv[i][0] == '-' || i + 1 != argc)
			return usage();
		else
			dir = argv[i];
	}
	if (patch && dirty_patch)
		return usage();
	if (dirty_patch)
		rc = cli_git_provenance_patch(&g, dir, dirty_patch, &patch_bytes, perr, sizeof(perr),
					      err, sizeof(err));
	else
		rc = cli_git_provenance(&g, dir, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "git_probe: %s\n", err);
		return 1;
	}
	if (patch && g.found && cli_git_diff(dir, patch, &bytes, err, sizeof(err)) < 0) {
		fprintf(stderr, "git_probe: %s\n", err);
		return 1;
	}
	o = json_pack("{s:b, s:s, s:s, s:s, s:b, s:s}", "found", g.found, "commit", g.commit,
		      "branch", g.branch, "repo_url", g.repo_url, "dirty", g.dirty, "root", g.root);
	if (o && patch && g.found)
		json_object_set_new(o, "diff_bytes", json_integer(bytes));
	if (o && dirty_patch) {
		json_object_set_new(o, "patch_bytes", json_integer(patch_bytes));
		json_object_set_new(o, "patch_err", json_string(perr));
	}
	s = o ? json_dumps(o, JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!s) {
		fputs("git_probe: cannot encode the result\n", stderr);
		return 1;
	}
	puts(s);
	free(s);
	return 0;
}
