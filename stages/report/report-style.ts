/** The report page's style sheet, inlined and allowed by its hash in the Content-Security-Policy. */
export const REPORT_STYLE = `
:root {
  --bg: #f5f6f8; --surface: #ffffff; --text: #1d2330; --muted: #5d6677; --border: #e1e4ea;
  --accent: #3867d6; --ok: #2e9d6b; --bad: #d6514a; --warn: #e09a2b; --notice: #fff7e6; --notice-border: #f0c36d;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
.wrap { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
code { font-family: var(--mono); font-size: 0.9em; }
h1, h2, h3 { margin: 0; line-height: 1.25; }
h2 { font-size: 1.05rem; }
h3 { font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); margin: 16px 0 8px; }
a { color: var(--accent); }
.page-header { background: #1f2a44; color: #fff; padding: 28px 0 24px; margin-bottom: 24px; }
.eyebrow { margin: 0 0 6px; font-size: 0.8rem; letter-spacing: 0.08em; text-transform: uppercase; color: #aab6d3; }
.title-row { display: flex; align-items: center; gap: 14px; flex-wrap: wrap; }
.title-row h1 { font-size: 1.7rem; word-break: break-all; }
.status { font-size: 0.75rem; font-weight: 600; letter-spacing: 0.05em; text-transform: uppercase; padding: 3px 10px;
  border-radius: 999px; background: #d9f2e6; color: #17603f; }
.meta { display: flex; flex-wrap: wrap; gap: 8px 32px; margin: 16px 0 0; }
.meta div { min-width: 0; }
.meta dt { font-size: 0.75rem; color: #aab6d3; text-transform: uppercase; letter-spacing: 0.06em; }
.meta dd { margin: 2px 0 0; word-break: break-all; }
.meta code { color: #fff; }
.notice { background: var(--notice); border: 1px solid var(--notice-border); border-radius: 10px; padding: 12px 16px;
  margin-bottom: 16px; }
.notice ul { margin: 8px 0 0; padding-left: 20px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(190px, 100%), 1fr)); gap: 16px; margin-bottom: 24px; }
.kpi { background: var(--surface); border: 1px solid var(--border); border-radius: 12px; padding: 16px 18px;
  display: flex; flex-direction: column; gap: 2px; border-top: 4px solid var(--accent); }
.kpi.tone-ok { border-top-color: var(--ok); }
.kpi.tone-bad { border-top-color: var(--bad); }
.kpi-label { font-size: 0.8rem; color: var(--muted); text-transform: uppercase; letter-spacing: 0.05em; }
.kpi-value { font-size: 1.9rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.kpi-sub { font-size: 0.85rem; color: var(--muted); }
.grid { display: grid; gap: 16px; margin-bottom: 24px; }
.grid.charts { grid-template-columns: repeat(auto-fit, minmax(min(320px, 100%), 1fr)); }
.grid.two { grid-template-columns: repeat(auto-fit, minmax(min(420px, 100%), 1fr)); align-items: start; }
.card { background: var(--surface); border: 1px solid var(--border); border-radius: 12px; padding: 18px 20px;
  margin: 0 0 24px; min-width: 0; }
.grid > .card { margin: 0; }
.chart-card figcaption { margin-bottom: 10px; }
.hint { margin: 4px 0 12px; color: var(--muted); font-size: 0.88rem; }
.chart-card .hint { margin-bottom: 0; }
.chart { position: relative; height: 260px; }
.table { width: 100%; border-collapse: collapse; font-size: 0.92rem; }
.table th, .table td { text-align: left; padding: 8px 10px; border-bottom: 1px solid var(--border); vertical-align: top; }
.table thead th { font-size: 0.75rem; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted);
  font-weight: 600; }
.table tbody tr:last-child th, .table tbody tr:last-child td { border-bottom: none; }
.table .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.table .share { color: var(--muted); }
.counts .total-row th, .counts .total-row td { font-weight: 650; }
.counts .reason-row th { padding-left: 28px; font-weight: normal; }
.table-scroll { overflow-x: auto; }
.rejections .key { max-width: 420px; }
.rejections { table-layout: fixed; }
.rejections th:nth-child(1) { width: 45%; }
.rejections th:nth-child(2) { width: 9rem; }
.rejections .message { overflow-wrap: anywhere; }
.rejections .message { color: var(--muted); }
.reason { display: inline-block; font-family: var(--mono); font-size: 0.78rem; padding: 2px 8px; border-radius: 6px;
  background: #fdecea; color: #9c2f29; white-space: nowrap; }
.empty { color: var(--muted); font-style: italic; }
.models { margin: 8px 0 0; padding-left: 18px; }
.settings { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(180px, 100%), 1fr)); gap: 6px 16px; margin: 0; }
.settings dt { font-size: 0.78rem; color: var(--muted); }
.settings dd { margin: 0; font-family: var(--mono); font-size: 0.88rem; }
.footer { color: var(--muted); font-size: 0.85rem; padding-bottom: 32px; }
.footer p { margin: 4px 0; }
/* Middle truncation: the head shrinks with an ellipsis, the tail (the file name's end) stays whole. */
.key-trunc { display: flex; min-width: 0; max-width: 100%; font-family: var(--mono); font-size: 0.86rem; }
.key-head { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; flex: 0 1 auto; min-width: 1ch; }
.key-tail { white-space: pre; flex: 0 0 auto; }
.chart-empty { display: flex; align-items: center; justify-content: center; height: 260px; text-align: center; }
.explorer-controls { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: center; margin-bottom: 8px; }
.filters { display: flex; flex-wrap: wrap; gap: 6px; }
.filter { font: inherit; font-size: 0.85rem; padding: 4px 10px; border-radius: 999px; border: 1px solid var(--border);
  background: var(--surface); color: var(--text); cursor: pointer; }
.filter[aria-pressed="true"] { background: var(--accent); border-color: var(--accent); color: #fff; }
.filter .n { opacity: 0.75; font-variant-numeric: tabular-nums; }
.explorer-controls input, .explorer-controls select { font: inherit; font-size: 0.9rem; padding: 5px 8px;
  border: 1px solid var(--border); border-radius: 8px; background: var(--surface); color: var(--text); max-width: 100%; }
.explorer-controls input { flex: 1 1 12rem; min-width: 0; }
.results { list-style: none; margin: 0; padding: 0; display: grid; gap: 12px;
  grid-template-columns: repeat(auto-fill, minmax(min(340px, 100%), 1fr)); }
.result { display: flex; gap: 12px; border: 1px solid var(--border); border-radius: 10px; padding: 10px; min-width: 0; }
.result-open { flex: 0 0 120px; padding: 0; border: 0; background: none; cursor: zoom-in; align-self: flex-start; }
.thumb { position: relative; display: block; max-width: 100%; background: #eef0f4; border-radius: 6px; overflow: hidden; }
.thumb img { display: block; width: 100%; height: auto; }
.thumb .no-image { display: flex; align-items: center; justify-content: center; width: 100%; height: 100%;
  min-height: 60px; color: var(--muted); font-size: 0.75rem; }
.thumb svg { position: absolute; inset: 0; width: 100%; height: 100%; }
.thumb polygon { fill: rgba(56, 103, 214, 0.12); stroke: #3867d6; stroke-width: 2; vector-effect: non-scaling-stroke; }
.result-body { flex: 1 1 auto; min-width: 0; display: flex; flex-direction: column; gap: 4px; font-size: 0.9rem; }
.result-meta { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.badge { font-family: var(--mono); font-size: 0.72rem; padding: 1px 7px; border-radius: 6px; background: #e4ecfb;
  color: #244a9e; }
.badge.REJECTED { background: #fdecea; color: #9c2f29; }
.badge.NO_TEXT { background: #fff1d6; color: #7a5210; }
.badge.mismatch { background: #fdecea; color: #9c2f29; }
.confidence { font-variant-numeric: tabular-nums; color: var(--muted); font-size: 0.82rem; }
.read, .expected, .why { margin: 0; overflow-wrap: anywhere; }
.expected, .why { color: var(--muted); font-size: 0.85rem; }
mark.diff { background: #ffd9d6; color: inherit; border-radius: 2px; }
.expected mark.diff { background: #d7f0e2; }
.more { margin-top: 12px; }
dialog.viewer { border: 0; border-radius: 12px; padding: 16px; width: min(760px, calc(100vw - 24px));
  max-height: calc(100vh - 24px); }
dialog.viewer::backdrop { background: rgba(20, 25, 40, 0.6); }
.viewer-head { display: flex; gap: 12px; align-items: center; margin-bottom: 10px; }
.viewer-head .key-trunc { flex: 1 1 auto; }
.viewer .thumb { margin: 0 auto 12px; }
.viewer-lines { margin: 0; padding-left: 20px; font-size: 0.9rem; }
.compare .num { text-align: right; }
.delta-up { color: var(--ok); }
.delta-down { color: var(--bad); }
@media (max-width: 480px) {
  .wrap { padding: 0 12px; }
  .card { padding: 14px 12px; }
  .result-open { flex-basis: 88px; }
  .title-row h1 { font-size: 1.3rem; }
}
@media print {
  body { background: #fff; }
  .page-header { background: #fff; color: var(--text); border-bottom: 2px solid var(--text); }
  .eyebrow, .meta dt, .meta code { color: var(--muted); }
  .card, .kpi { break-inside: avoid; }
}
`;
