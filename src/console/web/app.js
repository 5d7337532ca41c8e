// The Nimbus console: a single-page app over the APIs in api.js. Each page is
// a function that fills #view and returns a cleanup (timers, charts) that runs
// when the user leaves it. Pages build DOM with h(): text is always set as
// text, never parsed as HTML, since names, events and logs are user data.

import { AwsError, apigateway, cloudwatch, dynamodb, events, health, lambda, logs, s3, session, sqs, usage, whenSessionLost } from './api.js';
import { templates } from './templates.js';

const REGION = 'us-east-1';
const view = document.getElementById('view');
const signInView = document.getElementById('sign-in');

// ---- DOM helpers ----

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const link = (href, text) => h('a', { href }, text);
const fnHref = (name) => `#/functions/${encodeURIComponent(name)}`;
const card = (title, attrs, ...body) => h('section', { class: 'card', ...attrs }, title ? h('h2', {}, title) : null, ...body);

function table(columns, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.num ? 'num' : null }, c.title)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(r)))))));
}

function errorBox(e) {
  const type = e instanceof AwsError ? e.type : e.name;
  return h('div', { class: 'error', role: 'alert' }, h('strong', {}, type), ' ', e.message);
}

function loading() {
  return h('p', { class: 'loading' }, 'Loading…');
}

// Fills `el` with the result of `build()` (a promise of nodes), or its error.
async function fill(el, build) {
  try {
    const nodes = await build();
    el.replaceChildren(...[nodes].flat());
  } catch (e) {
    el.replaceChildren(errorBox(e));
  }
}

const fmtBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
const fmtTime = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
const fmtDateTime = (s) => (s ? new Date(s).toLocaleString([], { hour12: false }) : '');
const fmtMs = (v) => (v === null || v === undefined || Number.isNaN(v) ? '–' : `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`);
const fmtCount = (v) => Number(v || 0).toLocaleString();
const fnName = (arn) => (arn || '').split(':function:')[1]?.split(':')[0] ?? arn;

// ---- metrics ----

// Per-minute series over the last `minutes`, from one GetMetricData call:
// {timestamps: [epoch s], <id>: [value|null]}. Counts are 0 where nothing
// was recorded; statistics of durations are null there (no sample).
async function metricSeries(queries, minutes) {
  const end = Math.floor(Date.now() / 60000) * 60 + 60;
  const start = end - minutes * 60;
  const period = minutes > 180 ? 300 : 60;
  const results = [];
  for (let i = 0; i < queries.length; i += 500) {
    let token;
    do {
      const page = await cloudwatch('GetMetricData', {
        StartTime: start, EndTime: end, ScanBy: 'TimestampAscending', NextToken: token,
        MetricDataQueries: queries.slice(i, i + 500).map((q) => ({
          Id: q.id,
          MetricStat: {
            Metric: { Namespace: 'AWS/Lambda', MetricName: q.metric, Dimensions: q.dimensions },
            Period: period, Stat: q.stat,
          },
        })),
      });
      results.push(...page.MetricDataResults);
      token = page.NextToken;
    } while (token);
  }
  const timestamps = [];
  for (let t = start; t < end; t += period) timestamps.push(t);
  const series = { timestamps };
  for (const q of queries) {
    const byTime = new Map();
    for (const r of results.filter((r) => r.Id === q.id)) {
      r.Timestamps.forEach((t, i) => byTime.set(Math.round(typeof t === 'number' ? t : Date.parse(t) / 1000), r.Values[i]));
    }
    series[q.id] = timestamps.map((t) => byTime.get(t) ?? (q.count ? 0 : null));
  }
  return series;
}

const sum = (values) => values.reduce((a, v) => a + (v ?? 0), 0);
const max = (values) => values.reduce((a, v) => (v === null ? a : a === null ? v : Math.max(a, v)), null);

const PALETTE = ['#1f4fd1', '#d1421f', '#2e9e5b', '#8a4fd1', '#c98a00'];

function lineChart(canvas, labels, datasets, { stacked = false, unit = '' } = {}) {
  if (!window.Chart) return null;  // Chart.js failed to load: the figures above still tell.
  return new window.Chart(canvas, {
    type: stacked ? 'bar' : 'line',
    data: {
      labels,
      datasets: datasets.map((d, i) => ({
        label: d.label, data: d.data, borderColor: PALETTE[i], backgroundColor: `${PALETTE[i]}33`,
        borderWidth: 1.5, pointRadius: 1.5, spanGaps: true, fill: !stacked && datasets.length === 1, tension: 0.2,
        barPercentage: 1, categoryPercentage: 0.8,
      })),
    },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { display: datasets.length > 1, labels: { boxWidth: 10 } } },
      scales: {
        x: { ticks: { maxTicksLimit: 6, maxRotation: 0 }, grid: { display: false } },
        y: { beginAtZero: true, ticks: { maxTicksLimit: 4, callback: (v) => `${v}${unit}` } },
      },
    },
  });
}

// The function page's charts: one tile each, with the period's figure above
// the chart (data-testid="<id>-figure") so the number is readable at a glance.
class FunctionCharts {
  constructor(name, container) {
    this.name = name;
    this.container = container;
    this.charts = new Map();
    this.minutes = 60;
  }

  tiles() {
    return [
      { id: 'invocations', title: 'Invocations', figure: (s) => fmtCount(sum(s.inv)), sets: [['Invocations', 'inv']], bar: true },
      { id: 'errors', title: 'Errors and throttles', figure: (s) => `${fmtCount(sum(s.err))} / ${fmtCount(sum(s.thr))}`, sets: [['Errors', 'err'], ['Throttles', 'thr']], bar: true },
      { id: 'duration', title: 'Duration p50 · p90 · p99', figure: (s) => `p99 ${fmtMs(max(s.p99))}`, sets: [['p50', 'p50'], ['p90', 'p90'], ['p99', 'p99']], unit: ' ms' },
      { id: 'concurrency', title: 'Concurrent executions', figure: (s) => `max ${fmtCount(max(s.conc) ?? 0)}`, sets: [['Concurrency', 'conc']] },
      { id: 'coldstarts', title: 'Cold starts', figure: (s) => `${fmtCount(sum(s.cold))} · init p99 ${fmtMs(max(s.init))}`, sets: [['Cold starts', 'cold']], bar: true },
    ];
  }

  async refresh() {
    const dims = [{ Name: 'FunctionName', Value: this.name }];
    const q = (id, metric, stat, count) => ({ id, metric, stat, count, dimensions: dims });
    const s = await metricSeries([
      q('inv', 'Invocations', 'Sum', true), q('err', 'Errors', 'Sum', true), q('thr', 'Throttles', 'Sum', true),
      q('p50', 'Duration', 'p50'), q('p90', 'Duration', 'p90'), q('p99', 'Duration', 'p99'),
      q('conc', 'ConcurrentExecutions', 'Maximum'), q('cold', 'ColdStarts', 'Sum', true), q('init', 'InitDuration', 'p99'),
    ], this.minutes);
    const labels = s.timestamps.map((t) => fmtTime(t * 1000).slice(0, 5));
    for (const tile of this.tiles()) {
      let entry = this.charts.get(tile.id);
      if (!entry) {
        const canvas = h('canvas', { 'aria-label': tile.title, role: 'img' });
        const figure = h('div', { class: 'figure', dataset: { testid: `${tile.id}-figure` } });
        this.container.append(h('div', { class: 'tile', dataset: { metric: tile.id } },
          h('h3', {}, tile.title), figure, h('div', { class: 'chart' }, canvas)));
        entry = { figure, chart: lineChart(canvas, labels, tile.sets.map(([label, id]) => ({ label, data: s[id] })), { stacked: tile.bar, unit: tile.unit ?? '' }) };
        this.charts.set(tile.id, entry);
      } else if (entry.chart) {
        entry.chart.data.labels = labels;
        tile.sets.forEach(([, id], i) => { entry.chart.data.datasets[i].data = s[id]; });
        entry.chart.update('none');
      }
      entry.figure.textContent = tile.figure(s);
    }
    this.container.dataset.updated = String(Date.now());
  }

  destroy() {
    for (const { chart } of this.charts.values()) chart?.destroy();
  }
}

// ---- logs ----

const logGroup = (name) => `/aws/lambda/${name}`;

// FilterLogEvents over every page (up to `pages`), as [{timestamp, message, eventId, logStreamName}].
// A function's log group exists from its first invocation on; asking for it
// first keeps the browser's console free of 400s for functions never run.
async function logGroupExists(name) {
  const r = await logs('DescribeLogGroups', { logGroupNamePrefix: logGroup(name), limit: 1 });
  return r.logGroups.some((g) => g.logGroupName === logGroup(name));
}

async function filterLogs(name, { startTime, pattern = '', pages = 10 }) {
  const found = [];
  if (!(await logGroupExists(name))) return found;
  let nextToken;
  for (let i = 0; i < pages; i++) {
    const r = await logs('FilterLogEvents', { logGroupName: logGroup(name), startTime, filterPattern: pattern, nextToken });
    found.push(...r.events);
    nextToken = r.nextToken;
    if (!nextToken) break;
  }
  return found;
}

// A REPORT line, in Text or JSON log format, as its fields.
export function parseReport(message) {
  if (message.startsWith('{')) {
    try {
      const r = JSON.parse(message);
      if (r.type !== 'platform.report') return null;
      const m = r.record.metrics;
      return { requestId: r.record.requestId, duration: m.durationMs, billed: m.billedDurationMs, memory: m.memorySizeMB, used: m.maxMemoryUsedMB, init: m.initDurationMs ?? null, status: r.record.status };
    } catch {
      return null;
    }
  }
  if (!message.startsWith('REPORT RequestId:')) return null;
  const field = (label) => new RegExp(`${label}: ([^\\t\\n]+)`).exec(message)?.[1];
  const num = (label) => (field(label) === undefined ? null : parseFloat(field(label)));
  return {
    requestId: field('RequestId'), duration: num('Duration'), billed: num('Billed Duration'), memory: num('Memory Size'),
    used: num('Max Memory Used'), init: num('Init Duration'), status: field('Status') ?? 'success',
  };
}

// The live tail: polls FilterLogEvents from the last event seen and appends
// new lines, keeping the view at the bottom unless the user scrolled up.
class LogTail {
  constructor(name, pre) {
    this.name = name;
    this.pre = pre;
    this.seen = new Set();
    this.since = Date.now() - 10 * 60 * 1000;
    this.paused = false;
    this.timer = null;
  }

  start() {
    const tick = async () => {
      if (!this.paused) {
        try {
          await this.poll();
        } catch (e) {
          this.pre.dataset.error = e.message;
        }
      }
      this.timer = setTimeout(tick, 1500);
    };
    tick();
  }

  async poll() {
    const found = await filterLogs(this.name, { startTime: this.since, pages: 5 });
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
    let added = 0;
    for (const e of found) {
      if (this.seen.has(e.eventId)) continue;
      this.seen.add(e.eventId);
      this.since = Math.max(this.since, e.timestamp);
      const line = h('div', { class: `line${/^(REPORT|START|END|INIT_START)|"type":"platform/.test(e.message) ? ' platform' : ''}` },
        h('time', {}, fmtTime(e.timestamp)), ' ', e.message.replace(/\n$/, ''));
      this.pre.append(line);
      added++;
    }
    while (this.pre.childElementCount > 2000) this.pre.firstElementChild.remove();
    if (this.pre.childElementCount && this.pre.querySelector('.empty')) this.pre.querySelector('.empty').remove();
    if (added && atBottom) this.pre.scrollTop = this.pre.scrollHeight;
  }

  stop() {
    clearTimeout(this.timer);
  }
}

// ---- event sources ----

// Every trigger the server knows, as {kind, source, functionName, detail, state}.
async function allSources() {
  const sources = [];
  const [mappings, rules, buckets, apis] = await Promise.all([
    lambda.listMappings(), events('ListRules', {}).then((r) => r.Rules), s3.listBuckets(), apigateway.apis(),
  ]);
  for (const m of mappings) {
    const kind = m.EventSourceArn.split(':')[2];
    sources.push({ kind: kind === 'sqs' ? 'SQS' : kind === 'dynamodb' ? 'DynamoDB stream' : kind, source: m.EventSourceArn.split(':').slice(5).join(':'),
      functionName: fnName(m.FunctionArn), detail: `batch ${m.BatchSize}${m.LastProcessingResult ? ` · ${m.LastProcessingResult}` : ''}`, state: m.State });
  }
  await Promise.all(rules.map(async (rule) => {
    const targets = (await events('ListTargetsByRule', { Rule: rule.Name })).Targets;
    for (const t of targets.filter((t) => t.Arn.includes(':function:'))) {
      sources.push({ kind: rule.ScheduleExpression ? 'Schedule' : 'EventBridge rule', source: rule.Name, functionName: fnName(t.Arn),
        detail: rule.ScheduleExpression || rule.EventPattern, state: rule.State });
    }
  }));
  await Promise.all(buckets.map(async (b) => {
    for (const n of await s3.notifications(b.name)) {
      sources.push({ kind: 'S3', source: b.name, functionName: fnName(n.functionArn), detail: [n.events.join(', '), n.filter].filter(Boolean).join(' · '), state: 'Enabled' });
    }
  }));
  await Promise.all(apis.map(async (api) => {
    const [routes, integrations] = await Promise.all([apigateway.routes(api.apiId), apigateway.integrations(api.apiId)]);
    const byId = new Map(integrations.map((i) => [i.integrationId, i]));
    for (const r of routes) {
      const integration = byId.get((r.target || '').replace('integrations/', ''));
      if (!integration) continue;
      sources.push({ kind: 'HTTP API', source: `${api.name} ${r.routeKey}`, functionName: fnName(integration.integrationUri),
        detail: api.apiEndpoint, state: 'Enabled' });
    }
  }));
  return sources.sort((a, b) => a.functionName.localeCompare(b.functionName) || a.kind.localeCompare(b.kind));
}

const sourceColumns = (withFunction) => [
  { title: 'Type', cell: (s) => h('span', { class: 'badge' }, s.kind) },
  { title: 'Source', cell: (s) => s.source },
  withFunction && { title: 'Function', cell: (s) => link(fnHref(s.functionName), s.functionName) },
  { title: 'Details', cell: (s) => h('span', { class: 'muted' }, s.detail) },
  { title: 'State', cell: (s) => s.state },
].filter(Boolean);

// ---- pages ----

async function functionsPage() {
  const body = h('div', {}, loading());
  const search = h('input', { type: 'search', placeholder: 'Filter by name', 'aria-label': 'Filter functions' });
  view.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Functions'), search), card(null, {}, body));
  let functions = [];
  let stats = {};
  const render = () => {
    const needle = search.value.toLowerCase();
    body.replaceChildren(table([
      { title: 'Name', cell: (f) => link(fnHref(f.FunctionName), f.FunctionName) },
      { title: 'Runtime', cell: (f) => f.Runtime || f.PackageType },
      { title: 'Memory', num: true, cell: (f) => `${f.MemorySize} MB` },
      { title: 'Timeout', num: true, cell: (f) => `${f.Timeout} s` },
      { title: 'Code', num: true, cell: (f) => fmtBytes(f.CodeSize) },
      { title: 'Invocations (1 h)', num: true, cell: (f) => fmtCount(stats[f.FunctionName]?.inv) },
      { title: 'Errors (1 h)', num: true, cell: (f) => h('span', { class: stats[f.FunctionName]?.err ? 'bad' : null }, fmtCount(stats[f.FunctionName]?.err)) },
      { title: 'Last modified', cell: (f) => fmtDateTime(f.LastModified) },
    ], functions.filter((f) => f.FunctionName.toLowerCase().includes(needle)),
    functions.length ? 'No function matches.' : 'No functions yet: deploy one with `nimbus deploy` or the AWS CLI.'));
  };
  search.addEventListener('input', render);
  try {
    functions = (await lambda.listFunctions()).sort((a, b) => a.FunctionName.localeCompare(b.FunctionName));
  } catch (e) {
    body.replaceChildren(errorBox(e));
    return;
  }
  render();
  if (functions.length) {
    const shown = functions.slice(0, 200);
    const q = (f, i, id, metric) => ({ id: `${id}${i}`, metric, stat: 'Sum', count: true, dimensions: [{ Name: 'FunctionName', Value: f.FunctionName }] });
    try {
      const s = await metricSeries(shown.flatMap((f, i) => [q(f, i, 'inv', 'Invocations'), q(f, i, 'err', 'Errors')]), 60);
      shown.forEach((f, i) => { stats[f.FunctionName] = { inv: sum(s[`inv${i}`]), err: sum(s[`err${i}`]) }; });
      render();
    } catch {
      // The list stands without its figures.
    }
  }
}

function testInvokeCard(name) {
  const stored = localStorage.getItem(`nimbus.event.${name}`);
  const select = h('select', { 'aria-label': 'Event template' },
    h('option', { value: '' }, 'Template…'),
    Object.entries(templates).map(([id, t]) => h('option', { value: id }, t.label)));
  const editor = h('textarea', { spellcheck: 'false', rows: 12, 'aria-label': 'Event JSON', class: 'code' },
    stored ?? JSON.stringify(templates['hello-world'].event({}), null, 2));
  const button = h('button', { type: 'submit', class: 'primary' }, 'Invoke');
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  select.addEventListener('change', () => {
    if (!select.value) return;
    editor.value = JSON.stringify(templates[select.value].event({ region: REGION, account: '000000000000' }), null, 2);
    select.value = '';
  });
  const form = h('form', { class: 'invoke' }, h('div', { class: 'row' }, select, button), editor, result);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      JSON.parse(editor.value);
    } catch (e) {
      result.replaceChildren(h('div', { class: 'error' }, h('strong', {}, 'Invalid JSON'), ' ', e.message));
      return;
    }
    localStorage.setItem(`nimbus.event.${name}`, editor.value);
    button.disabled = true;
    result.replaceChildren(h('p', { class: 'loading' }, 'Invoking…'));
    try {
      const r = await lambda.invoke(name, editor.value);
      const report = r.log.split('\n').map(parseReport).find(Boolean);
      let pretty = r.body;
      try {
        pretty = JSON.stringify(JSON.parse(r.body), null, 2);
      } catch { /* not JSON: shown as sent */ }
      result.replaceChildren(
        h('div', { class: `outcome ${r.functionError ? 'failed' : 'succeeded'}`, dataset: { testid: 'invoke-outcome' } },
          r.functionError ? `Failed (${r.functionError})` : 'Succeeded',
          report ? h('span', { class: 'muted' }, ` · ${fmtMs(report.duration)} · billed ${report.billed} ms · ${report.used}/${report.memory} MB${report.init ? ` · init ${fmtMs(report.init)}` : ''}`) : null,
          r.version ? h('span', { class: 'muted' }, ` · version ${r.version}`) : null),
        h('h3', {}, 'Response'), h('pre', { class: 'code', dataset: { testid: 'invoke-response' } }, pretty),
        h('h3', {}, 'Log output (last 4 KB)'), h('pre', { class: 'code log' }, r.log));
      form.dispatchEvent(new CustomEvent('invoked', { bubbles: true }));
    } catch (e) {
      result.replaceChildren(errorBox(e));
    } finally {
      button.disabled = false;
    }
  });
  return card('Test', {}, form);
}

function configurationCard(f, url) {
  const c = f.Configuration;
  const env = Object.entries(c.Environment?.Variables ?? {});
  const row = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
  return card('Configuration', {},
    h('dl', { class: 'config' },
      row('Runtime', c.Runtime || c.PackageType), row('Handler', c.Handler || '–'),
      row('Memory', `${c.MemorySize} MB`), row('Timeout', `${c.Timeout} s`),
      row('Architecture', (c.Architectures || ['x86_64']).join(', ')),
      row('Ephemeral storage', `${c.EphemeralStorage?.Size ?? 512} MB`),
      row('Code', `${fmtBytes(c.CodeSize)} · sha256 ${c.CodeSha256}`),
      row('Version', c.Version), row('Last modified', fmtDateTime(c.LastModified)),
      row('Log format', c.LoggingConfig?.LogFormat ?? 'Text'),
      c.Layers?.length ? row('Layers', h('ul', {}, c.Layers.map((l) => h('li', {}, l.Arn)))) : null,
      url ? row('Function URL', h('a', { href: url.FunctionUrl, target: '_blank', rel: 'noopener' }, url.FunctionUrl), ` (${url.AuthType})`) : null,
      row('Environment', env.length ? h('table', { class: 'env' }, h('tbody', {}, env.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, v))))) : h('span', { class: 'muted' }, 'none'))));
}

async function functionPage(name) {
  const head = h('div', { class: 'page-head' }, h('h1', {}, h('a', { href: '#/functions', class: 'crumb' }, 'Functions'), ' / ', name));
  view.replaceChildren(head, loading());
  let f;
  let url;
  try {
    [f, url] = await Promise.all([lambda.getFunction(name), lambda.getUrl(name)]);
  } catch (e) {
    view.replaceChildren(head, errorBox(e));
    return () => {};
  }
  const c = f.Configuration;
  head.append(h('span', { class: 'badge' }, c.Runtime || c.PackageType), h('span', { class: `state ${c.State === 'Active' ? 'ok' : 'warn'}` }, c.State));

  const chartsBox = h('div', { class: 'tiles' });
  const charts = new FunctionCharts(name, chartsBox);
  const period = h('select', { 'aria-label': 'Period' }, [[60, 'Last hour'], [180, 'Last 3 hours'], [1440, 'Last 24 hours']].map(([m, t]) => h('option', { value: m }, t)));
  period.addEventListener('change', () => { charts.minutes = Number(period.value); charts.refresh().catch(() => {}); });

  const recentBody = h('div', {}, loading());
  const refreshRecent = () => fill(recentBody, async () => {
    const found = await filterLogs(name, { startTime: Date.now() - 60 * 60 * 1000, pattern: '?"REPORT RequestId" ?"platform.report"' });
    const reports = found.map((e) => ({ ...parseReport(e.message), timestamp: e.timestamp })).filter((r) => r.requestId).reverse().slice(0, 25);
    return table([
      { title: 'Time', cell: (r) => fmtTime(r.timestamp) },
      { title: 'Request ID', cell: (r) => h('code', { title: r.requestId }, `${r.requestId.slice(0, 8)}…`) },
      { title: 'Status', cell: (r) => h('span', { class: r.status === 'success' ? null : 'bad' }, r.status) },
      { title: 'Duration', num: true, cell: (r) => fmtMs(r.duration) },
      { title: 'Billed', num: true, cell: (r) => `${r.billed} ms` },
      { title: 'Memory used', num: true, cell: (r) => `${r.used} / ${r.memory} MB` },
      { title: 'Init', num: true, cell: (r) => (r.init ? fmtMs(r.init) : '') },
    ], reports, 'No invocations in the last hour.');
  });

  const tailPre = h('pre', { class: 'tail code', dataset: { testid: 'log-tail' } }, h('span', { class: 'empty' }, 'Waiting for log events…'));
  const tail = new LogTail(name, tailPre);
  const pause = h('button', { type: 'button' }, 'Pause');
  pause.addEventListener('click', () => { tail.paused = !tail.paused; pause.textContent = tail.paused ? 'Resume' : 'Pause'; });

  const triggersBody = h('div', {}, loading());
  fill(triggersBody, async () => table(sourceColumns(false), (await allSources()).filter((s) => s.functionName === name), 'No triggers.'));

  view.replaceChildren(head,
    h('div', { class: 'grid2' }, testInvokeCard(name), configurationCard(f, url)),
    card(null, { class: 'card monitoring' }, h('div', { class: 'card-head' }, h('h2', {}, 'Monitoring'), period), chartsBox),
    h('div', { class: 'grid2' },
      card('Recent invocations', {}, recentBody),
      card(null, {}, h('div', { class: 'card-head' }, h('h2', {}, 'Live logs'), pause), tailPre)),
    card('Triggers', {}, triggersBody));

  charts.refresh().catch((e) => chartsBox.replaceChildren(errorBox(e)));
  refreshRecent();
  tail.start();
  // After a test invoke the metrics are written within 2 s: refresh twice.
  const timers = [];
  const onInvoked = () => {
    for (const delay of [500, 2500, 5000]) {
      timers.push(setTimeout(() => { charts.refresh().catch(() => {}); refreshRecent(); }, delay));
    }
  };
  view.addEventListener('invoked', onInvoked);
  const every = setInterval(() => { charts.refresh().catch(() => {}); refreshRecent(); }, 15000);
  return () => {
    view.removeEventListener('invoked', onInvoked);
    clearInterval(every);
    timers.forEach(clearTimeout);
    tail.stop();
    charts.destroy();
  };
}

async function sourcesPage() {
  const body = h('div', {}, loading());
  view.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Event sources')), card(null, {}, body));
  await fill(body, async () => table(sourceColumns(true), await allSources(),
    'No triggers yet: event source mappings, S3 notifications, EventBridge rules and HTTP API routes show here.'));
}

async function bucketsPage(bucket, prefix = '') {
  if (!bucket) {
    const body = h('div', {}, loading());
    view.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Buckets')), card(null, {}, body));
    await fill(body, async () => table([
      { title: 'Name', cell: (b) => link(`#/buckets/${encodeURIComponent(b.name)}`, b.name) },
      { title: 'Created', cell: (b) => fmtDateTime(b.created) },
    ], await s3.listBuckets(), 'No buckets yet.'));
    return;
  }
  const crumbs = [h('a', { href: '#/buckets', class: 'crumb' }, 'Buckets'), ' / ', h('a', { href: `#/buckets/${encodeURIComponent(bucket)}`, class: 'crumb' }, bucket)];
  let acc = '';
  for (const part of prefix.split('/').filter(Boolean)) {
    acc += `${part}/`;
    crumbs.push(' / ', h('a', { href: `#/buckets/${encodeURIComponent(bucket)}/${encodeURIComponent(acc)}`, class: 'crumb' }, part));
  }
  const body = h('div', {}, loading());
  view.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, crumbs)), card(null, {}, body));
  await fill(body, async () => {
    const list = await s3.listObjects(bucket, prefix);
    const rows = [
      ...list.prefixes.map((p) => ({ folder: p })),
      ...list.objects,
    ];
    return [table([
      { title: 'Key', cell: (o) => (o.folder ? link(`#/buckets/${encodeURIComponent(bucket)}/${encodeURIComponent(o.folder)}`, o.folder.slice(prefix.length)) : o.key.slice(prefix.length)) },
      { title: 'Size', num: true, cell: (o) => (o.folder ? '' : fmtBytes(o.size)) },
      { title: 'Last modified', cell: (o) => fmtDateTime(o.modified) },
    ], rows, 'This bucket is empty.'), list.truncated ? h('p', { class: 'muted' }, 'The first 1,000 keys are shown.') : null];
  });
}

async function queuesPage() {
  const body = h('div', {}, loading());
  view.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Queues')), card(null, {}, body));
  await fill(body, async () => {
    const urls = (await sqs('ListQueues', { MaxResults: 1000 })).QueueUrls ?? [];
    const queues = await Promise.all(urls.map(async (url) => ({ url, ...(await sqs('GetQueueAttributes', { QueueUrl: url, AttributeNames: ['All'] })).Attributes })));
    return table([
      { title: 'Name', cell: (q) => q.url.split('/').pop() },
      { title: 'Type', cell: (q) => (q.FifoQueue === 'true' ? 'FIFO' : 'Standard') },
      { title: 'Available', num: true, cell: (q) => fmtCount(q.ApproximateNumberOfMessages) },
      { title: 'In flight', num: true, cell: (q) => fmtCount(q.ApproximateNumberOfMessagesNotVisible) },
      { title: 'Delayed', num: true, cell: (q) => fmtCount(q.ApproximateNumberOfMessagesDelayed) },
      { title: 'Visibility timeout', num: true, cell: (q) => `${q.VisibilityTimeout} s` },
      { title: 'Dead-letter queue', cell: (q) => (q.RedrivePolicy ? JSON.parse(q.RedrivePolicy).deadLetterTargetArn.split(':').pop() : '') },
    ], queues, 'No queues yet.');
  });
}

// DynamoDB JSON to plain values, for display.
function unmarshall(v) {
  const [type, x] = Object.entries(v)[0];
  switch (type) {
    case 'S': case 'B': return x;
    case 'N': return Number(x);
    case 'BOOL': return x;
    case 'NULL': return null;
    case 'SS': case 'BS': return x;
    case 'NS': return x.map(Number);
    case 'L': return x.map(unmarshall);
    case 'M': return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, unmarshall(y)]));
    default: return x;
  }
}

async function tablesPage(name) {
  if (!name) {
    const body = h('div', {}, loading());
    view.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Tables')), card(null, {}, body));
    await fill(body, async () => {
      const names = (await dynamodb('ListTables', {})).TableNames;
      const tables = await Promise.all(names.map(async (n) => (await dynamodb('DescribeTable', { TableName: n })).Table));
      return table([
        { title: 'Name', cell: (t) => link(`#/tables/${encodeURIComponent(t.TableName)}`, t.TableName) },
        { title: 'Keys', cell: (t) => t.KeySchema.map((k) => `${k.AttributeName} (${k.KeyType === 'HASH' ? 'partition' : 'sort'})`).join(', ') },
        { title: 'Items', num: true, cell: (t) => fmtCount(t.ItemCount) },
        { title: 'Size', num: true, cell: (t) => fmtBytes(t.TableSizeBytes ?? 0) },
        { title: 'Indexes', num: true, cell: (t) => (t.GlobalSecondaryIndexes?.length ?? 0) + (t.LocalSecondaryIndexes?.length ?? 0) },
        { title: 'Stream', cell: (t) => (t.StreamSpecification?.StreamEnabled ? t.StreamSpecification.StreamViewType : '') },
        { title: 'Status', cell: (t) => t.TableStatus },
      ], tables, 'No tables yet.');
    });
    return;
  }
  const body = h('div', {}, loading());
  view.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, h('a', { href: '#/tables', class: 'crumb' }, 'Tables'), ' / ', name)), card('Items', {}, body));
  await fill(body, async () => {
    const r = await dynamodb('Scan', { TableName: name, Limit: 50 });
    const items = r.Items.map((i) => Object.fromEntries(Object.entries(i).map(([k, v]) => [k, unmarshall(v)])));
    const columns = [...new Set(items.flatMap((i) => Object.keys(i)))].slice(0, 12);
    return [table(columns.map((c) => ({ title: c, cell: (i) => (i[c] === undefined ? '' : typeof i[c] === 'object' ? JSON.stringify(i[c]) : String(i[c])) })), items, 'This table is empty.'),
      r.LastEvaluatedKey ? h('p', { class: 'muted' }, 'The first 50 items are shown.') : null];
  });
}

async function usagePage() {
  const period = h('select', { 'aria-label': 'Period' }, [[1, 'Last hour'], [24, 'Last 24 hours'], [168, 'Last 7 days'], [720, 'Last 30 days']].map(([hrs, t]) => h('option', { value: hrs, selected: hrs === 24 }, t)));
  const body = h('div', {}, loading());
  view.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, 'Usage'), period), card(null, {}, body));
  // Lambda's prices are tiny: three significant digits, however many places that takes.
  const money = (v) => new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumSignificantDigits: 3 }).format(v);
  const load = () => fill(body, async () => {
    const end = Math.floor(Date.now() / 1000) + 60;
    const report = await usage(end - Number(period.value) * 3600, end);
    const cols = [
      { title: 'Function', cell: (r) => (r.FunctionName ? link(fnHref(r.FunctionName), r.FunctionName) : h('strong', {}, 'Total')) },
      { title: 'Requests', num: true, cell: (r) => fmtCount(r.Requests) },
      { title: 'Billed duration', num: true, cell: (r) => `${fmtCount(r.BilledDurationMs)} ms` },
      { title: 'GB-seconds', num: true, cell: (r) => Number(r.GBSeconds).toFixed(3) },
      { title: 'Cost', num: true, cell: (r) => money(r.Cost) },
    ];
    return [table(cols, [...report.Functions, report.Total], 'No invocations in this period.'),
      h('p', { class: 'muted' }, `Price model: ${money(report.PriceModel.PerGBSecond)} per GB-second, ${money(report.PriceModel.PerMillionRequests)} per million requests (nimbus serve --price-per-gb-second, --price-per-million-requests).`)];
  });
  period.addEventListener('change', load);
  await load();
}

// ---- signing in ----

// The session: {AccessKeyId, Policy, Mode} (Mode 'dev': the server verifies
// nothing), or null while signed out.
let signedIn = null;

function showAccount() {
  const account = document.getElementById('account');
  const key = document.getElementById('account-key');
  const signOut = document.getElementById('sign-out');
  document.body.classList.toggle('signed-out', !signedIn);
  account.hidden = !signedIn;
  view.hidden = !signedIn;
  signInView.hidden = Boolean(signedIn);
  if (!signedIn) return;
  const dev = signedIn.Mode === 'dev';
  key.textContent = dev ? 'dev mode: not signed in' : signedIn.AccessKeyId;
  key.title = dev ? 'nimbus serve --auth=dev accepts every request' : `${signedIn.Policy} key`;
  signOut.hidden = dev;
}

// The sign-in view, with `message` (why the user is here again), if any. It
// has its own element, so that what the last page's pending calls still write
// into #view stays hidden.
function signInPage(message) {
  cleanup();
  cleanup = () => {};
  signedIn = null;
  showAccount();
  document.title = 'Sign in · Nimbus console';
  const id = h('input', { id: 'access-key-id', name: 'username', autocomplete: 'username', required: true, spellcheck: 'false' });
  const secret = h('input', { id: 'secret-access-key', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const result = h('div', { class: 'result', 'aria-live': 'polite' },
    message ? h('div', { class: 'notice', role: 'status' }, message) : null);
  const form = h('form', { class: 'sign-in card', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    h('p', { class: 'muted' }, 'Sign in with a Nimbus access key, as the AWS CLI and SDKs use.'),
    h('label', { for: 'access-key-id' }, 'Access key ID'), id,
    h('label', { for: 'secret-access-key' }, 'Secret access key'), secret,
    button, result,
    h('p', { class: 'muted where' },
      'The keys are in ', h('code', {}, '<data-dir>/credentials.json'), ' on the server: ',
      h('code', {}, '/var/lib/nimbus/credentials.json'), ' when it runs as root, else ',
      h('code', {}, '~/.local/share/nimbus/credentials.json'), ' (or where ', h('code', {}, '--data-dir'), ' says).'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    try {
      signedIn = await session.signIn(id.value.trim(), secret.value);
      view.replaceChildren();
      signInView.replaceChildren();
      showAccount();
      if (location.hash === '#/functions') route();
      else location.hash = '#/functions';
    } catch (e) {
      secret.value = '';
      result.replaceChildren(errorBox(e));
      secret.focus();
    } finally {
      button.disabled = false;
    }
  });
  signInView.replaceChildren(form);
  id.focus();
}

// An API call found the session gone: back to the sign-in view, once.
whenSessionLost((e) => {
  if (signedIn) signInPage(`Your console session has ended: ${e.message}.`);
});

async function signOut() {
  try {
    await session.signOut();
    signInPage('Signed out.');
  } catch (e) {
    view.prepend(errorBox(e));
  }
}

// ---- routing ----

let cleanup = () => {};

async function route() {
  if (!signedIn) return;
  cleanup();
  cleanup = () => {};
  const [section, ...rest] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  for (const a of document.querySelectorAll('nav.side a')) a.classList.toggle('active', a.dataset.section === (section || 'functions'));
  const pages = {
    functions: () => (rest[0] ? functionPage(rest[0]) : functionsPage()),
    sources: sourcesPage,
    buckets: () => bucketsPage(rest[0], rest.slice(1).join('/')),
    queues: queuesPage,
    tables: () => tablesPage(rest[0]),
    usage: usagePage,
  };
  const page = pages[section] ?? functionsPage;
  document.title = `${rest[0] ? `${rest[0]} · ` : ''}Nimbus console`;
  const done = await page();
  if (typeof done === 'function') cleanup = done;
}

async function watchHealth() {
  const status = document.getElementById('server-status');
  try {
    await health();
    status.textContent = 'server up';
    status.className = 'status ok';
  } catch {
    status.textContent = 'server unreachable';
    status.className = 'status bad';
  }
  setTimeout(watchHealth, 10000);
}

async function start() {
  document.getElementById('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  watchHealth();
  try {
    signedIn = await session.get();
  } catch (e) {
    view.replaceChildren(errorBox(e));
    return;
  }
  if (!signedIn) {
    signInPage();
    return;
  }
  showAccount();
  route();
}

start();
