/* The overview page: figures and charts for a period, and the sessions table. */
"use strict";

(() => {
  const { api, fetchOk, query, el, fmt, setFigure, chart, aligned, status } = Dash;
  const BUCKETS = { 3600: "minute", 86400: "hour", 604800: "hour", 2592000: "day", all: "day" };
  const BUCKET_SECONDS = { minute: 60, hour: 3600, day: 86400 };
  const SORT_NAMES = { last_activity: "last activity", tokens: "tokens", cost: "cost" };
  const table = { q: "", provider: "", activeWithin: "all", sort: "last_activity", order: "desc", offset: 0, limit: 25, total: 0 };

  function since(value) {
    return value === "all" ? null : new Date(Date.now() - Number(value) * 1000).toISOString();
  }

  async function loadOverview() {
    const period = document.getElementById("period").value;
    const groupBy = document.getElementById("group-by").value;
    const from = since(period);
    const [figures, series] = await Promise.all([
      api(`/api/metrics/overview${query({ since: from })}`),
      api(`/api/metrics/timeseries${query({ since: from, bucket: BUCKETS[period], group_by: groupBy })}`),
    ]);
    setFigure("fig-turns", figures.turns, fmt.int(figures.turns));
    setFigure("fig-calls", figures.calls, fmt.int(figures.calls));
    setFigure("fig-tokens", figures.tokens, fmt.int(figures.tokens));
    setFigure("fig-cost", figures.cost, fmt.usd(figures.cost));
    setFigure("fig-error-rate", figures.error_rate, fmt.pct(figures.error_rate));
    setFigure("fig-p50", figures.latency_p50, fmt.seconds(figures.latency_p50));
    setFigure("fig-p95", figures.latency_p95, fmt.seconds(figures.latency_p95));
    const now = Date.now() / 1000;
    const width = BUCKET_SECONDS[BUCKETS[period]];
    for (const [id, field] of [["chart-turns", "turns"], ["chart-cost", "cost"], ["chart-latency", "latency_p95"]]) {
      const { xs, lines } = aligned(series.series, field);
      const start = from ? Date.parse(from) / 1000 : (xs.length ? xs[0] - width : now - width);
      chart(document.getElementById(id), xs, lines, { range: [start, now + width / 2] });
    }
  }

  async function loadProviders() {
    const select = document.getElementById("provider-filter");
    const { providers } = await api("/api/providers");
    for (const provider of providers) select.append(el("option", { value: provider.name, text: provider.name }));
  }

  function sessionQuery() {
    return {
      q: table.q,
      provider: table.provider,
      since: since(table.activeWithin),
      sort: table.sort,
      order: table.order,
    };
  }

  function sessionRow(s) {
    const link = el("a", { href: `/dashboard/session?id=${encodeURIComponent(s.session_id)}` }, el("code", { text: s.session_id }));
    return el("tr", {}, [
      el("td", {}, link),
      el("td", { text: s.user_id || "" }),
      el("td", {}, el("time", { datetime: s.last_activity, text: fmt.time(s.last_activity) })),
      el("td", { class: "num", text: fmt.int(s.message_count) }),
      el("td", { class: "num", "data-value": s.tokens, text: fmt.int(s.tokens) }),
      el("td", { class: "num", "data-value": s.cost, text: fmt.usd(s.cost) }),
      el("td", { text: s.providers.join(", ") }),
    ]);
  }

  async function loadSessions() {
    const page = await api(`/api/metrics/sessions${query({ ...sessionQuery(), limit: table.limit, offset: table.offset })}`);
    table.total = page.total;
    const body = document.querySelector("#sessions tbody");
    body.replaceChildren(...page.sessions.map(sessionRow));
    if (!page.sessions.length) body.append(el("tr", {}, el("td", { colspan: 7, text: "No session matches." })));
    const pages = Math.max(1, Math.ceil(page.total / table.limit));
    const current = Math.floor(table.offset / table.limit) + 1;
    document.getElementById("page-info").textContent = `Page ${current} of ${pages} (${fmt.int(page.total)} sessions)`;
    document.getElementById("prev").disabled = table.offset === 0;
    document.getElementById("next").disabled = table.offset + table.limit >= page.total;
    for (const th of document.querySelectorAll("#sessions th[aria-sort]")) {
      const sorted = th.querySelector("button").dataset.sort === table.sort;
      th.setAttribute("aria-sort", sorted ? (table.order === "desc" ? "descending" : "ascending") : "none");
    }
    const direction = table.order === "desc" ? "highest first" : "lowest first";
    document.getElementById("sessions-caption").textContent =
      table.sort === "last_activity" && table.order === "desc"
        ? "Sessions, most recently active first"
        : `Sessions by ${SORT_NAMES[table.sort]}, ${table.sort === "last_activity" ? (table.order === "desc" ? "newest first" : "oldest first") : direction}`;
    document.getElementById("sessions").dataset.loaded = `${table.sort}:${table.order}:${table.q}:${table.provider}:${table.offset}`;
  }

  async function downloadCsv() {
    const response = await fetchOk(`/api/sessions/export.csv${query(sessionQuery())}`);
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: "sessions.csv" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function guarded(task) {
    return async (...args) => {
      try {
        await task(...args);
        status(`Updated ${new Date().toLocaleTimeString()}`);
      } catch (error) {
        if (!(error instanceof Dash.Unauthorized)) status(`Could not load: ${error.message}`, true);
      }
    };
  }

  const refreshOverview = guarded(loadOverview);
  const refreshSessions = guarded(loadSessions);

  function install() {
    document.getElementById("period").addEventListener("change", refreshOverview);
    document.getElementById("group-by").addEventListener("change", refreshOverview);
    let typing = null;
    document.getElementById("search").addEventListener("input", (event) => {
      clearTimeout(typing);
      typing = setTimeout(() => { table.q = event.target.value.trim(); table.offset = 0; refreshSessions(); }, 250);
    });
    document.getElementById("session-controls").addEventListener("submit", (event) => event.preventDefault());
    document.getElementById("provider-filter").addEventListener("change", (event) => { table.provider = event.target.value; table.offset = 0; refreshSessions(); });
    document.getElementById("active-within").addEventListener("change", (event) => { table.activeWithin = event.target.value; table.offset = 0; refreshSessions(); });
    for (const button of document.querySelectorAll("#sessions th button")) {
      button.addEventListener("click", () => {
        const column = button.dataset.sort;
        table.order = table.sort === column && table.order === "desc" ? "asc" : "desc";
        table.sort = column;
        table.offset = 0;
        refreshSessions();
      });
    }
    document.getElementById("prev").addEventListener("click", () => { table.offset = Math.max(0, table.offset - table.limit); refreshSessions(); });
    document.getElementById("next").addEventListener("click", () => { table.offset += table.limit; refreshSessions(); });
    document.getElementById("csv").addEventListener("click", guarded(downloadCsv));
  }

  document.addEventListener("DOMContentLoaded", () => {
    install();
    guarded(loadProviders)();
    refreshOverview();
    refreshSessions();
  });
})();
