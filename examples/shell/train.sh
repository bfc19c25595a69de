#!/bin/sh
# train.sh: a stand-in for a training program.
while [ $# -gt 0 ]; do
	case "$1" in
	--lr) lr=$2; shift ;;
	--depth) depth=$2; shift ;;
	--dropout) dropout=$2; shift ;;
	esac
	shift
done
for epoch in 1 2 3; do
	echo "step: $epoch"
	awk -v lr="$lr" -v d="$depth" -v p="$dropout" -v e="$epoch" \
		'BEGIN { printf "val_acc: %.4f\n", 0.5 + 0.05 * d - 20 * (lr - 0.01)^2 - (p - 0.2)^2 + 0.02 * e }'
done
