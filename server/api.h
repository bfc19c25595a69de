/* api.h: every endpoint handler, one group per api_<resource>.c file. */
#ifndef MT_API_H
#define MT_API_H

#include "server.h"

/* api_system.c */
int api_healthz(struct mt_req *req);
int api_readyz(struct mt_req *req);
int api_metrics(struct mt_req *req);
int api_health(struct mt_req *req);
int api_version(struct mt_req *req);

/* api_auth.c: mltrack's authentication endpoints */
int api_auth_whoami(struct mt_req *req);
int api_auth_tokens_create(struct mt_req *req);
int api_auth_tokens_list(struct mt_req *req);
int api_auth_tokens_revoke(struct mt_req *req);

/* api_users.c: MLflow's auth REST API (users/..., experiments/permissions/...,
 * registered-models/permissions/...) */
int api_users_create(struct mt_req *req);
int api_users_get(struct mt_req *req);
int api_users_update_password(struct mt_req *req);
int api_users_update_admin(struct mt_req *req);
int api_users_delete(struct mt_req *req);
int api_users_exp_perm_create(struct mt_req *req);
int api_users_exp_perm_get(struct mt_req *req);
int api_users_exp_perm_update(struct mt_req *req);
int api_users_exp_perm_delete(struct mt_req *req);
int api_users_model_perm_create(struct mt_req *req);
int api_users_model_perm_get(struct mt_req *req);
int api_users_model_perm_update(struct mt_req *req);
int api_users_model_perm_delete(struct mt_req *req);

/* api_experiments.c */
int api_experiments_create(struct mt_req *req);
int api_experiments_get(struct mt_req *req);
int api_experiments_get_by_name(struct mt_req *req);
int api_experiments_search(struct mt_req *req);
int api_experiments_update(struct mt_req *req);
int api_experiments_delete(struct mt_req *req);
int api_experiments_restore(struct mt_req *req);
int api_experiments_set_tag(struct mt_req *req);

/* api_runs.c */
int api_runs_create(struct mt_req *req);
int api_runs_get(struct mt_req *req);
int api_runs_update(struct mt_req *req);
int api_runs_delete(struct mt_req *req);
int api_runs_restore(struct mt_req *req);
int api_runs_search(struct mt_req *req);
int api_runs_log_metric(struct mt_req *req);
int api_runs_log_parameter(struct mt_req *req);
int api_runs_log_batch(struct mt_req *req);
int api_runs_log_inputs(struct mt_req *req);
int api_runs_log_outputs(struct mt_req *req);
int api_runs_set_tag(struct mt_req *req);
int api_runs_delete_tag(struct mt_req *req);
int api_runs_log_model(struct mt_req *req);

/* api_metrics.c */
int api_metrics_get_history(struct mt_req *req);
int api_metrics_bulk_interval(struct mt_req *req);
int api_metrics_sampled(struct mt_req *req);

/* api_logged_models.c: MLflow 3's logged models */
int api_lm_create(struct mt_req *req);
int api_lm_search(struct mt_req *req);
int api_lm_get(struct mt_req *req);
int api_lm_finalize(struct mt_req *req);
int api_lm_delete(struct mt_req *req);
int api_lm_log_params(struct mt_req *req);
int api_lm_set_tags(struct mt_req *req);
int api_lm_delete_tag(struct mt_req *req);
int api_lm_list_artifacts(struct mt_req *req);

/* api_artifacts.c */
int api_artifacts_put(struct mt_req *req);
int api_artifacts_get(struct mt_req *req);
int api_artifacts_delete(struct mt_req *req);
int api_artifacts_list(struct mt_req *req);
int api_artifacts_mpu(struct mt_req *req);
int api_artifacts_list_run(struct mt_req *req);
/* Answer one level of the artifacts under uri (an artifact root such as a
 * run's or a logged model's), at rel below it (normalised): root_uri and
 * files, paths relative to the root; only root_uri for a root outside the
 * store.  0, or -1 with req->err. */
int art_list_root(struct mt_req *req, const char *uri, const char *rel);
int api_bundles_put(struct mt_req *req); /* PUT /api/2.0/mltrack/bundles/<sha256>.tar */
/* An artifact stored from another route, in the two phases of an upload
 * (api_artifacts.c): the bytes into a temporary file (the request body, at
 * most max bytes, 0 meaning --max-artifact-size, else ETOOBIG; or bytes in
 * memory), then recorded as rel (a store path, normalised and confined
 * here) in a transaction of its own.  The handle is request memory; the
 * temporary file goes when the request ends. */
struct upload;
struct upload *art_upload_new(struct mt_req *req, long long max);
int art_upload_body(struct mt_req *req, struct upload *t, long long *size);
int art_upload_bytes(struct mt_req *req, struct upload *t, const void *data, size_t len);
int art_upload_commit(struct mt_req *req, struct upload *t, const char *rel);

/* api_ui.c: the routes of MLflow's web UI */
int api_ui_history_bulk(struct mt_req *req);
int api_ui_search_datasets(struct mt_req *req);
int api_ui_promptlab_run(struct mt_req *req);
int api_ui_upload_artifact(struct mt_req *req);
int api_ui_get_artifact(struct mt_req *req);
int api_ui_model_version_artifact(struct mt_req *req);

/* api_registry.c */
int api_reg_models_create(struct mt_req *req);
int api_reg_models_get(struct mt_req *req);
int api_reg_models_rename(struct mt_req *req);
int api_reg_models_update(struct mt_req *req);
int api_reg_models_delete(struct mt_req *req);
int api_reg_models_search(struct mt_req *req);
int api_reg_models_latest_versions(struct mt_req *req);
int api_reg_models_set_tag(struct mt_req *req);
int api_reg_models_delete_tag(struct mt_req *req);
int api_reg_alias_set(struct mt_req *req);
int api_reg_alias_delete(struct mt_req *req);
int api_reg_alias_get(struct mt_req *req);

/* api_model_versions.c */
int api_model_versions_create(struct mt_req *req);
int api_model_versions_get(struct mt_req *req);
int api_model_versions_update(struct mt_req *req);
int api_model_versions_delete(struct mt_req *req);
int api_model_versions_transition(struct mt_req *req);
int api_model_versions_search(struct mt_req *req);
int api_model_versions_download_uri(struct mt_req *req);
int api_model_versions_set_tag(struct mt_req *req);
int api_model_versions_delete_tag(struct mt_req *req);

/* api_monitor.c: monitoring deployed versions (issue 17) */
int api_monitor_log(struct mt_req *req);
int api_monitor_get(struct mt_req *req);
int api_monitor_reference(struct mt_req *req);
/* The version a monitoring request names: name plus version, or name plus
 * alias (an alias, or a stage name: its newest version, as
 * NAME@Production); *id is the model's.  Strings request-owned. */
int monitor_version(struct mt_req *req, const char **name, const char **id,
		    const char **version);
/* monitor_alerts.c: alert rules, the alerts, and the thread that closes
 * windows and fires them */
int api_monitor_alert_rules_set(struct mt_req *req);
int api_monitor_alert_rules_get(struct mt_req *req);
int api_monitor_alerts_list(struct mt_req *req);
int api_monitor_alerts_ack(struct mt_req *req);
int monitor_alerts_start(struct mt_err *err);
void monitor_alerts_stop(void);
void monitor_alerts_metrics(FILE *f);
/* Store the reference profile a verified bundle manifest carries (none: 0),
 * for the version being created; a malformed one is a 400. */
int monitor_on_version_create(struct mt_req *req, const char *model_id, const char *version,
			      const json_t *manifest);

/* api_gates.c: mltrack's registry extensions */
int api_gates_set(struct mt_req *req);
int api_gates_get(struct mt_req *req);
int api_gates_check(struct mt_req *req);
int api_gates_transition(struct mt_req *req);
int api_gates_transitions(struct mt_req *req);
int api_gates_history(struct mt_req *req);
int api_gates_alias_set(struct mt_req *req);
int api_gates_alias_delete(struct mt_req *req);
int api_gates_version_get(struct mt_req *req);

/* api_webhooks.c: MLflow 3's webhooks, and mltrack's delivery log */
int api_webhooks_create(struct mt_req *req);
int api_webhooks_list(struct mt_req *req);
int api_webhooks_get(struct mt_req *req);
int api_webhooks_update(struct mt_req *req);
int api_webhooks_delete(struct mt_req *req);
int api_webhooks_test(struct mt_req *req);
int api_webhooks_deliveries(struct mt_req *req);
int api_webhooks_redeliver(struct mt_req *req);

#endif
