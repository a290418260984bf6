// burnrate's web UI script. The pages work without it; with it, the
// overview filters as people type, grouped SLOs fold, and every page
// refreshes itself when the JSON API's ETag says the snapshot changed.
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

  // ---- refreshing ------------------------------------------------------

  // Swaps in the new page's <main>, keeping what people typed and where.
  function swap(main, fresh) {
    const form = main.querySelector("form.filters");
    const values = form ? readFilters(form) : null;
    const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.name : null;
    main.innerHTML = fresh.innerHTML;
    main.dataset.etag = fresh.dataset.etag || "";
    const newForm = main.querySelector("form.filters");
    if (values && newForm) {
      for (const [k, v] of Object.entries(values)) if (newForm.elements[k]) newForm.elements[k].value = v;
    }
    if (focused && newForm && newForm.elements[focused]) newForm.elements[focused].focus();
    setupPage(main);
  }

  async function poll(main, status) {
    if (document.hidden) return true;
    const response = await fetch(main.dataset.poll, {
      cache: "no-store",
      credentials: "same-origin",
      headers: { "If-None-Match": main.dataset.etag || "" },
    });
    if (response.status === 304) return true;
    if (!response.ok) return response.status !== 401;
    const tag = response.headers.get("ETag");
    if (!tag || tag === main.dataset.etag) return true;
    const page = await fetch(location.href, { cache: "no-store", credentials: "same-origin" });
    if (!page.ok) return true;
    const doc = new DOMParser().parseFromString(await page.text(), "text/html");
    const fresh = doc.querySelector("main");
    if (!fresh) return true;
    swap(main, fresh);
    const nav = doc.querySelector("header.top nav");
    const oldNav = document.querySelector("header.top nav");
    if (nav && oldNav) oldNav.innerHTML = nav.innerHTML;
    status.textContent = "Updated at " + new Date().toLocaleTimeString();
    return true;
  }

  function startPolling(main) {
    const status = document.querySelector("p.refreshed");
    const tick = async () => {
      let again = true;
      try {
        again = await poll(main, status);
      } catch (error) {
        // The server may be restarting: try again next time.
        again = true;
      }
      if (again) setTimeout(tick, POLL_MS);
    };
    setTimeout(tick, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const main = document.querySelector("main");
    if (!main) return;
    setupPage(main);
    if (main.dataset.poll) startPolling(main);
  });
})();
