import sharp from 'sharp';
import { runLayout } from '../../shared/config.ts';
import type { ObjectStore } from '../../shared/ports.ts';
import { type ModelInput, TransformRecordSchema } from '../../shared/records.ts';

/**
 * A stand-in for SageMaker Batch Transform until the model server and the local batch transform exist
 * (issues #4 and #5): for each input part it writes `<part>.out` with one line per input line, in order, applying
 * the job's DataProcessing (InputFilter `$.input`, JoinSource `Input`, OutputFilter dropping `input`).
 *
 * Its "model" is a real computation on the decoded image (mean brightness -> label "dark"/"light"), not a canned
 * answer, so the chained-stage tests check the plumbing without pretending to do OCR.
 */
export async function runStandInTransform(
  objects: ObjectStore,
  pipelineBucket: string,
  runId: string,
): Promise<string[]> {
  const outputs: string[] = [];
  for await (const part of objects.list({ bucket: pipelineBucket, key: runLayout.transformInput(runId) })) {
    const lines: string[] = [];
    for await (const text of objects.lines({ bucket: pipelineBucket, key: part.key })) {
      if (text === '') continue;
      const record = TransformRecordSchema.parse(JSON.parse(text));
      const { input, ...joined } = record;
      lines.push(JSON.stringify({ ...joined, SageMakerOutput: await brightnessModel(input) }));
    }
    const outKey = `${runLayout.transformOutput(runId)}${part.key.slice(runLayout.transformInput(runId).length)}.out`;
    await objects.put({ bucket: pipelineBucket, key: outKey }, `${lines.join('\n')}\n`, 'application/jsonlines');
    outputs.push(outKey);
  }
  return outputs;
}

async function brightnessModel(input: ModelInput) {
  const stats = await sharp(Buffer.from(input.image, 'base64')).stats();
  const mean = stats.channels.reduce((sum, channel) => sum + channel.mean, 0) / stats.channels.length / 255;
  return {
    model: { name: 'brightness-stand-in', version: '0' },
    labels: [{ label: mean < 0.5 ? 'dark' : 'light', score: Math.abs(mean - 0.5) * 2 }],
  };
}
