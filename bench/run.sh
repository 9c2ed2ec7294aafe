#!/usr/bin/env bash
# `make bench`: churnguard against the Python reference stack, measured side by side in one run.
# Prints medians and ratios (the machines are shared and noisy: trust ratios over absolute times).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py=.tools/venv/bin/python
out=target/bench
runs=${BENCH_RUNS:-3}
customers=${BENCH_CUSTOMERS:-1000000}
mkdir -p "$out"

cargo build --release -q -p churnguard -p churnguard-loadgen
bin=target/release/churnguard
loadgen=target/release/churnguard-loadgen

events="$out/events_${customers}.parquet"
[ -f "$events" ] || "$py" bench/make_data.py data/cdnow/cdnow_master.parquet "$events" "$customers"
cat > "$out/bench_events.toml" <<TOML
[pipeline]
name = "bench"
[data]
as_of = 1998-07-01
[data.events]
path = "events_${customers}.parquet"
customer_id = "customer_id"
timestamp = "date"
amount = "dollar_value"
quantity = "number_of_cds"
TOML

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
synth="$out/synth_${customers}"
[ -f "$synth/pipeline.toml" ] || "$bin" synth --customers "$customers" --seed 42 --out "$synth" >/dev/null
# Wall time and peak memory of one whole process: "<seconds> <peak KB>".
measure() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }
median_of() { # runs a command $runs times, prints "median_seconds max_peak_kb"
  for _ in $(seq "$runs"); do measure "$@"; done | sort -n | awk '{t[NR]=$1; if ($2>m) m=$2} END {print t[int((NR+1)/2)], m}'
}
# The feature benchmarks compare every customer with history (the pandas reference has no
# notion of customers still with us); the early-warning default would build about a third.
{ cat "$synth/pipeline.toml"; printf '[snapshots]\npopulation = "everyone"\n'; } > "$synth/everyone.toml"
rounds=${BENCH_ROUNDS:-100}
threads=${BENCH_THREADS:-2}
# The same LightGBM parameters as bench/train_reference.py's PARAMS; fixed rounds (no early stop)
# so both sides do the same work.
sed -n '/^\[label\]/q;p' "$synth/pipeline.toml" > "$synth/train.toml"
cat >> "$synth/train.toml" <<TOML
[label]
kind = "inactivity"
horizon_days = 90
[snapshots]
train_cutoffs = [2024-06-01]
test_cutoff = 2024-09-01
population = "everyone"   # the Python reference builds every customer's features
[model]
learning_rate = 0.1
num_leaves = 31
min_data_in_leaf = 20
max_bin = 255
num_iterations = $rounds
early_stopping_rounds = 0
num_threads = $threads
[evaluation]
bootstrap_samples = 200
TOML
# BENCH_SECTIONS picks sections (default all); the later ones reuse files the earlier ones wrote.
wanted() { [[ " ${BENCH_SECTIONS:-ingest features export train operator score compare monitor report serve serve_raw serve_batch busy cdnow value scale distributed python engines} " == *" $1 "* ]]; }

if wanted ingest; then
echo "== ingest: validate an events table ($customers customers, CDNOW patterns) =="
"$bin" validate "$out/bench_events.toml" >/dev/null  # warm the file cache
ours=$(for _ in $(seq "$runs"); do
  s=$(date +%s.%N); "$bin" validate "$out/bench_events.toml" >/dev/null; e=$(date +%s.%N)
  awk -v s="$s" -v e="$e" 'BEGIN {print e - s}'
done | median)
printf '  churnguard validate (whole process)   %8.3f s  median of %d\n' "$ours" "$runs"
for engine in pandas polars; do
  read -r t rows custs < <("$py" bench/validate_reference.py "$engine" "$events" 1998-07-01 "$runs")
  printf '  %-6s read + report (in-process)    %8.3f s  (%s rows, %s customers)  churnguard is %.2fx faster\n' \
    "$engine" "$t" "$rows" "$custs" "$(awk -v a="$t" -v b="$ours" 'BEGIN {print a / b}')"
done
fi

echo
if wanted features; then
echo "== features: churnguard synth data, cutoff 2024-06-01 (${customers} customers) =="
read -r ours_t ours_m < <(median_of "$bin" features "$synth/everyone.toml" --cutoff 2024-06-01 --out "$out/features_churnguard.parquet")
printf '  churnguard features    %7.2f s  peak %6.0f MB  (median of %d, whole process)\n' "$ours_t" "$(awk -v k="$ours_m" 'BEGIN {print k/1024}')" "$runs"
for engine in pandas polars; do
  read -r t m < <(median_of "$py" bench/features_reference.py "$engine" "$synth" 2024-06-01 "$out/features_$engine.parquet")
  printf '  %-6s reference       %7.2f s  peak %6.0f MB  churnguard is %.2fx faster, uses %.2fx the memory\n' \
    "$engine" "$t" "$(awk -v k="$m" 'BEGIN {print k/1024}')" "$(awk -v a="$t" -v b="$ours_t" 'BEGIN {print a / b}')" \
    "$(awk -v a="$ours_m" -v b="$m" 'BEGIN {print a / b}')"
  printf '         same values?   '
  "$py" bench/compare_features.py "$out/features_churnguard.parquet" "$out/features_$engine.parquet" || true
done
fi

echo
if wanted export; then
echo "== export: a 500-tree, 255-leaf LightGBM model trained on those features =="
model="$out/model_500x255.txt"
rows=${BENCH_EXPORT_ROWS:-200000}
read -r conv load diff nrows < <("$py" bench/export_reference.py "$out/features_churnguard.parquet" "$model" "$rows")
printf '  onnxmltools: convert %6.3f s, ONNX Runtime load %6.3f s, max |p - LightGBM| = %s on %s rows\n' "$conv" "$load" "$diff" "$nrows"
for input in f32 f64; do
  printf '  churnguard export --input-type %s: ' "$input"
  "$bin" export "$model" --out "$out/model_500x255_$input.onnx" --input-type "$input" | tr '\n' ' ' | sed 's/  */ /g'
  echo
  read -r ours_diff ours_rows < <("$py" bench/export_reference.py --compare "$out/features_churnguard.parquet" "$model" "$out/model_500x255_$input.onnx" "$rows")
  printf '    same %s rows as onnxmltools: max |p - LightGBM| = %s\n' "$ours_rows" "$ours_diff"
done
fi

echo
if wanted train; then
echo "== train: synth data, train cutoff 2024-06-01, test cutoff 2024-09-01 (${customers} customers) =="
# Stage times from churnguard's summary line: "time  T s: load a, features b, training c, ...".
ours_train=$(for _ in $(seq "$runs"); do
  "$bin" train "$synth/train.toml" --models "$out/models" | tee "$out/train_summary.txt" \
    | awk '/^  time /{for (i=1;i<=NF;i++) {gsub(",","",$(i+1)); if ($i=="time") t=$(i+1); if ($i=="training") tr=$(i+1)} print t, tr}'
done | sort -n -k2 | awk '{t[NR]=$1; tr[NR]=$2} END {m=int((NR+1)/2); print tr[m]}')
ours_total=$(for _ in $(seq "$runs"); do measure "$bin" train "$synth/train.toml" --models "$out/models"; done | sort -n | awk '{t[NR]=$1} END {print t[int((NR+1)/2)]}')
grep -E "rows|model |test |AUC" "$out/train_summary.txt" | head -5 | sed 's/^/  /'
read -r py_train py_rows < <(for _ in $(seq "$runs"); do "$py" bench/train_reference.py fit "$out/features_churnguard.parquet" "$rounds" "$threads"; done | sort -n | awk '{t[NR]=$1; r[NR]=$2} END {m=int((NR+1)/2); print t[m], r[m]}')
printf '  LightGBM alone, %s rounds, %s threads: churnguard %6.2f s, Python lightgbm %6.2f s (%s rows)  churnguard/Python = %.3f\n' \
  "$rounds" "$threads" "$ours_train" "$py_train" "$py_rows" "$(awk -v a="$ours_train" -v b="$py_train" 'BEGIN {print a / b}')"
read -r py_total py_feat py_fit py_rows2 py_auc < <(for _ in $(seq "$runs"); do "$py" bench/train_reference.py pipeline "$synth" 2024-06-01 2024-09-01 "$rounds" "$threads"; done | sort -n | awk '{m[NR]=$0} END {print m[int((NR+1)/2)]}')
printf '  end to end (read + features + train + test AUC): churnguard train %6.2f s (whole process, also evaluates, exports and packages)\n' "$ours_total"
printf '                                                   pandas + LightGBM %6.2f s (features %.2f, train %.2f, test AUC %s)  churnguard is %.2fx faster\n' \
  "$py_total" "$py_feat" "$py_fit" "$py_auc" "$(awk -v a="$py_total" -v b="$ours_total" 'BEGIN {print a / b}')"
fi

echo
if wanted operator; then
echo "== ONNX operator: scoring speed in ONNX Runtime (Python), same rows and threads =="
for m in "$out/model_500x255.txt:$out/model_500x255_f32.onnx:500 trees x 255 leaves, numeric" \
         "$out/models/synth/latest/model.txt:$out/models/synth/latest/model.onnx:100 trees x 31 leaves, with categorical splits"; do
  IFS=: read -r txt onnx what <<<"$m"
  echo "  $what ($rows rows, $threads threads, median of $runs):"
  "$py" bench/operator_speed.py "$out/features_churnguard.parquet" "$txt" "$onnx" "$rows" "$threads" "$runs" | \
    awk '{printf "    %-38s %7.3f s  %8.0f rows/s\n", $1, $2, '"$rows"' / $2}'
done
fi

echo
if wanted score; then
echo "== score: the risk list of ${customers} synthetic customers with the train benchmark's package =="
pkg="$out/models/synth/latest"
score_line() { "$bin" score --model "$pkg" --pipeline "$synth/train.toml" --as-of 2024-12-31 --out "$out/risk.parquet" --threads "$threads" --top 0 | grep '  time:'; }
read -r ours_onnx < <(for _ in $(seq "$runs"); do score_line | sed 's/.*onnx \([0-9.]*\),.*/\1/'; done | median)
read -r py_ort py_lgb py_rows < <("$py" bench/score_reference.py session "$out/features_churnguard.parquet" "$pkg/model.onnx" "$pkg/model.txt" 65536 "$threads" "$runs")
printf '  ONNX session alone, %s rows, batches of 65,536, %s threads: churnguard (ort) %6.2f s, Python onnxruntime %6.2f s, Python LightGBM predict %6.2f s\n' \
  "$py_rows" "$threads" "$ours_onnx" "$py_ort" "$py_lgb"
printf '    churnguard/onnxruntime = %.2f, LightGBM/churnguard = %.2f\n' \
  "$(awk -v a="$ours_onnx" -v b="$py_ort" 'BEGIN {print a / b}')" "$(awk -v a="$py_lgb" -v b="$ours_onnx" 'BEGIN {print a / b}')"
read -r exact_t bound_t bound_rows < <("$py" bench/ort_kernel_bound.py "$out/features_churnguard.parquet" "$pkg/model.onnx" 262144 "$threads" "$runs")
printf '    ONNX Runtime bound (Python, %s rows): this model %.3f s; a copy without NaN tracks and category sets (fastest kernel loop, wrong scores) %.3f s = %.2fx\n' \
  "$bound_rows" "$exact_t" "$bound_t" "$(awk -v a="$exact_t" -v b="$bound_t" 'BEGIN {print a / b}')"
read -r ours_t ours_m < <(median_of "$bin" score --model "$pkg" --pipeline "$synth/train.toml" --as-of 2024-12-31 --out "$out/risk.parquet" --threads "$threads" --top 0)
score_line | sed 's/^/  churnguard stages:/'
read -r py_total py_feat py_score py_rows < <(for _ in $(seq "$runs"); do "$py" bench/score_reference.py pipeline "$synth" 2025-01-01 "$pkg/model.onnx" "$out/risk_python.parquet" "$threads"; done | sort -n | awk '{m[NR]=$0} END {print m[int((NR+1)/2)]}')
printf '  end to end (raw Parquet -> written list): churnguard score %6.2f s, peak %5.0f MB (tiers, reasons for high and medium, value at risk, actions)\n' \
  "$ours_t" "$(awk -v k="$ours_m" 'BEGIN {print k/1024}')"
printf '                                            pandas + onnxruntime %6.2f s (features %.2f, scoring %.2f; probabilities and ranks only)  churnguard is %.2fx faster\n' \
  "$py_total" "$py_feat" "$py_score" "$(awk -v a="$py_total" -v b="$ours_t" 'BEGIN {print a / b}')"
fi

echo
if wanted compare; then
echo "== compare: two packages on the same ${customers} synthetic customers, against scoring each =="
pkg="$out/models/synth/latest"
# A second package that differs: smaller trees (trained once, kept between runs).
sed 's/^num_leaves = .*/num_leaves = 15/' "$synth/train.toml" > "$synth/train_small.toml"
[ -e "$out/models_small/synth/latest" ] || "$bin" train "$synth/train_small.toml" --models "$out/models_small" >/dev/null
other="$out/models_small/synth/latest"
read -r score_a _ < <(median_of "$bin" score --model "$pkg" --pipeline "$synth/train.toml" --as-of 2024-12-31 --out "$out/risk.parquet" --threads "$threads" --top 0)
read -r score_b _ < <(median_of "$bin" score --model "$other" --pipeline "$synth/train.toml" --as-of 2024-12-31 --out "$out/risk.parquet" --threads "$threads" --top 0)
read -r cmp_t cmp_m < <(median_of "$bin" compare "$pkg" "$other" --pipeline "$synth/train.toml" --json "$out/compare.json" --threads "$threads")
"$bin" compare "$pkg" "$other" --pipeline "$synth/train.toml" --threads "$threads" | grep -E "^(AUC|customers per second|v[0-9]+ - )" | sed 's/^/  /'
printf '  compare (cutoff 2024-09-01, bootstrap 200, DeLong) %6.2f s, peak %5.0f MB; score each: %6.2f + %6.2f s; compare/(both scores) = %.2f (target < 3)\n' \
  "$cmp_t" "$(awk -v k="$cmp_m" 'BEGIN {print k/1024}')" "$score_a" "$score_b" "$(awk -v a="$cmp_t" -v b="$score_a" -v c="$score_b" 'BEGIN {print a / (b + c)}')"
fi

echo
if wanted monitor; then
echo "== monitor: drift and a matured list of ${customers} synthetic customers, against scoring them =="
pkg="$out/models/synth/latest"
# Packages trained before monitoring have no score reference: train one that has.
grep -q '"score_reference": {' "$pkg/manifest.json" || "$bin" train "$synth/train.toml" --models "$out/models" >/dev/null
# The list sent at the test cutoff, kept beside the package: the matured list monitor judges.
"$bin" score --model "$pkg" --pipeline "$synth/train.toml" --as-of 2024-08-31 --out "$out/risk_test.parquet" --threads "$threads" --top 0 >/dev/null
read -r score_t _ < <(median_of "$bin" score --model "$pkg" --pipeline "$synth/train.toml" --as-of 2024-12-31 --out "$out/risk.parquet" --threads "$threads" --top 0)
# monitor exits 4 or 5 on an alert: timed through sh so the verdict does not stop the script.
read -r mon_t mon_m < <(median_of sh -c '"$0" "$@"; exit 0' "$bin" monitor --model "$pkg" --pipeline "$synth/train.toml" --as-of 2024-12-31 --json "$out/monitor.json" --threads "$threads")
"$py" - "$out/monitor.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
drifted = [f["feature"] for f in m["features"] if f["drift"] == "drifted"]
print(f"  {len(m['features'])} features, {len(drifted)} drifted ({', '.join(drifted[:5])}{', ...' if len(drifted) > 5 else ''}); score PSI {m['score']['psi']:.3f}")
for r in m["matured"]:
    print(f"  matured list {r['as_of']}: {r['known']} outcomes, AUC {r['auc']:.4f} (training {r['auc_at_training']:.4f})")
PY
printf '  monitor (features, scores, PSI, a matured 1M list with bootstrap 200) %6.2f s, peak %5.0f MB; score %6.2f s; monitor/score = %.2f (target < 1.5)\n' \
  "$mon_t" "$(awk -v k="$mon_m" 'BEGIN {print k/1024}')" "$score_t" "$(awk -v a="$mon_t" -v b="$score_t" 'BEGIN {print a / b}')"
fi

echo
if wanted report; then
echo "== report: report.html of a CDNOW package, drawn again from its manifest =="
[ -e "$out/models_cdnow/cdnow/latest" ] || "$bin" train pipelines/cdnow.toml --models "$out/models_cdnow" >/dev/null
read -r rep_t _ < <(median_of "$bin" report "$out/models_cdnow/cdnow/latest")
printf '  churnguard report (verify the package, draw, replace report.html): %.3f s whole process (target < 0.5), %s KB\n' \
  "$rep_t" "$(( $(stat -c %s "$out/models_cdnow/cdnow/latest/report.html") / 1024 ))"
fi

echo
if wanted serve; then
echo "== serve: one CDNOW customer per request (a feature vector), wrk on loopback, server and load sharing the 2 cores =="
[ -e "$out/models_cdnow/cdnow/latest" ] || "$bin" train pipelines/cdnow.toml --models "$out/models_cdnow" >/dev/null
cat > "$out/serve_one.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"customers":[{"id":"8830","features":{"recency_days":84,"tenure_days":515,"frequency":3,"monetary_total":120.5,"amount_mean":40.2,"events_90d":1,"active_days_180d":2,"gap_mean_days":120,"last_gap_days":168},"value":400}]}'
LUA
"$bin" serve --model "$out/models_cdnow/cdnow/latest" --pipeline pipelines/cdnow.toml --listen 127.0.0.1:0 --sessions 1 > "$out/serve.out" 2>/dev/null &
spid=$!
for _ in $(seq 50); do grep -q listening "$out/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$out/serve.out")
for c in 1 4 16; do
  wrk -t1 -c"$c" -d5s --latency -s "$out/serve_one.lua" "$url/v1/score" | awk -v c="$c" '
    /Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2}
    END {printf "  %2d connections: %8.0f requests/s, latency p50 %s, p99 %s\n", c, rps, p50, p99}'
done
kill -TERM "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
fi

# Starts a server (`churnguard serve` or the Python reference) whose first line says it listens,
# and sets spid and url.
start_server() {
  "$@" > "$out/server.out" 2>/dev/null &
  spid=$!
  for _ in $(seq 200); do grep -q listening "$out/server.out" 2>/dev/null && break; sleep 0.1; done
}
stop_server() { kill -TERM "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; }
# Fixed-rate load at each rate: a line per rate, then (in $out/sweep_best) the highest rate held
# (95% answered) with p99 under 10 ms, the same under 250 ms, and the most answered per second.
sweep() { # name addr body rates...
  local name=$1 addr=$2 body=$3; shift 3
  local best10=0 best250=0 most=0
  for r in "$@"; do
    read -r p50 p99 got failed < <("$loadgen" "$addr" /v1/score "$body" application/json "$r" 5 4 |
      "$py" -c 'import json,sys; d=json.load(sys.stdin); print(d["p50_ms"], d["p99_ms"], d["achieved_rps"], d["failed"])')
    printf '  %-26s %6d requests/s offered: p50 %7.2f ms, p99 %8.2f ms, %7.0f answered/s, %s failed\n' "$name" "$r" "$p50" "$p99" "$got" "$failed"
    held() { awk -v p="$p99" -v g="$got" -v r="$r" -v b="$1" 'BEGIN {exit !(p < b && g >= 0.95 * r)}'; }
    if held 10; then best10=$r; fi
    if held 250; then best250=$r; fi
    most=$(awk -v a="$most" -v g="$got" 'BEGIN {print (g > a ? g : a)}')
  done
  echo "$best10 $best250 $most" > "$out/sweep_best"
}

echo
if wanted serve_raw; then
echo "== serve_raw: one synthetic customer's raw history per request (about 20 events), fixed rate (churnguard-loadgen, 4 connections, 5 s per rate), server and load sharing the 2 cores =="
pkg="$out/models/synth/latest"
"$py" bench/raw_request.py "$synth" 2024-12-31 "$out/raw_one.json" | sed 's/^/  request: /'
{ cat "$synth/train.toml"; } > "$synth/serve.toml"
sed 's/^\[model\]/[scoring]\nexplain_all = true\n[model]/' "$synth/train.toml" > "$synth/serve_explain.toml"
for mode in list explain_all; do
  config="$synth/serve.toml"; [ "$mode" = explain_all ] && config="$synth/serve_explain.toml"
  start_server "$bin" serve --model "$pkg" --pipeline "$config" --listen 127.0.0.1:18190 --sessions 1
  tier=$(curl -s -X POST -H 'Content-Type: application/json' --data @"$out/raw_one.json" http://127.0.0.1:18190/v1/score |
    "$py" -c 'import json,sys; c=json.load(sys.stdin)["customers"][0]; print(c["tier"], len(c["reasons"]), "reasons")')
  echo "  churnguard serve, reasons as the list gives them ($mode): the customer is $tier"
  sweep "churnguard ($mode)" 127.0.0.1:18190 "$out/raw_one.json" 250 500 1000 1500 2000 3000 4000
  read -r ours10 ours250 ours_most < "$out/sweep_best"
  stop_server
  printf '  churnguard (%s): highest rate with p99 under 10 ms %s/s, under 250 ms %s/s; at most %.0f answered/s\n' "$mode" "$ours10" "$ours250" "$ours_most"
done
start_server "$py" bench/serve_reference.py "$pkg" 18191
sweep "FastAPI + pandas + ORT" 127.0.0.1:18191 "$out/raw_one.json" 5 10 20 40 80
read -r py10 py250 py_most < "$out/sweep_best"
stop_server
printf '  FastAPI + pandas + onnxruntime (probability and tier only): highest rate with p99 under 10 ms %s/s, under 250 ms %s/s; at most %.0f answered/s\n' "$py10" "$py250" "$py_most"
printf '  churnguard with reasons for every answer against it: %.0fx the rate held with p99 under 250 ms, %.0fx the most answered per second\n' \
  "$(awk -v a="$ours250" -v b="$py250" 'BEGIN {print (b > 0 ? a / b : 0)}')" "$(awk -v a="$ours_most" -v b="$py_most" 'BEGIN {print (b > 0 ? a / b : 0)}')"
fi

echo
if wanted serve_batch; then
echo "== serve_batch: POST /v1/score/batch, customers per second, against batch scoring =="
pkg="$out/models/synth/latest"
[ -f "$out/features_churnguard.parquet" ] || "$bin" features "$synth/everyone.toml" --cutoff 2024-06-01 --out "$out/features_churnguard.parquet" >/dev/null
[ -f "$out/batch/histories.ndjson" ] || { mkdir -p "$out/batch"; "$py" bench/batch_bodies.py "$out/features_churnguard.parquet" "$synth" "$pkg" 100000 5000 "$out/batch" | sed 's/^/  bodies: /'; }
start_server "$bin" serve --model "$pkg" --pipeline "$synth/serve.toml" --listen 127.0.0.1:18192 --timeout-ms 600000
post_rate() { # name content-type file customers
  local t
  t=$(for _ in $(seq "$runs"); do curl -s -o /dev/null -w '%{time_total}\n' -X POST -H "Content-Type: $2" --data-binary @"$3" "http://127.0.0.1:18192/v1/score/batch?as_of=2024-12-31"; done | median)
  printf '  %-34s %7d customers in %6.2f s: %8.0f customers/s\n' "$1" "$4" "$t" "$(awk -v n="$4" -v t="$t" 'BEGIN {print n / t}')"
}
post_rate "feature vectors, JSON lines" application/x-ndjson "$out/batch/features.ndjson" 100000
post_rate "feature vectors, Arrow IPC" application/vnd.apache.arrow.stream "$out/batch/features.arrows" 100000
post_rate "raw histories, JSON lines" application/x-ndjson "$out/batch/histories.ndjson" 5000
stop_server
read -r score_t _ < <(median_of "$bin" score --model "$pkg" --pipeline "$synth/train.toml" --as-of 2024-12-31 --out "$out/risk.parquet" --threads "$threads" --top 0)
printf '  churnguard score (batch job, whole process, raw Parquet to the list): %d customers in %.2f s: %.0f customers/s\n' \
  "$customers" "$score_t" "$(awk -v n="$customers" -v t="$score_t" 'BEGIN {print n / t}')"
fi

echo
if wanted busy; then
echo "== busy neighbour: train and score with another process keeping one core busy (${customers} customers) =="
pkg="$out/models/synth/latest"
# Training on the default thread setting (`model.num_threads = 0`: the idle cores), as a user runs it.
sed "/^num_threads = /d" "$synth/train.toml" > "$synth/train_auto.toml"
for job in train score; do
  case $job in
    train) cmd=("$bin" train "$synth/train_auto.toml" --models "$out/models_busy") ;;
    score) cmd=("$bin" score --model "$pkg" --pipeline "$synth/train.toml" --as-of 2024-12-31 --out "$out/risk_busy.parquet" --threads "$threads" --top 0) ;;
  esac
  quiet=$(for _ in $(seq "$runs"); do measure "${cmd[@]}"; done | sort -n | awk '{t[NR]=$1} END {print t[int((NR+1)/2)]}')
  # A neighbour that spins one core for as long as the measurement lasts (started here, not in a
  # command substitution, which would wait for it to end).
  ( while :; do :; done ) >/dev/null 2>&1 &
  pid=$!
  loaded=$(for _ in $(seq "$runs"); do measure "${cmd[@]}"; done | sort -n | awk '{t[NR]=$1} END {print t[int((NR+1)/2)]}')
  # The same work on one thread, beside the same neighbour: a busy run on every core must not be
  # slower than that.
  case $job in
    train) sed "s/^num_threads = .*/num_threads = 1/" "$synth/train.toml" > "$synth/train_one.toml"
           one=("$bin" train "$synth/train_one.toml" --models "$out/models_busy") ;;
    score) one=("${cmd[@]}"); one[${#one[@]}-3]=1 ;;
  esac
  single=$(for _ in $(seq "$runs"); do measure "${one[@]}"; done | sort -n | awk '{t[NR]=$1} END {print t[int((NR+1)/2)]}')
  kill "$pid" 2>/dev/null || true
  case $job in train) how="the default (idle cores)" ;; score) how="$threads threads" ;; esac
  printf '  churnguard %-5s quiet %7.2f s, one core busy %7.2f s: %.2fx; one thread, one core busy %7.2f s (busy on %s / one thread = %.2f)\n' \
    "$job" "$quiet" "$loaded" "$(awk -v a="$loaded" -v b="$quiet" 'BEGIN {print a / b}')" \
    "$single" "$how" "$(awk -v a="$loaded" -v b="$single" 'BEGIN {print a / b}')"
done
fi

echo
if wanted cdnow; then
echo "== cdnow: the early-warning model on the customers still with us, against pandas + LightGBM (pipelines/cdnow.toml) =="
# churnguard's training summary states the test AUC and the value captured; the reference builds
# the same population and protocol with pandas (bench/cdnow_reference.py).
rm -rf "$out/models_cdnow_bench"
"$bin" train pipelines/cdnow.toml --models "$out/models_cdnow_bench" > "$out/cdnow_train.out" 2>/dev/null
cg_auc=$(sed -n 's/^ *AUC \([0-9.]*\) \[.*/\1/p' "$out/cdnow_train.out" | tail -1)
cg_cap=$(sed -n 's/.*ranked by value at risk: top 10% \([0-9.]*\)%, top 20% [0-9.]*%, top 30% \([0-9.]*\)%.*/\1 \2/p' "$out/cdnow_train.out")
read -r _ py_auc _ py_cap10 py_cap30 _ py_byp _ py_byv _ < <(cd bench && "../$py" cdnow_reference.py ../data/cdnow/cdnow_master.parquet)
printf '  out-of-time AUC at 1998-04-01, customers still with us: churnguard %s, pandas + LightGBM %s\n' "$cg_auc" "$py_auc"
read -r cg10 cg30 <<< "$cg_cap"
printf '  spend of the churners held by the top of the list (value at risk): churnguard top 10%% %s%%, top 30%% %s%%; pandas + LightGBM %.1f%%, %.1f%% (by probability %.1f%%, by value alone %.1f%%)\n' \
  "$cg10" "$cg30" "$(awk -v x="$py_cap10" 'BEGIN {print 100 * x}')" "$(awk -v x="$py_cap30" 'BEGIN {print 100 * x}')" \
  "$(awk -v x="$py_byp" 'BEGIN {print 100 * x}')" "$(awk -v x="$py_byv" 'BEGIN {print 100 * x}')"
fi

echo
if wanted value; then
echo "== value: other value estimates and value-weighted training against p x past spend, CDNOW out of time (bench/value_models.py) =="
# The list's value captured counts the churners' past spend; this measures whether a forward
# value (LightGBM regression, BG/NBD + Gamma-Gamma) or spend-weighted training would raise it.
"$bin" features pipelines/cdnow.toml --out "$out/value_features.parquet" > /dev/null
"$py" bench/value_models.py --features "$out/value_features.parquet" --events data/cdnow/cdnow_master.parquet | sed 's/^/  /'
fi

echo
if wanted scale; then
# Every stage one partition at a time, partitions of about 625,000 customers, so memory per
# partition is the same at every scale; 1,000,000 customers against BENCH_SCALE (10,000,000).
big=${BENCH_SCALE:-10000000}
echo "== scale: features, train and score over customer partitions, ${customers} against ${big} customers =="
scale_config() { # $1 data folder, $2 config written: the synth pipeline, partitioned, early-warning population
  sed -n '/^\[label\]/q;p' "$1/pipeline.toml" | sed "s|path = \"\\([a-z]*\\).parquet\"|path = \"parts/\\1\"|" > "$2"
  cat >> "$2" <<TOML
[label]
kind = "inactivity"
horizon_days = 90
[snapshots]
train_cutoffs = [2024-06-01]
test_cutoff = 2024-09-01
[model]
learning_rate = 0.1
num_leaves = 31
num_iterations = $rounds
early_stopping_rounds = 0
num_threads = $threads
[evaluation]
bootstrap_samples = 200
TOML
}
declare -A took peak
for n in "$customers" "$big"; do
  data="$out/synth_${n}"
  [ -f "$data/pipeline.toml" ] || "$bin" synth --customers "$n" --seed 42 --out "$data" >/dev/null
  parts=$(( (n + 624999) / 625000 ))
  [ -d "$data/parts" ] || "$bin" partition "$data/pipeline.toml" --parts "$parts" --out "$data/parts" >/dev/null
  scale_config "$data" "$data/scale.toml"
  rm -rf "$out/scale_models_$n"
  for stage in features train score; do
    case $stage in
      features) cmd=("$bin" features "$data/scale.toml" --cutoff 2024-06-01 --out "$out/scale_features_$n.parquet") ;;
      train) cmd=("$bin" train "$data/scale.toml" --models "$out/scale_models_$n") ;;
      score) cmd=("$bin" score --model "$out/scale_models_$n/synth/latest" --pipeline "$data/scale.toml" --as-of 2024-12-31 --out "$out/scale_risk_$n.parquet" --threads "$threads" --top 0) ;;
    esac
    read -r t m < <(measure "${cmd[@]}")
    took[$stage,$n]=$t
    peak[$stage,$n]=$m
  done
  rm -f "$out/scale_features_$n.parquet"
  grep -h "AUC" "$out/scale_models_$n/synth/v1/report.html" >/dev/null 2>&1 || true
  printf '  %s customers, %s partitions: test AUC %s\n' "$n" "$parts" \
    "$("$py" -c "import json,sys; print(round(json.load(open(sys.argv[1]))['test']['auc'], 4))" "$out/scale_models_$n/synth/v1/manifest.json")"
done
for stage in features train score; do
  printf '  %-8s %9s customers %8.2f s, peak %6.0f MB | %9s customers %8.2f s, peak %6.0f MB | time %.2fx\n' "$stage" \
    "$customers" "${took[$stage,$customers]}" "$(awk -v k="${peak[$stage,$customers]}" 'BEGIN {print k/1024}')" \
    "$big" "${took[$stage,$big]}" "$(awk -v k="${peak[$stage,$big]}" 'BEGIN {print k/1024}')" \
    "$(awk -v a="${took[$stage,$big]}" -v b="${took[$stage,$customers]}" 'BEGIN {print a / b}')"
done
fi

echo
if wanted distributed; then
echo "== distributed: 2 workers on loopback (one thread each) against 1 worker (${threads} threads), same partitions (${customers} customers) =="
data="$out/synth_${customers}"
[ -d "$data/parts" ] || "$bin" partition "$data/pipeline.toml" --parts 2 --out "$data/parts" >/dev/null
[ -f "$data/scale.toml" ] || { echo "  run the scale section first (it writes the partitioned pipeline)"; exit 1; }
port=$(( 20000 + RANDOM % 20000 ))
sed "s/^num_threads = .*/num_threads = 1/" "$data/scale.toml" > "$data/distributed.toml"
printf '[distributed]\nmachines = ["127.0.0.1:%s", "127.0.0.1:%s"]\ncoordinator = "127.0.0.1:%s"\ntimeout_seconds = 300\n' \
  "$port" "$((port + 2))" "$((port + 4))" >> "$data/distributed.toml"
auc_of() { "$py" -c "import json,sys; print(round(json.load(open(sys.argv[1]))['test']['auc'], 4))" "$1/synth/v1/manifest.json"; }
one=()
two=()
for _ in $(seq "$runs"); do
  rm -rf "$out/dist_one" "$out/dist_two"
  s=$(date +%s.%N); "$bin" train "$data/scale.toml" --models "$out/dist_one" >/dev/null; e=$(date +%s.%N)
  one+=("$(awk -v s="$s" -v e="$e" 'BEGIN {print e - s}')")
  s=$(date +%s.%N)
  "$bin" train "$data/distributed.toml" --rank 1 >/dev/null 2>&1 &
  worker=$!
  "$bin" train "$data/distributed.toml" --models "$out/dist_two" --rank 0 >/dev/null 2>&1
  wait "$worker"
  e=$(date +%s.%N)
  two+=("$(awk -v s="$s" -v e="$e" 'BEGIN {print e - s}')")
done
t1=$(printf '%s\n' "${one[@]}" | median)
t2=$(printf '%s\n' "${two[@]}" | median)
printf '  1 worker  (%s threads)        %7.2f s, test AUC %s\n' "$threads" "$t1" "$(auc_of "$out/dist_one")"
printf '  2 workers (1 thread each)      %7.2f s, test AUC %s  time 2 workers / 1 worker = %.2f\n' "$t2" "$(auc_of "$out/dist_two")" \
  "$(awk -v a="$t2" -v b="$t1" 'BEGIN {print a / b}')"
fi

echo
# An environment with the Python package (wheel profile) and `$@` from the wheelhouse: $pyenv.
pyenv="$out/python-env"
wheel_env() {
  "$root/.tools/venv/bin/maturin" build --quiet --profile wheel --manifest-path crates/python/Cargo.toml \
    --out "$out/wheels" --interpreter "$py" >/dev/null
  wheel=$(ls -t "$out"/wheels/churnguard-*.whl | head -1)
  [ -x "$pyenv/bin/python" ] || "$py" -m venv "$pyenv"
  "$pyenv/bin/pip" install -q --disable-pip-version-check --no-index --find-links .tools/wheels --force-reinstall --no-deps "$wheel"
  "$pyenv/bin/pip" install -q --disable-pip-version-check --no-index --find-links .tools/wheels polars onnxruntime "$@"
}

if wanted python; then
echo "== python: the Python package (wheel profile) against the CLI on the same work =="
wheel_env
printf '  wheel %s: %.1f MB\n' "$(basename "$wheel")" "$(awk -v b="$(stat -c %s "$wheel")" 'BEGIN {print b / 1048576}')"
printf '  import churnguard: %.3f s (median of 5, fresh interpreters; target 0.3 s)\n' "$("$pyenv/bin/python" bench/python_api.py import 5)"
pkg="$out/models/synth/latest"
cli_train=$(for _ in $(seq "$runs"); do measure "$bin" train "$synth/train.toml" --models "$out/models_py_cli"; done | awk '{print $1}' | median)
py_train=$(for _ in $(seq "$runs"); do measure "$pyenv/bin/python" bench/python_api.py train "$synth/train.toml" "$out/models_py"; done | awk '{print $1}' | median)
printf '  train %s customers (whole process): CLI %6.2f s, Python %6.2f s  Python/CLI = %.3f (target <= 1.05)\n' \
  "$customers" "$cli_train" "$py_train" "$(awk -v a="$py_train" -v b="$cli_train" 'BEGIN {print a / b}')"
cli_score=$(for _ in $(seq "$runs"); do measure "$bin" score --model "$pkg" --pipeline "$synth/train.toml" --as-of 2024-12-31 --out "$out/risk.parquet" --threads "$threads" --top 0; done | awk '{print $1}' | median)
py_score=$(for _ in $(seq "$runs"); do measure "$pyenv/bin/python" bench/python_api.py score "$pkg" "$synth/train.toml" 2024-12-31 "$threads"; done | awk '{print $1}' | median)
printf '  score %s customers (whole process; the CLI also writes Parquet): CLI %6.2f s, Python (list in memory) %6.2f s  Python/CLI = %.3f (target <= 1.05)\n' \
  "$customers" "$cli_score" "$py_score" "$(awk -v a="$py_score" -v b="$cli_score" 'BEGIN {print a / b}')"
read -r t peak < <(measure "$pyenv/bin/python" bench/python_api.py frame "$pkg" "$synth/train.toml" "$synth" 2024-12-31 "$threads")
read -r frame_b model_b rows < <("$pyenv/bin/python" bench/python_api.py frame "$pkg" "$synth/train.toml" "$synth" 2024-12-31 "$threads")
printf '  score from polars frames of the tables (%.0f MB) with the package (%.1f MB): peak %.0f MB = %.2fx frame + package (target 1.3x), %.2f s\n' \
  "$(awk -v b="$frame_b" 'BEGIN {print b / 1048576}')" "$(awk -v b="$model_b" 'BEGIN {print b / 1048576}')" \
  "$(awk -v k="$peak" 'BEGIN {print k / 1024}')" "$(awk -v k="$peak" -v f="$frame_b" -v m="$model_b" 'BEGIN {print k * 1024 / (f + m)}')" "$t"
fi

echo
if wanted engines; then
echo "== engines: the list of ${customers} customers (three tables) on Spark local[2] and a Dask LocalCluster of 2 workers against the CLI on the same 2 cores =="
./scripts/setup.sh --engines
mapfile -t engine_packages < "$(ls .tools/stamp-engines-* | head -1)"
wheel_env "${engine_packages[@]}"
pkg="$out/models/synth/latest"
eruns=${BENCH_ENGINE_RUNS:-1}
cli_score=$(for _ in $(seq "$eruns"); do measure "$bin" score --model "$pkg" --pipeline "$synth/train.toml" --as-of 2024-12-31 --out "$out/risk_engines.parquet" --threads 2 --top 0; done | awk '{print $1}' | median)
printf '  CLI score (2 threads, whole tables)           %7.2f s\n' "$cli_score"
for engine in spark dask; do
  shares=$([ "$engine" = spark ] && echo 8 || echo 4)
  read -r t rows < <(for _ in $(seq "$eruns"); do "$pyenv/bin/python" bench/engines.py "$engine" "$pkg" "$synth/train.toml" "$synth" 2024-12-31 "$shares" 2 2>/dev/null; done | sort -n | awk '{m[NR]=$0} END {print m[int((NR+1)/2)]}')
  printf '  %-5s (2 slots, %s shares, start included)  %7.2f s, %s rows  %s/CLI = %.2f (target <= 1.5)\n' \
    "$engine" "$shares" "$t" "$rows" "$engine" "$(awk -v a="$t" -v b="$cli_score" 'BEGIN {print a / b}')"
done
fi
