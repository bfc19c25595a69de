/* api_system.c: liveness, readiness, metrics and MLflow's /health, /version. */
#include "api.h"

int api_healthz(struct mt_req *req)
{
	json_object_set_new(req_resp(req), "status", json_string("ok"));
	return 0;
}

int api_readyz(struct mt_req *req)
{
	struct mt_err err = MT_ERR_INIT;

	if (db_ensure(req->w, &err) || db_command(req->w, "SELECT 1", &err)) {
		db_close(req->w); /* reconnect on the next request */
		http_reply_text(req, 503, "application/json",
				"{\"status\":\"unavailable\",\"database\":\"down\"}");
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
	http_reply_text(req, 200, "text/plain", MLTRACK_VERSION);
	return 0;
}
