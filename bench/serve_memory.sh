#!/usr/bin/env bash
# The service's peak memory under the largest batch bodies, measured by hand (issue 39, part 6):
# one body of raw histories (JSON lines, CDNOW's columns, 180 small events per customer) of
# BODY_MB megabytes, then two at once, while /healthz is polled every 100 ms. Prints the
# service's resident memory before, its peak (VmHWM) and the slowest /healthz answer.
#
# Usage: bench/serve_memory.sh [BIN] (default target/release/churnguard; BODY_MB default 250;
# SERVE_FLAGS default --quiet, set it empty for a build without that flag)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin=${1:-target/release/churnguard}
mb=${BODY_MB:-250}
tmp=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$root/.tools/lib/libonnxruntime.so}

"$bin" train pipelines/cdnow.toml --models "$tmp/models" >/dev/null
pkg="$tmp/models/cdnow/latest"
python3 - "$tmp/body.ndjson" "$mb" <<'PY'
import datetime, sys
out, mb = sys.argv[1], int(sys.argv[2])
start = datetime.date(1997, 1, 1)
limit, size, c = mb * 1_000_000, 0, 0
with open(out, "w") as w:
    while True:
        events = ",".join(
            '{"date":"%s","dollar_value":%d.%02d,"number_of_cds":%d}'
            % (start + datetime.timedelta(days=(c * 7 + e * 3) % 540), 5 + (c + e) % 90, (c * 13 + e) % 100, 1 + e % 4)
            for e in range(180))
        line = '{"id":"c%d","events":[%s]}\n' % (c, events)
        if size + len(line) > limit:
            break
        w.write(line)
        size += len(line)
        c += 1
print(f"  body: {size / 1e6:.1f} MB, {c} customers of 180 events", file=sys.stderr)
PY

start() {
  # SERVE_FLAGS: empty for a build without --quiet.
  "$bin" serve --model "$pkg" --pipeline pipelines/cdnow.toml --listen 127.0.0.1:0 --timeout-ms 600000 \
    ${SERVE_FLAGS---quiet} >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  for _ in $(seq 300); do grep -q listening "$tmp/out" 2>/dev/null && break; sleep 0.1; done
  addr=$(sed -n 's#^listening on http://##p' "$tmp/out")
}
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
post() { curl -s -o /dev/null -w '%{http_code} %{time_total}s\n' -X POST -H 'Content-Type: application/x-ndjson' \
  --data-binary @"$tmp/body.ndjson" "http://$addr/v1/score/batch?as_of=1998-07-01"; }
poll() {
  : >"$tmp/polls"
  while [ -f "$tmp/polling" ]; do
    curl -s -o /dev/null --max-time 30 -w '%{time_total}\n' "http://$addr/healthz" >>"$tmp/polls" || echo 30 >>"$tmp/polls"
    sleep 0.1
  done
}

for n in 1 2; do
  start
  before=$(kb "$pid" VmRSS)
  touch "$tmp/polling"; poll & poller=$!
  posts=()
  for _ in $(seq "$n"); do post & posts+=($!); done
  wait "${posts[@]}"
  rm "$tmp/polling"; wait "$poller"
  peak=$(kb "$pid" VmHWM)
  slowest=$(sort -g "$tmp/polls" | tail -1)
  printf '  %d body(ies) of %d MB at once: memory %d MB before, peak %d MB; /healthz slowest of %d polls %.3f s\n' \
    "$n" "$mb" $((before / 1000)) $((peak / 1000)) "$(wc -l <"$tmp/polls")" "$slowest"
  kill "$pid"; wait "$pid" || true
done
