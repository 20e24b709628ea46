/**
 * The report stage: reconciles the run's rows with its input objects, writes predictions.csv, report.json and
 * report.html under the run's report prefix, and finalises the run record.
 */
import pLimit from 'p-limit';
import { describeError, PipelineStateError } from '../../shared/errors.ts';
import { runLayout } from '../../shared/layout.ts';
import type { Log } from '../../shared/logging.ts';
import type { Clock, ObjectStore, PredictionStore, RunStore } from '../../shared/ports.ts';
import type { PartStats, ReportFiles, RunCounts, RunRecord } from '../../shared/records.ts';
import { formatS3Uri, type S3Location } from '../../shared/s3-location.ts';
import type { ReportEvent, ReportResult } from '../../shared/stage-events.ts';
import {
  THUMBNAIL_CONTENT_TYPE,
  ThumbnailPackSchema,
  thumbnailName,
  thumbnailPackKey,
} from '../../shared/thumbnails.ts';
import { loadChartJsSource } from './chart-script.ts';
import { type ExplorerData, type ExplorerRow, ExplorerSelection } from './explorer-selection.ts';
import { OutcomeTally } from './outcome-tally.ts';
import { mergePartStats } from './part-statistics.ts';
import { predictionsCsv } from './predictions-csv.ts';
import { renderReportHtml } from './report-html.ts';
import { type MapRunResults, readMapRunResults } from './result-writer.ts';
import { diffRuns, type RunDiff } from './run-diff.ts';
import { buildRunReport, type RunReport } from './run-report.ts';
import { stageTimings } from './stage-timings.ts';
import { recordUnprocessedItems } from './unprocessed-items.ts';

export interface ReportDeps {
  readonly objects: ObjectStore;
  readonly runs: RunStore;
  readonly predictions: PredictionStore;
  readonly clock: Clock;
  readonly log: Log;
  /**
   * The Chart.js UMD build's source, inlined into report.html.
   * @default - read from the installed chart.js package (see {@link loadChartJsSource})
   */
  readonly chartJs?: string;
}

/** Changed objects the report lists when comparing with the previous run; the count covers all. */
export const MAX_REPORTED_CHANGES = 50;

/** Where the report files of a run go. */
export function reportLocations(runId: string, pipelineBucket: string): Record<keyof ReportFiles, S3Location> {
  const prefix = runLayout.report(runId);
  return {
    json: { bucket: pipelineBucket, key: `${prefix}report.json` },
    csv: { bucket: pipelineBucket, key: `${prefix}predictions.csv` },
    html: { bucket: pipelineBucket, key: `${prefix}report.html` },
  };
}

/**
 * Writes the run's report and marks the run SUCCEEDED. Safe to repeat: a second report of the same run finds
 * every item with its row and writes the same files.
 */
export async function runReport(input: ReportEvent, deps: ReportDeps): Promise<ReportResult> {
  const { runId, pipelineBucket } = input;
  const startedAt = deps.clock.now();
  const run = await loadRun(deps.runs, runId);
  const items = run.counts?.items;
  if (items === undefined) {
    throw new PipelineStateError(
      `run "${runId}" has no item count; the plan stage sets counts.items when it plans the run`,
    );
  }

  const mapRun = input.aggregateResults
    ? await readMapRunResults(deps.objects, {
        bucket: input.aggregateResults.bucket,
        key: input.aggregateResults.manifestKey,
      })
    : undefined;
  const statistics = mergePartStats(partsOf(input.parts, mapRun));

  const locations = reportLocations(runId, pipelineBucket);
  let { tally, selection } = await writePredictionsCsv(deps, runId, locations.csv);
  if (tally.rows < items) {
    deps.log.warn('fewer rows than input objects; recording the missing ones as NOT_PROCESSED', {
      rows: tally.rows,
      items,
    });
    const recorded = await recordUnprocessedItems(deps, { runId, pipelineBucket });
    if (recorded > 0) ({ tally, selection } = await writePredictionsCsv(deps, runId, locations.csv));
  }
  assertReconciled(runId, tally, items);

  const counts: RunCounts = {
    items,
    predicted: tally.predicted,
    noText: tally.noText,
    rejected: tally.rejected,
    rejectedByReason: tally.rejectedByReason(),
  };
  if (statistics.predicted !== counts.predicted) {
    deps.log.warn('the aggregate statistics cover a different number of predictions than the table holds', {
      statisticsPredicted: statistics.predicted,
      rowsPredicted: counts.predicted,
    });
  }

  const explorer = selection.finish();
  await attachThumbnails(deps, pipelineBucket, runId, explorer.rows);
  const comparison = await compareWithPreviousRun(deps, run);

  const finishedAt = deps.clock.now();
  const timings = stageTimings(
    { report: { startedAt: startedAt.toISOString() }, ...(input.stageTimes ?? {}) },
    finishedAt,
  );
  const files: ReportFiles = {
    json: formatS3Uri(locations.json),
    csv: formatS3Uri(locations.csv),
    html: formatS3Uri(locations.html),
  };
  const report = buildRunReport({
    run,
    counts,
    statistics,
    ...(mapRun ? { mapRun } : {}),
    stageTimes: timings,
    sampleRejections: tally.sampleRejections(),
    ...(comparison ? { comparison } : {}),
    explorer: { shown: explorer.rows.length, of: explorer.totalRows, caps: explorer.caps },
    files,
    generatedAt: finishedAt,
  });
  await writeReportFiles(deps, report, explorer, locations);

  await deps.runs.update(runId, {
    status: 'SUCCEEDED',
    counts,
    finishedAt: finishedAt.toISOString(),
    report: files,
    timings: { ...(run.timings ?? {}), ...timings },
  });
  deps.log.info('report written', { ...counts, report: files.html });
  await deleteTransformInput(deps, pipelineBucket, runId);
  return { runId, status: 'SUCCEEDED', counts, report: files };
}

async function loadRun(runs: RunStore, runId: string): Promise<RunRecord> {
  const run = await runs.get(runId);
  if (!run) {
    throw new PipelineStateError(
      `run "${runId}" has no run record; the plan stage creates it, so the report can only follow a planned run`,
    );
  }
  return run;
}

function partsOf(inline: readonly PartStats[] | undefined, mapRun: MapRunResults | undefined): PartStats[] {
  return [...(inline ?? []), ...(mapRun?.parts ?? [])];
}

/** Streams every row of the run once into predictions.csv, counting and choosing the page's rows as it goes. */
async function writePredictionsCsv(
  deps: ReportDeps,
  runId: string,
  location: S3Location,
): Promise<{ tally: OutcomeTally; selection: ExplorerSelection }> {
  const tally = new OutcomeTally();
  const selection = new ExplorerSelection(runId);
  await deps.objects.putStream(
    location,
    predictionsCsv(deps.predictions.list(runId), (row) => {
      tally.add(row);
      selection.add(row);
    }),
    'text/csv; charset=utf-8',
  );
  return { tally, selection };
}

/** Thumbnail packs the report reads at once: each is one batch's thumbnails, about 0.7 MB at 200 images. */
const THUMBNAIL_PACK_READS = 8;

/**
 * Embeds each shown row's thumbnail (written by preprocess, one pack per part) as a data URI, so the page needs no
 * request. The shown rows are grouped by part and each pack is read once. Rejections carry no part and get none;
 * a missing or unreadable pack, or a thumbnail missing from it, leaves the row without a picture.
 */
async function attachThumbnails(
  deps: Pick<ReportDeps, 'objects' | 'log'>,
  pipelineBucket: string,
  runId: string,
  rows: ExplorerRow[],
): Promise<void> {
  const byPart = new Map<string, ExplorerRow[]>();
  for (const row of rows) {
    if (row.part === undefined || row.bucket === undefined) continue;
    const partRows = byPart.get(row.part) ?? [];
    partRows.push(row);
    byPart.set(row.part, partRows);
  }
  const limit = pLimit(THUMBNAIL_PACK_READS);
  await Promise.all(
    [...byPart].map(([part, partRows]) =>
      limit(async () => {
        const location = { bucket: pipelineBucket, key: thumbnailPackKey(runId, part) };
        const bytes = await deps.objects.get(location);
        if (bytes === undefined) return;
        const pack = ThumbnailPackSchema.safeParse(parseJson(bytes));
        if (!pack.success) {
          deps.log.warn('a thumbnail pack is not a JSON object of base64 strings; its rows show no picture', {
            pack: formatS3Uri(location),
          });
          return;
        }
        for (const row of partRows) {
          const webp = pack.data[thumbnailName(row.bucket ?? '', row.key)];
          if (webp !== undefined) row.thumbnail = `data:${THUMBNAIL_CONTENT_TYPE};base64,${webp}`;
        }
      }),
    ),
  );
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Deletes the run's transform input parts (the base64 model inputs, about 79 KB per image) once the run has
 * SUCCEEDED: only Batch Transform reads them, and a succeeded run is never redriven, so keeping them for the run
 * data's retention would only cost storage ($1.82 per million images over 30 days, docs/cost.md). A failed run
 * keeps them, for its redrive. Every version goes: the pipeline bucket is versioned, and a plain delete would keep
 * the data as a noncurrent version for the `old-versions` lifecycle rule's 7 days. The index, the output, the
 * thumbnails and the report stay. A failed delete leaves the run SUCCEEDED (the bucket's lifecycle rule removes the
 * parts with the rest of the run data): it is logged.
 */
async function deleteTransformInput(
  deps: Pick<ReportDeps, 'objects' | 'log'>,
  pipelineBucket: string,
  runId: string,
): Promise<void> {
  const prefix = { bucket: pipelineBucket, key: runLayout.transformInput(runId) };
  try {
    const deleted = await deps.objects.deletePrefix(prefix, { allVersions: true });
    deps.log.info('deleted the transform input of the succeeded run', { parts: deleted });
  } catch (error) {
    deps.log.warn('could not delete the transform input of the succeeded run; the lifecycle rule will', {
      prefix: formatS3Uri(prefix),
      error: describeError(error),
    });
  }
}

/** The run compared with the previous SUCCEEDED run of the same dataset, when there is one. */
async function compareWithPreviousRun(deps: ReportDeps, run: RunRecord): Promise<RunDiff | undefined> {
  const previous = await deps.runs.previousRun(run);
  if (!previous) return undefined;
  return diffRuns(deps.predictions, previous.runId, run.runId, { maxChanges: MAX_REPORTED_CHANGES });
}

/** The reconciliation invariant: every input object has exactly one row, items = predicted + noText + rejected. */
function assertReconciled(runId: string, tally: OutcomeTally, items: number): void {
  if (tally.rows > items) {
    throw new PipelineStateError(
      `run "${runId}" has ${tally.rows} rows (${tally.predicted} predicted, ${tally.noText} with no text, ` +
        `${tally.rejected} rejected) for ${items} ` +
        'input objects: some stage wrote rows for objects the plan did not list',
      { details: { rows: tally.rows, items } },
    );
  }
  if (tally.rows < items) {
    throw new PipelineStateError(
      `run "${runId}" has ${tally.rows} rows for ${items} input objects although every item of the plan's item ` +
        "parts has one: the plan's rejection rows are missing",
      { details: { rows: tally.rows, items } },
    );
  }
}

async function writeReportFiles(
  deps: ReportDeps,
  report: RunReport,
  explorer: ExplorerData,
  locations: Record<keyof ReportFiles, S3Location>,
): Promise<void> {
  const chartJs = deps.chartJs ?? (await loadChartJsSource());
  await deps.objects.put(locations.json, `${JSON.stringify(report, null, 2)}\n`, 'application/json');
  await deps.objects.put(locations.html, renderReportHtml(report, chartJs, explorer), 'text/html; charset=utf-8');
}
