/* api_system.c: liveness, readiness, metrics and MLflow's /health, /version. */
#include "api.h"

int api_healthz(struct mt_req *req)
{
	json_object_set_new(req_resp(req), "status", json_string("ok"));
	return 0;
}

/* Ready when a pooled connection answers SELECT 1.  When every connection
 * of the pool stayed busy for the pool's wait, the server is up but
 * saturated: 503 with "database": "busy", so that a balancer sends the next
 * requests elsewhere. */
int api_readyz(struct mt_req *req)
{
	struct mt_err err = MT_ERR_INIT;

	if (db_ensure(req->w, &err) || db_command(req->w, "SELECT 1", &err)) {
		int open, idle, max, busy;

		busy = !req->w->conn && (db_pool_stats(&open, &idle, &max), open >= max && idle == 0);
		db_close(req->w); /* broken: the pool opens another */
		http_reply_text(req, 503, "application/json",
				busy ? "{\"status\":\"unavailable\",\"database\":\"busy\"}"
				     : "{\"status\":\"unavailable\",\"database\":\"down\"}");
		return 0;
	}
	http_reply_text(req, 200, "application/json", "{\"status\":\"ok\",\"database\":\"up\"}");
	return 0;
}

int api_metrics(struct mt_req *req)
{
	http_metrics_render(req);
	return 0;
}

int api_health(struct mt_req *req)
{
	http_reply_text(req, 200, "text/plain", "OK");
	return 0;
}

int api_version(struct mt_req *req)
{
	http_reply_text(req, 200, "text/plain", MT_MLFLOW_API_VERSION "+mltrack." MLTRACK_VERSION);
	return 0;
}
