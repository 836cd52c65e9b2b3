// bench/distributed_onehist.js: one histogram holding every request of
// the saved runs given, made apart from gather (HdrHistogram's
// JavaScript port decodes each run's response histogram and adds them
// up), printed as gather report -o json prints a response: count, min,
// percentiles and max in ms. bench/distributed.sh compares it with the
// merge that gather report makes of the same runs.
"use strict";
const hdr = require("hdr-histogram-js");
const fs = require("fs");

let one = null;
for (const file of process.argv.slice(2)) {
  const saved = JSON.parse(fs.readFileSync(file, "utf8"));
  const h = hdr.decodeFromCompressedBase64(saved.response_histogram, 64, false);
  if (one === null) one = h;
  else one.add(h);
}
if (one === null) {
  console.error("distributed_onehist.js: give the saved runs");
  process.exit(2);
}
const ms = (us) => us / 1000; // gather's histograms count microseconds
const out = { count: one.totalCount, min_ms: ms(one.minNonZeroValue) };
for (const [key, p] of [["p50_ms", 50], ["p90_ms", 90], ["p95_ms", 95], ["p99_ms", 99], ["p99_9_ms", 99.9]]) {
  out[key] = ms(one.getValueAtPercentile(p));
}
out.max_ms = ms(one.maxValue);
console.log(JSON.stringify(out));
