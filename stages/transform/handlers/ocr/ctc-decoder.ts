/** One recognised line: the characters and the mean probability of the characters kept. */
export interface RecognisedText {
  readonly text: string;
  readonly confidence: number;
}

/**
 * The recogniser's alphabet as PaddleOCR builds it for CTC: index 0 is the blank, then one character per dictionary
 * line, then a space (`use_space_char`).
 */
export function ctcAlphabet(dictionary: string): string[] {
  const lines = dictionary.split('\n').map((line) => line.replace(/\r$/, ''));
  if (lines.at(-1) === '') lines.pop();
  return ['', ...lines, ' '];
}

/**
 * Greedy CTC decoding of one line, as PaddleOCR's `CTCLabelDecode`: the most likely class per time step, repeats
 * collapsed, blanks dropped. The confidence is the mean probability of the kept steps (0 when none are kept).
 *
 * @param probabilities the recogniser output, `[lines, steps, classes]` flattened
 * @param line which line of the batch to decode
 */
export function decodeCtcLine(
  probabilities: Float32Array,
  line: number,
  steps: number,
  alphabet: readonly string[],
): RecognisedText {
  const classes = alphabet.length;
  let text = '';
  let sum = 0;
  let kept = 0;
  let previous = -1;
  for (let step = 0; step < steps; step += 1) {
    const base = (line * steps + step) * classes;
    let best = 0;
    let bestProbability = probabilities[base] as number;
    for (let index = 1; index < classes; index += 1) {
      const probability = probabilities[base + index] as number;
      if (probability > bestProbability) {
        best = index;
        bestProbability = probability;
      }
    }
    if (best !== 0 && best !== previous) {
      text += alphabet[best];
      sum += bestProbability;
      kept += 1;
    }
    previous = best;
  }
  return { text, confidence: kept === 0 ? 0 : sum / kept };
}
