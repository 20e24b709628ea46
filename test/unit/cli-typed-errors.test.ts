import { describe, expect, it } from 'vitest';
import { typedError } from '../../pipeline/cli/main.ts';
import { DefinitionError } from '../../pipeline/local/engine/index.ts';
import { InvalidInputError } from '../../shared/errors.ts';

describe('the CLI reports both typed error families with their code and kind', () => {
  it("keeps the local engine's code and kind in --json output, though EngineError is not a NightshiftError", () => {
    const error = new DefinitionError(['state "X": unsupported field']);

    expect(typedError(error)?.toJSON()).toMatchObject({
      name: 'DefinitionError',
      code: 'INVALID_DEFINITION',
      kind: 'caller',
    });
  });

  it('treats a NightshiftError as typed and a plain Error as not', () => {
    expect(typedError(new InvalidInputError('bad dataset'))?.kind).toBe('caller');
    expect(typedError(new Error('boom'))).toBeUndefined();
  });
});
