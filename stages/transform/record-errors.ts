/**
 * Why one record got an error line instead of a prediction. Stable codes: aggregate turns an error line into a
 * MODEL_ERROR rejection whose message starts with the code, so reports can be grouped by it.
 */
export const RECORD_ERROR_CODES = {
  /** The line is JSON but not a model input `{image, format, width, height}`. */
  invalidRecord: 'INVALID_RECORD',
  /** `image` is not base64 of a readable JPEG or PNG. */
  undecodableImage: 'UNDECODABLE_IMAGE',
  /** The decoded image is not what the record declares (format or size): the preprocess output was altered. */
  imageMismatch: 'IMAGE_MISMATCH',
  /** More pixels than the server decodes for one record. */
  imageTooLarge: 'IMAGE_TOO_LARGE',
  /** The model failed on this image alone (the rest of the batch was predicted). */
  inferenceFailed: 'INFERENCE_FAILED',
} as const;

export type RecordErrorCode = (typeof RECORD_ERROR_CODES)[keyof typeof RECORD_ERROR_CODES];

export interface RecordError {
  readonly code: RecordErrorCode;
  readonly message: string;
}
