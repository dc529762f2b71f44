/*
 * bt-spans viewer: the trace list, one trace (waterfall + detail), token totals, live
 * updates. Plain DOM code, no framework, no network beyond the page's own server.
 *
 * Span contents are untrusted (a model can answer with markup): every value reaches the
 * page as text (textContent, createTextNode, attribute values we build), never as HTML.
 * There is no innerHTML anywhere in this file.
 *
 * Two modes: served by `bt-spans serve` (fetches /api/...), or inside the one file that
 * `bt-spans html` writes (the trace and its span lines are embedded as JSON).
 */
'use strict';
(function () {
  const ROW = 26;          // px, the waterfall row height (matches --row in app.css)
  const OVERSCAN = 12;     // rows rendered above and below the visible ones
  const BIG_TEXT = 200000; // characters shown before a "show all" button

  const embedded = document.getElementById('bt-data');
  const STATIC = embedded ? JSON.parse(embedded.textContent) : null;
  const app = document.getElementById('app');

  // ---- DOM helpers --------------------------------------------------------------

  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) {
      for (const k of Object.keys(props)) {
        const v = props[k];
        if (v == null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = String(v);
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids) add(e, kid);
    return e;
  }
  function add(parent, kid) {
    if (kid == null || kid === false) return;
    if (Array.isArray(kid)) { for (const k of kid) add(parent, k); return; }
    parent.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVG, tag);
    for (const k of Object.keys(attrs || {})) e.setAttribute(k, String(attrs[k]));
    for (const kid of kids) {
      if (kid == null) continue;
      e.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }

  // ---- formatting ---------------------------------------------------------------

  function fmtInt(n) {
    if (n == null) return '–';
    return Number(n).toLocaleString('en-US');
  }
  function fmtDur(ns) {
    ns = Math.max(0, Number(ns) || 0);
    if (ns < 1e6) return (ns / 1e6).toFixed(2) + ' ms';
    if (ns < 1e9) return Math.round(ns / 1e6) + ' ms';
    if (ns < 60e9) return (ns / 1e9).toFixed(2) + ' s';
    if (ns < 3600e9) return Math.floor(ns / 60e9) + ' m ' + Math.round((ns % 60e9) / 1e9) + ' s';
    return (ns / 3600e9).toFixed(1) + ' h';
  }
  function pad(n) { return String(n).padStart(2, '0'); }
  function fmtTime(ns) {
    const d = new Date(Number(ns) / 1e6);
    if (isNaN(d)) return '?';
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function typeClass(t) { return t === 'llm' || t === 'task' || t === 'tool' ? 't-' + t : 't-other'; }
  function bigText(s, make) {
    // Very large values render a part first: a 4 MiB prompt should not freeze the page.
    if (s.length <= BIG_TEXT) return make(s);
    const box = el('div', null, make(s.slice(0, BIG_TEXT)));
    const more = el('button', { class: 'more', text: 'Show all ' + fmtInt(s.length) + ' characters',
      onclick: () => { box.replaceChildren(make(s)); } });
    box.appendChild(more);
    return box;
  }
  function jsonPre(v) {
    const s = typeof v === 'string' ? v : JSON.stringify(v, null, 2);
    return bigText(s == null ? String(v) : s, (t) => el('pre', { class: 'json', text: t }));
  }

  // ---- data access --------------------------------------------------------------

  async function api(path) {
    const r = await fetch(path, { headers: { accept: 'application/json' } });
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try { const j = await r.json(); if (j && j.error) msg = j.error; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return r.json();
  }
  async function spanLine(traceId, spanId) {
    if (STATIC) {
      const line = STATIC.lines[spanId];
      if (line == null) return null; // left out of the file (size cap)
      return JSON.parse(line);
    }
    const r = await fetch('/api/traces/' + encodeURIComponent(traceId) + '/spans/' + encodeURIComponent(spanId));
    if (!r.ok) throw new Error('span: ' + r.status + ' ' + r.statusText);
    return JSON.parse(await r.text());
  }

  // ---- layout and navigation ----------------------------------------------------

  let live = null;       // the EventSource, in served mode
  let onSpans = null;    // what the current view does when new spans arrive
  let liveBadge = null;

  function page(section, mainEl, full) {
    const nav = STATIC ? null : el('nav', null,
      el('a', { href: '/', 'data-nav': true, class: section === 'traces' ? 'on' : null, text: 'Traces' }),
      el('a', { href: '/totals', 'data-nav': true, class: section === 'totals' ? 'on' : null, text: 'Totals' }));
    liveBadge = STATIC ? el('span', { class: 'store', text: 'exported ' + fmtTime(STATIC.exported_ns) + ' from ' + STATIC.store })
      : el('span', { class: 'live' + (live && live.readyState === 1 ? ' on' : ''), title: 'new spans appear as they are stored',
        text: live && live.readyState === 1 ? '● live' : '○ not live' });
    const main = el('main', { class: full ? 'full' : null }, mainEl);
    app.replaceChildren(el('header', { class: 'top' },
      el(STATIC ? 'span' : 'a', { class: 'brand', href: STATIC ? null : '/', 'data-nav': !STATIC, text: 'bt-spans' }),
      nav, el('span', { class: 'grow' }), liveBadge));
    app.appendChild(main);
    return main;
  }

  function navigate(href) {
    history.pushState(null, '', href);
    route();
  }
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[data-nav]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  window.addEventListener('popstate', () => route());

  function route() {
    onSpans = null;
    const params = new URLSearchParams(location.search);
    if (STATIC) return showTrace(STATIC.trace.trace_id, params.get('span'));
    const p = location.pathname;
    if (p.startsWith('/trace/')) return showTrace(decodeURIComponent(p.slice(7)), params.get('span'));
    if (p === '/totals') return showTotals();
    return showList(params);
  }

  function startLive() {
    if (STATIC || typeof EventSource === 'undefined') return;
    live = new EventSource('/api/events');
    const mark = () => {
      if (!liveBadge) return;
      const on = live.readyState === 1;
      liveBadge.className = 'live' + (on ? ' on' : '');
      liveBadge.textContent = on ? '● live' : '○ not live';
    };
    live.addEventListener('open', mark);
    live.addEventListener('error', mark);
    live.addEventListener('spans', (e) => {
      let d = null;
      try { d = JSON.parse(e.data); } catch (err) { return; }
      if (onSpans) onSpans(d);
    });
  }

  // ---- the trace list -----------------------------------------------------------

  function toNs(local) {
    if (!local) return '';
    const ms = new Date(local).getTime();
    return isNaN(ms) ? '' : (BigInt(ms) * 1000000n).toString();
  }

  async function showList(params) {
    const f = {
      name: params.get('name') || '', model: params.get('model') || '', status: params.get('status') || '',
      from: params.get('from') || '', to: params.get('to') || '', cursor: params.get('cursor') || '',
    };
    const form = el('form', { class: 'filters', onsubmit: (e) => {
      e.preventDefault();
      const q = new URLSearchParams();
      for (const k of ['name', 'model', 'status', 'from', 'to']) {
        const v = form.elements[k].value.trim();
        if (v) q.set(k, v);
      }
      navigate('/' + (q.toString() ? '?' + q : ''));
    } },
      el('label', null, 'Span name', el('input', { name: 'name', value: f.name, placeholder: 'contains…', size: 18 })),
      el('label', null, 'Model', el('input', { name: 'model', value: f.model, placeholder: 'contains…', size: 16 })),
      el('label', null, 'Status', el('select', { name: 'status' },
        el('option', { value: '', text: 'any', selected: f.status === '' }),
        el('option', { value: 'ok', text: 'no errors', selected: f.status === 'ok' }),
        el('option', { value: 'error', text: 'with errors', selected: f.status === 'error' }))),
      el('label', null, 'From', el('input', { name: 'from', type: 'datetime-local', value: f.from })),
      el('label', null, 'To', el('input', { name: 'to', type: 'datetime-local', value: f.to })),
      el('button', { type: 'submit', text: 'Filter' }),
      (f.name || f.model || f.status || f.from || f.to) ? el('a', { href: '/', 'data-nav': true, text: 'clear' }) : null);
    const body = el('div', null, el('p', { class: 'loading', text: 'Loading traces…' }));
    page('traces', [form, body]);

    const q = new URLSearchParams();
    if (f.name) q.set('name', f.name);
    if (f.model) q.set('model', f.model);
    if (f.status) q.set('status', f.status);
    if (f.from) q.set('from_ns', toNs(f.from));
    if (f.to) q.set('to_ns', toNs(f.to));
    if (f.cursor) q.set('cursor', f.cursor);
    q.set('limit', /^\d{1,3}$/.test(params.get('limit') || '') ? params.get('limit') : '50');

    let shown = new Set();
    async function load(first) {
      let res;
      try {
        res = await api('/api/traces?' + q);
      } catch (e) {
        body.replaceChildren(el('p', { class: 'error-box', text: 'Cannot load traces: ' + e.message }));
        return;
      }
      body.replaceChildren(listTable(res, first ? null : shown), pager(res, params));
      shown = new Set(res.traces.map((t) => t.trace_id));
    }
    await load(true);
    if (!f.cursor) onSpans = () => load(false); // only the newest page follows new spans
  }

  function listTable(res, before) {
    if (!res.traces.length) {
      return el('p', { class: 'empty', text: res.complete ? 'No traces match.' : 'No match among the spans searched so far.' });
    }
    const head = el('tr', null, el('th', { text: 'Start' }), el('th', { text: 'Trace' }), el('th', { class: 'num', text: 'Duration' }),
      el('th', { class: 'num', text: 'Spans' }), el('th', { text: 'Models' }), el('th', { class: 'num', text: 'Tokens in / out' }),
      el('th', { text: 'Status' }));
    const rows = res.traces.map((t) => {
      const models = (t.models || []).join(', ');
      const status = el('td', null, el('span', { class: 'badge ' + t.root_status, text: t.root_status }));
      const below = t.errors - (t.root_status === 'error' ? 1 : 0);
      if (below > 0) status.appendChild(el('span', { class: 'sub', text: below + ' failed span' + (below === 1 ? '' : 's') }));
      return el('tr', { class: before && !before.has(t.trace_id) ? 'fresh' : null, 'data-trace': t.trace_id },
        el('td', { class: 'num', text: fmtTime(t.start_ns) }),
        el('td', null, el('a', { href: '/trace/' + encodeURIComponent(t.trace_id), 'data-nav': true, class: 'root', text: t.root || '(unnamed)' }),
          el('span', { class: 'tid mono', text: t.trace_id.slice(0, 12) })),
        el('td', { class: 'num', text: fmtDur(t.duration_ns) }),
        el('td', { class: 'num', text: fmtInt(t.spans) }),
        el('td', { class: 'models', title: models, text: models || '–' }),
        el('td', { class: 'num', text: t.prompt_tokens == null && t.completion_tokens == null ? '–'
          : fmtInt(t.prompt_tokens || 0) + ' / ' + fmtInt(t.completion_tokens || 0) }),
        status);
    });
    return el('table', { class: 'traces' }, el('thead', null, head), el('tbody', null, rows));
  }

  function pager(res, params) {
    const box = el('div', { class: 'pager' });
    if (params.get('cursor')) {
      const q = new URLSearchParams(params); q.delete('cursor');
      box.appendChild(el('a', { href: '/' + (q.toString() ? '?' + q : ''), 'data-nav': true, class: 'newest', text: '← Newest' }));
    }
    if (res.next) {
      const q = new URLSearchParams(params); q.set('cursor', res.next);
      if (!res.complete) {
        box.appendChild(el('span', { class: 'note', text: 'Searched ' + fmtInt(res.scanned) + ' spans; older traces may match.' }));
        box.appendChild(el('a', { href: '/?' + q, 'data-nav': true, class: 'older', text: 'Search older →' }));
      } else {
        box.appendChild(el('a', { href: '/?' + q, 'data-nav': true, class: 'older', text: 'Older →' }));
      }
    }
    return box;
  }

  // ---- one trace ----------------------------------------------------------------

  // Orders spans depth-first (children by start) without recursion: a deep or huge
  // trace must not overflow the stack.
  function buildTree(spans) {
    const byId = new Map();
    spans.forEach((s, i) => { s.i = i; s.kids = []; byId.set(s.span_id, s); });
    const roots = [];
    for (const s of spans) {
      const p = s.parent_span_id && s.parent_span_id !== s.span_id ? byId.get(s.parent_span_id) : null;
      if (p) p.kids.push(s); else roots.push(s);
    }
    return { byId, roots };
  }
  function visibleRows(tree, collapsed) {
    const out = [];
    const stack = [];
    for (let i = tree.roots.length - 1; i >= 0; i--) stack.push([tree.roots[i], 0]);
    const seen = new Set();
    while (stack.length) {
      const [s, depth] = stack.pop();
      if (seen.has(s)) continue; // a parent cycle in foreign data
      seen.add(s);
      out.push({ s, depth });
      if (!collapsed.has(s.span_id)) for (let i = s.kids.length - 1; i >= 0; i--) stack.push([s.kids[i], depth + 1]);
    }
    return out;
  }

  async function showTrace(id, selectedSpan) {
    const main = page('trace', el('p', { class: 'loading', text: 'Loading trace…' }), true);
    let t;
    try {
      t = STATIC ? STATIC.trace : await api('/api/traces/' + encodeURIComponent(id));
    } catch (e) {
      main.replaceChildren(el('p', { class: 'error-box', text: 'Cannot load trace ' + id + ': ' + e.message }));
      main.classList.remove('full');
      return;
    }
    if (!STATIC && t.trace_id !== id) history.replaceState(null, '', '/trace/' + encodeURIComponent(t.trace_id) + location.search);
    const view = new TraceView(main, t, selectedSpan);
    if (!STATIC) {
      onSpans = async (d) => {
        if (!d.traces || d.traces.indexOf(t.trace_id) < 0) return;
        try { view.update(await api('/api/traces/' + encodeURIComponent(t.trace_id))); } catch (e) { /* keep what is shown */ }
      };
    }
  }

  class TraceView {
    constructor(main, t, selectedSpan) {
      this.main = main;
      this.collapsed = new Set();
      this.selected = selectedSpan || null;
      this.detailToken = 0;
      this.head = el('div', { class: 'trace-head' });
      this.ticks = el('div', { class: 'wf-ticks' });
      this.rowsEl = el('div', { class: 'wf-rows', role: 'rowgroup' });
      this.spacer = el('div', { class: 'wf-spacer' }, this.rowsEl);
      this.scroll = el('div', { class: 'wf-scroll', tabindex: 0 }, this.spacer);
      this.wf = el('div', { class: 'wf' }, el('div', { class: 'wf-axis' }, el('div', { class: 'wf-name', text: 'Span' }), this.ticks), this.scroll);
      this.detail = el('div', { class: 'detail' });
      main.replaceChildren(this.head, el('div', { class: 'split' }, this.wf, this.detail));
      this.scroll.addEventListener('scroll', () => this.schedule());
      window.addEventListener('resize', () => this.schedule());
      this.scroll.addEventListener('keydown', (e) => this.key(e));
      this.rowsEl.addEventListener('click', (e) => this.click(e));
      this.update(t);
      if (!this.selected && this.rows.length) this.selected = this.rows[0].s.span_id;
      if (this.selected) this.select(this.selected, true);
    }

    update(t) {
      this.t = t;
      this.tree = buildTree(t.spans);
      this.total = Math.max(1, Number(t.end_ns) - Number(t.start_ns));
      this.rows = visibleRows(this.tree, this.collapsed);
      this.renderHead();
      this.renderTicks();
      this.spacer.style.height = (this.rows.length * ROW) + 'px';
      this.wf.setAttribute('data-spans', String(t.spans.length));
      this.paint();
    }

    renderHead() {
      const t = this.t;
      const root = this.tree.roots[0];
      const errors = t.spans.filter((s) => s.status === 2).length;
      const legend = el('span', { class: 'legend' }, ['llm', 'task', 'tool'].map((k) =>
        el('span', null, el('i', { class: 't-' + k }), k)));
      this.head.replaceChildren(
        el('h1', { text: root ? root.name : t.trace_id }),
        el('div', { class: 'facts' },
          el('span', { class: 'mono', text: 'trace ' + t.trace_id }),
          el('span', { text: fmtTime(t.start_ns) }),
          el('span', { text: fmtDur(this.total) }),
          el('span', { text: fmtInt(t.spans.length) + ' span' + (t.spans.length === 1 ? '' : 's') }),
          errors ? el('span', { class: 'badge error', text: errors + ' error' + (errors === 1 ? '' : 's') }) : el('span', { class: 'badge ok', text: 'no errors' }),
          t.truncated ? el('span', { class: 'badge error', text: 'cut: too many spans to show' }) : null,
          legend));
    }

    renderTicks() {
      const kids = [];
      for (let i = 0; i <= 4; i++) {
        const span = el('span', { text: i ? fmtDur(this.total * i / 4) : '0' });
        span.style.left = (i * 25) + '%';
        kids.push(span);
      }
      this.ticks.replaceChildren(...kids);
    }

    schedule() {
      if (this.pending) return;
      this.pending = requestAnimationFrame(() => { this.pending = 0; this.paint(); });
    }

    // Renders only the rows in view (plus a margin): a 20,000-span batch stays light.
    paint() {
      const top = this.scroll.scrollTop;
      const height = this.scroll.clientHeight || 600;
      const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
      const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW) + OVERSCAN);
      this.rowsEl.style.transform = 'translateY(' + (first * ROW) + 'px)';
      const kids = [];
      for (let i = first; i < last; i++) {
        const { s, depth } = this.rows[i];
        const left = Math.min(100, Math.max(0, s.start / this.total * 100));
        const width = Math.min(100 - left, Math.max(0, (s.end - s.start) / this.total * 100));
        const bar = el('div', { class: 'wf-bar ' + typeClass(s.type) + (s.status === 2 ? ' err' : ''),
          title: s.name + ' · ' + fmtDur(s.end - s.start) + (s.status === 2 ? ' · error' : '') });
        bar.style.left = left + '%';
        bar.style.width = width + '%';
        const dur = el('span', { class: 'wf-dur', text: fmtDur(s.end - s.start) });
        dur.style.left = 'calc(' + (left + width) + '% + 2px)';
        const name = el('div', { class: 'wf-name', title: s.name },
          el('span', { class: 'tw', text: s.kids.length ? (this.collapsed.has(s.span_id) ? '▸' : '▾') : '' }),
          el('span', { class: 'dot ' + typeClass(s.type) }),
          s.status === 2 ? el('span', { class: 'errmark', title: 'error', text: '!' }) : null,
          el('span', { class: 'nm', text: s.name || '(unnamed)' }),
          s.kids.length && this.collapsed.has(s.span_id) ? el('span', { class: 'sub', text: '+' + fmtInt(s.kids.length) }) : null);
        name.style.paddingLeft = (4 + depth * 14) + 'px';
        kids.push(el('div', { class: 'wf-row' + (s.span_id === this.selected ? ' sel' : ''), role: 'row', 'data-row': i, 'data-span': s.span_id },
          name, el('div', { class: 'wf-track' }, bar, dur)));
      }
      this.rowsEl.replaceChildren(...kids);
    }

    click(e) {
      const row = e.target.closest('.wf-row');
      if (!row) return;
      const r = this.rows[Number(row.getAttribute('data-row'))];
      if (!r) return;
      if (e.target.classList.contains('tw') && r.s.kids.length) {
        if (this.collapsed.has(r.s.span_id)) this.collapsed.delete(r.s.span_id); else this.collapsed.add(r.s.span_id);
        this.update(this.t);
        return;
      }
      this.select(r.s.span_id, false);
    }

    key(e) {
      if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
      e.preventDefault();
      let i = this.rows.findIndex((r) => r.s.span_id === this.selected);
      i = Math.max(0, Math.min(this.rows.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)));
      if (this.rows[i]) this.select(this.rows[i].s.span_id, true);
    }

    select(spanId, reveal) {
      this.selected = spanId;
      const q = new URLSearchParams(location.search);
      q.set('span', spanId);
      history.replaceState(null, '', location.pathname + '?' + q);
      if (reveal) {
        const i = this.rows.findIndex((r) => r.s.span_id === spanId);
        if (i >= 0) {
          const top = i * ROW, h = this.scroll.clientHeight || 600;
          if (top < this.scroll.scrollTop || top + ROW > this.scroll.scrollTop + h) this.scroll.scrollTop = Math.max(0, top - h / 3);
        }
      }
      this.paint();
      this.showDetail(spanId);
    }

    async showDetail(spanId) {
      const token = ++this.detailToken;
      const s = this.tree.byId.get(spanId);
      if (!s) { this.detail.replaceChildren(el('p', { class: 'empty', text: 'No such span in this trace.' })); return; }
      this.detail.replaceChildren(spanHeader(s, this.t), el('p', { class: 'loading', text: 'Loading span…' }));
      let line;
      try {
        line = await spanLine(this.t.trace_id, spanId);
      } catch (e) {
        if (token === this.detailToken) this.detail.replaceChildren(spanHeader(s, this.t), el('p', { class: 'error-box', text: e.message }));
        return;
      }
      if (token !== this.detailToken) return;
      this.detail.replaceChildren(spanHeader(s, this.t), ...spanBody(s, line));
      this.detail.scrollTop = 0;
    }
  }

  function spanHeader(s, t) {
    return el('div', { class: 'span-head' },
      el('h2', { text: s.name || '(unnamed)' }),
      el('div', { class: 'facts' },
        el('span', null, el('span', { class: 'dot ' + typeClass(s.type) }), s.type || 'span'),
        el('span', { class: 'badge ' + (s.status === 2 ? 'error' : 'ok'), text: s.status === 2 ? 'error' : 'ok' }),
        el('span', { text: fmtDur(s.end - s.start) }),
        el('span', { text: s.start > 0 ? '+' + fmtDur(s.start) + ' into the trace' : 'at the trace\'s start' }),
        s.model ? el('span', { text: s.model }) : null,
        s.prompt_tokens != null || s.completion_tokens != null
          ? el('span', { text: fmtInt(s.prompt_tokens || 0) + ' in / ' + fmtInt(s.completion_tokens || 0) + ' out' }) : null,
        el('span', { class: 'mono', text: 'span ' + s.span_id })),
      s.status === 2 && s.status_message ? el('div', { class: 'error-box status-msg', text: s.status_message }) : null);
  }

  // OTLP AnyValue to a plain value.
  function anyValue(v) {
    if (!v || typeof v !== 'object') return v;
    if ('stringValue' in v) return v.stringValue;
    if ('intValue' in v) return String(v.intValue);
    if ('doubleValue' in v) return v.doubleValue;
    if ('boolValue' in v) return v.boolValue;
    if ('arrayValue' in v) return ((v.arrayValue && v.arrayValue.values) || []).map(anyValue);
    if ('kvlistValue' in v) {
      const o = {};
      for (const kv of (v.kvlistValue && v.kvlistValue.values) || []) o[kv.key] = anyValue(kv.value);
      return o;
    }
    return v;
  }
  function parseMaybe(s) {
    if (typeof s !== 'string') return s;
    try { return JSON.parse(s); } catch (e) { return s; }
  }

  function spanBody(s, line) {
    if (!line) return [el('p', { class: 'note', text: 'This span\'s content was left out of this file (size cap).' })];
    const attrs = new Map();
    for (const kv of line.attributes || []) attrs.set(kv.key, anyValue(kv.value));
    const take = (k) => { const v = attrs.get(k); attrs.delete(k); return v; };
    const input = parseMaybe(take('braintrust.input_json'));
    const output = parseMaybe(take('braintrust.output_json'));
    const metadata = parseMaybe(take('braintrust.metadata'));
    const metrics = parseMaybe(take('braintrust.metrics'));
    take('braintrust.span_attributes');
    const out = [];
    if (input !== undefined) out.push(el('h3', { text: 'Input' }), renderValue(input));
    if (output !== undefined) out.push(el('h3', { text: 'Output' }), renderValue(output));
    if (metadata && typeof metadata === 'object') out.push(el('h3', { text: 'Metadata' }), kvTable(metadata));
    if (metrics && typeof metrics === 'object') out.push(el('h3', { text: 'Metrics' }), kvTable(metrics));
    if (attrs.size) {
      const o = {};
      for (const [k, v] of attrs) o[k] = v;
      out.push(el('h3', { text: 'Attributes' }), kvTable(o));
    }
    if (line.events && line.events.length) out.push(el('h3', { text: 'Events' }), jsonPre(line.events));
    if (line.links && line.links.length) out.push(el('h3', { text: 'Links' }), jsonPre(line.links));
    const raw = el('div', { class: 'raw' });
    const btn = el('button', { class: 'raw-toggle', text: 'Show raw JSON', onclick: () => {
      if (raw.firstChild) { raw.replaceChildren(); btn.textContent = 'Show raw JSON'; return; }
      raw.appendChild(jsonPre(line));
      btn.textContent = 'Hide raw JSON';
    } });
    out.push(el('h3', { text: 'Raw span' }), btn, raw);
    return out;
  }

  function isMessages(v) {
    return Array.isArray(v) && v.length > 0 && v.every((m) => m && typeof m === 'object' && typeof m.role === 'string' && 'content' in m);
  }
  function isBlocks(v) {
    return Array.isArray(v) && v.length > 0 && v.every((b) => b && typeof b === 'object' && typeof b.type === 'string');
  }

  function renderValue(v) {
    if (isMessages(v)) {
      // The system prompt is stored last; a reader expects it first.
      const sys = v.filter((m) => m.role === 'system');
      return el('div', { class: 'conversation' }, [...sys, ...v.filter((m) => m.role !== 'system')].map(renderMessage));
    }
    if (v && typeof v === 'object' && !Array.isArray(v) && typeof v.role === 'string' && 'content' in v) {
      return el('div', { class: 'conversation' }, renderMessage(v));
    }
    if (isBlocks(v)) return el('div', { class: 'blocks' }, v.map(renderBlock));
    if (typeof v === 'string') return bigText(v, (t) => el('div', { class: 'blk-text', text: t }));
    return jsonPre(v);
  }

  function renderMessage(m) {
    const body = el('div', { class: 'body' });
    if (typeof m.content === 'string') body.appendChild(bigText(m.content, (t) => el('div', { class: 'blk-text', text: t })));
    else if (Array.isArray(m.content)) for (const b of m.content) body.appendChild(renderBlock(b));
    else body.appendChild(jsonPre(m.content));
    return el('div', { class: 'msg ' + (m.role === 'assistant' || m.role === 'system' || m.role === 'user' ? m.role : 'other') },
      el('div', { class: 'role', text: m.role }), body);
  }

  function renderBlock(b) {
    if (!b || typeof b !== 'object') return jsonPre(b);
    const type = String(b.type || '');
    if (type === 'text') {
      const kids = [bigText(String(b.text == null ? '' : b.text), (t) => el('div', { class: 'blk-text', text: t }))];
      if (Array.isArray(b.citations) && b.citations.length) {
        kids.push(el('div', { class: 'sub', text: b.citations.length + ' citation' + (b.citations.length === 1 ? '' : 's') + ': ' +
          b.citations.map((c) => (c && (c.title || c.url || c.cited_text)) || '?').join(' · ') }));
      }
      return el('div', { class: 'blk-text-wrap' }, kids);
    }
    if (type === 'thinking') {
      return el('div', { class: 'blk thinking' }, el('div', { class: 'h', text: 'Thinking' }),
        bigText(String(b.thinking == null ? '' : b.thinking), (t) => el('div', { class: 'blk-text', text: t })));
    }
    if (type === 'redacted_thinking') return el('div', { class: 'blk thinking' }, el('div', { class: 'h', text: 'Thinking (redacted)' }));
    if (type === 'tool_use' || type === 'server_tool_use' || type === 'mcp_tool_use') {
      return el('div', { class: 'blk tool' },
        el('div', { class: 'h' }, 'Tool call ', el('b', { text: String(b.name || '?') }),
          b.server_name ? ' on ' + b.server_name : null, b.id ? el('span', { class: 'tid mono', text: String(b.id) }) : null,
          type !== 'tool_use' ? el('span', { class: 'sub', text: type }) : null),
        jsonPre(b.input === undefined ? null : b.input));
    }
    if (type === 'tool_result' || type === 'mcp_tool_result' || type.endsWith('_tool_result')) {
      const err = b.is_error === true || (b.content && typeof b.content === 'object' && /_error$/.test(String(b.content.type || '')));
      const content = b.content;
      let shown;
      if (typeof content === 'string') shown = bigText(content, (t) => el('div', { class: 'blk-text', text: t }));
      else if (isBlocks(content)) shown = el('div', null, content.map(renderBlock));
      else shown = jsonPre(content === undefined ? null : content);
      return el('div', { class: 'blk result' + (err ? ' err' : '') },
        el('div', { class: 'h' }, err ? 'Tool error' : 'Tool result', b.tool_use_id ? el('span', { class: 'tid mono', text: String(b.tool_use_id) }) : null,
          type !== 'tool_result' ? el('span', { class: 'sub', text: type }) : null),
        shown);
    }
    if (type === 'image' || type === 'document') {
      const src = b.source || {};
      return el('div', { class: 'blk' }, el('div', { class: 'h', text: type + (src.media_type ? ' (' + src.media_type + ')' : '') +
        (b.title ? ': ' + b.title : '') + (src.type === 'url' && src.url ? ' ' + src.url : '') }));
    }
    return el('div', { class: 'blk' }, el('div', { class: 'h', text: type || 'block' }), jsonPre(b));
  }

  function kvTable(o) {
    const rows = Object.keys(o).map((k) => {
      const v = o[k];
      let cell;
      if (v === null) cell = el('code', { text: 'null' });
      else if (typeof v === 'number') cell = el('span', { class: 'mono', text: Number.isInteger(v) ? fmtInt(v) : String(v) });
      else if (typeof v === 'string' || typeof v === 'boolean') cell = el('span', { text: String(v) });
      else {
        const flat = JSON.stringify(v);
        cell = el('code', { text: flat.length <= 100 ? flat : JSON.stringify(v, null, 1).slice(0, 20000) });
      }
      return el('tr', null, el('td', { text: k }), el('td', null, cell));
    });
    return el('table', { class: 'kv' }, el('tbody', null, rows));
  }

  // ---- totals -------------------------------------------------------------------

  async function showTotals() {
    const main = page('totals', el('p', { class: 'loading', text: 'Loading totals…' }));
    let d;
    try { d = await api('/api/totals'); } catch (e) {
      main.replaceChildren(el('p', { class: 'error-box', text: 'Cannot load totals: ' + e.message }));
      return;
    }
    const t = d.total;
    const card = (v, label, sat) => el('div', { class: 'card' }, el('b', { text: fmtInt(v) + (sat ? '+' : '') }), el('span', { text: label }));
    const sat = (k) => (t.saturated || []).indexOf(k) >= 0;
    const models = d.models.map((m) => m.model);
    const colour = (m) => 'c' + Math.min(8, models.indexOf(m));
    const charts = el('div', { class: 'charts' },
      chart('Tokens by model', hbars(d.models.map((m) => ({ label: m.model, parts: [['cin', m.prompt_tokens, 'in'], ['cout', m.completion_tokens, 'out']] }))),
        swatches([['cin', 'prompt (input) tokens'], ['cout', 'completion (output) tokens']])),
      chart('Calls by model', hbars(d.models.map((m) => ({ label: m.model, parts: [[colour(m.model), m.spans, 'calls']] })))),
      chart('Tokens by day', vbars(d.days, (r) => r.prompt_tokens + r.completion_tokens, colour), swatches(models.slice(0, 9).map((m) => [colour(m), m]))),
      chart('Calls by day', vbars(d.days, (r) => r.spans, colour), swatches(models.slice(0, 9).map((m) => [colour(m), m]))));
    const table = el('table', { class: 'totals' },
      el('thead', null, el('tr', null, ['Model', 'Calls', 'Errors', 'Prompt', 'Completion', 'Cache read', 'Cache creation', 'Reasoning']
        .map((h, i) => el('th', { class: i ? 'num' : null, text: h })))),
      el('tbody', null, [...d.models, Object.assign({ model: 'Total' }, t)].map((m) => el('tr', null,
        el('td', { text: m.model }),
        ...['spans', 'errors', 'prompt_tokens', 'completion_tokens', 'cache_read_tokens', 'cache_creation_tokens', 'reasoning_tokens']
          .map((k) => el('td', { class: 'num', text: fmtInt(m[k]) + ((m.saturated || []).indexOf(k) >= 0 ? '+' : '') }))))));
    main.replaceChildren(
      el('div', { class: 'cards' }, card(t.spans, 'llm calls'), card(t.prompt_tokens, 'prompt tokens', sat('prompt_tokens')),
        card(t.completion_tokens, 'completion tokens', sat('completion_tokens')), card(t.errors, 'errors'),
        card(d.count_tokens_calls, 'count_tokens calls (not counted as tokens)')),
      d.models.length ? charts : el('p', { class: 'empty', text: 'No llm spans in this store yet.' }),
      table,
      (t.saturated || []).length ? el('p', { class: 'note', text: '+ a sum reached the 64-bit limit and stopped there.' }) : null);
    onSpans = () => { if (location.pathname === '/totals') showTotals(); };
  }

  function chart(title, body, foot) {
    return el('div', { class: 'chart' }, el('h3', { text: title }), body, foot || null);
  }
  function swatches(items) {
    return el('div', { class: 'swatches' }, items.map(([c, label]) =>
      el('span', { title: label }, el('i', { class: c }), label.length > 40 ? label.slice(0, 39) + '…' : label)));
  }
  function short(n) {
    n = Number(n) || 0;
    if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
    if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (n >= 1e3) return (n / 1e3).toFixed(1) + 'k';
    return String(n);
  }
  // Horizontal stacked bars, one per label.
  function hbars(items) {
    const W = 520, LABEL = 170, BAR = 18, GAP = 8;
    const max = Math.max(1, ...items.map((it) => it.parts.reduce((a, p) => a + (Number(p[1]) || 0), 0)));
    const H = items.length * (BAR + GAP) + GAP;
    const g = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
    items.forEach((it, i) => {
      const y = GAP + i * (BAR + GAP);
      g.appendChild(svg('text', { x: LABEL - 6, y: y + BAR - 5, 'text-anchor': 'end' }, it.label.length > 26 ? it.label.slice(0, 25) + '…' : it.label));
      let x = LABEL, sum = 0;
      for (const [cls, v, what] of it.parts) {
        const w = (Number(v) || 0) / max * (W - LABEL - 60);
        g.appendChild(svg('rect', { x, y, width: Math.max(w, 0), height: BAR, class: cls }, svg('title', null, it.label + ': ' + fmtInt(v) + ' ' + what)));
        x += w; sum += Number(v) || 0;
      }
      g.appendChild(svg('text', { x: x + 4, y: y + BAR - 5, class: 'muted' }, short(sum)));
    });
    return g;
  }
  // Vertical bars per day, stacked by model.
  function vbars(rows, value, colour) {
    const days = [...new Set(rows.map((r) => r.day))].sort();
    const W = 520, H = 200, BOTTOM = 22, LEFT = 44;
    const totals = days.map((d) => rows.filter((r) => r.day === d).reduce((a, r) => a + (Number(value(r)) || 0), 0));
    const max = Math.max(1, ...totals);
    const g = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
    g.appendChild(svg('line', { x1: LEFT, x2: W, y1: H - BOTTOM, y2: H - BOTTOM }));
    g.appendChild(svg('text', { x: LEFT - 4, y: 12, 'text-anchor': 'end', class: 'muted' }, short(max)));
    g.appendChild(svg('text', { x: LEFT - 4, y: H - BOTTOM, 'text-anchor': 'end', class: 'muted' }, '0'));
    const slot = (W - LEFT) / Math.max(1, days.length);
    const bw = Math.max(2, Math.min(48, slot * 0.7));
    days.forEach((d, i) => {
      let y = H - BOTTOM;
      const x = LEFT + i * slot + (slot - bw) / 2;
      for (const r of rows.filter((q) => q.day === d)) {
        const h = (Number(value(r)) || 0) / max * (H - BOTTOM - 16);
        y -= h;
        g.appendChild(svg('rect', { x, y, width: bw, height: Math.max(h, 0), class: colour(r.model) },
          svg('title', null, d + ' · ' + r.model + ': ' + fmtInt(value(r)))));
      }
      if (days.length <= 14 || i % Math.ceil(days.length / 14) === 0) {
        g.appendChild(svg('text', { x: x + bw / 2, y: H - 6, 'text-anchor': 'middle', class: 'muted' }, d.slice(5)));
      }
    });
    return g;
  }

  startLive();
  route();
})();
