/**
 * The report page's script, inlined after Chart.js and allowed by its hash in the Content-Security-Policy. It reads
 * the two embedded JSON blocks (report-data, explorer-data), draws the charts that have data, and runs the results
 * explorer. Every piece of data reaches the page through `textContent` or an attribute, never through markup.
 * Plain ES2017 in a string: it runs as written in the browser, with no build step between.
 */
export const REPORT_PAGE_SCRIPT = `
(function () {
  'use strict';
  var report = JSON.parse(document.getElementById('report-data').textContent);
  var explorer = JSON.parse(document.getElementById('explorer-data').textContent);
  var style = getComputedStyle(document.documentElement);
  var color = function (name) { return style.getPropertyValue(name).trim(); };
  var SVG = 'http://www.w3.org/2000/svg';

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function drawCharts() {
    if (typeof Chart === 'undefined') return;
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.color = color('--muted');
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.plugins.legend.labels.usePointStyle = true;
    var counts = report.counts;
    var integerAxis = { beginAtZero: true, ticks: { precision: 0 }, grid: { color: color('--border') } };
    var canvas = function (id) { return document.getElementById(id); };
    if (canvas('chart-outcomes')) {
      new Chart(canvas('chart-outcomes'), {
        type: 'doughnut',
        data: {
          labels: ['Predicted', 'No text', 'Rejected'],
          datasets: [{
            data: [counts.predicted, counts.noText || 0, counts.rejected],
            backgroundColor: [color('--ok'), color('--warn'), color('--bad')],
            borderColor: color('--surface'),
            borderWidth: 2
          }]
        },
        options: { cutout: '60%', plugins: { legend: { position: 'bottom' } } }
      });
    }
    var reasons = Object.keys(counts.rejectedByReason);
    if (canvas('chart-reasons')) {
      new Chart(canvas('chart-reasons'), {
        type: 'bar',
        data: {
          labels: reasons,
          datasets: [{
            label: 'Rejected objects',
            data: reasons.map(function (reason) { return counts.rejectedByReason[reason]; }),
            backgroundColor: color('--warn'),
            borderRadius: 4,
            maxBarThickness: 28
          }]
        },
        options: {
          indexAxis: 'y',
          plugins: { legend: { display: false } },
          scales: { x: integerAxis, y: { grid: { display: false } } }
        }
      });
    }
    var histogram = report.confidence.histogram;
    if (canvas('chart-confidence')) {
      new Chart(canvas('chart-confidence'), {
        type: 'bar',
        data: {
          labels: histogram.map(function (bucket) { return bucket.from.toFixed(1) + '–' + bucket.to.toFixed(1); }),
          datasets: [{
            label: 'Predictions',
            data: histogram.map(function (bucket) { return bucket.count; }),
            backgroundColor: color('--accent'),
            borderRadius: 4,
            categoryPercentage: 0.9,
            barPercentage: 0.95
          }]
        },
        options: {
          plugins: { legend: { display: false } },
          scales: { y: integerAxis, x: { grid: { display: false }, title: { display: true, text: 'confidence' } } }
        }
      });
    }
  }

  // A key too long for its box loses its middle, never its end; the whole key is the tooltip.
  function keyLabel(key) {
    var box = el('span', 'key-trunc');
    box.title = key;
    var tail = Math.min(18, Math.floor(key.length / 2));
    box.appendChild(el('span', 'key-head', key.slice(0, key.length - tail)));
    box.appendChild(el('span', 'key-tail', key.slice(key.length - tail)));
    return box;
  }

  // Characters of a and b outside their longest common subsequence (Myers-free LCS; texts are clipped short).
  function differing(a, b) {
    var n = a.length, m = b.length;
    var outA = new Array(n).fill(true), outB = new Array(m).fill(true);
    if (n * m > 250000) return { a: outA.fill(false), b: outB.fill(false) };
    var table = [];
    for (var i = 0; i <= n; i++) table.push(new Int32Array(m + 1));
    for (i = n - 1; i >= 0; i--) {
      for (var j = m - 1; j >= 0; j--) {
        table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    i = 0; j = 0;
    while (i < n && j < m) {
      if (a[i] === b[j]) { outA[i] = false; outB[j] = false; i++; j++; }
      else if (table[i + 1][j] >= table[i][j + 1]) i++;
      else j++;
    }
    return { a: outA, b: outB };
  }

  function highlighted(className, label, text, marks) {
    var p = el('p', className);
    if (label) p.appendChild(document.createTextNode(label));
    var run = '', marked = false;
    var flush = function () {
      if (!run) return;
      p.appendChild(marked ? el('mark', 'diff', run) : document.createTextNode(run));
      run = '';
    };
    for (var i = 0; i < text.length; i++) {
      var m = !!(marks && marks[i]);
      if (m !== marked) { flush(); marked = m; }
      run += text[i];
    }
    flush();
    return p;
  }

  // The image with every line's box drawn in the original image's pixel space, scaled with the picture.
  function picture(row, width) {
    var frame = el('span', 'thumb');
    var size = row.image;
    var ratio = size ? size.width / size.height : 1;
    frame.style.width = 'min(100%, ' + Math.round(Math.min(width, width * ratio)) + 'px)';
    if (row.thumbnail) {
      var img = el('img');
      img.alt = '';
      img.src = row.thumbnail;
      frame.appendChild(img);
    } else {
      var none = el('span', 'no-image', row.outcome === 'REJECTED' ? 'no image' : 'no thumbnail');
      frame.appendChild(none);
      frame.style.aspectRatio = String(ratio);
    }
    if (size && row.lines && row.lines.length) {
      var svg = document.createElementNS(SVG, 'svg');
      svg.setAttribute('viewBox', '0 0 ' + size.width + ' ' + size.height);
      svg.setAttribute('preserveAspectRatio', 'none');
      svg.setAttribute('aria-hidden', 'true');
      row.lines.forEach(function (line, index) {
        if (!line.box || !line.box.length) return;
        var polygon = document.createElementNS(SVG, 'polygon');
        polygon.setAttribute('points', line.box.map(function (p) { return p[0] + ',' + p[1]; }).join(' '));
        polygon.setAttribute('data-line', String(index));
        var title = document.createElementNS(SVG, 'title');
        title.textContent = line.text + ' (' + line.confidence.toFixed(3) + ')';
        polygon.appendChild(title);
        svg.appendChild(polygon);
      });
      frame.appendChild(svg);
    }
    return frame;
  }

  function details(row, body) {
    var meta = el('div', 'result-meta');
    meta.appendChild(el('span', 'badge ' + row.outcome, row.outcome));
    if (row.match === false) meta.appendChild(el('span', 'badge mismatch', 'mismatch'));
    if (typeof row.confidence === 'number') meta.appendChild(el('span', 'confidence', 'confidence ' + row.confidence.toFixed(3)));
    body.appendChild(meta);
    if (row.outcome === 'REJECTED') {
      body.appendChild(el('p', 'read', row.reason));
      body.appendChild(el('p', 'expected', row.message));
      return;
    }
    var read = row.outcome === 'NO_TEXT' ? '' : (row.text || '');
    var marks = row.expected !== undefined && row.match === false ? differing(read, row.expected) : null;
    if (row.outcome === 'NO_TEXT') body.appendChild(el('p', 'read empty', 'No text was found.'));
    else body.appendChild(highlighted('read', '', read, marks && marks.a));
    if (row.expected !== undefined) body.appendChild(highlighted('expected', 'expected: ', row.expected, marks && marks.b));
  }

  function card(row, index) {
    var item = el('li', 'result');
    item.setAttribute('data-key', row.key);
    item.setAttribute('data-outcome', row.outcome);
    var open = el('button', 'result-open');
    open.type = 'button';
    open.setAttribute('aria-label', 'Open ' + row.key);
    open.appendChild(picture(row, 120));
    open.addEventListener('click', function () { view(index); });
    item.appendChild(open);
    var body = el('div', 'result-body');
    body.appendChild(keyLabel(row.key));
    details(row, body);
    item.appendChild(body);
    return item;
  }

  var dialog = document.getElementById('explorer-dialog');
  function view(index) {
    var row = explorer.rows[index];
    var content = document.getElementById('explorer-dialog-content');
    content.textContent = '';
    var head = el('div', 'viewer-head');
    head.appendChild(keyLabel(row.key));
    content.appendChild(head);
    content.appendChild(picture(row, 600));
    var body = el('div', 'result-body');
    details(row, body);
    content.appendChild(body);
    if (row.lines && row.lines.length) {
      var list = el('ol', 'viewer-lines');
      row.lines.forEach(function (line) {
        list.appendChild(el('li', '', line.text + '  (' + line.confidence.toFixed(3) + ')'));
      });
      content.appendChild(list);
    }
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
  }
  document.getElementById('explorer-close').addEventListener('click', function () { dialog.close(); });
  dialog.addEventListener('click', function (event) { if (event.target === dialog) dialog.close(); });

  var FILTERS = {
    all: function () { return true; },
    mismatch: function (row) { return row.match === false; },
    rejected: function (row) { return row.outcome === 'REJECTED'; },
    'lowest-confidence': function (row) { return row.why.indexOf('lowest-confidence') >= 0; },
    'no-text': function (row) { return row.outcome === 'NO_TEXT'; }
  };
  var state = { filter: 'all', search: '', sort: 'key' };
  var list = document.getElementById('explorer-results');
  var shownCount = document.getElementById('explorer-count');
  var buttons = Array.prototype.slice.call(document.querySelectorAll('#explorer [data-filter]'));
  buttons.forEach(function (button) {
    var name = button.getAttribute('data-filter');
    button.querySelector('.n').textContent = String(explorer.rows.filter(FILTERS[name]).length);
    button.addEventListener('click', function () { state.filter = name; render(); });
  });
  document.getElementById('explorer-search').addEventListener('input', function (event) {
    state.search = event.target.value.trim().toLowerCase();
    render();
  });
  document.getElementById('explorer-sort').addEventListener('change', function (event) {
    state.sort = event.target.value;
    render();
  });

  function searchable(row) {
    return [row.key, row.text, row.expected, row.reason, row.message].filter(Boolean).join('\\n').toLowerCase();
  }
  function confidenceOrder(direction) {
    return function (a, b) {
      var x = typeof a.row.confidence === 'number' ? a.row.confidence : null;
      var y = typeof b.row.confidence === 'number' ? b.row.confidence : null;
      if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1;
      return direction * (x - y);
    };
  }

  function render() {
    buttons.forEach(function (button) {
      button.setAttribute('aria-pressed', String(button.getAttribute('data-filter') === state.filter));
    });
    var shown = explorer.rows
      .map(function (row, index) { return { row: row, index: index }; })
      .filter(function (entry) {
        return FILTERS[state.filter](entry.row) && (!state.search || searchable(entry.row).indexOf(state.search) >= 0);
      });
    if (state.sort === 'confidence-asc') shown.sort(confidenceOrder(1));
    if (state.sort === 'confidence-desc') shown.sort(confidenceOrder(-1));
    list.textContent = '';
    var fragment = document.createDocumentFragment();
    shown.forEach(function (entry) { fragment.appendChild(card(entry.row, entry.index)); });
    list.appendChild(fragment);
    shownCount.textContent = shown.length === 0
      ? 'No embedded object matches. Every object is in predictions.csv.'
      : shown.length + ' of the ' + explorer.rows.length + ' embedded objects match.';
  }

  drawCharts();
  render();
  document.documentElement.setAttribute('data-charts', 'ready');
})();
`;
