/*
 * mt_cmdflags: run params from the wrapped command's own arguments
 * (`mltrack run -- python train.py --lr 0.1 ...` logs param lr = "0.1").
 *
 * mt_cmdflags() walks argv (the words after the program name) and calls
 * emit(arg, key, value) for every long option it recognises:
 *  - "--name=value" gives (name, value); value may be "" and may hold '='.
 *  - "--name value" gives (name, value) and consumes the next word when it
 *    does not start with "--"; a value may start with one '-' ("--lr -0.1",
 *    "--mode -", and so "--verbose -v" gives verbose = "-v").
 *  - "--name" followed by a word starting with "--", or last, gives
 *    (name, "true").  "--no-cache" is key "no-cache": nothing is inverted.
 *  - A bare "--" ends the walk; later words are ignored.
 *  - Single-dash words ("-v", "-x") and positional words are ignored (the
 *    "3" of "-x 3" is a positional).
 *  - name must be a param key mt_validate_key() accepts (at most
 *    MT_MAX_KEY_LEN bytes; letters, digits, '_', '-', '.', ' ', ':', '/',
 *    no "a//b" or "../x") that does not start with '-' ("---x" is skipped).
 *    value must be valid UTF-8 of at most MT_MAX_PARAM_VALUE_LEN bytes.
 *    A flag that breaks either rule is skipped whole (still consuming its
 *    value word), never truncated.
 *  - A key given twice is emitted twice, in order: the caller keeps the last.
 *
 * Pure: no allocation, no output.  key is borrowed for the call only; value
 * points into argv.
 */
#ifndef MT_CMDFLAGS_H
#define MT_CMDFLAGS_H

/* One param.  A nonzero return stops the walk. */
typedef int (*mt_flag_emit)(void *arg, const char *key, const char *value);

/* argv[0..argc) are the arguments (not the program name); a NULL entry ends
 * them early.  0, or the first nonzero value emit returned. */
int mt_cmdflags(int argc, char *const argv[], mt_flag_emit emit, void *arg);

#endif
