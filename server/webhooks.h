/*
 * webhooks.h: webhooks (MLflow 3's WebhookService) and their durable
 * outbox (migrations/0014_webhooks.sql).
 *
 * Producers call webhook_enqueue() inside the transaction that makes the
 * change: one webhook_deliveries row per ACTIVE webhook subscribed to the
 * event, so the event is sent only if the change commits, and is never
 * lost once it has.  The payload (MLflow's {"entity", "action",
 * "timestamp", "data"} body) is fixed at enqueue time: every attempt sends
 * the same bytes under the same delivery id.
 *
 * Delivery threads in every mltrackd (webhooks_start) claim due rows with
 * FOR UPDATE SKIP LOCKED, so any number of servers may share a database;
 * it keeps the row locked while it POSTs, and records the outcome in the
 * same transaction.  A server that dies mid-POST leaves the row PENDING:
 * delivery is at least once, and the delivery id (X-MLflow-Delivery-Id)
 * is the receiver's idempotency key (docs/api.md, "Webhooks").
 */
#ifndef MT_WEBHOOKS_H
#define MT_WEBHOOKS_H

#include <stdio.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "server.h"

/* Whether entity.action (MLflow's lowercase names, "model_version",
 * "created") is an event a webhook may subscribe to. */
int webhook_event_known(const char *entity, const char *action);
/* The actions entity has, as MLflow's message lists them ("['created']"),
 * into buf. */
void webhook_event_actions(const char *entity, char *buf, size_t size);

/* Record the event entity.action (lowercase) with data (borrowed; the
 * "data" member of the body) for every ACTIVE webhook subscribed to it,
 * in the caller's transaction.  0, or -1 with err. */
int webhook_enqueue(struct mt_req *req, const char *entity, const char *action, json_t *data,
		    struct mt_err *err);

/* The body MLflow sends for an event: {"entity", "action", "timestamp"
 * (ISO 8601, UTC), "data"}.  Owned: free(). */
char *webhook_body(const char *entity, const char *action, long long now_ms, json_t *data);
/* The X-MLflow-Signature value for a delivery: "v1," and the base64 of
 * HMAC-SHA256(secret, id "." timestamp "." payload), into out. */
int webhook_sign(char *out, size_t size, const char *secret, const char *id,
		 const char *timestamp, const char *payload, size_t len);

/* One POST of a delivery (the worker's, and webhooks/{id}/test's):
 * *status the HTTP status (0: none), the start of the response body and
 * the transport error, if any, into the buffers. */
struct webhook_result {
	long status;
	char response[1025];
	char error[256];
};
void webhook_post(const char *url, const char *secret, const char *id, const char *payload,
		  struct webhook_result *out);

/* The delivery threads (mltrackd serving only): start before the HTTP
 * server, stop after it (the POSTs in flight are finished first, at most
 * the delivery timeout). */
int webhooks_start(struct mt_err *err);
void webhooks_stop(void);
/* /metrics lines. */
void webhooks_metrics(FILE *f);

#endif
