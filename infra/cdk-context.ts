import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The feature flags of cdk.json, so that tests and the local runtime synthesize exactly what `cdk synth` and
 * `cdk deploy` do (one place to change a flag).
 */
export function cdkJsonContext(): Record<string, unknown> {
  const file = fileURLToPath(new URL('../cdk.json', import.meta.url));
  return (JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
}
