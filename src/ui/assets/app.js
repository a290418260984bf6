// burnrate's web UI script. The pages work without it; with it, the
// overview filters as people type, grouped SLOs fold, and every page
// polls the JSON API with If-None-Match (a 304 while the snapshot is
// unchanged). On a new snapshot the overview writes the API's figures into
// its rows in place; the other pages fetch themselves again.
"use strict";

(function () {
  const POLL_MS = 10000;

  // ---- overview: filters, search, sorting, folding -----------------------

  function readFilters(form) {
    const get = (name) => (form.elements[name] ? form.elements[name].value.trim() : "");
    return { q: get("q"), service: get("service"), state: get("state"), label: get("label"), sort: get("sort") || "name" };
  }

  // The same rules as the server's `Query::matches`.
  function rowMatches(row, f) {
    const d = row.dataset;
    if (f.service && d.service !== f.service) return false;
    if (f.state && !(" " + d.states + " ").includes(" " + f.state + " ")) return false;
    if (f.q && !d.id.toLowerCase().includes(f.q.toLowerCase())) return false;
    if (f.label) {
      const at = f.label.search(/[:=]/);
      if (at < 0) return false;
      const want = f.label.slice(0, at).trim() + "=" + f.label.slice(at + 1).trim();
      if (!d.labels.split("\n").includes(want)) return false;
    }
    return true;
  }

  // Smaller sorts first; rows without a figure last.
  function rowKey(row, sort) {
    const v = parseFloat(sort === "budget" ? row.dataset.budget : row.dataset.burn);
    if (sort === "name" || Number.isNaN(v)) return sort === "name" ? 0 : Infinity;
    return sort === "budget" ? v : -v;
  }

  function sortBy(nodes, key) {
    return nodes
      .map((node, i) => ({ node, i, k: key(node) }))
      .sort((a, b) => (a.k === b.k ? a.i - b.i : a.k < b.k ? -1 : 1))
      .map((x) => x.node);
  }

  function applyFilters(root) {
    const form = root.querySelector("form.filters");
    if (!form) return;
    const f = readFilters(form);
    // Moving a thousand rows costs a layout: only when the order can change.
    const reorder = !(f.sort === "name" && (root.dataset.sorted || "name") === "name");
    root.dataset.sorted = f.sort;
    const filtering = Boolean(f.q || f.service || f.state || f.label);
    let shown = 0;
    let total = 0;
    for (const section of root.querySelectorAll("section.service")) {
      const table = section.querySelector("table");
      const bodies = Array.from(section.querySelectorAll("tbody.slo"));
      for (const body of bodies) {
        const rows = Array.from(body.querySelectorAll("tr.row"));
        const folded = body.dataset.folded === "true" && !filtering;
        let visible = 0;
        for (const row of rows) {
          total += 1;
          const match = rowMatches(row, f);
          if (match) visible += 1;
          row.hidden = !match || (folded && row.classList.contains("instance"));
        }
        shown += visible;
        body.hidden = visible === 0;
        if (reorder && body.dataset.grouped) {
          const key = (r) => (f.sort === "name" ? r.dataset.id : rowKey(r, f.sort));
          for (const row of sortBy(rows, key)) body.appendChild(row);
        }
        const keys = rows.filter((r) => rowMatches(r, f)).map((r) => rowKey(r, f.sort));
        body.dataset.key = keys.length ? Math.min(...keys) : Infinity;
      }
      const visibleBodies = bodies.filter((b) => !b.hidden);
      section.hidden = visibleBodies.length === 0;
      if (reorder) {
        for (const body of sortBy(bodies, (b) => (f.sort === "name" ? b.dataset.slo : parseFloat(b.dataset.key)))) {
          table.appendChild(body);
        }
      }
      section.dataset.key = visibleBodies.length
        ? Math.min(...visibleBodies.map((b) => parseFloat(b.dataset.key)))
        : Infinity;
    }
    const sections = Array.from(root.querySelectorAll("section.service"));
    const parent = sections.length ? sections[0].parentNode : null;
    const after = sections.length ? sections[sections.length - 1].nextSibling : null;
    if (reorder) {
      for (const section of sortBy(sections, (s) => (f.sort === "name" ? s.dataset.service : parseFloat(s.dataset.key)))) {
        parent.insertBefore(section, after);
      }
    }
    const counter = root.querySelector("#shown");
    if (counter) counter.textContent = shown + " of " + total + " instances shown";
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v && !(k === "sort" && v === "name")) params.set(k, v);
    const query = params.toString();
    history.replaceState(null, "", query ? "?" + query : location.pathname);
  }

  function setupFolds(root, expanded) {
    for (const body of root.querySelectorAll("tbody.slo[data-grouped]")) {
      const button = body.querySelector("button.fold");
      if (!button) continue;
      const open = expanded.has(body.dataset.slo);
      body.dataset.folded = open ? "false" : "true";
      button.setAttribute("aria-expanded", String(open));
      button.textContent = open ? "▾" : "▸";
      button.hidden = false;
      button.addEventListener("click", () => {
        const nowOpen = body.dataset.folded === "true";
        body.dataset.folded = nowOpen ? "false" : "true";
        button.setAttribute("aria-expanded", String(nowOpen));
        button.textContent = nowOpen ? "▾" : "▸";
        if (nowOpen) expanded.add(body.dataset.slo);
        else expanded.delete(body.dataset.slo);
        applyFilters(root);
      });
    }
  }

  const expanded = new Set();

  function setupPage(root) {
    setupFolds(root, expanded);
    const form = root.querySelector("form.filters");
    if (!form) return;
    form.addEventListener("input", () => applyFilters(root));
    form.addEventListener("change", () => applyFilters(root));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      applyFilters(root);
    });
    applyFilters(root);
  }

  // ---- the overview, updated in place from GET /api/v1/slos -------------

  // The server's markup for states, budgets and burn rates (src/ui/layout.rs,
  // src/ui/overview.rs), for the values the API sends.
  const DATA_STATES = { ok: ["●", "good"], no_data: ["○", "muted"], absent: ["○", "muted"], low_traffic: ["◔", "muted"], stale: ["⚠", "warn"], pending: ["◌", "muted"], backfilling: ["◌", "muted"] };
  const ALERT_STATES = { firing: ["▲", "bad"], pending: ["△", "warn"], inactive: ["·", "muted"] };
  const ALERT_RANK = { inactive: 0, pending: 1, firing: 2 };
  const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
  const esc = (text) => String(text).replace(/[&<>"]/g, (c) => ENTITIES[c]);
  const missing = (v) => v === null || v === undefined;

  // As `format::percent` and `format::burn`.
  const trim = (text) => (text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text);
  const percent = (r) => (trim((r * 100).toFixed(1)).replace(/^-0$/, "0")) + "%";
  const burn = (b) => trim(b.toFixed(Math.abs(b) < 10 ? 2 : Math.abs(b) < 100 ? 1 : 0)) + "×";
  const orDash = (v, format) => (missing(v) ? "—" : format(v));

  function budgetBar(r) {
    if (missing(r)) return '<span class="budget none">—<span class="sr"> no budget figure</span></span>';
    const width = Math.round(Math.min(Math.max(r, 0), 1) * 100);
    const level = r <= 0 ? "bad" : r < 0.25 ? "warn" : "good";
    return '<span class="budget"><svg class="bar ' + level + '" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true">' +
      '<rect class="track" width="100" height="8"></rect><rect class="fill" width="' + width + '" height="8"></rect></svg>' +
      '<span class="value">' + percent(r) + (r <= 0 ? " spent" : "") + "</span></span>";
  }

  function badge(states, state, withData) {
    const [symbol, level] = states[state] || ["·", "muted"];
    const data = withData ? ' data-state="' + esc(state) + '"' : "";
    return '<span class="badge ' + level + '"' + data + '><span aria-hidden="true">' + symbol + "</span> " + esc(state.replace(/_/g, " ")) + "</span>";
  }

  function tiersHtml(s) {
    const rate = (v, limit) => {
      const text = esc(orDash(v, burn));
      return !missing(v) && !missing(limit) && v > limit ? '<span class="over">' + text + '<span class="sr"> over the threshold</span></span>' : text;
    };
    let items = "";
    for (const a of s.alerts) {
      const limit = orDash(a.burn_rate_threshold, burn);
      items += '<li title="' + esc(a.tier + " (" + a.severity + "): both windows over " + limit + " fire it") + '">' +
        esc(a.tier) + ": " + esc(a.long_window) + " " + rate(a.long_burn_rate, a.burn_rate_threshold) +
        " · " + esc(a.short_window) + " " + rate(a.short_burn_rate, a.burn_rate_threshold) +
        '<span class="muted wide"> of ' + esc(limit) + "</span></li>";
    }
    return (s.alerts.length ? "" : '<span class="muted">no tiers</span>') + '<ul class="tiers">' + items + "</ul>";
  }

  function alertsHtml(s) {
    const all = s.alerts.map((a) => [a.state, a.tier]);
    if (s.budget_exhausted) all.push([s.budget_exhausted.state, "budget_exhausted"]);
    if (s.absent) all.push([s.absent.state, "absent"]);
    const active = all
      .filter(([state]) => state !== "inactive")
      .sort((a, b) => ALERT_RANK[b[0]] - ALERT_RANK[a[0]] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    if (!active.length) return '<span class="muted">none</span>';
    return '<ul class="tiers">' + active.map(([state, name]) => "<li>" + badge(ALERT_STATES, state) + " " + esc(name) + "</li>").join("") + "</ul>";
  }

  // As `overview::worst_burn`.
  function worstBurn(s) {
    const tiers = s.alerts.map((a) => a.long_burn_rate).filter((v) => !missing(v));
    if (tiers.length) return Math.max(...tiers);
    const hour = s.burn_rates["1h"];
    return missing(hour) ? null : hour;
  }

  const cell = (row, name) => row.querySelector('[data-col="' + name + '"]');

  function updateRow(row, s) {
    const r = s.error_budget.remaining;
    const b = worstBurn(s);
    row.dataset.budget = missing(r) ? "" : String(r);
    row.dataset.burn = missing(b) ? "" : String(b);
    row.dataset.states = s.data_state + " " + s.alert_state;
    cell(row, "budget").innerHTML = budgetBar(r);
    cell(row, "tiers").innerHTML = tiersHtml(s);
    cell(row, "data").innerHTML = badge(DATA_STATES, s.data_state, true);
    cell(row, "alerts").innerHTML = alertsHtml(s);
  }

  // A grouped SLO's own row: the lowest budget, fastest burn, states and firing of its instances.
  function updateGroup(body) {
    const head = body.querySelector("tr.group");
    if (!head) return;
    const rows = Array.from(body.querySelectorAll("tr.row"));
    const figures = (key) => rows.map((r) => parseFloat(r.dataset[key])).filter((v) => !Number.isNaN(v));
    const budgets = figures("budget");
    const burns = figures("burn");
    cell(head, "budget").innerHTML = budgetBar(budgets.length ? Math.min(...budgets) : null) + '<span class="muted wide"> lowest</span>';
    cell(head, "tiers").textContent = "fastest " + (burns.length ? burn(Math.max(...burns)) : "—");
    const states = {};
    for (const r of rows) {
      const state = r.dataset.states.split(" ")[0];
      states[state] = (states[state] || 0) + 1;
    }
    cell(head, "data").innerHTML = Object.keys(states).sort()
      .map((state) => '<span class="badge">' + states[state] + " " + esc(state.replace(/_/g, " ")) + "</span> ").join("");
    const firing = rows.filter((r) => r.dataset.states.split(" ")[1] === "firing").length;
    cell(head, "alerts").innerHTML = firing ? badge(ALERT_STATES, "firing") + " " + firing : '<span class="muted nowrap">none firing</span>';
  }

  // Every page of the list the first answer starts.
  async function allItems(url, first) {
    let body = await first.json();
    const items = body.items.slice();
    while (body.next_cursor) {
      const next = await fetch(url + "&cursor=" + encodeURIComponent(body.next_cursor), { cache: "no-store", credentials: "same-origin" });
      if (!next.ok) return null;
      body = await next.json();
      items.push(...body.items);
    }
    return items;
  }

  // Writes the API's figures into the overview's rows; false when the rows
  // are not the API's instances (the catalog changed): the page is fetched then.
  async function updateOverview(main, response) {
    const items = await allItems(main.dataset.poll, response);
    if (!items) return false;
    const rows = new Map(Array.from(main.querySelectorAll("tr.row")).map((r) => [r.dataset.id, r]));
    const known = items.filter((s) => rows.has(s.id));
    if (known.length !== rows.size || (!serverFiltered && items.length !== rows.size)) return false;
    for (const s of known) updateRow(rows.get(s.id), s);
    for (const body of main.querySelectorAll("tbody.slo[data-grouped]")) updateGroup(body);
    const firing = items.filter((s) => s.alert_state === "firing").length;
    for (const [state, n] of [["firing", firing], ["pending", items.filter((s) => s.alert_state === "pending").length]]) {
      const counter = main.querySelector('[data-count="' + state + '"]');
      if (counter) counter.textContent = n;
    }
    const alertsLink = document.querySelector('header.top nav a[href="/alerts"]');
    if (alertsLink) alertsLink.innerHTML = "Alerts" + (firing ? ' <span class="count">' + firing + " firing</span>" : "");
    applyFilters(main);
    return true;
  }

  // ---- refreshing ------------------------------------------------------

  // Whether the server filtered the overview's rows (the query string), so
  // the API lists instances the page does not have.
  const serverFiltered = /[?&](q|service|state|label)=[^&]/.test(location.search);

  // Swaps in the new page's <main>, keeping what people typed and where.
  function swap(main, fresh) {
    const form = main.querySelector("form.filters");
    const values = form ? readFilters(form) : null;
    const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.name : null;
    main.innerHTML = fresh.innerHTML;
    const newForm = main.querySelector("form.filters");
    if (values && newForm) {
      for (const [k, v] of Object.entries(values)) if (newForm.elements[k]) newForm.elements[k].value = v;
    }
    if (focused && newForm && newForm.elements[focused]) newForm.elements[focused].focus();
    setupPage(main);
  }

  // The page again, from the server; false when it did not come.
  async function reload(main) {
    const page = await fetch(location.href, { cache: "no-store", credentials: "same-origin" });
    if (!page.ok) return false;
    const doc = new DOMParser().parseFromString(await page.text(), "text/html");
    const fresh = doc.querySelector("main");
    if (!fresh) return false;
    swap(main, fresh);
    const nav = doc.querySelector("header.top nav");
    const oldNav = document.querySelector("header.top nav");
    if (nav && oldNav) oldNav.innerHTML = nav.innerHTML;
    return true;
  }

  // Counts the polls' outcomes where tests and curious people can read them.
  function count(main, outcome) {
    main.dataset[outcome] = String(Number(main.dataset[outcome] || 0) + 1);
  }

  async function poll(main, status) {
    if (document.hidden) return true;
    const response = await fetch(main.dataset.poll, {
      cache: "no-store",
      credentials: "same-origin",
      headers: { "If-None-Match": main.dataset.etag || "" },
    });
    if (response.status === 304) {
      count(main, "unchanged");
      return true;
    }
    if (!response.ok) return response.status !== 401;
    const tag = response.headers.get("ETag");
    if (!tag || tag === main.dataset.etag) return true;
    const inPlace = main.querySelector("form.filters") ? await updateOverview(main, response) : false;
    if (!inPlace && !(await reload(main))) return true;
    main.dataset.etag = tag;
    count(main, "changed");
    status.textContent = "Updated at " + new Date().toLocaleTimeString();
    return true;
  }

  function startPolling(main) {
    const status = document.querySelector("p.refreshed");
    const period = Number(main.dataset.pollMs) || POLL_MS;
    const tick = async () => {
      let again = true;
      try {
        again = await poll(main, status);
      } catch (error) {
        // The server may be restarting: try again next time.
        again = true;
      }
      if (again) setTimeout(tick, period);
    };
    setTimeout(tick, period);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const main = document.querySelector("main");
    if (!main) return;
    setupPage(main);
    if (main.dataset.poll) startPolling(main);
  });
})();
