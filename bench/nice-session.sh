#!/usr/bin/env bash
# nice-session.sh NICE CMD...: CMD in the autogroup of its own session, at autogroup nice NICE.
# Linux shares a core between sessions (autogroups) first, then between the tasks of each: a plain
# `nice` only orders a session's own tasks. Run under `setsid -w` (bench/pacing.sh, PACE_NICE).
set -eu
nice=$1; shift
echo "$nice" >/proc/self/autogroup 2>/dev/null || echo "nice-session: cannot set autogroup nice $nice; running as is" >&2
exec "$@"
