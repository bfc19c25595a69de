#!/usr/bin/env python3
"""Train a classifier on scikit-learn's bundled breast-cancer data set.

An example for `mltrack run` and `mltrack sweep` (docs/sweeps.md): the
hyperparameters are ordinary flags, and the metrics are printed as lines
that mltrack reads ("step: N", then "name: value").  No network, and fully
deterministic: the same flags give the same metrics, bit for bit.

    python3 train.py --model gbt --n-estimators 40 --max-depth 2 --lr 0.1
    python3 train.py --model logreg --C 0.5
"""
import argparse

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", choices=["gbt", "logreg"], default="gbt")
parser.add_argument("--n-estimators", type=int, default=40, help="gbt: boosting stages")
parser.add_argument("--max-depth", type=int, default=3, help="gbt: depth of each tree")
parser.add_argument("--lr", "--learning-rate", type=float, default=0.1, help="gbt: shrinkage")
parser.add_argument("--subsample", type=float, default=1.0, help="gbt: rows per stage")
parser.add_argument("--C", type=float, default=1.0, help="logreg: inverse regularisation")
parser.add_argument("--seed", type=int, default=0, help="the model's random_state")
parser.add_argument("--report-every", type=int, default=5, help="gbt: stages between reports")
args = parser.parse_args()

# A fixed split: 75% to train, 25% to validate, the same for every run.
X, y = load_breast_cancer(return_X_y=True)
X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def report(step, proba_tr, proba_val):
    """The metrics at one step, as lines mltrack reads."""
    print(f"step: {step}")
    print(f"train_loss: {log_loss(y_tr, proba_tr):.6f}")
    print(f"val_loss: {log_loss(y_val, proba_val):.6f}")
    print(f"val_acc: {accuracy_score(y_val, proba_val.argmax(axis=1)):.4f}", flush=True)


if args.model == "gbt":
    model = GradientBoostingClassifier(n_estimators=args.n_estimators, max_depth=args.max_depth,
                                       learning_rate=args.lr, subsample=args.subsample,
                                       random_state=args.seed)
    model.fit(X_tr, y_tr)
    # One report every few stages, from the stages of the fitted model.
    stages = zip(model.staged_predict_proba(X_tr), model.staged_predict_proba(X_val))
    for stage, (p_tr, p_val) in enumerate(stages, 1):
        if stage % args.report_every == 0 or stage == args.n_estimators:
            report(stage, p_tr, p_val)
else:
    model = make_pipeline(StandardScaler(),
                          LogisticRegression(C=args.C, max_iter=1000, random_state=args.seed))
    model.fit(X_tr, y_tr)
    report(1, model.predict_proba(X_tr), model.predict_proba(X_val))
