#!/bin/sh
# The committed schema/mltrack.sql equals what the migrations produce.
set -eu
sh "$ROOT/tests/schema.sh" "$BUILD"
