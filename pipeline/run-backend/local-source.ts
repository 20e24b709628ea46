/**
 * The check of `run --local SOURCE` that comes before anything starts: the CLI runs it before it loads the local
 * runtime (which takes seconds to import), and the local runtime runs it again before it starts a server. Every
 * mistake is one {@link CliFailure} line naming the path, the line where there is one, and the fix.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { isSupportedImageKey } from '../../shared/images.ts';
import { describeJsonError } from '../../shared/manifest.ts';
import { CliFailure } from './failures.ts';

/** What a checked source is; the local runtime uploads each kind its own way. */
export type LocalSourceKind = 'folder' | 'jsonl' | 'manifest-file';

const MANIFEST_FILE_EXTENSIONS = new Set(['.json', '.manifest']);
const OTHER_IMAGE = /\.(bmp|heic|heif|svg|ico|jp2|jxl|raw|cr2|nef|psd)$/i;
const WHAT_TO_GIVE =
  'give a folder of images, a JSON Lines manifest (.jsonl, {"key": "a.jpg"} per line) or a SageMaker ManifestFile ' +
  '(.json or .manifest, [{"prefix": "s3://any/"}, "a.jpg", ...]) with keys relative to its folder';
const MANIFEST_FILE_SHAPE =
  'write [{"prefix": "s3://any/"}, "a.jpg", "sub/b.png"] with keys relative to the manifest\'s folder';

/**
 * Checks that `path` (absolute) is a folder with files in it or a readable manifest, and says which.
 * `shown` is the path as the user wrote it, for the message.
 */
export async function checkLocalSource(path: string, shown: string = path): Promise<LocalSourceKind> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw invalid(`${shown} does not exist: ${WHAT_TO_GIVE}`);
  if (info.isDirectory()) {
    if (!(await hasVisibleFile(path))) {
      throw invalid(
        `${shown} is an empty folder (no files in it or below it): put images in it or give another folder`,
      );
    }
    return 'folder';
  }
  if (!info.isFile()) throw invalid(`${shown} is neither a folder nor a file: ${WHAT_TO_GIVE}`);
  const extension = extname(path).toLowerCase();
  if (isSupportedImageKey(path) || OTHER_IMAGE.test(path)) {
    throw invalid(
      `${shown} is an image, not a folder or a manifest: give the folder that holds it (nightshift run --local ` +
        `${quoteShell(shown.slice(0, Math.max(0, shown.length - basename(shown).length)) || '.')})`,
    );
  }
  if (extension === '.jsonl') {
    checkJsonl(await readFile(path, 'utf8'), shown);
    return 'jsonl';
  }
  if (MANIFEST_FILE_EXTENSIONS.has(extension)) {
    checkManifestFile(await readFile(path, 'utf8'), shown);
    return 'manifest-file';
  }
  throw invalid(`${shown} is not a manifest (its name does not end in .jsonl, .json or .manifest): ${WHAT_TO_GIVE}`);
}

/** A JSON Lines manifest with no line that is a JSON object is some other file: name its first line. */
function checkJsonl(text: string, shown: string): void {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  let firstBad: { line: number; why: string } | undefined;
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return;
      firstBad ??= { line: index + 1, why: 'not a JSON object' };
    } catch (error) {
      firstBad ??= { line: index + 1, why: `not JSON: ${(error as Error).message}` };
    }
  }
  if (!firstBad) throw invalid(`${shown} is empty: write one {"key": "a.jpg", "expected": "..."} per line`);
  throw invalid(
    `${shown} line ${firstBad.line} is ${firstBad.why}, and no line is a manifest entry: ` +
      'write one {"key": "a.jpg", "expected": "..."} per line',
  );
}

/** A SageMaker ManifestFile is one JSON array whose first element is `{"prefix": ...}`. */
function checkManifestFile(text: string, shown: string): void {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw invalid(`${shown} is not JSON (${describeJsonError(error, text)}): ${MANIFEST_FILE_SHAPE}`);
  }
  if (!Array.isArray(document)) {
    throw invalid(`${shown} line 1: a SageMaker ManifestFile is a JSON array, this is not: ${MANIFEST_FILE_SHAPE}`);
  }
  const head: unknown = document[0];
  if (typeof head !== 'object' || head === null || typeof (head as { prefix?: unknown }).prefix !== 'string') {
    throw invalid(
      `${shown} line 1: the first element of a SageMaker ManifestFile must be {"prefix": "s3://..."}: ${MANIFEST_FILE_SHAPE}`,
    );
  }
}

async function hasVisibleFile(folder: string): Promise<boolean> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries.some((entry) => entry.isFile() && !entry.name.startsWith('.'));
}

function quoteShell(path: string): string {
  return /^[\w./~-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`;
}

function invalid(message: string): CliFailure {
  return new CliFailure('INVALID_SOURCE', message);
}
