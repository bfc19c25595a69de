#!/bin/sh
# retrain.sh [WORKDIR]: the retraining pipeline a monitoring alert starts
# (receiver.py --on-alert, or a CI job a webhook triggers): get the recent
# data, train it as a tracked run, register the model with its reference
# profile, and ask for Production.  The gate on Production decides; a
# refusal exits 4 and the model in Production stays.  docs/monitoring.md.
#
# MLTRACK_ALERT_NAME names the registered model (receiver.py sets it, with
# MLTRACK_ALERT_ID); PYTHON the interpreter with scikit-learn (python3).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
name=${MLTRACK_ALERT_NAME:?set MLTRACK_ALERT_NAME to the registered model}
alert=${MLTRACK_ALERT_ID:-none}
work=${1:-$(mktemp -d)}
mkdir -p "$work"

# 1. The recent data.  Here drawn from the shifted population; in real life
#    the labelled traffic of the last weeks, from the feature store.
"$py" "$here/churn.py" data --rows 4000 --seed 2 --shift 1 --out "$work/train.csv"

# 2. Train, tracked: val_acc and val_f1 become the run's metrics.
mltrack run -q -e "$name" -n "retrain-after-alert-$alert" -t "mltrack.alert_id=$alert" \
	--run-id-file "$work/run_id" -- "$py" "$here/churn.py" train --data "$work/train.csv" --out "$work/out"

# 3. Register it with the profile of its validation data.
v=$(mltrack model register "$name" --run "$(cat "$work/run_id")" --from "$work/out/model" \
	--reference "$work/out/reference.csv" --target churned --prediction predicted \
	-d "retrained after monitoring alert $alert")

# 4. Through the gate into Production (the old version is archived).
mltrack model promote "$name" "$v" --to production --reason "retrained after monitoring alert $alert"
