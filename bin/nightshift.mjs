#!/usr/bin/env node
// The `nightshift` command: registers tsx so Node can load the TypeScript sources, then runs the CLI.
import { register } from 'tsx/esm/api';

// The AWS SDK prints a nine-line notice about its Node 22 plans on every run under Node 20 (which this project
// supports); a command line reads better without it. Set the variable to anything but "true" to see it again.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main, processIo } = await import('../pipeline/cli/main.ts');
process.exitCode = await main(process.argv.slice(2), processIo());
