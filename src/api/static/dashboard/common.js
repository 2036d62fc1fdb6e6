/* Shared by every dashboard page: the key prompt, JSON calls to the API with the key as a
   Bearer token, number formats, and charts with their text alternative. */
"use strict";

const Dash = (() => {
  const KEY = "orchestrator.apiKey";
  const PALETTE = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d"];

  function key() { return sessionStorage.getItem(KEY); }

  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of [].concat(children)) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function status(message, isError = false) {
    const node = document.getElementById("status");
    if (!node) return;
    node.textContent = message;
    node.classList.toggle("error", isError);
  }

  class Unauthorized extends Error {}

  function showKeyPrompt() {
    document.getElementById("key-prompt").hidden = false;
    document.getElementById("main").hidden = true;
    document.getElementById("api-key").focus();
  }

  function installKeyPrompt() {
    document.getElementById("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, document.getElementById("api-key").value.trim());
      location.reload();
    });
  }

  function headers() {
    const token = key();
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  async function fetchOk(path) {
    const response = await fetch(path, { headers: headers() });
    if (response.status === 401) {
      showKeyPrompt();
      throw new Unauthorized("the key was refused");
    }
    if (!response.ok) {
      let message = `${response.status}`;
      try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    return response;
  }

  async function api(path) { return (await fetchOk(path)).json(); }

  function query(params) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== null && value !== undefined && value !== "") search.set(name, value);
    }
    const text = search.toString();
    return text ? `?${text}` : "";
  }

  const integer = new Intl.NumberFormat("en-US");
  const fmt = {
    int: (v) => integer.format(v),
    usd: (v) => (v === null || v === undefined ? "unknown" : `$${Number(v).toFixed(6)}`),
    pct: (v) => `${(v * 100).toFixed(1)}%`,
    seconds: (v) => (v === null || v === undefined ? "–" : `${Number(v).toFixed(3)} s`),
    time: (iso) => new Date(iso).toLocaleString(),
  };

  function setFigure(id, value, text) {
    const node = document.getElementById(id);
    node.dataset.value = value === null || value === undefined ? "" : String(value);
    node.textContent = text;
  }

  /* A line chart in ``figure``: x in epoch seconds, one series per {label, values}; the data
     also goes into a table inside <details>, and the canvas gets a one-line description. */
  function chart(figure, xs, series, options = {}) {
    figure.querySelectorAll(".plot, details, .empty").forEach((node) => node.remove());
    const caption = figure.querySelector("figcaption").textContent;
    if (!xs.length) {
      figure.append(el("p", { class: "empty", text: "No calls in this period." }));
      return;
    }
    const holder = el("div", { class: "plot" });
    figure.append(holder);
    const width = Math.max(260, holder.clientWidth || figure.clientWidth - 16);
    const plotted = [{}].concat(series.map((s, i) => ({
      label: s.label,
      stroke: PALETTE[i % PALETTE.length],
      width: 2,
      spanGaps: true,
      scale: s.scale || "y",
      points: { show: true, size: 5 },
    })));
    const compact = (u, splits) => splits.map((v) => (v === null ? "" : String(Number(v.toPrecision(3)))));
    const counted = { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], values: (u, splits) => splits.map(String) };
    const axes = [options.time === false ? counted : {}, { scale: "y", size: 72, values: compact }];
    if (series.some((s) => s.scale === "y2")) axes.push({ scale: "y2", side: 1, size: 72, grid: { show: false }, values: compact });
    const x = { time: options.time !== false };
    if (options.range) x.range = options.range;
    const plot = new uPlot({
      width,
      height: 220,
      series: plotted,
      axes,
      scales: { x },
      legend: { show: true },
    }, [xs, ...series.map((s) => s.values)], holder);
    const canvas = holder.querySelector("canvas");
    const total = series.map((s) => `${s.label}: ${s.values.filter((v) => v !== null).length} points`).join("; ");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `${caption}. ${total}. The data table below lists every value.`);
    const head = el("tr", {}, [el("th", { scope: "col", text: options.xLabel || "Time" })]
      .concat(series.map((s) => el("th", { scope: "col", text: s.label }))));
    const rows = xs.map((x, i) => el("tr", {}, [
      el("th", { scope: "row", text: options.time === false ? String(x) : new Date(x * 1000).toLocaleString() }),
    ].concat(series.map((s) => el("td", { class: "num", text: s.values[i] === null ? "" : String(s.values[i]) })))));
    figure.append(el("details", {}, [
      el("summary", { text: "Data table" }),
      el("div", { class: "table-wrap" }, el("table", {}, [el("thead", {}, head), el("tbody", {}, rows)])),
    ]));
    return plot;
  }

  /* Series of /api/metrics/timeseries aligned on one x axis, ``field`` of each point. */
  function aligned(series, field) {
    const times = [...new Set(series.flatMap((s) => s.points.map((p) => p.t)))].sort();
    const xs = times.map((t) => Date.parse(t) / 1000);
    const lines = series.map((s) => {
      const byTime = new Map(s.points.map((p) => [p.t, p[field]]));
      return { label: s.key, values: times.map((t) => (byTime.has(t) ? byTime.get(t) : null)) };
    });
    return { xs, lines };
  }

  document.addEventListener("DOMContentLoaded", installKeyPrompt);
  return { api, fetchOk, query, el, fmt, setFigure, chart, aligned, status, key, showKeyPrompt, Unauthorized };
})();
