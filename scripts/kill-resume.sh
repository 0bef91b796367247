#!/usr/bin/env bash
# Runs CONFIG whole, and again killed with SIGKILL once epoch EPOCH (default 2) is logged, then
# resumed with --resume; prints whether every epoch's losses, lr and accuracy agree, and both top-1s.
#   bash scripts/kill-resume.sh configs/fashion-mnist/none_resnet20_resnet8.yaml 2
set -euo pipefail
config=$1
epoch=${2:-2}
distill="node $(dirname "$0")/../dist/src/cli/main.js"
name=$(sed -n 's/^name: *//p' "$config")
output=$(sed -n 's/^output: *//p' "$config")
output=${output:-runs}
killed="$(dirname "$config")/.${name}-killed.yaml"
sed "s/^name: .*/name: ${name}-killed/" "$config" > "$killed"
rm -rf "$output/$name" "$output/$name-killed"
$distill run "$config" > /dev/null 2>&1
$distill run "$killed" > /dev/null 2>&1 &
pid=$!
until grep -q "\"event\":\"epoch\".*\"epoch\":$epoch," "$output/$name-killed/log.jsonl" 2>/dev/null; do sleep 0.1; done
kill -9 $pid
wait $pid 2>/dev/null || true
$distill run "$killed" --resume > /dev/null 2>&1
rm -f "$killed"
node -e '
const fs = require("fs");
const read = (n) => JSON.parse(fs.readFileSync(process.argv[1] + "/" + n + "/result.json", "utf8"));
const [a, b] = [read(process.argv[2]), read(process.argv[2] + "-killed")];
const strip = (r) => JSON.stringify(r.history.map(({ seconds, imgPerSec, rssMb, ...rest }) => rest));
console.log(strip(a) === strip(b) ? "identical epochs" : "DIFFERENT epochs", "| top-1 uninterrupted", a.lastTop1, "| killed and resumed", b.lastTop1);
' "$output" "$name"
