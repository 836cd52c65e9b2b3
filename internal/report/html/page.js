// gather's report page: draws the data of the gather-data element with
// uPlot. Every number comes computed from Go (internal/report/html); this
// script only lays out tables and charts.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("gather-data").textContent);
  const runs = data.runs;
  const multi = runs.length > 1;
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939"];
  const metricColours = {
    "requests/s": "#1f77b4", "target rate": "#7f7f7f",
    p50: "#2ca02c", p90: "#1f77b4", p99: "#ff7f0e", max: "#d62728",
    response: "#1f77b4", service: "#ff7f0e",
    "1xx": "#7f7f7f", "2xx": "#2ca02c", "3xx": "#1f77b4", "4xx": "#ff7f0e", "5xx": "#d62728", other: "#9467bd",
    timeout: "#d62728", refused: "#9467bd", reset: "#8c564b", dns: "#e377c2", tls: "#17becf", protocol: "#bcbd22",
    all: "#222",
  };
  const runColour = (i) => (runs[i].merged ? "#000" : palette[i % palette.length]);
  const charts = {}; // id -> uPlot, for tests and resizing
  window.gatherCharts = charts;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "style") e.style.cssText = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }
  const swatch = (colour) => el("span", { class: "swatch", style: "background:" + colour });

  // The header: title, what made the page, the runs and their colours.
  const head = document.getElementById("head");
  head.append(el("h1", {}, data.title));
  head.append(el("p", {}, "Generated " + data.generated + (data.generator ? " by " + data.generator : "")));
  if (multi) {
    const list = el("ul", { class: "runs" });
    runs.forEach((r, i) => list.append(el("li", {}, swatch(runColour(i)), r.name)));
    head.append(list);
    head.append(el("p", {}, data.segments
      ? "These runs overlap in time: segments of one run, drawn on one clock from the earliest start, with their merge."
      : "These runs do not overlap in time: each is drawn from its own start, to compare them."));
  }

  // The summary tables: a column per run.
  const summary = document.getElementById("summary");
  for (const sec of data.summary) {
    const t = el("table", {}, el("caption", {}, sec.title));
    if (multi) {
      const tr = el("tr", {}, el("th", {}, ""));
      runs.forEach((r, i) => tr.append(el("th", {}, swatch(runColour(i)), r.name)));
      t.append(tr);
    }
    for (const row of sec.rows) {
      const tr = el("tr", {}, el("th", {}, row.label));
      for (const v of row.values) tr.append(el("td", row.fail && v.startsWith("FAIL") ? { class: "fail" } : {}, v));
      t.append(tr);
    }
    summary.append(t);
  }

  const width = () => Math.max(320, document.querySelector("main").clientWidth - 34);
  const fmt = (v, d) => (v == null ? "-" : Number(v).toLocaleString("en-US", { maximumFractionDigits: d }));

  // chart draws one uPlot chart into a figure; series are
  // [{label, colour, values, width, dash}], x the shared x values.
  function chart(parent, id, title, note, x, series, opts) {
    opts = opts || {};
    const fig = el("figure", { id: "chart-" + id });
    const cap = el("figcaption", {}, title);
    if (note) cap.append(el("span", { class: "note" }, note));
    fig.append(cap);
    if (opts.picks) cap.append(opts.picks);
    parent.append(fig);
    const holder = el("div");
    fig.append(holder);
    const draw = (series, newX) => {
      if (newX) x = newX;
      if (charts[id]) charts[id].destroy();
      holder.textContent = "";
      const u = new uPlot({
        width: width(),
        height: opts.height || 240,
        scales: { x: { time: false, distr: opts.xLog ? 3 : 1, range: opts.xRange }, y: { distr: opts.yLog ? 3 : 1 } },
        axes: [
          { label: opts.xLabel, values: opts.xValues, splits: opts.xSplits },
          { label: opts.yLabel, size: 60 },
        ],
        series: [{ label: opts.xLabel || "x", value: (u, v) => (opts.xValue ? opts.xValue(v) : fmt(v, 3)) }].concat(series.map((s) => ({
          label: s.label,
          stroke: s.colour,
          width: s.width || 1.5,
          dash: s.dash,
          fill: opts.bars ? s.colour + "99" : undefined,
          paths: opts.bars ? uPlot.paths.bars({ size: [0.9, 40] }) : opts.stepped ? uPlot.paths.stepped({ align: -1 }) : undefined,
          points: { show: false },
          spanGaps: false,
          value: (u, v) => fmt(v, 3),
        }))),
        legend: { live: true },
      }, [x].concat(series.map((s) => s.values)), holder);
      charts[id] = u;
    };
    draw(series);
    return draw;
  }

  // picks returns a row of buttons, one per choice, that call choose.
  function picks(choices, chosen, choose) {
    const box = el("span", { class: "picks" });
    for (const c of choices) {
      const b = el("button", { type: "button" }, c);
      if (c === chosen) b.classList.add("on");
      b.addEventListener("click", () => {
        box.querySelectorAll("button").forEach((o) => o.classList.toggle("on", o === b));
        choose(c);
      });
      box.append(b);
    }
    return box;
  }

  // A chart over time shows, for one run, each of its metrics; for
  // several, one metric at a time (chosen with buttons), a line per run.
  // Runs have their own x values: uPlot.join lines them up, a missing
  // point left undefined and a point without value (null) a gap.
  function timeChart(parent, id, title, metricsOf, chosen, yLabel) {
    const withTime = runs.map((r, i) => ({ r, i })).filter((o) => o.r.time);
    if (withTime.length === 0) return;
    const names = [];
    for (const o of withTime) for (const [name] of metricsOf(o.r.time)) if (!names.includes(name)) names.push(name);
    if (names.length === 0) {
      parent.append(el("h3", {}, title), el("p", { class: "empty" }, "none in any interval"));
      return;
    }
    const step = withTime[0].r.time.step;
    const note = "each point: " + fmt(step, 3) + " s";
    if (!multi) {
      const t = withTime[0].r.time;
      const ms = metricsOf(t);
      chart(parent, id, title, note, t.x, ms.map(([name, values]) => ({ label: name, colour: metricColours[name] || palette[names.indexOf(name) % palette.length], values })), { xLabel: "s", yLabel });
      return;
    }
    const joined = (metric) => {
      const tables = withTime.map((o) => {
        const m = metricsOf(o.r.time).find(([name]) => name === metric);
        return [o.r.time.x, m ? m[1] : o.r.time.x.map(() => 0)];
      });
      return uPlot.join(tables);
    };
    const seriesOf = (metric) => {
      const j = joined(metric);
      return { x: j[0], series: withTime.map((o, k) => ({ label: o.r.name, colour: runColour(o.i), values: j[k + 1], width: o.r.merged ? 2.5 : 1.5 })) };
    };
    if (!names.includes(chosen)) chosen = names[0];
    let draw;
    const p = picks(names, chosen, (m) => { const s = seriesOf(m); draw(s.series, s.x); });
    const first = seriesOf(chosen);
    draw = chart(parent, id, title, note, first.x, first.series, { xLabel: "s", yLabel, picks: p });
  }

  const time = document.getElementById("time");
  if (!runs.some((r) => r.time)) time.append(el("p", { class: "empty" }, "No time series: the runs were saved before gather kept one."));
  const latencyMetrics = (key) => (t) => [["p50", t[key].p50], ["p90", t[key].p90], ["p99", t[key].p99], ["max", t[key].max]];
  timeChart(time, "throughput", "Throughput (requests/s)", (t) => [["requests/s", t.rate]].concat(t.due ? [["target rate", t.due]] : []), "requests/s", "req/s");
  timeChart(time, "response", "Response time (ms)", latencyMetrics("response"), "p99", "ms");
  if (data.hasService) timeChart(time, "service", "Service time (ms)", latencyMetrics("service"), "p99", "ms");
  const sum = (arrays) => arrays[0].map((_, i) => arrays.reduce((a, v) => a + v[i], 0));
  timeChart(time, "errors", "Errors (per second, by kind)", (t) => {
    const kinds = Object.entries(t.errors);
    return multi && kinds.length > 0 ? [["all", sum(kinds.map(([, v]) => v))]].concat(kinds) : kinds;
  }, "all", "errors/s");
  timeChart(time, "status", "Responses (per second, by status class)", (t) => Object.entries(t.status), "2xx", "responses/s");

  // The percentile spectrum: x in nines, 0 (0%) to 5 (99.999%).
  const nineLabel = (v) => {
    if (v <= 0) return "0%";
    const p = 100 * (1 - Math.pow(10, -v));
    return (Number.isInteger(v) ? p.toFixed(Math.max(0, v - 2)) : p.toPrecision(Math.max(2, Math.ceil(v) + 1))) + "%";
  };
  const spectrumOpts = (picks) => ({
    xLabel: "percentile", yLabel: "ms", yLog: true, picks,
    xSplits: () => [0, 1, 2, 3, 4, 5], xValues: (u, splits) => splits.map(nineLabel), xValue: nineLabel,
  });
  const dist = document.getElementById("distribution");
  const spectrumSeries = (key) => runs.map((r, i) => ({ label: r.name, colour: runColour(i), values: r[key], width: r.merged ? 2.5 : 1.5 }));
  if (!multi && data.hasService) {
    chart(dist, "spectrum", "Latency by percentile (ms, log scale)", "", data.nines,
      [{ label: "response", colour: metricColours.response, values: runs[0].spectrumResponse },
        { label: "service", colour: metricColours.service, values: runs[0].spectrumService }], spectrumOpts());
  } else if (!multi || !data.hasService) {
    chart(dist, "spectrum", "Response time by percentile (ms, log scale)", "", data.nines, spectrumSeries("spectrumResponse"), spectrumOpts());
  } else {
    let draw;
    const p = picks(["response", "service"], "response", (m) => draw(spectrumSeries(m === "response" ? "spectrumResponse" : "spectrumService")));
    draw = chart(dist, "spectrum", "Latency by percentile (ms, log scale)", "", data.nines, spectrumSeries("spectrumResponse"), spectrumOpts(p));
  }

  // The latency histogram, on buckets shared by the runs.
  if (data.bounds && data.bounds.length > 1) {
    const b = data.bounds;
    const logSpaced = b[b.length - 1] / b[0] > 20;
    const centres = b.slice(1).map((hi, i) => (logSpaced ? Math.sqrt(hi * b[i]) : (hi + b[i]) / 2));
    chart(dist, "histogram", "Response time histogram (responses per bucket, ms" + (logSpaced ? ", log scale" : "") + ")", "", centres,
      runs.map((r, i) => ({ label: r.name, colour: runColour(i), values: r.histogram, width: r.merged ? 2.5 : 1.5 })),
      { xLabel: "ms", yLabel: "responses", xLog: logSpaced, bars: !multi, stepped: multi, xRange: [b[0], b[b.length - 1]] });
  } else {
    dist.append(el("p", { class: "empty" }, "No responses: no latency to draw."));
  }

  // Per-target tables and charts.
  const targets = document.getElementById("targets");
  for (const [n, block] of data.targets.entries()) {
    targets.append(el("h2", {}, "Targets" + (multi ? ": " + block.name : "")));
    const t = el("table");
    t.append(el("tr", {}, ...block.columns.map((c) => el("th", {}, c))));
    for (const r of block.rows) t.append(el("tr", {}, ...r.map((v, i) => (i === 0 ? el("th", {}, v) : el("td", {}, v)))));
    targets.append(t);
    const more = block.more > 0 ? "the " + block.charted.length + " busiest of " + block.rows.length + " targets" : "";
    const colour = (k) => palette[k % palette.length];
    const run = runs[block.run];
    if (run.time && run.time.targetRate) {
      const note = "each point: " + fmt(run.time.step, 3) + " s" + (more ? "; " + more : "");
      chart(targets, "target-rate-" + n, "Requests per second, by target", note, run.time.x,
        block.charted.map((name, k) => ({ label: name, colour: colour(k), values: run.time.targetRate[k] })), { xLabel: "s", yLabel: "req/s" });
      chart(targets, "target-errors-" + n, "Errors per second, by target", note, run.time.x,
        block.charted.map((name, k) => ({ label: name, colour: colour(k), values: run.time.targetErrors[k] })), { xLabel: "s", yLabel: "errors/s" });
    }
    chart(targets, "target-spectrum-" + n, "Response time by percentile, by target (ms, log scale)", more, data.nines,
      block.charted.map((name, k) => ({ label: name, colour: colour(k), values: block.spectra[k] })), spectrumOpts());
  }

  // The text reports, as gather printed them.
  const texts = document.getElementById("texts");
  for (const r of runs) {
    texts.append(el("details", {}, el("summary", {}, r.name), el("pre", {}, r.text)));
  }

  window.addEventListener("resize", () => {
    for (const u of Object.values(charts)) u.setSize({ width: width(), height: u.height });
  });
  window.gatherRenderMs = performance.now();
  document.body.dataset.ready = "true";
})();
