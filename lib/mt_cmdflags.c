/* mt_cmdflags.c: see mt_cmdflags.h. */
#include "mt_cmdflags.h"

#include <string.h>

#include "mt_error.h"
#include "mt_limits.h"
#include "mt_validate.h"

static int is_long(const char *w)
{
	return w && w[0] == '-' && w[1] == '-';
}

int mt_cmdflags(int argc, char *const argv[], mt_flag_emit emit, void *arg)
{
	for (int i = 0; i < argc && argv[i]; i++) {
		const char *w = argv[i], *name = w + 2, *eq, *value;
		char key[MT_MAX_KEY_LEN + 1];
		struct mt_err err = MT_ERR_INIT;
		size_t klen;
		int rc;

		if (!is_long(w))
			continue;
		if (w[2] == '\0')
			break;
		eq = strchr(name, '=');
		if (eq) {
			klen = (size_t)(eq - name);
			value = eq + 1;
		} else {
			klen = strlen(name);
			if (i + 1 < argc && argv[i + 1] && !is_long(argv[i + 1]))
				value = argv[++i];
			else
				value = "true";
		}
		if (klen == 0 || klen > MT_MAX_KEY_LEN || name[0] == '-')
			continue;
		memcpy(key, name, klen);
		key[klen] = '\0';
		if (mt_validate_key("param", key, &err) ||
		    mt_validate_value_len("param", key, value, MT_MAX_PARAM_VALUE_LEN, &err))
			continue;
		rc = emit(arg, key, value);
		if (rc)
			return rc;
	}
	return 0;
}
