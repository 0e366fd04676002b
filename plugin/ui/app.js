// Sentinel's dashboard: open alerts with filters, a resource's report with its findings explained,
// acknowledge/dismiss/resolve/reopen, scan progress, and plots (findings per day and per rule, the
// slice-spacing profile of a series, the region of a pixel finding on the image).
//
// Plain JavaScript, no build step, no external resource: the page works offline. Every URL is relative
// (the page is <orthanc>/sentinel/ui/, and Orthanc may sit behind a prefix).
//
// Security: every value that comes from the server (DICOM attributes such as PatientName, finding
// messages, comments) is put in the page with textContent or setAttribute, never as HTML. Calls that
// change state are POSTs with a JSON body and the header X-Requested-With: sentinel, which a cross-site
// HTML form cannot send (and a cross-site fetch cannot send without a CORS preflight Orthanc refuses).
(function () {
  'use strict';

  var API = '../';          // /sentinel/
  var ORTHANC = '../../';   // Orthanc's root
  var PAGE = 50;
  var FILTER_KEYS = ['state', 'severity', 'rule', 'modality', 'study', 'since', 'until'];
  var SVGNS = 'http://www.w3.org/2000/svg';
  var SEVERITY_ORDER = { critical: 0, error: 1, warning: 2, info: 3 };

  var state = { alerts: [], total: 0, offset: 0, rules: null, studies: {} };

  // -- DOM helpers (text only) ---------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  // el('td', {className: 'x', title: 't'}, 'text', childNode, ...): strings become text nodes.
  function el(tag, props) {
    var node = document.createElement(tag);
    setProps(node, props);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) {
      if (Object.prototype.hasOwnProperty.call(attrs, k)) node.setAttribute(k, String(attrs[k]));
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function setProps(node, props) {
    for (var k in props || {}) {
      if (!Object.prototype.hasOwnProperty.call(props, k)) continue;
      if (k === 'dataset') {
        for (var d in props.dataset) node.dataset[d] = props.dataset[d];
      } else if (k === 'onclick' || k === 'onchange' || k === 'className' || k === 'title' ||
                 k === 'type' || k === 'value' || k === 'placeholder' || k === 'disabled' || k === 'hidden') {
        node[k] = props[k];
      } else {
        node.setAttribute(k, String(props[k]));
      }
    }
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function badge(kind, word) { return el('span', { className: 'badge ' + kind + '-' + word, dataset: { value: word } }, word); }

  var messageTimer = null;
  function say(text, isError) {
    var box = $('message');
    box.textContent = text;
    box.className = 'message' + (isError ? ' error' : '');
    box.hidden = false;
    clearTimeout(messageTimer);
    if (!isError) messageTimer = setTimeout(function () { box.hidden = true; }, 8000);
  }

  var busyCount = 0;
  function busy(delta) { busyCount += delta; $('busy').hidden = busyCount <= 0; }

  // -- HTTP ------------------------------------------------------------------------------------------

  function errorOf(response) {
    return response.text().then(function (text) {
      try { return JSON.parse(text).error || text; } catch (e) { return text || response.statusText; }
    }).then(function (detail) { return new Error(response.status + ': ' + detail); });
  }

  function getJSON(url) {
    busy(1);
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : errorOf(r).then(function (e) { throw e; }); })
      .finally(function () { busy(-1); });
  }

  function postJSON(url, body) {
    busy(1);
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'sentinel', Accept: 'application/json' },
      body: JSON.stringify(body)
    }).then(function (r) { return r.ok ? r.json() : errorOf(r).then(function (e) { throw e; }); })
      .finally(function () { busy(-1); });
  }

  function enc(s) { return encodeURIComponent(s); }

  // -- URL state: #state=open&rule=...&report=instances/<id> -------------------------------------------

  function hashParams() { return new URLSearchParams(window.location.hash.replace(/^#/, '')); }

  function filters() {
    var params = hashParams();
    var out = {};
    FILTER_KEYS.forEach(function (k) { if (params.get(k)) out[k] = params.get(k); });
    if (!params.has('state')) out.state = 'open';  // the default view: open alerts
    return out;
  }

  function setHash(changes) {
    var params = hashParams();
    if (!params.has('state')) params.set('state', 'open');
    for (var k in changes) {
      if (changes[k] === null || changes[k] === undefined) params.delete(k); else params.set(k, changes[k]);
    }
    window.location.hash = params.toString();
  }

  // -- Status (background analysis progress) ---------------------------------------------------------

  function loadStatus() {
    return getJSON(API + 'status').then(function (s) {
      var w = s.worker || {}, ingest = s.ingest || {};
      $('status-analysed').textContent = w.analysed === undefined ? '–' : w.analysed;
      $('status-backlog').textContent = w.backlog === undefined ? '–' : w.backlog;
      $('status-failures').textContent = w.failures === undefined ? '–' : w.failures;
      $('status-checked').textContent = ingest.checked === undefined ? '–' : ingest.checked;
      $('status-rejected').textContent = ingest.rejected === undefined ? '–' : ingest.rejected;
      $('status-errors').textContent = ingest.errors === undefined ? '–' : ingest.errors;
      var done = Number(w.analysed) || 0, left = Number(w.backlog) || 0;
      var share = done + left ? done / (done + left) : 1;
      $('status-bar').style.width = (100 * share).toFixed(1) + '%';
      $('status-bar').className = left ? 'running' : 'idle';
      $('status-text').textContent = s.enabled === false ? 'Sentinel is disabled: nothing is checked.' :
        left ? left + ' instance(s) waiting for analysis in this peer\'s background worker.' :
          'The background worker is up to date.';
    }).catch(function (e) { $('status-text').textContent = 'status unavailable: ' + e.message; });
  }

  // -- Archive scan (GET /sentinel/scan: one scan for the whole cluster) ------------------------------

  function showScan(scan) {
    var running = scan.state === 'running';
    var total = Number(scan.series_total) || 0, done = Number(scan.series_done) || 0;
    $('scan-state').textContent = scan.state || '–';
    $('scan-series').textContent = scan.series_total === undefined ? '–' : done + ' / ' + total;
    $('scan-instances').textContent = scan.instances_done === undefined ? '–' : scan.instances_done;
    $('scan-rate').textContent = scan.rate_per_s === undefined ? '–' : scan.rate_per_s;
    $('scan-eta').textContent = running && scan.eta_s !== null && scan.eta_s !== undefined ?
      Math.round(scan.eta_s) + ' s' : '–';
    $('scan-failed').textContent = scan.series_failed === undefined ? '–' : scan.series_failed;
    $('scan-bar').style.width = (total ? 100 * done / total : 0).toFixed(1) + '%';
    $('scan-bar').className = running ? 'running' : 'idle';
    $('scan-text').textContent = scan.state === 'idle' ? 'No archive scan has run yet.' :
      (running ? 'Running on ' : 'Last run by ') + (scan.owner || 'a peer') +
      (scan.series_deleted ? '; ' + scan.series_deleted + ' series deleted while it ran' : '') + '.';
    var list = clear($('scan-failures'));
    (scan.failures || []).forEach(function (f) { list.appendChild(el('li', {}, 'series ' + f.series + ': ' + f.error)); });
    $('scan-start').disabled = running;
    $('scan-cancel').disabled = !running;
  }

  function loadScan() {
    return getJSON(API + 'scan').then(showScan)
      .catch(function (e) { $('scan-text').textContent = 'scan state unavailable: ' + e.message; });
  }

  function startScan() {
    return postJSON(API + 'scan', {}).then(function (scan) { showScan(scan); say('Archive scan started.'); })
      .catch(function (e) { say('Could not start the scan: ' + e.message, true); });
  }

  function cancelScan() {
    return postJSON(API + 'scan/cancel', {}).then(function (scan) { showScan(scan); say('Archive scan cancelled.'); })
      .catch(function (e) { say('Could not cancel the scan: ' + e.message, true); });
  }

  // -- Rules catalogue -------------------------------------------------------------------------------

  function loadRules() {
    if (state.rules) return Promise.resolve(state.rules);
    return getJSON(API + 'rules').then(function (list) {
      state.rules = {};
      list.forEach(function (r) { state.rules[r.id] = r; });
      var select = document.querySelector('#filters select[name=rule]');
      list.forEach(function (r) { select.appendChild(el('option', { value: r.id }, r.id)); });
      select.value = filters().rule || '';
      return state.rules;
    }).catch(function () { state.rules = {}; return state.rules; });
  }

  // -- Alerts ----------------------------------------------------------------------------------------

  function loadAlerts() {
    var f = filters();
    var query = Object.keys(f).map(function (k) {
      var v = f[k];
      if (k === 'until' && /^\d{4}-\d{2}-\d{2}$/.test(v)) v += 'T23:59:59Z';  // the whole day
      return enc(k) + '=' + enc(v);
    });
    query.push('limit=10000');
    showFilters(f);
    return getJSON(API + 'alerts?' + query.join('&')).then(function (answer) {
      state.alerts = answer.alerts;
      state.total = answer.total;
      state.offset = Math.min(Number(hashParams().get('offset')) || 0, Math.max(0, answer.alerts.length - 1));
      renderAlerts();
      renderCharts();
      document.body.dataset.loads = (Number(document.body.dataset.loads) || 0) + 1;
    }).catch(function (e) { say('Could not list the alerts: ' + e.message, true); });
  }

  function showFilters(f) {
    var form = $('filters');
    FILTER_KEYS.forEach(function (k) {
      var input = form.elements[k];
      if (input) input.value = f[k] || '';
    });
  }

  function renderAlerts() {
    var body = clear($('alerts-body'));
    var page = state.alerts.slice(state.offset, state.offset + PAGE);
    page.forEach(function (a) { body.appendChild(alertRow(a)); });
    $('alerts-total').textContent = '(' + state.total + ')';
    $('alerts-empty').hidden = state.alerts.length > 0;
    $('page-info').textContent = state.alerts.length ?
      (state.offset + 1) + '–' + (state.offset + page.length) + ' of ' + state.alerts.length : '';
    $('page-prev').disabled = state.offset <= 0;
    $('page-next').disabled = state.offset + PAGE >= state.alerts.length;
  }

  function shortTime(iso) { return iso ? iso.replace('T', ' ').replace(/Z$/, '') : 'not yet'; }
  // Who changed an alert: the user Orthanc authenticated, and a name the request claimed that nobody checked.
  function actor(h) { return h.by + (h.claimed_by ? ' (unverified: ' + h.claimed_by + ')' : ''); }

  function alertRow(a) {
    var patient = el('span', { className: 'patient' }, '…');
    var study = el('span', { className: 'study-desc' }, '…');
    studyInfo(a.study).then(function (s) {
      patient.textContent = s.patient || '(no name)';
      patient.title = s.patientId ? 'PatientID ' + s.patientId : '';
      study.textContent = s.description || s.date || a.study.slice(0, 8);
      study.title = (s.date ? s.date + ' ' : '') + a.study;
    });
    var comment = el('input', { className: 'comment', placeholder: 'comment', maxlength: 4000,
                                'aria-label': 'comment for ' + a.id });
    var actions = el('td', { className: 'actions' }, comment);
    [['acknowledge', 'Acknowledge', a.state === 'open'],
     ['dismiss', 'Dismiss', a.state === 'open' || a.state === 'acknowledged'],
     ['resolve', 'Resolve', a.state === 'open' || a.state === 'acknowledged'],
     ['reopen', 'Reopen', a.state !== 'open']].forEach(function (b) {
      if (!b[2]) return;
      actions.appendChild(el('button', {
        type: 'button', className: 'act act-' + b[0], dataset: { action: b[0] },
        onclick: function () { act(a, b[0], comment); }
      }, b[1]));
    });
    var rules = el('td', { className: 'rules' });
    a.rules.forEach(function (r) {
      rules.appendChild(el('a', { href: '#', className: 'rule', title: describe(r),
        onclick: function (ev) { ev.preventDefault(); setHash({ rule: r, offset: null }); } }, r));
    });
    var last = a.history.length ? a.history[a.history.length - 1] : null;
    var stateCell = el('td', { className: 'state-cell' }, badge('state', a.state));
    if (last) stateCell.title = actor(last) + ', ' + shortTime(last.at) + (last.comment ? ': ' + last.comment : '');
    return el('tr', { dataset: { id: a.id, state: a.state, level: a.level } },
      el('td', { className: 'time' }, shortTime(a.checked)),
      el('td', {}, patient),
      el('td', {}, study),
      el('td', {}, el('a', { href: '#', className: 'open-report', title: 'show the report of ' + a.id,
        onclick: function (ev) { ev.preventDefault(); setHash({ report: a.level + '/' + a.id }); } },
        a.level === 'instances' ? 'instance' : 'series')),
      el('td', {}, a.modality || ''),
      el('td', {}, badge('verdict', a.verdict), ' ', el('span', { className: 'n' }, a.findings + ' finding(s)')),
      stateCell,
      rules,
      actions);
  }

  function studyInfo(studyId) {
    if (!state.studies[studyId]) {
      state.studies[studyId] = getJSON(ORTHANC + 'studies/' + enc(studyId)).then(function (s) {
        var p = s.PatientMainDicomTags || {}, m = s.MainDicomTags || {};
        return { patient: p.PatientName, patientId: p.PatientID, description: m.StudyDescription,
                 date: formatDate(m.StudyDate) };
      }).catch(function () { return { patient: '(unknown)' }; });
    }
    return state.studies[studyId];
  }

  function formatDate(da) { return /^\d{8}$/.test(da || '') ? da.slice(0, 4) + '-' + da.slice(4, 6) + '-' + da.slice(6) : da; }

  function describe(ruleId) {
    var r = state.rules && state.rules[ruleId];
    return r ? r.description : '';
  }

  function act(alert, action, commentInput) {
    var comment = commentInput.value.trim();
    if (action === 'dismiss' && !comment) {
      say('Dismiss needs a comment that says why this is a false positive.', true);
      commentInput.focus();
      commentInput.classList.add('needed');
      return;
    }
    postJSON(API + 'alerts/' + enc(alert.id) + '/' + action, { comment: comment }).then(function (updated) {
      var i = state.alerts.findIndex(function (a) { return a.id === alert.id; });
      if (i >= 0) state.alerts[i] = updated;
      var row = document.querySelector('#alerts-body tr[data-id="' + CSS.escape(alert.id) + '"]');
      if (row) row.replaceWith(alertRow(updated));
      say('Alert on ' + (updated.level === 'instances' ? 'instance ' : 'series ') + updated.id.slice(0, 8) +
          '… is now ' + updated.state + '.');
      var shown = hashParams().get('report');
      if (shown && shown.split('/')[1] === updated.id) showReport(updated.level, updated.id);
    }).catch(function (e) { say('Could not ' + action + ': ' + e.message, true); });
  }

  // -- Charts from the alerts listed -----------------------------------------------------------------

  function renderCharts() {
    var perDay = {}, perRule = {};
    state.alerts.forEach(function (a) {
      var day = (a.checked || '').slice(0, 10) || 'pending';
      perDay[day] = (perDay[day] || 0) + a.findings;
      a.rules.forEach(function (r) { perRule[r] = (perRule[r] || 0) + 1; });
    });
    var days = Object.keys(perDay).sort().slice(-31);
    columnChart(clear($('chart-days')), days.map(function (d) { return { label: d, value: perDay[d] }; }),
      function (item) { setHash({ since: item.label, until: item.label, offset: null }); });
    var rules = Object.keys(perRule).sort(function (a, b) { return perRule[b] - perRule[a] || (a < b ? -1 : 1); }).slice(0, 12);
    barChart(clear($('chart-rules')), rules.map(function (r) { return { label: r, value: perRule[r] }; }),
      function (item) { setHash({ rule: item.label, offset: null }); });
  }

  function empty(box) { box.appendChild(el('p', { className: 'hint' }, 'nothing to plot')); }

  // Vertical bars (one per day).
  function columnChart(box, items, onPick) {
    if (!items.length) return empty(box);
    var W = 480, H = 180, left = 34, bottom = 40, top = 10;
    var max = Math.max.apply(null, items.map(function (i) { return i.value; })) || 1;
    var slot = (W - left - 6) / items.length, bw = Math.max(2, Math.min(40, slot * 0.7));
    var chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'class': 'plot' });
    axes(chart, left, top, W, H - bottom, max);
    items.forEach(function (item, k) {
      var h = (H - bottom - top) * item.value / max, x = left + k * slot + (slot - bw) / 2;
      var bar = svg('rect', { x: x, y: H - bottom - h, width: bw, height: Math.max(h, 0.5), 'class': 'bar' },
        svg('title', {}, item.label + ': ' + item.value));
      if (onPick) bar.addEventListener('click', function () { onPick(item); });
      chart.appendChild(bar);
      if (items.length <= 12 || k % Math.ceil(items.length / 12) === 0) {
        chart.appendChild(svg('text', { x: x + bw / 2, y: H - bottom + 12, 'class': 'tick', 'text-anchor': 'end',
          transform: 'rotate(-35 ' + (x + bw / 2) + ' ' + (H - bottom + 12) + ')' }, item.label.slice(5)));
      }
    });
    box.appendChild(chart);
  }

  // Horizontal bars (one per rule), labels on the left.
  function barChart(box, items, onPick) {
    if (!items.length) return empty(box);
    var W = 480, row = 18, left = 220, H = items.length * row + 10;
    var max = Math.max.apply(null, items.map(function (i) { return i.value; })) || 1;
    var chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'class': 'plot' });
    items.forEach(function (item, k) {
      var y = 5 + k * row, w = (W - left - 40) * item.value / max;
      chart.appendChild(svg('text', { x: left - 6, y: y + 12, 'class': 'label', 'text-anchor': 'end' },
        item.label.length > 34 ? item.label.slice(0, 33) + '…' : item.label));
      var bar = svg('rect', { x: left, y: y + 2, width: Math.max(w, 1), height: row - 5, 'class': 'bar' },
        svg('title', {}, item.label + ': ' + item.value + (describe(item.label) ? '\n' + describe(item.label) : '')));
      if (onPick) bar.addEventListener('click', function () { onPick(item); });
      chart.appendChild(bar);
      chart.appendChild(svg('text', { x: left + w + 4, y: y + 12, 'class': 'value' }, item.value));
    });
    box.appendChild(chart);
  }

  function axes(chart, left, top, right, base, max) {
    chart.appendChild(svg('line', { x1: left, y1: base, x2: right, y2: base, 'class': 'axis' }));
    chart.appendChild(svg('line', { x1: left, y1: top, x2: left, y2: base, 'class': 'axis' }));
    chart.appendChild(svg('text', { x: left - 4, y: top + 8, 'class': 'tick', 'text-anchor': 'end' }, niceNumber(max)));
    chart.appendChild(svg('text', { x: left - 4, y: base, 'class': 'tick', 'text-anchor': 'end' }, '0'));
  }

  function niceNumber(v) { return Math.abs(v) >= 100 || v === Math.round(v) ? String(Math.round(v)) : v.toPrecision(3); }

  // -- Report of one resource ------------------------------------------------------------------------

  var LEVEL_WORD = { instances: 'instance', series: 'series', studies: 'study' };

  function showReport(level, id) {
    var section = $('report');
    section.hidden = false;
    $('report-title').textContent = LEVEL_WORD[level] + ' ' + id;
    var none = function () { return {}; };
    Promise.all([getJSON(API + level + '/' + enc(id)), getJSON(ORTHANC + level + '/' + enc(id)).catch(none),
                 level === 'studies' ? null : getJSON(ORTHANC + level + '/' + enc(id) + '/study').catch(none), loadRules()])
      .then(function (answers) { renderReport(level, id, answers[0], answers[1], answers[2] || answers[1]); })
      .catch(function (e) { say('Could not load the report: ' + e.message, true); });
  }

  function reportLink(level, id, text) {
    return el('a', { href: '#', className: 'report-link', onclick: function (ev) {
      ev.preventDefault(); setHash({ report: level + '/' + id });
    } }, text || (LEVEL_WORD[level] + ' ' + id.slice(0, 8) + '…'));
  }

  function renderReport(level, id, report, resource, study) {
    var tags = resource.MainDicomTags || {};
    var patient = study.PatientMainDicomTags || {};
    var studyTags = study.MainDicomTags || {};
    $('report-title').textContent = LEVEL_WORD[level] + ' ' + (tags.SeriesDescription || tags.StudyDescription ||
      (tags.InstanceNumber ? '#' + tags.InstanceNumber : '') || '') + ' (' + id.slice(0, 8) + '…)';
    var summary = clear($('report-summary'));
    function item(term, value) { summary.appendChild(el('dt', {}, term)); summary.appendChild(el('dd', {}, value)); }
    item('Verdict', [badge('verdict', report.verdict), report.pending ? el('span', { className: 'n' }, ' (analysis pending)') : null]);
    item('Checked', shortTime(report.checked) + (report.version ? ' by Sentinel ' + report.version : ''));
    if (patient.PatientName !== undefined) {
      item('Patient', patient.PatientName + (patient.PatientID ? ' (ID ' + patient.PatientID + ')' : ''));
    }
    if (study.ID && level !== 'studies') {
      item('Study', [studyTags.StudyDescription || '', ' ', formatDate(studyTags.StudyDate) || '', ' ',
                     reportLink('studies', study.ID, 'study report')]);
    }
    if (report.instances) {
      item('Instances', Object.keys(report.instances).map(function (k) { return k + ' ' + report.instances[k]; }).join(', '));
    }
    var up = [];
    if (resource.ParentSeries) up.push(reportLink('series', resource.ParentSeries));
    if (resource.ParentStudy && level === 'studies') up.push(reportLink('studies', resource.ParentStudy));
    var explorer = { instances: 'instance', series: 'series', studies: 'study' }[level];
    up.push(el('a', { href: ORTHANC + 'app/explorer.html#' + explorer + '?uuid=' + enc(id), target: '_blank', rel: 'noopener' },
      'in Orthanc Explorer'));
    item('See also', up.map(function (n, i) { return i ? [' · ', n] : n; }));
    if (report.findings_omitted) item('Omitted', report.findings_omitted + ' less severe finding(s)');

    var body = clear($('report-findings'));
    report.findings.slice().sort(function (a, b) {
      return (SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]) || (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0);
    }).forEach(function (f) { body.appendChild(findingRow(f)); });
    if (!report.findings.length) {
      body.appendChild(el('tr', {}, el('td', { colSpan: 5, className: 'hint' },
        report.pending ? 'Not analysed yet.' : 'No finding: every check passed.')));
    }

    var history = clear($('report-history'));
    $('report-history-title').hidden = true;
    var listed = state.alerts.find(function (a) { return a.id === id; });
    // The alert may be outside the current filters: ask for every alert of its study.
    var found = listed ? Promise.resolve(listed) : level === 'studies' || !study.ID ? Promise.resolve(null) :
      getJSON(API + 'alerts?study=' + enc(study.ID) + '&limit=10000').then(function (answer) {
        return answer.alerts.find(function (a) { return a.id === id; }) || null;
      }).catch(function () { return null; });
    found.then(function (alert) {
      if (!alert) return;
      item('Alert', [badge('state', alert.state), alert.history.length ? '' : ' (no action yet)']);
      $('report-history-title').hidden = !alert.history.length;
      alert.history.forEach(function (h, i) {
        history.appendChild(el('li', {}, shortTime(h.at) + ' ' + actor(h) + ': ' + h.from + ' → ' + h.state +
          (h.comment ? ' — ' + h.comment : '')));
        if (i === 0 && alert.history_dropped) {
          history.appendChild(el('li', {}, '… ' + alert.history_dropped + ' later changes not kept (AlertHistoryEntries)'));
        }
      });
    });
    renderPlots(level, id, report);
  }

  var KNOWN = { rule: 1, severity: 1, action: 1, message: 1, tag: 1, instance: 1, series: 1 };

  function findingRow(f) {
    var where = el('td', { className: 'where' });
    if (f.tag) where.appendChild(el('code', {}, f.tag));
    if (f.instance) append(where, [' ', reportLink('instances', f.instance)]);
    if (f.series) append(where, [' ', reportLink('series', f.series)]);
    var details = [];
    Object.keys(f).forEach(function (k) {
      if (KNOWN[k]) return;
      var v = f[k];
      if (k === 'instances' && Array.isArray(v)) {
        details.push(el('span', { className: 'detail' }, v.length + ' instance(s): ',
          v.slice(0, 6).map(function (i, n) { return [n ? ', ' : '', reportLink('instances', i, i.slice(0, 8))]; }),
          v.length > 6 ? ' …' : ''));
      } else {
        details.push(el('span', { className: 'detail' }, k + ' ' + (typeof v === 'object' ? JSON.stringify(v) : String(v))));
      }
    });
    append(where, details);
    return el('tr', { className: 'finding sev-' + f.severity },
      el('td', {}, badge('severity', f.severity), f.action && f.action !== 'label' ? el('div', { className: 'n' }, f.action) : null),
      el('td', {}, el('code', {}, f.rule)),
      el('td', { className: 'explain' }, describe(f.rule)),
      el('td', { className: 'msg' }, f.message),
      where);
  }

  // Plots: the slice-spacing profile of a series; pixel findings' regions on the image; scores.
  function renderPlots(level, id, report) {
    var box = clear($('report-plots'));
    if (level === 'series') spacingProfile(box, id, report);
    var regions = report.findings.filter(function (f) { return Array.isArray(f.bbox) && f.bbox.length === 4; });
    var seen = {};
    regions.filter(function (f) {  // one image per rule, at most 3
      var key = f.rule;
      if (seen[key]) return false;
      seen[key] = true;
      return true;
    }).slice(0, 3).forEach(function (f) {
      var instance = f.instance || (level === 'instances' ? id : null);
      if (instance) regionPlot(box, instance, f);
    });
    var scored = report.findings.filter(function (f) { return typeof f.score === 'number'; });
    if (scored.length) {
      var fig = el('figure', {}, el('figcaption', {}, 'Scores of the findings'));
      barChart(fig, scored.slice(0, 12).map(function (f) {
        return { label: (f.instance ? f.instance.slice(0, 8) + ' ' : '') + (f.frame !== undefined ? 'frame ' + f.frame + ' ' : '') +
                 f.rule.replace(/^[a-z]+\./, ''), value: f.score };
      }));
      box.appendChild(fig);
    }
  }

  function spacingProfile(box, seriesId, report) {
    getJSON(ORTHANC + 'series/' + enc(seriesId) + '/instances').then(function (instances) {
      var slices = [];
      var normal = null;
      instances.forEach(function (i) {
        var t = i.MainDicomTags || {};
        var p = (t.ImagePositionPatient || '').split('\\').map(Number);
        var o = (t.ImageOrientationPatient || '').split('\\').map(Number);
        if (p.length !== 3 || p.some(isNaN)) return;
        if (!normal && o.length === 6 && !o.some(isNaN)) {
          normal = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
        }
        slices.push({ id: i.ID, p: p });
      });
      if (slices.length < 3) return;
      normal = normal || [0, 0, 1];
      slices.forEach(function (s) { s.d = s.p[0] * normal[0] + s.p[1] * normal[1] + s.p[2] * normal[2]; });
      slices.sort(function (a, b) { return a.d - b.d; });
      var flagged = {};
      report.findings.forEach(function (f) {  // the geometry findings: gaps, irregular steps
        if (/^series\.(slice-gap|spacing)/.test(f.rule)) (f.instances || []).forEach(function (i) { flagged[i] = true; });
      });
      var steps = [];
      for (var k = 1; k < slices.length; k++) {
        steps.push({ k: k, value: slices[k].d - slices[k - 1].d,
                     flagged: !!(flagged[slices[k].id] && flagged[slices[k - 1].id]), id: slices[k].id });
      }
      var fig = el('figure', { className: 'spacing' }, el('figcaption', {},
        'Slice-spacing profile: distance between neighbouring slices along the stack (mm); red: slices named by a finding'));
      var W = 640, H = 200, left = 44, bottom = 26, top = 10, right = W - 10;
      var values = steps.map(function (s) { return s.value; });
      var lo = Math.min(0, Math.min.apply(null, values)), hi = Math.max.apply(null, values) || 1;
      var x = function (k) { return left + (right - left) * (k - 1) / Math.max(1, steps.length - 1); };
      var y = function (v) { return H - bottom - (H - bottom - top) * (v - lo) / ((hi - lo) || 1); };
      var chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'class': 'plot' });
      axes(chart, left, top, right, H - bottom, hi);
      chart.appendChild(svg('polyline', { points: steps.map(function (s) { return x(s.k) + ',' + y(s.value); }).join(' '), 'class': 'line' }));
      steps.forEach(function (s) {
        chart.appendChild(svg('circle', { cx: x(s.k), cy: y(s.value), r: s.flagged ? 4 : 2.2, 'class': s.flagged ? 'dot flagged' : 'dot' },
          svg('title', {}, 'slice ' + s.k + ' → ' + (s.k + 1) + ': ' + s.value.toFixed(3) + ' mm')));
      });
      chart.appendChild(svg('text', { x: (left + right) / 2, y: H - 6, 'class': 'tick', 'text-anchor': 'middle' },
        slices.length + ' slices, in order along the stack'));
      fig.appendChild(chart);
      box.insertBefore(fig, box.firstChild);
    }).catch(function () { /* no geometry: no plot */ });
  }

  function regionPlot(box, instanceId, f) {
    var frame = typeof f.frame === 'number' ? f.frame : 0;
    var url = ORTHANC + 'instances/' + enc(instanceId) + '/frames/' + frame + '/preview';
    var image = new Image();
    image.onload = function () {
      var W = image.naturalWidth, H = image.naturalHeight, b = f.bbox;  // [row0, col0, row1, col1]
      var chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'class': 'plot region' },
        svg('image', { href: url, x: 0, y: 0, width: W, height: H }),
        svg('rect', { x: b[1], y: b[0], width: b[3] - b[1], height: b[2] - b[0], 'class': 'bbox' },
          svg('title', {}, f.message)));
      box.appendChild(el('figure', { className: 'region' },
        el('figcaption', {}, f.rule + ', frame ' + frame + ': the region the finding is about'), chart));
    };
    image.src = url;
  }

  // -- Wiring ----------------------------------------------------------------------------------------

  function route() {
    var report = hashParams().get('report');
    var loaded = loadAlerts();
    if (report && /^(instances|series|studies)\/[^/]+$/.test(report)) {
      var parts = report.split('/');
      loaded.then(function () { showReport(parts[0], parts[1]); });
    } else {
      $('report').hidden = true;
    }
    return loaded;
  }

  function start() {
    $('filters').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var form = ev.target, changes = { offset: null };
      FILTER_KEYS.forEach(function (k) { changes[k] = form.elements[k].value.trim() || null; });
      if (!changes.state) changes.state = '';  // "any" stays explicit, unlike the default "open"
      setHash(changes);
    });
    Array.prototype.forEach.call(document.querySelectorAll('#filters select'), function (s) {
      s.addEventListener('change', function () { $('filters').requestSubmit(); });
    });
    $('filters-reset').addEventListener('click', function () { window.location.hash = 'state=open'; });
    $('nav-alerts').addEventListener('click', function (ev) { ev.preventDefault(); setHash({ report: null }); });
    $('report-close').addEventListener('click', function () { setHash({ report: null }); });
    $('page-prev').addEventListener('click', function () { setHash({ offset: Math.max(0, state.offset - PAGE) || null }); });
    $('page-next').addEventListener('click', function () { setHash({ offset: state.offset + PAGE }); });
    window.addEventListener('hashchange', route);
    $('scan-start').addEventListener('click', startScan);
    $('scan-cancel').addEventListener('click', cancelScan);
    loadStatus();
    loadScan();
    setInterval(function () { loadStatus(); loadScan(); }, 5000);
    loadRules().then(route).then(function () { document.body.dataset.ready = '1'; });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
