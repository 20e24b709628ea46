import { spawn } from 'node:child_process';

/**
 * Opens a file with the desktop's default application: `open` on macOS, `xdg-open` elsewhere, `start` on Windows.
 * Resolves false when the opener is not installed (a server, a container), so the caller can print the path instead.
 */
export function openWithDesktop(path: string, platform: NodeJS.Platform = process.platform): Promise<boolean> {
  const [command, args] =
    platform === 'darwin'
      ? ['open', [path]]
      : platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', path]]
        : ['xdg-open', [path]];
  return new Promise((resolve) => {
    const child = spawn(command, args, { detached: true, stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
