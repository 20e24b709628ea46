/**
 * The run's estimated AWS cost in the report: shared/cost-model.ts applied to the run's counts, settings and Batch
 * Transform time, split by service with the GPU share (docs/cost.md explains the model and its sources).
 */
import { z } from 'zod';
import { COST_SERVICES, estimateCost, formatUsd, runCostInput } from '../../shared/cost-model.ts';
import type { RunCounts, RunRecord } from '../../shared/records.ts';
import { html, type SafeHtml } from './html-template.ts';
import type { StageTiming } from './stage-timings.ts';

export const ReportCostSchema = z.strictObject({
  /** Always an estimate: list prices and the model's assumptions, not the bill. */
  estimate: z.literal(true),
  totalUsd: z.number().min(0),
  gpuUsd: z.number().min(0),
  gpuShare: z.number().min(0).max(1),
  byService: z.array(z.strictObject({ service: z.enum(COST_SERVICES), usd: z.number().min(0) })),
  lines: z.array(
    z.strictObject({ service: z.enum(COST_SERVICES), item: z.string(), detail: z.string(), usd: z.number().min(0) }),
  ),
  notes: z.array(z.string()),
});
export type ReportCost = z.infer<typeof ReportCostSchema>;

/** The estimate for a finished run: its GPU time is the transform stage's time (none recorded: none counted). */
export function reportCost(run: RunRecord, counts: RunCounts, stageTimes: Record<string, StageTiming>): ReportCost {
  const transform = stageTimes.transform ?? run.timings?.transform;
  const estimate = estimateCost(runCostInput(run.settings, counts, { seconds: transform?.seconds ?? 0 }));
  const notes = [...(transform ? [] : ['no transform time was recorded: no GPU time is counted']), ...estimate.notes];
  return {
    estimate: true,
    totalUsd: estimate.totalUsd,
    gpuUsd: estimate.gpuUsd,
    gpuShare: estimate.gpuShare,
    byService: estimate.byService.map(({ service, usd }) => ({ service, usd })),
    lines: estimate.lines.map((line) => ({ ...line })),
    notes,
  };
}

/** The "Estimated cost" card: one row per service, its lines in the row's detail, and the GPU share. */
export function renderCostSection(cost: ReportCost | undefined): SafeHtml {
  if (!cost) return html``;
  const rows = cost.byService.map(({ service, usd }) => {
    const lines = cost.lines.filter((line) => line.service === service);
    const detail = lines.map((line) => `${line.item} ${formatUsd(line.usd)}: ${line.detail}`).join('; ');
    const share = cost.totalUsd > 0 ? usd / cost.totalUsd : 0;
    return html`<tr><th scope="row">${service}</th><td class="num">${formatUsd(usd)}</td><td class="num share">${percentOf(share)}</td><td class="hint">${detail}</td></tr>\n`;
  });
  return html`<section class="card" id="cost" aria-label="Estimated cost">
<h2>Estimated cost</h2>
<p class="hint">About ${formatUsd(cost.totalUsd)} on AWS at us-east-1 list prices, ${percentOf(cost.gpuShare)} of it GPU time (Batch Transform). An estimate from the run's counts and settings (docs/cost.md), not the bill.</p>
<div class="table-scroll">
<table class="table">
<thead><tr><th scope="col">Service</th><th scope="col" class="num">Cost</th><th scope="col" class="num">Share</th><th scope="col">Lines</th></tr></thead>
<tbody>
${rows}</tbody>
</table>
</div>
${cost.notes.map((note) => html`<p class="hint">${note}</p>`)}
</section>`;
}

function percentOf(share: number): string {
  if (share > 0 && share < 0.01) return '<1%';
  return `${Math.round(share * 100)}%`;
}
