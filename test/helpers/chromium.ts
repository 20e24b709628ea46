import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { describe } from 'vitest';

/** The distribution's Chromium; CI installs it with `apt-get install -y chromium`. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

export const chromiumAvailable = existsSync(CHROMIUM_PATH);

const MISSING = `SKIPPED: no Chromium at ${CHROMIUM_PATH}; install it with \`apt-get install -y chromium\``;

/**
 * A `describe` that runs only where Chromium is installed, and says so in the suite name (and on stderr) where it
 * is not. It is never skipped for any other reason: a failing launch fails the suite.
 */
export function describeWithChromium(name: string, body: () => void): void {
  // CI installs Chromium: there a missing browser is a broken setup, not a reason to skip.
  if (!chromiumAvailable && process.env.CI === 'true')
    throw new Error(`${name}: no Chromium at ${CHROMIUM_PATH} in CI`);
  if (!chromiumAvailable) console.warn(`${name}: ${MISSING}`);
  describe.skipIf(!chromiumAvailable)(chromiumAvailable ? name : `${name} (${MISSING})`, body);
}

/**
 * Headless Chromium with a fresh, empty profile (`launch` creates a temporary user-data-dir) and every background
 * service that would reach the network switched off.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
