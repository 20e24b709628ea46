import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceError } from '../../shared/errors.ts';

/** File name of the Chart.js UMD build, in the package's `dist/` and, in a Lambda bundle, beside the handler. */
export const CHART_JS_FILE = 'chart.umd.js';

/**
 * Where the Chart.js UMD build may lie, most specific first:
 * 1. beside this module: a Lambda bundle (esbuild) has no node_modules, so the stack copies the file next to the
 *    bundled handler (`commandHooks.afterBundling`);
 * 2. in the installed `chart.js` package. Its `exports` map does not list `dist/chart.umd.js`, so the path is found
 *    from the package's CommonJS entry point, which lies in the same `dist/` folder.
 */
export function chartJsCandidates(moduleUrl: string = import.meta.url): string[] {
  const candidates = [join(dirname(fileURLToPath(moduleUrl)), CHART_JS_FILE)];
  try {
    candidates.push(join(dirname(createRequire(moduleUrl).resolve('chart.js')), CHART_JS_FILE));
  } catch {
    // Not installed (a bundle): only the first candidate can hold it.
  }
  return candidates;
}

/** The Chart.js UMD source, inlined into report.html so the page needs no network. */
export async function loadChartJsSource(candidates: readonly string[] = chartJsCandidates()): Promise<string> {
  for (const path of candidates) {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  // A deployment fault, not broken run data: the state machine leaves ServiceError uncaught, so the run fails at
  // the report step and a redrive after the redeploy resumes there.
  throw new ServiceError(
    `Chart.js (${CHART_JS_FILE}) was not found in ${candidates.join(' or ')}; install the chart.js package, or copy ` +
      `node_modules/chart.js/dist/${CHART_JS_FILE} beside the bundled report handler`,
  );
}
