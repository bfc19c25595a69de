/*
 * mt_limits.h: every MLflow limit in one place (as sqliteLimit.h does).
 * Numbers from MLFLOW-API.md §7 (2.17 behaviour, with values rejected rather
 * than silently truncated: nothing a client sends is lost without a word).
 */
#ifndef MT_LIMITS_H
#define MT_LIMITS_H

#define MT_MAX_KEY_LEN              250
#define MT_MAX_PARAM_VALUE_LEN      6000
#define MT_MAX_TAG_VALUE_LEN        8000
#define MT_MAX_EXP_TAG_VALUE_LEN    5000
#define MT_MAX_EXP_NAME_LEN         500
#define MT_MAX_RUN_NAME_LEN         250
#define MT_MAX_ARTIFACT_LOC_LEN     2048

#define MT_MAX_BATCH_METRICS        1000
#define MT_MAX_BATCH_PARAMS         100
#define MT_MAX_BATCH_TAGS           100
#define MT_MAX_BATCH_TOTAL          1000

#define MT_MAX_DATASETS_PER_CALL    1000
#define MT_MAX_DATASET_NAME_LEN     500
#define MT_MAX_DATASET_DIGEST_LEN   36
#define MT_MAX_DATASET_SOURCE_LEN   65535
#define MT_MAX_DATASET_SCHEMA_LEN   (1024 * 1024 - 1)
#define MT_MAX_DATASET_PROFILE_LEN  (16 * 1024 * 1024 - 1)
#define MT_MAX_INPUT_TAG_KEY_LEN    255
#define MT_MAX_INPUT_TAG_VALUE_LEN  500

#define MT_SEARCH_RUNS_DEFAULT      1000
#define MT_SEARCH_RUNS_MAX          50000
#define MT_SEARCH_EXPS_MAX          50000
#define MT_MAX_EXPERIMENT_IDS       1000
/* logged-models/search's max_results (MLflow sets none; each model comes
 * with its params, tags and metric points). */
#define MT_SEARCH_LOGGED_MODELS_MAX 10000

#define MT_BULK_MAX_RUN_IDS         100
#define MT_BULK_MAX_RESULTS         2500
#define MT_BULK_MAX_POINTS_PER_RUN  25000
#define MT_SAMPLED_MAX_POINTS       10000
/* metrics/get-history: points per page, default and maximum (MLflow's
 * GET_METRIC_HISTORY_MAX_RESULTS, what its client asks for). */
#define MT_HISTORY_MAX_RESULTS      25000

/* Request bodies: JSON larger than this is refused with 413. */
#define MT_MAX_JSON_BODY            (16 * 1024 * 1024)

/* Model bundles (lib/mt_bundle.h): files in one bundle (the manifest entry
 * not counted), and bytes of its MLTRACK-BUNDLE.json. */
#define MT_BUNDLE_MAX_FILES         100000
#define MT_BUNDLE_MAX_MANIFEST      (64 * 1024 * 1024)

#endif
