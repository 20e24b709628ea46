/** Image types the preprocess stage decodes; everything else is rejected at plan time as UNSUPPORTED_TYPE. */
export const SUPPORTED_IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'] as const;

export function isSupportedImageKey(key: string): boolean {
  const lower = key.toLowerCase();
  return SUPPORTED_IMAGE_EXTENSIONS.some((extension) => lower.endsWith(extension));
}
