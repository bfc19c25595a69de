-- Webhooks (MLflow 3's WebhookService) and their durable outbox.
--
-- webhooks holds the subscriptions: events is a list of "entity.action"
-- strings in MLflow's lowercase form ("model_version.created").  The secret
-- is kept as given (HMAC needs it) and never leaves the server.
--
-- webhook_deliveries is the outbox: one row per (event, subscribed webhook),
-- inserted in the same transaction as the change it announces
-- (server/webhooks.c, webhook_enqueue), so a rolled-back change sends
-- nothing and a committed one is never lost.  Delivery workers (one thread
-- per mltrackd, any number of servers) claim due PENDING rows with
-- FOR UPDATE SKIP LOCKED.  id is the delivery id sent to the receiver
-- (X-MLflow-Delivery-Id): the same on every attempt, an idempotency key.
CREATE TABLE webhooks (
    id text PRIMARY KEY,
    name text NOT NULL,
    description text,
    url text NOT NULL,
    events text[] NOT NULL,
    secret text,
    status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
    creation_timestamp bigint NOT NULL,
    last_updated_timestamp bigint NOT NULL
);

CREATE INDEX webhooks_created ON webhooks (creation_timestamp DESC, id);

CREATE TABLE webhook_deliveries (
    id text PRIMARY KEY,
    seq bigserial NOT NULL UNIQUE,
    webhook_id text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    entity text NOT NULL,
    action text NOT NULL,
    payload text NOT NULL,
    created_time bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_time bigint NOT NULL,
    state text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DELIVERED', 'FAILED')),
    last_status integer,
    last_error text,
    last_response text,
    last_attempt_time bigint,
    delivered_time bigint
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_time)
    WHERE state = 'PENDING';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq DESC);
