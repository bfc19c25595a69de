/*
 * mt_validate: MLflow's validation rules for names and values (MLFLOW-API.md
 * §7).  Each check returns 0, or -1 with an INVALID_PARAMETER_VALUE message in
 * MLflow's wording.
 */
#ifndef MT_VALIDATE_H
#define MT_VALIDATE_H

#include <stddef.h>

#include "mt_error.h"

/* Metric, param and tag keys: what ("metric", "param", "tag") names the kind
 * in the message.  Checks length, characters and path normalisation. */
int mt_validate_key(const char *what, const char *key, struct mt_err *err);
/* value may be NULL (treated as empty).  max is a byte length. */
int mt_validate_value_len(const char *what, const char *key, const char *value,
			  size_t max, struct mt_err *err);
int mt_validate_run_id(const char *run_id, struct mt_err *err);
/* Pattern only; numeric-ness is checked by the caller. */
int mt_validate_experiment_id(const char *id, struct mt_err *err);
int mt_validate_experiment_name(const char *name, struct mt_err *err);
int mt_validate_artifact_location(const char *loc, struct mt_err *err);
/* 1 when s is valid UTF-8 without NUL, else 0. */
int mt_utf8_valid(const char *s, size_t n);
/* At most max bytes of in[0..len) into q (room for max + 4 bytes), for a
 * message: control bytes and bytes outside valid UTF-8 become '?', a
 * multibyte character is never cut, "..." marks a cut.  Returns q. */
const char *mt_quote(char *q, size_t max, const char *in, size_t len);

#endif
