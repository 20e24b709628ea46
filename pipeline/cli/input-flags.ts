/**
 * The `start` options that set execution-input settings, derived from the schema (shared/execution-input.ts): each
 * field's `.meta({ flag, placeholder, description })` names the option, and its bounds, choices and default come
 * from the field itself, so a new setting needs no second entry here.
 */
import { z } from 'zod';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import { UsageError } from '../run-backend/failures.ts';
import { type OptionSpec, type OptionSpecs, type ParsedArgs, stringOption } from './command-line.ts';

const SECTIONS = { preprocess: PreprocessSettingsSchema, transform: TransformSettingsSchema } as const;
type Section = keyof typeof SECTIONS;

/** One option that sets one field of a settings section. */
export interface InputFlag {
  /** Without the dashes: `batch-size`. */
  readonly flag: string;
  readonly section: Section;
  readonly field: string;
  /** Numbers are converted before validation, so `--batch-size ten` says "must be a number". */
  readonly numeric: boolean;
  readonly option: OptionSpec;
}

/** Every field of the settings sections that names a flag in its metadata, in schema order. */
export const INPUT_FLAGS: readonly InputFlag[] = (Object.keys(SECTIONS) as Section[]).flatMap((section) => {
  const schema = SECTIONS[section];
  const defaults: Record<string, unknown> = schema.parse({});
  return Object.entries(schema.shape).flatMap(([field, fieldSchema]): InputFlag[] => {
    const meta = fieldSchema.meta();
    if (!meta?.flag) return [];
    const inner = fieldSchema.unwrap();
    const details = [...choicesOrRange(inner), `default ${String(defaults[field])}`];
    return [
      {
        flag: meta.flag,
        section,
        field,
        numeric: inner instanceof z.ZodNumber,
        option: {
          type: 'string',
          value: meta.placeholder ?? 'VALUE',
          description: `${meta.description ?? field} (${details.join(', ')})`,
        },
      },
    ];
  });
});

/** The options for `start`'s help and parser. */
export const INPUT_FLAG_OPTIONS: OptionSpecs = Object.fromEntries(
  INPUT_FLAGS.map((input) => [input.flag, input.option]),
);

/** `inside | contain | fill` for a choice, `1-200` for a bounded number, nothing otherwise. */
function choicesOrRange(schema: z.ZodType): string[] {
  if (schema instanceof z.ZodEnum) return [(schema.options as readonly string[]).join(' | ')];
  if (schema instanceof z.ZodNumber) {
    const { minValue, maxValue } = schema;
    const bounded = minValue !== null && maxValue !== null && maxValue < Number.MAX_SAFE_INTEGER;
    return bounded ? [`${minValue}-${maxValue}`] : [];
  }
  return [];
}

/**
 * The settings sections from the options given: numbers converted (a non-number is a usage error naming the
 * option), everything else left to the schema's validation.
 */
export function settingsFromArgs(args: ParsedArgs): Record<Section, Record<string, unknown>> {
  const settings: Record<Section, Record<string, unknown>> = { preprocess: {}, transform: {} };
  for (const input of INPUT_FLAGS) {
    const raw = stringOption(args, input.flag);
    if (raw === undefined) continue;
    const value = input.numeric ? Number(raw) : raw;
    if (input.numeric && (raw.trim() === '' || !Number.isFinite(value))) {
      throw new UsageError(`--${input.flag} must be a number, got "${raw}"`);
    }
    settings[input.section][input.field] = value;
  }
  return settings;
}

/** The option a validation issue's path came from (`preprocess.batchSize` -> `--batch-size`). */
export function flagOfField(section: string | undefined, field: string | undefined): string | undefined {
  const match = INPUT_FLAGS.find((input) => input.section === section && input.field === field);
  return match ? `--${match.flag}` : undefined;
}
