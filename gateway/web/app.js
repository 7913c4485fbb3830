// The admin page: reads the admin API every 2 s and draws what it says. Plain DOM, no
// framework: every value from the gateway is set as text (descriptions and host names come
// from LAN clients), never parsed as HTML. On the TCP listener the API wants the admin
// token: the sign-in form keeps it in sessionStorage (this tab only) and every request
// sends it as `Authorization: Bearer`; on the Unix socket no token is asked for.
'use strict';

const TOKEN_KEY = 'openigd-admin-token';
const POLL_MS = 2000;
/** Samples kept for the charts: 5 minutes at one per poll. */
const HISTORY = 150;

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let timer = 0;
const history = [];
const flowQuery = { proto: '', addr: '', port: '', state: '', limit: 100, offset: 0 };
/** The mapping being edited (its protocol and external port), or null while adding. */
let editing = null;

const $ = (id) => document.getElementById(id);

class ApiError extends Error {}
class AuthError extends Error {}

async function api(method, path, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  if (res.status === 401) throw new AuthError('the admin token is needed');
  const json = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new ApiError(json && json.error ? json.error : `HTTP ${res.status}`);
  return json;
}

/** An element with text or children; attributes set as properties. */
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ''));
  return e;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function facts(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function seconds(s) {
  if (s === null || s === undefined) return 'static';
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

function quantity(n, unit) {
  const steps = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < steps.length - 1) { n /= 1000; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${steps[i]}${unit}`;
}

// ---- status and charts ------------------------------------------------------------------

const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);

/** What the charts draw: `rate` series are per second between two polls, the others as read. */
const SERIES = [
  { name: 'Forwarded out', unit: 'pkt/s', rate: true, read: (s) => s.stats.forwardedOutbound },
  { name: 'Forwarded in', unit: 'pkt/s', rate: true, read: (s) => s.stats.forwardedInbound },
  { name: 'WAN received', unit: 'B/s', rate: true, read: (s) => s.links.wan.rxBytes },
  { name: 'WAN sent', unit: 'B/s', rate: true, read: (s) => s.links.wan.txBytes },
  { name: 'Flows', unit: '', rate: false, read: (s) => s.nat.flows },
  { name: 'Drops', unit: '/s', rate: true, read: (s) => sum(s.drops) },
  { name: 'Port mappings', unit: '', rate: false, read: (s) => (s.igd ? s.igd.stats.mappings : 0) },
  { name: 'Flows created', unit: '/s', rate: true, read: (s) => s.nat.flowsCreated },
];

function renderStatus(s) {
  facts($('status'), [
    ['LAN', `${s.lan.address} (${s.lan.mac})`],
    ['WAN', `${s.wan.address} via ${s.wan.gateway}`],
    ['WAN DHCP', s.wanDhcp ? s.wanDhcp.state : 'static address'],
    ['Flows', s.nat.flows],
    ['IGD', s.igd ? s.igd.url : 'off'],
    ['NAT-PMP / PCP', s.igd && s.igd.natpmp ? (s.igd.pcp ? 'on / on' : 'on / off') : 'off'],
  ]);
  const b = s.natBehaviour;
  facts($('nat'), [['Mapping', b.mapping], ['Filtering', b.filtering], ['Port allocation', b.portAllocation], ['Hairpinning', b.hairpinning ? 'yes' : 'no']]);
}

function pushHistory(s) {
  history.push({ t: performance.now(), values: SERIES.map((x) => x.read(s)) });
  if (history.length > HISTORY + 1) history.shift();
}

/** Per series, the points to draw: rates between consecutive samples, or the values. */
function seriesPoints(i) {
  const x = SERIES[i];
  if (!x.rate) return history.map((h) => h.values[i]);
  const out = [];
  for (let k = 1; k < history.length; k++) {
    const dt = (history[k].t - history[k - 1].t) / 1000;
    out.push(dt > 0 ? Math.max(0, (history[k].values[i] - history[k - 1].values[i]) / dt) : 0);
  }
  return out;
}

const SVG = 'http://www.w3.org/2000/svg';

/** Fewest samples a chart spans: the first minute is drawn over a minute, then the window grows to 5. */
const MIN_SPAN = 30;

function chart(series, points) {
  const max = Math.max(1, ...points);
  const span = Math.max(MIN_SPAN, points.length);
  const xy = points.map((v, k) => `${span - (points.length - k)},${(100 - (v / max) * 96).toFixed(1)}`);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${span - 1} 100`);
  svg.setAttribute('preserveAspectRatio', 'none');
  if (xy.length > 1) {
    const first = xy[0].split(',')[0];
    const area = document.createElementNS(SVG, 'polygon');
    area.setAttribute('points', `${first},100 ${xy.join(' ')} ${span - 1},100`);
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', xy.join(' '));
    svg.append(area, line);
  }
  const now = points.length ? points[points.length - 1] : 0;
  const label = el('div', { className: 'label' }, el('span', {}, series.name), el('span', { className: 'value' }, quantity(now, series.unit)));
  return el('div', { className: 'chart', title: `peak ${quantity(max, series.unit)}` }, label, svg);
}

function renderCharts() {
  $('charts').replaceChildren(...SERIES.map((x, i) => chart(x, seriesPoints(i))));
}

// ---- flows ------------------------------------------------------------------------------

function flowPath() {
  const q = new URLSearchParams();
  for (const k of ['proto', 'addr', 'port', 'state']) if (flowQuery[k]) q.set(k, flowQuery[k]);
  q.set('limit', String(flowQuery.limit));
  q.set('offset', String(flowQuery.offset));
  return `/flows?${q}`;
}

function renderFlows(page) {
  const last = Math.min(page.total, page.offset + page.flows.length);
  $('flows-count').textContent = page.total === 0 ? '(none match)' : `(${page.offset + 1}–${last} of ${page.total})`;
  $('flows-prev').disabled = page.offset === 0;
  $('flows-next').disabled = last >= page.total;
  fill($('flows').tBodies[0], page.flows.map((f) => el('tr', {},
    el('td', {}, f.protocol), el('td', {}, f.internal), el('td', {}, f.external), el('td', {}, f.remote),
    el('td', {}, f.tcpState || ''), el('td', { className: 'num' }, seconds(Math.max(0, Math.round(f.expiresInMs / 1000)))))));
}

async function refreshFlows() {
  try {
    const page = await api('GET', flowPath());
    $('flows-error').textContent = '';
    if (page.offset > 0 && page.flows.length === 0 && page.total > 0) {
      flowQuery.offset = Math.max(0, Math.floor((page.total - 1) / flowQuery.limit) * flowQuery.limit);
      return refreshFlows();
    }
    renderFlows(page);
  } catch (e) {
    if (e instanceof AuthError) throw e;
    $('flows-error').textContent = e.message;
  }
}

// ---- mappings ---------------------------------------------------------------------------

const MADE_BY = { upnp: 'UPnP', natpmp: 'NAT-PMP', pcp: 'PCP', admin: 'admin', 'nat-table': 'NAT table' };
const mappingPath = (m) => `/mappings/${m.protocol}/${m.externalPort}`;

async function change(action, errorId = 'mapping-error') {
  try {
    await action();
    $(errorId).textContent = '';
  } catch (e) {
    if (e instanceof AuthError) return signedOut();
    $(errorId).textContent = e.message;
  }
  await refreshMappings().catch((e) => (e instanceof AuthError ? signedOut() : undefined));
}

function mappingRow(m) {
  const enabled = el('input', { type: 'checkbox', checked: m.enabled, title: m.enabled ? 'disable' : 'enable', className: 'toggle' });
  enabled.addEventListener('change', () => change(() => api('PATCH', mappingPath(m), { enabled: enabled.checked })));
  const edit = el('button', { type: 'button', className: 'edit' }, 'Edit');
  edit.addEventListener('click', () => startEdit(m));
  const del = el('button', { type: 'button', className: 'delete' }, 'Delete');
  del.addEventListener('click', () => change(() => api('DELETE', mappingPath(m))));
  const row = el('tr', { className: m.enabled ? '' : 'disabled' },
    el('td', {}, m.protocol), el('td', { className: 'num' }, m.externalPort), el('td', {}, m.remoteHost || '*'),
    el('td', {}, m.internalClient), el('td', { className: 'num' }, m.internalPort), el('td', { className: 'wrap' }, m.description),
    el('td', { className: 'num' }, seconds(m.leaseRemainingSeconds)), el('td', {}, MADE_BY[m.origin] || m.origin),
    el('td', {}, enabled), el('td', {}, edit, ' ', del));
  row.dataset.key = `${m.protocol}/${m.externalPort}`;
  return row;
}

async function refreshMappings() {
  const list = await api('GET', '/mappings');
  $('mappings-count').textContent = `(${list.length})`;
  fill($('mappings').tBodies[0], list.map(mappingRow));
}

function startEdit(m) {
  const f = $('mapping-form');
  editing = { protocol: m.protocol, externalPort: m.externalPort };
  f.protocol.value = m.protocol;
  f.externalPort.value = m.externalPort;
  f.internalClient.value = m.internalClient;
  f.internalPort.value = m.internalPort;
  f.description.value = m.description;
  f.leaseSeconds.value = m.leaseRemainingSeconds ?? 0;
  f.enabled.checked = m.enabled;
  f.protocol.disabled = f.externalPort.disabled = true;
  $('mapping-form-title').textContent = `Edit ${m.protocol} ${m.externalPort}`;
  $('mapping-submit').textContent = 'Save';
  $('mapping-cancel').hidden = false;
}

function endEdit() {
  const f = $('mapping-form');
  editing = null;
  f.reset();
  f.protocol.disabled = f.externalPort.disabled = false;
  $('mapping-form-title').textContent = 'Add a mapping';
  $('mapping-submit').textContent = 'Add';
  $('mapping-cancel').hidden = true;
}

/** The form as the API's body: numbers as numbers, so a wrong one comes back as a 400 naming it. */
function mappingBody(f) {
  const num = (v) => (/^\d+$/.test(v.trim()) ? Number(v) : v);
  const body = {
    internalClient: f.internalClient.value.trim(), internalPort: num(f.internalPort.value),
    description: f.description.value, leaseSeconds: num(f.leaseSeconds.value || '0'), enabled: f.enabled.checked,
  };
  return editing ? body : { protocol: f.protocol.value, externalPort: num(f.externalPort.value), ...body };
}

// ---- leases and capture -----------------------------------------------------------------

async function refreshLeases() {
  const leases = await api('GET', '/leases');
  fill($('leases').tBodies[0], leases.map((l) => el('tr', {},
    el('td', {}, l.mac), el('td', {}, l.hostname ? `${l.address} (${l.hostname})` : l.address),
    el('td', { className: 'num' }, l.offered ? 'offered' : seconds(l.expiresInSeconds)))));
}

function renderCapture(c) {
  $('capture-state').textContent = c.running ? `Capturing to ${c.dir}` : 'Not capturing.';
  const button = $('capture-toggle');
  button.textContent = c.running ? 'Stop capture' : 'Start capture';
  button.dataset.on = c.running ? '1' : '';
  $('capture-files').replaceChildren(...c.files.map((f) => el('li', {}, `${f.port}: ${f.path} (${f.frames} frames)`)));
}

async function refreshCapture() {
  renderCapture(await api('GET', '/capture'));
}

// ---- polling and sign-in ----------------------------------------------------------------

function signedOut() {
  clearTimeout(timer);
  $('main').hidden = true;
  $('login').hidden = false;
  $('conn').textContent = 'signed out';
  $('token').focus();
}

async function poll() {
  clearTimeout(timer);
  try {
    const status = await api('GET', '/status');
    pushHistory(status);
    renderStatus(status);
    renderCharts();
    await Promise.all([refreshFlows(), refreshMappings(), refreshLeases(), refreshCapture()]);
    $('conn').textContent = `updated ${new Date().toLocaleTimeString()}`;
    $('conn').classList.remove('down');
    $('main').hidden = false;
    $('login').hidden = true;
  } catch (e) {
    if (e instanceof AuthError) return signedOut();
    $('conn').textContent = `no answer: ${e.message}`;
    $('conn').classList.add('down');
  }
  timer = setTimeout(poll, POLL_MS);
}

function wire() {
  $('login').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    token = $('token').value.trim();
    try {
      await api('GET', '/status');
      sessionStorage.setItem(TOKEN_KEY, token);
      $('login-error').textContent = '';
      await poll();
    } catch (e) {
      $('login-error').textContent = e instanceof AuthError ? 'That token is not the admin token.' : e.message;
    }
  });
  $('flow-filter').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = ev.target;
    Object.assign(flowQuery, { proto: f.proto.value, addr: f.addr.value.trim(), port: f.port.value.trim(), state: f.state.value, limit: Number(f.limit.value), offset: 0 });
    void refreshFlows();
  });
  $('flows-prev').addEventListener('click', () => {
    flowQuery.offset = Math.max(0, flowQuery.offset - flowQuery.limit);
    void refreshFlows();
  });
  $('flows-next').addEventListener('click', () => {
    flowQuery.offset += flowQuery.limit;
    void refreshFlows();
  });
  $('mapping-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = mappingBody(ev.target);
    const target = editing;
    void change(async () => {
      if (target) await api('PATCH', mappingPath(target), body);
      else await api('POST', '/mappings', body);
      endEdit();
    });
  });
  $('mapping-cancel').addEventListener('click', endEdit);
  $('capture-toggle').addEventListener('click', async () => {
    try {
      renderCapture(await api('POST', '/capture', { on: !$('capture-toggle').dataset.on }));
      $('capture-error').textContent = '';
    } catch (e) {
      if (e instanceof AuthError) return signedOut();
      $('capture-error').textContent = e.message;
    }
  });
}

wire();
void poll();
