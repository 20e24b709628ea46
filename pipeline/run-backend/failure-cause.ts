/**
 * A failed run's cause for people. Step Functions passes a failed service integration's response as the cause: for
 * a Batch Transform job (`sagemaker:createTransformJob.sync`) that is the DescribeTransformJob output, about 1,700
 * characters of JSON whose one useful field is `FailureReason`
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTransformJob.html). A Lambda task's cause is
 * `{"errorType", "errorMessage", "trace"}`.
 */

/** Longest cause printed whole; longer ones are cut with a note. */
const MAX_CAUSE = 500;

/** The part of a cause a person reads first: SageMaker's FailureReason, a Lambda's errorMessage, or the text cut. */
export function describeCause(cause: string): string {
  try {
    const parsed: unknown = JSON.parse(cause);
    if (typeof parsed === 'object' && parsed !== null) {
      const fields = parsed as Record<string, unknown>;
      if (typeof fields.FailureReason === 'string') {
        const job = typeof fields.TransformJobName === 'string' ? `transform job ${fields.TransformJobName} ` : '';
        return `${job}failed: ${fields.FailureReason}`;
      }
      if (typeof fields.errorMessage === 'string') {
        return `${typeof fields.errorType === 'string' ? `${fields.errorType}: ` : ''}${fields.errorMessage}`;
      }
    }
  } catch {
    // Not JSON: plain text.
  }
  return cause.length <= MAX_CAUSE ? cause : `${cause.slice(0, MAX_CAUSE)}… (${cause.length} characters in all)`;
}
