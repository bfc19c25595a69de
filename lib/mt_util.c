/* mt_util.c: see mt_util.h. */
#include "mt_util.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

long long mt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long mt_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int fill_random(void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom((char *)buf + got, n - got, 0);

		if (r < 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int mt_random_hex32(char out[33], struct mt_err *err)
{
	unsigned char b[16];
	static const char hex[] = "0123456789abcdef";

	if (fill_random(b, sizeof(b)))
		return mt_err_set(err, MT_EINTERNAL, "no randomness available");
	b[6] = (b[6] & 0x0f) | 0x40; /* uuid4 version and variant bits */
	b[8] = (b[8] & 0x3f) | 0x80;
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = '\0';
	return 0;
}

static const char *const adjectives[] = {
	"able", "bold", "brave", "bright", "calm", "clever", "crisp", "eager",
	"fair", "gentle", "glad", "keen", "kind", "lively", "lucky", "merry",
	"nimble", "polite", "proud", "quick", "quiet", "sharp", "shy", "silent",
	"smooth", "steady", "sunny", "swift", "tidy", "warm", "wise", "witty",
};
static const char *const nouns[] = {
	"ant", "bass", "bear", "bee", "cat", "colt", "crane", "deer", "dove",
	"eel", "finch", "fox", "frog", "goat", "hare", "hawk", "horse", "lark",
	"lynx", "mole", "moth", "newt", "owl", "panda", "perch", "robin", "seal",
	"shrew", "sloth", "snail", "toad", "trout", "turtle", "wasp", "whale", "wolf",
};

void mt_run_name_generate(char *out, size_t size)
{
	unsigned r[3] = { 0, 0, 0 };

	fill_random(r, sizeof(r));
	snprintf(out, size, "%s-%s-%u", adjectives[r[0] % (sizeof(adjectives) / sizeof(*adjectives))],
		 nouns[r[1] % (sizeof(nouns) / sizeof(*nouns))], r[2] % 1000);
}

void mt_hex(char *out, const unsigned char *bytes, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

int mt_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void mt_sha256_hex(char out[65], const void *data, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
	mt_hex(out, md, 32);
}

int mt_mkdir_p(const char *path, unsigned mode)
{
	char buf[4096];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0755) && errno != EEXIST)
				return -1;
			*p = '/';
		}
	}
	return mkdir(buf, (mode_t)mode) && errno != EEXIST ? -1 : 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) && errno != ENOENT ? -1 : 0;
}

int mt_remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) && errno != ENOENT ? -1 : 0;
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) ? -1 : 0;
}

int mt_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
