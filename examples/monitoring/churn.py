#!/usr/bin/env python3
"""A churn model to monitor: synthetic customers, a scikit-learn classifier,
and the traffic it serves (docs/monitoring.md's walkthrough).

    churn.py data  --rows 4000 --seed 1 [--shift 1.0] --out train.csv
    churn.py train --data train.csv --out out/
    churn.py serve --model out/model --hours 12 --drift-from 6 --rows 400 --out served.jsonl

`data` draws customers: age, tenure_months, monthly_spend and plan, and
whether they churned.  --shift moves the population (older customers, more
on the "team" plan, whose churn follows another pattern): 0 is the
population the first model is trained on, 1 the one it meets later.

`train` fits gradient boosting on 75% of the rows and validates on the rest;
it prints `val_acc: ...` and `val_f1: ...` as `mltrack run` reads metrics,
and writes out/model/ (the fitted model, with joblib) and out/reference.csv:
the validation rows with the label (`churned`) and the model's prediction
(`predicted`), for `mltrack model register --reference`.

`serve` replays hours of traffic through a trained model as JSON lines for
`mltrack monitor log`: one observation per customer with its features, the
model's prediction, the true label and a timestamp, --rows per hour, the
last hour ending when the current hour began.  From hour --drift-from on
the customers come from the shifted population (--shift, default 1).

Deterministic: the same arguments give the same bytes.
"""
import argparse
import csv
import json
import os
import sys
import time

import numpy as np

FEATURES = ["age", "tenure_months", "monthly_spend", "plan"]
PLANS = ["basic", "pro", "team"]


def customers(n, seed, shift):
    """n customers of the population moved by shift, as a list of dicts."""
    rng = np.random.default_rng(seed)
    age = rng.normal(38 + 14 * shift, 9, n).clip(18, 90).round()
    tenure = rng.exponential(20 - 8 * shift, n).round()
    p = np.array([0.5, 0.35, 0.15]) * (1 - shift) + np.array([0.2, 0.3, 0.5]) * shift
    plan = rng.choice(PLANS, n, p=p)
    spend = (20 + 25 * (plan == "pro") + 60 * (plan == "team") + rng.normal(0, 6, n)).round(2)
    # Young customers on short tenures churn; in the shifted population,
    # expensive team plans churn too, which the first model never saw.
    z = (-0.9 - 0.06 * (age - 38) - 0.05 * tenure + 0.02 * (spend - 35)
         + 2.2 * shift * (plan == "team"))
    churned = rng.random(n) < 1 / (1 + np.exp(-z))
    return [{"age": float(a), "tenure_months": float(t), "monthly_spend": float(s), "plan": str(pl),
             "churned": "yes" if c else "no"}
            for a, t, s, pl, c in zip(age, tenure, spend, plan, churned)]


def matrix(rows):
    return np.array([[r["age"], r["tenure_months"], r["monthly_spend"],
                      PLANS.index(r["plan"])] for r in rows])


def cmd_data(a):
    rows = customers(a.rows, a.seed, a.shift)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FEATURES + ["churned"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def read_csv(path):
    with open(path, newline="") as f:
        return [{**r, "age": float(r["age"]), "tenure_months": float(r["tenure_months"]),
                 "monthly_spend": float(r["monthly_spend"])} for r in csv.DictReader(f)]


def cmd_train(a):
    import joblib
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    rows = read_csv(a.data)
    tr, val = train_test_split(rows, test_size=0.25, random_state=0)
    model = GradientBoostingClassifier(n_estimators=60, max_depth=2, random_state=0)
    model.fit(matrix(tr), [r["churned"] for r in tr])
    pred = model.predict(matrix(val))
    truth = [r["churned"] for r in val]
    print("step: 1")
    print(f"val_acc: {accuracy_score(truth, pred):.4f}")
    print(f"val_f1: {f1_score(truth, pred, pos_label='yes'):.4f}", flush=True)
    os.makedirs(os.path.join(a.out, "model"), exist_ok=True)
    joblib.dump(model, os.path.join(a.out, "model", "model.joblib"))
    with open(os.path.join(a.out, "model", "features.json"), "w") as f:
        json.dump({"features": FEATURES, "plans": PLANS}, f)
    with open(os.path.join(a.out, "reference.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FEATURES + ["churned", "predicted"], lineterminator="\n")
        w.writeheader()
        for r, p in zip(val, pred):
            w.writerow({**{k: r[k] for k in FEATURES}, "churned": r["churned"], "predicted": p})


def cmd_serve(a):
    import joblib

    model = joblib.load(os.path.join(a.model, "model.joblib"))
    hour = 3600 * 1000
    end = (a.now if a.now is not None else int(time.time() * 1000)) // hour * hour
    first = end - a.hours * hour
    out = open(a.out, "w") if a.out != "-" else sys.stdout
    for h in range(a.hours):
        rows = customers(a.rows, a.seed + h, a.shift if h >= a.drift_from else 0.0)
        pred = model.predict(matrix(rows))
        for i, (r, p) in enumerate(zip(rows, pred)):
            obs = {"features": {k: r[k] for k in FEATURES}, "prediction": str(p),
                   "label": r["churned"], "timestamp": first + h * hour + i * (hour // a.rows)}
            out.write(json.dumps(obs, sort_keys=True) + "\n")
    if out is not sys.stdout:
        out.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="draw customers to a CSV file")
    d.add_argument("--rows", type=int, default=4000)
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--shift", type=float, default=0.0, help="0: the first population, 1: the later one")
    d.add_argument("--out", required=True)
    t = sub.add_parser("train", help="fit, validate, write the model and its reference data")
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    s = sub.add_parser("serve", help="hours of served traffic as JSON lines")
    s.add_argument("--model", required=True, help="the model directory `train` wrote")
    s.add_argument("--hours", type=int, default=12)
    s.add_argument("--drift-from", type=int, default=6, help="the first hour of shifted customers")
    s.add_argument("--shift", type=float, default=1.0)
    s.add_argument("--rows", type=int, default=400, help="observations per hour")
    s.add_argument("--seed", type=int, default=100)
    s.add_argument("--now", type=int, help="ms since the epoch (default: now)")
    s.add_argument("--out", default="-")
    a = p.parse_args()
    {"data": cmd_data, "train": cmd_train, "serve": cmd_serve}[a.cmd](a)


if __name__ == "__main__":
    main()
